"""Local studio worker processes: a warm worker runs job after job, survives a cancel, and is succeeded in time."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sweep.local.embedded import EmbeddedStudio
from sweep.studio.models import GetJobResponse, LogStdoutResponse, StartJobResponse

from local_fixtures import TINY_TRAIN, http_client, start_studio, wait_for

pytestmark = pytest.mark.slow
LONG_TRAIN = {"trainingCycles": 3000, "learningRate": 0.001, "batchSize": 16}
WORKER_LINE = re.compile(r"Worker pid (\d+), job (\d+) of this worker")


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedStudio]:
    # concurrency 1: exactly one warm worker, so "the same process" is the only right answer for job two
    with start_studio(tmp_path_factory.mktemp("local-workers"), concurrency=1) as server:
        yield server


@pytest.fixture(scope="module")
def http(studio: EmbeddedStudio) -> Iterator[httpx.Client]:
    with http_client(studio) as client:
        yield client


def _train(http: httpx.Client, learn_id: int, body: dict[str, Any]) -> int:
    answer = http.post(f"/api/1/jobs/train/keras/{learn_id}", json=body)
    assert answer.status_code == 200, answer.text
    return StartJobResponse.model_validate(answer.json()).id


def _status(http: httpx.Client, job_id: int) -> Any:
    answer = http.get(f"/api/1/jobs/{job_id}/status")
    assert answer.status_code == 200, answer.text
    return GetJobResponse.model_validate(answer.json()).job


def _finished(http: httpx.Client, job_id: int, timeout: float = 120.0) -> Any:
    return wait_for(lambda: (j := _status(http, job_id)).finished is not None and j, timeout, f"job {job_id}")


def _log(http: httpx.Client, job_id: int) -> list[str]:
    answer = http.get(f"/api/1/jobs/{job_id}/stdout")
    assert answer.status_code == 200, answer.text
    return [item.data for item in LogStdoutResponse.model_validate(answer.json()).stdout]


def _worker(http: httpx.Client, job_id: int) -> tuple[int, int]:
    """(pid, how many jobs that worker has taken including this one) from the job's log."""
    found = [m for line in _log(http, job_id) if (m := WORKER_LINE.search(line))]
    assert len(found) == 1, f"job {job_id} should log its worker exactly once: {_log(http, job_id)}"
    return int(found[0].group(1)), int(found[0].group(2))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _good(http: httpx.Client, job_id: int) -> None:
    job = _finished(http, job_id)
    assert job.finished_successful is True, _log(http, job_id)


def test_back_to_back_jobs_share_one_warm_worker(studio: EmbeddedStudio, http: httpx.Client) -> None:
    first = _train(http, 3, TINY_TRAIN)
    _good(http, first)
    second = _train(http, 3, TINY_TRAIN)
    _good(http, second)
    pid, count = _worker(http, first)
    assert _worker(http, second) == (pid, count + 1)
    assert studio.process is not None and pid != studio.process.pid  # a worker, not the server itself
    assert _alive(pid)  # still there, idle and warm, for the next job
    assert (Path(studio.data_dir) / "jobs" / str(second) / "worker.out").is_file()


@pytest.mark.parametrize("force", [False, True], ids=["cancel", "force-cancel"])
def test_a_job_after_a_cancelled_one_succeeds(http: httpx.Client, force: bool) -> None:
    doomed = _train(http, 3, LONG_TRAIN)
    wait_for(lambda: any(line.startswith("Epoch") for line in _log(http, doomed)), 60, "the long job's first epoch")
    params = {"forceCancel": "true"} if force else {}
    assert http.post(f"/api/1/jobs/{doomed}/cancel", params=params).json() == {"success": True}
    cancelled = _finished(http, doomed, timeout=15)
    assert cancelled.finished_successful is False
    pid, count = _worker(http, doomed)

    after = _train(http, 3, TINY_TRAIN)
    _good(http, after)
    if force:  # the killed worker is gone; a fresh one took the job
        wait_for(lambda: not _alive(pid), 10, f"the force-cancelled worker {pid} to exit")
        assert _worker(http, after)[0] != pid
    else:  # a polite cancel keeps the warm worker
        assert _worker(http, after) == (pid, count + 1)


def test_a_retiring_workers_successor_is_spawned_during_its_last_job(tmp_path: Path) -> None:
    import multiprocessing

    from sweep.local import datasets
    from sweep.local.jobs import JobManager

    datasets.ensure_default_projects(tmp_path)
    manager = JobManager(tmp_path, concurrency=1, max_jobs_per_worker=1)
    manager.start()
    try:
        body = {**TINY_TRAIN, "visualLayers": [{"type": "dense", "neurons": 8}]}
        first = manager.submit_train(1, 3, body).id
        seen: set[int] = set()

        def finished() -> bool:
            seen.update(p.pid for p in multiprocessing.active_children() if p.pid is not None)
            rec = manager.get(1, first)
            return rec is not None and rec.state.is_finished

        wait_for(finished, 120, f"job {first}", interval=0.05)
        lines = (tmp_path / "jobs" / str(first) / "log").read_text()
        assert "Job completed" in lines, lines
        match = WORKER_LINE.search(lines)
        assert match is not None, lines
        assert seen - {int(match.group(1))}, "no successor was spawned while the worker ran its last job"
    finally:
        manager.shutdown()


def test_the_worker_imports_the_trainer_without_pandas_matplotlib_and_sklearn() -> None:
    import subprocess
    import sys

    script = ("import sys\nfrom sweep.local import worker\nworker._import_trainer()\n"
              "print(sorted(m for m in ('pandas', 'matplotlib', 'sklearn') if m in sys.modules))\n"
              "import keras, pandas, sklearn\nprint(pandas.__name__, sklearn.__name__, keras.__name__)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-2:] == ["[]", "pandas sklearn keras"]  # hidden while importing, importable after


def test_a_job_stays_queued_while_its_worker_imports_keras(tmp_path: Path) -> None:
    """A fresh worker's first job starts (and its compute counts) when the import is over, not when handed over."""
    from sweep.local import datasets
    from sweep.local.jobs import JobManager

    datasets.ensure_default_projects(tmp_path)
    manager = JobManager(tmp_path, concurrency=1)
    manager.start()
    try:
        body = {**TINY_TRAIN, "visualLayers": [{"type": "dense", "neurons": 8}]}
        first = manager.submit_train(1, 3, body).id
        log = tmp_path / "jobs" / str(first) / "log"
        wait_for(lambda: log.is_file() and "Waiting for a worker process to import Keras" in log.read_text(), 30,
                 "the job handed to the fresh worker", interval=0.02)
        queued = manager.get(1, first)
        assert queued is not None and queued.started is None and queued.state.value == "queued"
        wait_for(lambda: (r := manager.get(1, first)) is not None and r.state.is_finished, 120, f"job {first}")
        done = manager.get(1, first)
        assert done is not None and done.finished_successful, log.read_text()
        lines = log.read_text()
        assert "the job was waiting for it" in lines  # the worker line: it was handed over before the import ended
        assert lines.index("Waiting for a worker process to import Keras") < lines.index("Job started")
        assert done.started is not None and done.finished is not None and done.compute_time is not None
        assert done.compute_time == pytest.approx((done.finished - done.started).total_seconds(), abs=0.01)
        second = manager.submit_train(1, 3, body).id
        wait_for(lambda: (r := manager.get(1, second)) is not None and r.state.is_finished, 120, f"job {second}")
        assert "Waiting for a worker" not in (tmp_path / "jobs" / str(second) / "log").read_text()
    finally:
        manager.shutdown()


def _spawned_workers(server_pid: int) -> list[int]:
    """The server's worker processes (multiprocessing's spawn children), by pid."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == server_pid and fields[0] not in ("Z", "X") and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return sorted(found)


def test_a_server_running_two_jobs_at_once_spawns_both_workers_before_its_web_stack(tmp_path: Path) -> None:
    """Both slots' first jobs find a warm worker: the second worker is not left to the job loop, which starts only
    after the server imported its web stack and wrote its projects (more than a second on 2 cores)."""
    from sweep.local.lifetime import process_start

    with start_studio(tmp_path, concurrency=2) as studio:
        workers = wait_for(lambda: w if len(w := _spawned_workers(studio.pid)) >= 2 else None, 30, "two workers")
        assert len(workers) == 2, workers  # no third one: the pool is full
        starts = [process_start(pid) for pid in workers]
        assert None not in starts, starts
        gap_s = abs(int(starts[0] or 0) - int(starts[1] or 0)) / os.sysconf("SC_CLK_TCK")
        assert gap_s < 0.5, f"the workers started {gap_s:.2f} s apart"
