"""Several real `sweep run` workers on one study: a shared journal file and a real PostgreSQL server."""

from __future__ import annotations

import dataclasses
import functools
import itertools
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path

import optuna
import pytest
from optuna.trial import FrozenTrial, TrialState

from sweep.session.storage import open_storage
from sweep.study.load import load_study
from sweep.study.request import config_key
from sweep.study.space import distributions
from sweep.study.storage_url import redact_url

from fake_studio import FakeStudio, JobScript, default_metrics
from runner_support import journal, sweep_cmd, sweep_env, write_study

KEY = "ei_secret_workers_key_1234567890"
# Read at import: the autouse fixture in conftest.py clears SWEEP_* before each test runs.
PG_URL = os.environ.get("SWEEP_TEST_PG_URL", "postgresql+psycopg://sweep_test:sweep_test@127.0.0.1:5432/sweep_test")
BLOCKS = [7, 8, 9]


@pytest.fixture
def studio() -> Iterator[FakeStudio]:
    with FakeStudio(api_key=KEY, learn_block_ids=BLOCKS, default_script=JobScript(duration_s=0.2)) as fake:
        yield fake


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty database on the test server (dropped afterwards), as an SQLAlchemy URL."""
    from sqlalchemy.engine import make_url

    try:
        import psycopg
    except ImportError:
        pytest.fail("the PostgreSQL tests need psycopg: pip install -e '.[postgres]'")
    admin = make_url(PG_URL)
    dsn = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"sweep_w_{uuid.uuid4().hex[:12]}"
    try:
        conn = psycopg.connect(dsn, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {redact_url(PG_URL)} ({type(exc).__name__}): run "
                    f"`sudo bash scripts/postgres.sh` (or point SWEEP_TEST_PG_URL at a server where the role "
                    f"may CREATE DATABASE)", pytrace=False)
    with conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        try:
            yield admin.set(database=name).render_as_string(hide_password=False)
        finally:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


_STARTED: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def _no_worker_left_behind() -> Iterator[None]:
    yield
    while _STARTED:
        proc = _STARTED.pop()
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)


def _start(path: Path, storage: str, blocks: str, cwd: Path, *, quiet: bool = True) -> subprocess.Popen[str]:
    """One `sweep run` worker process using only ``blocks`` as its slots."""
    args = ["run", str(path), "--no-report", "--storage", storage, "--learn-blocks", blocks]
    proc = subprocess.Popen(sweep_cmd(*args, *(["--quiet"] if quiet else [])), env=sweep_env(KEY), cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _STARTED.append(proc)
    return proc


def _finish(*procs: subprocess.Popen[str], timeout: float = 60) -> list[str]:
    """Wait for every worker; if one failed, show all their logs (the cause is often in another's)."""
    logs = []
    for proc in procs:
        try:
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
            err += f"\n(killed: still running after {timeout} s)"
        logs.append(err)
    shown = "\n".join(f"--- worker {p.pid} exited {p.returncode}:\n{err}" for p, err in zip(procs, logs, strict=False))
    assert all(p.returncode == 0 for p in procs), shown
    assert not any(KEY in err for err in logs)
    return logs


@functools.cache
def _storage(url: str) -> optuna.storages.BaseStorage:
    return open_storage(url)  # once per URL: the tests poll it


def _trials(storage: str) -> list[FrozenTrial]:
    try:
        return optuna.load_study(study_name="fake", storage=_storage(storage)).get_trials()
    except KeyError:  # not created yet
        return []


def _wait_for(predicate, what: str, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = predicate()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _train_jobs(fake: FakeStudio) -> dict[int, object]:
    return {jid: job for jid, job in fake.jobs.items() if job.kind == "train"}


def _assert_one_job_per_block_at_a_time(fake: FakeStudio) -> None:
    by_block: dict[int, list] = {}
    for job in _train_jobs(fake).values():
        by_block.setdefault(job.learn_id, []).append(job)
    for lid, jobs in by_block.items():
        jobs.sort(key=lambda j: j.created)
        for before, after in itertools.pairwise(jobs):
            assert after.created >= before.finished_at(), (
                f"learn block {lid}: job {after.id} started while job {before.id} was running")


def _assert_consistent(trials: list[FrozenTrial], fake: FakeStudio, pids: dict[int, int], target: int, *,
                       every_worker_trains: bool = True) -> None:
    """Every trial is one finished job of one worker, with that job's own result; nothing lost or doubled."""
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    # Counting, then asking, is not atomic across processes: a trial asked past the target is failed
    # unrun (no job, a reason), at most one per other worker; the study ends with exactly the target.
    surplus = [t for t in trials if t.state != TrialState.COMPLETE]
    assert all(t.state == TrialState.FAIL and t.user_attrs["failure"].startswith(
        f"not run: the study already had its {target} trials") and "job_id" not in t.user_attrs
        for t in surplus), [(t.number, t.state.name, t.user_attrs.get("failure")) for t in surplus]
    assert len(surplus) <= len(pids) - 1 and all(t.number >= target for t in surplus)
    assert len(complete) == target
    assert sorted(t.number for t in trials) == list(range(len(trials)))
    jobs = _train_jobs(fake)
    job_ids = [t.user_attrs["job_id"] for t in complete]
    assert len(set(job_ids)) == len(job_ids), "two trials share a job"
    assert set(job_ids) == set(jobs), "a job was trained that no trial owns (or a trial's job is unknown)"
    keys = [config_key(t.user_attrs["request"]) for t in complete]
    twins = sorted({t.number for t, k in zip(complete, keys, strict=False) if keys.count(k) > 1})
    assert not twins, f"the workers trained the same configurations more than once (trials {twins})"
    for t in complete:
        job = jobs[t.user_attrs["job_id"]]
        worker = t.user_attrs["worker"]
        assert job.learn_id == worker["learn_id"] and pids[job.learn_id] == worker["pid"], (t.number, worker)
        assert job.request == t.user_attrs["request"]
        assert job.request["learningRate"] == pytest.approx(t.params["learning_rate"])
        metrics = t.user_attrs["metrics"]
        assert t.values == [metrics["int8.accuracy"]]
        assert metrics["int8.accuracy"] == pytest.approx(default_metrics(job.request, job.seed)["int8_accuracy"])
        assert job.done(time.time()) and job.successful()
    if every_worker_trains:
        assert {jobs[j].learn_id for j in job_ids} == set(pids), "some worker trained nothing"
    _assert_one_job_per_block_at_a_time(fake)


def _run_workers(studio: FakeStudio, tmp_path: Path, storage: str, target: int, *,
                 every_worker_trains: bool = True) -> None:
    path = write_study(tmp_path, studio.base_url, trials=target, learn_blocks=tuple(BLOCKS))
    procs = {lid: _start(path, storage, str(lid), tmp_path) for lid in BLOCKS}
    _finish(*procs.values())
    _assert_consistent(_trials(storage), studio, {lid: p.pid for lid, p in procs.items()}, target,
                       every_worker_trains=every_worker_trains)


def test_three_workers_share_a_journal_file(studio: FakeStudio, tmp_path: Path) -> None:
    _run_workers(studio, tmp_path, journal(tmp_path), 12)


def test_three_workers_share_a_postgresql_study(studio: FakeStudio, tmp_path: Path, pg_url: str) -> None:
    optuna.storages.RDBStorage(pg_url)  # the schema once, before the workers (Optuna's advice)
    _run_workers(studio, tmp_path, pg_url, 12)


def test_workers_starting_together_on_an_empty_postgresql_database(studio: FakeStudio, tmp_path: Path,
                                                                   pg_url: str) -> None:
    """The first `sweep run` of every machine at once: they race to create Optuna's schema."""
    _run_workers(studio, tmp_path, pg_url, 3, every_worker_trains=False)


def test_a_trial_just_asked_by_a_live_worker_is_not_taken_for_an_orphan(studio: FakeStudio, tmp_path: Path) -> None:
    """Another worker's trial between its ask and its `worker` attr (a few ms) looks owner-less."""
    path = write_study(tmp_path, studio.base_url, trials=2, learn_blocks=tuple(BLOCKS))
    storage = journal(tmp_path)
    study = optuna.create_study(storage=_storage(storage), study_name="fake", direction="maximize")
    theirs = study.ask(distributions(load_study(path).space))
    proc = _start(path, storage, "8", tmp_path, quiet=False)
    (err,) = _finish(proc)
    trials = _trials(storage)
    assert trials[theirs.number].state == TrialState.RUNNING, err
    assert "failure" not in trials[theirs.number].user_attrs
    assert "worker gone" not in err
    # it still counts as running: this worker completed the one other trial the target leaves
    assert [t.state for t in trials if t.number != theirs.number] == [TrialState.COMPLETE]


def test_kill_9_worker_on_postgresql_job_reattached_by_the_next_worker(studio: FakeStudio, tmp_path: Path,
                                                                      pg_url: str) -> None:
    studio.script(JobScript(duration_s=600.0))  # the first worker's first job: it dies in it, however slow the host
    path = write_study(tmp_path, studio.base_url, trials=8, learn_blocks=tuple(BLOCKS))
    first = _start(path, pg_url, "7", tmp_path)

    def job_of(pid: int) -> FrozenTrial | None:
        got = [t for t in _trials(pg_url) if "job_id" in t.user_attrs and t.user_attrs["worker"]["pid"] == pid]
        return got[0] if got else None

    orphan = _wait_for(lambda: job_of(first.pid), "the first worker's job")
    other = _start(path, pg_url, "8", tmp_path)
    _wait_for(lambda: job_of(other.pid), "the other worker's first job")
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=10)
    killed_at = time.time()
    job_id = orphan.user_attrs["job_id"]
    assert orphan.user_attrs["worker"]["pid"] == first.pid
    assert not studio.jobs[job_id].done(killed_at), "the job should still be running when its worker dies"
    assert _trials(pg_url)[orphan.number].state == TrialState.RUNNING
    with studio._lock:  # now let the orphaned job end soon: the next worker re-attaches and waits for it
        job = studio.jobs[job_id]
        job.script = dataclasses.replace(job.script, duration_s=time.time() - job.created + 3.0)

    nxt = _start(path, pg_url, "7", tmp_path, quiet=False)
    _, log = _finish(other, nxt)
    assert f"trial {orphan.number}: re-attached to job {job_id} on learn block 7" in log
    trials = _trials(pg_url)
    resumed = trials[orphan.number]
    assert resumed.state == TrialState.COMPLETE and resumed.user_attrs["job_id"] == job_id
    assert resumed.user_attrs["worker"]["pid"] == nxt.pid
    # the other worker went on training after the kill
    assert any(j.learn_id == 8 and j.created > killed_at for j in _train_jobs(studio).values())
    _assert_consistent(trials, studio, {7: nxt.pid, 8: other.pid}, 8)


def test_a_second_worker_on_a_busy_learn_block_is_refused(studio: FakeStudio, tmp_path: Path) -> None:
    """One job per learn block: a worker started on a block another live worker uses exits 2, harmlessly."""
    studio.script(JobScript(duration_s=120.0))  # busy for as long as the second worker takes to start
    path = write_study(tmp_path, studio.base_url, trials=1, learn_blocks=tuple(BLOCKS))
    storage = journal(tmp_path)
    first = _start(path, storage, "7", tmp_path)
    busy = _wait_for(lambda: [t for t in _trials(storage) if "job_id" in t.user_attrs], "the first worker's job")[0]
    second = _start(path, storage, "8,7", tmp_path)
    _, err = second.communicate(timeout=60)
    assert second.returncode == 2, err
    assert (f"--learn-blocks: learn block 7 is in use by another live worker of this study (host "
            f"{busy.user_attrs['worker']['host']}, pid {first.pid}, trial {busy.number}); a learn block runs one "
            "job at a time: give each worker its own blocks, e.g. --learn-blocks 12,13") in err
    assert "Traceback" not in err and KEY not in err
    job = studio.jobs[busy.user_attrs["job_id"]]
    job.script = dataclasses.replace(job.script, duration_s=time.time() - job.created)  # finish it now
    _finish(first)
    trials = _trials(storage)
    assert [t.state for t in trials] == [TrialState.COMPLETE]
    assert {j.learn_id for j in _train_jobs(studio).values()} == {7}  # the refused worker trained nothing
    _assert_consistent(trials, studio, {7: first.pid}, 1)


def test_a_trial_asked_past_the_target_is_failed_unrun(studio: FakeStudio, tmp_path: Path) -> None:
    """The race made certain: another worker asks between this worker's count and its ask."""
    from pydantic import SecretStr

    from sweep.run.follow import Polling
    from sweep.run.progress import Progress
    from sweep.run.runner import Runner, RunOptions
    from sweep.studio.client import StudioClient, make_http_client

    spec = load_study(write_study(tmp_path, studio.base_url, trials=2))
    study = optuna.create_study(storage=_storage(journal(tmp_path)), study_name="fake", direction="maximize")
    space = distributions(spec.space)
    study.tell(study.ask(space), 0.5)  # trial 0: done earlier
    own_ask = study.ask
    others: list[int] = []

    def ask_after_another_worker(*args, **kwargs):  # type: ignore[no-untyped-def]
        if not others:  # trial 1: the other worker's, running, asked a moment before ours
            other = own_ask(space)
            other.set_user_attr("worker", {"host": "elsewhere", "pid": 1, "learn_id": 8,
                                           "heartbeat": "2999-01-01T00:00:00+00:00"})
            others.append(other.number)
        return own_ask(*args, **kwargs)

    study.ask = ask_after_another_worker  # type: ignore[method-assign]
    with make_http_client(studio.base_url, SecretStr(studio.api_key)) as http:
        options = RunOptions(target_trials=2, polling=Polling(0.01, 1.5, 0.05))
        summary = Runner(spec, study, StudioClient(http, 42), [7], options, progress=Progress(quiet=True)).run()
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.RUNNING, TrialState.FAIL]
    assert trials[2].user_attrs["failure"] == (
        "not run: the study already had its 2 trials (another worker asked at the same moment)")
    assert _train_jobs(studio) == {} and summary.completed == 0 and summary.failed == 0


def test_the_stale_worker_time_can_be_set(studio: FakeStudio, tmp_path: Path) -> None:
    """A worker elsewhere silent for 100 s: alive under the default 180 s, taken over with --stale-after 90s."""
    from datetime import datetime, timedelta

    import httpx

    from sweep.study.request import train_request

    from runner_support import run_sweep

    path = write_study(tmp_path, studio.base_url, trials=1, learn_blocks=(7,))
    spec = load_study(path)
    study = optuna.create_study(storage=_storage(journal(tmp_path)), study_name="fake", direction="maximize")
    trial = study.ask(distributions(spec.space))
    body = train_request(spec, trial.params).wire()
    answer = httpx.post(f"{studio.base_url}/api/42/jobs/train/keras/7", json=body, headers={"x-api-key": KEY})
    job_id = answer.json()["id"]
    beat = (datetime.now(UTC) - timedelta(seconds=100)).isoformat()
    trial.set_user_attr("request", body)
    trial.set_user_attr("job_id", job_id)
    trial.set_user_attr("worker", {"host": "elsewhere", "pid": 1, "learn_id": 7, "heartbeat": beat})
    args = ["run", str(path), "--no-report", "--storage", journal(tmp_path)]

    busy = run_sweep(*args, env=sweep_env(KEY), cwd=tmp_path)
    assert busy.returncode == 2 and "learn block 7 is in use by another live worker" in busy.stderr

    taken = run_sweep(*args, "--stale-after", "90s", env=sweep_env(KEY), cwd=tmp_path)
    assert taken.returncode == 0, taken.stderr
    assert f"trial {trial.number}: re-attached to job {job_id} on learn block 7" in taken.stderr
    assert _trials(journal(tmp_path))[trial.number].state == TrialState.COMPLETE
