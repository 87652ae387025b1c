"""The local studio never outlives its sweep: kill -9 of `sweep run`, reuse by the next run, one server per data dir.

Every process a test starts is killed at its end, also on failure (the ``leftovers`` fixture).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import optuna
import pytest
from optuna.trial import TrialState

from sweep.local.embedded import EmbeddedStudio
from sweep.session.storage import open_storage

from local_fixtures import wait_for

pytestmark = pytest.mark.slow

CYCLES = 200  # 10-20 s of epochs on digits (0.05-0.1 s an epoch since the faster trainer): the kill lands mid-training,
#                and the job outlives the 5 s linger
STUDY = f"""
name = "lifetime"
trials = 2
baseline = false
max_consecutive_failures = 3
device = "cortex-m4f-80mhz"

[target]
kind = "local"
project = "digits"

[sampler]
name = "tpe"
seed = 5

[[objectives]]
metric = "int8.accuracy"
direction = "maximize"

[space]
learning_rate = {{ low = 5e-3, high = 3e-2, log = true }}
batch_size = 32
training_cycles = {CYCLES}

[[space.layers]]
type = "dense"
neurons = {{ choices = [8, 16] }}

[fixed]
trainTestSplit = 0.2
"""


# ---- processes --------------------------------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _alive(pid: int) -> bool:
    """Running (a zombie has exited: it only waits to be reaped, by init once its parent is gone)."""
    fields = _stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def _pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid in _pids():
        fields = _stat(pid)
        if fields is not None and fields[0] not in ("Z", "X"):
            children.setdefault(int(fields[1]), []).append(pid)
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _on_data_dir(data_dir: Path) -> dict[int, str]:
    """Live processes of ours on this data dir: its name in the command line (servers, runs), or our
    SWEEP_DATA_DIR in the environment (what `sweep run` started: servers, workers, the resource tracker)."""
    data = str(data_dir)
    env_mark = f"SWEEP_DATA_DIR={data}".encode()
    found = {}
    for pid in _pids():
        if pid == os.getpid() or not _alive(pid):
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if data in cmd or env_mark in env:
            found[pid] = cmd
    return found


def _servers(data_dir: Path) -> list[int]:
    return [pid for pid, cmd in _on_data_dir(data_dir).items() if " -m sweep.local " in f" {cmd} "]


class Leftovers:
    """Processes a test started or found: all SIGKILLed at teardown (their process groups too)."""

    def __init__(self) -> None:
        self.popens: list[subprocess.Popen[str]] = []
        self.pids: set[int] = set()
        self.data_dirs: list[Path] = []

    def popen(self, cmd: list[str], **kwargs: object) -> subprocess.Popen[str]:
        proc = subprocess.Popen(cmd, text=True, **kwargs)  # type: ignore[call-overload]
        self.popens.append(proc)
        return proc

    def kill_all(self) -> None:
        for proc in self.popens:
            if proc.poll() is None:
                proc.kill()
        targets = set(self.pids)
        for data_dir in self.data_dirs:
            targets |= set(_on_data_dir(data_dir))
        for pid in list(targets):
            targets |= _descendants(pid)
        for pid in targets:
            if _alive(pid):
                for kill in (os.killpg, os.kill):
                    try:
                        if kill is os.killpg and os.getpgid(pid) != pid:
                            continue  # only groups our servers lead
                        kill(pid, signal.SIGKILL)
                    except (ProcessLookupError, PermissionError):
                        pass
        for proc in self.popens:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                pass


@pytest.fixture
def leftovers() -> Iterator[Leftovers]:
    found = Leftovers()
    try:
        yield found
    finally:
        found.kill_all()


# ---- a real `sweep run`, killed ---------------------------------------------------------------------------


def _env(ws: Path, linger: float | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EI_", "SWEEP_"))}
    env.update({"SWEEP_DATA_DIR": str(ws / "data"), "SWEEP_REPORTS_DIR": str(ws / "reports"),
                "SWEEP_POLL_INITIAL_S": "0.1", "SWEEP_POLL_MAX_S": "0.5"})
    if linger is not None:
        env["SWEEP_LOCAL_LINGER_S"] = str(linger)
    return env


def _start_run(leftovers: Leftovers, ws: Path, linger: float | None) -> subprocess.Popen[str]:
    return leftovers.popen([sys.executable, "-m", "sweep.cli", "run", str(ws / "lifetime.toml"), "--no-report"],
                           env=_env(ws, linger), cwd=ws, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, start_new_session=True)


def _running_job(data: Path) -> int | None:
    """The id of a job that has started and logged its first epoch (it is mid-training), if any."""
    for path in (data / "jobs").glob("*/job.json"):
        try:
            job = json.loads(path.read_text())
            log = (path.parent / "log").read_text()
        except (OSError, ValueError):
            continue
        if job.get("started") and not job.get("finished") and "\tEpoch " in log:
            return int(job["id"])
    return None


def _server_info(data: Path) -> Any:
    try:
        return json.loads((data / "server.json").read_text())
    except (OSError, ValueError):
        return None


def _trials(ws: Path) -> list[optuna.trial.FrozenTrial]:
    storage = open_storage(f"journal:{ws / '.sweep' / 'lifetime.journal'}")
    return optuna.load_study(study_name="lifetime", storage=storage).get_trials()


@pytest.mark.parametrize(("target", "linger"), [("process", None), ("group", None), ("group", 120.0)],
                         ids=["kill-process", "kill-group", "kill-group-then-reuse"])
def test_kill_9_of_sweep_run_leaves_no_process_or_one_server_that_the_next_run_reuses(
        tmp_path: Path, leftovers: Leftovers, target: str, linger: float | None) -> None:
    ws = tmp_path
    data = ws / "data"
    leftovers.data_dirs.append(data)
    (ws / "lifetime.toml").write_text(STUDY)

    run = _start_run(leftovers, ws, linger)
    job_id = wait_for(lambda: _running_job(data) or run.poll() is not None, 180, "a job mid-training")
    assert run.poll() is None, run.communicate()[1]
    servers = _servers(data)
    assert len(servers) == 1, servers
    server = servers[0]
    ours = {server} | _descendants(server)
    info = _server_info(data)
    assert info is not None and info["pid"] == server and info["standalone"] is False
    assert len(ours) >= 2, "the server should have at least one training worker"
    leftovers.pids |= ours | {run.pid}

    if target == "group":
        os.killpg(run.pid, signal.SIGKILL)
    else:
        os.kill(run.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    run.wait(10)  # reaped: the next run must see its worker dead, as after a real crash
    assert run.returncode == -signal.SIGKILL

    if linger is None:  # the server outlives its owner by the default 5 s, then stops with its workers
        wait_for(lambda: not any(_alive(p) for p in ours), 10 - (time.monotonic() - killed_at),
                 "every process of the killed run to exit", interval=0.1)
        assert not (data / "server.json").exists()
        assert _on_data_dir(data) == {}
    else:  # within the linger time: exactly one server, still owning the data dir, with the job running on
        time.sleep(max(0.0, 3.0 - (time.monotonic() - killed_at)))
        assert _alive(server) and _servers(data) == [server]
        assert all(_descendants(server) >= {p} or p == server for p in ours if _alive(p))
        assert _server_info(data)["pid"] == server

    resumed = _start_run(leftovers, ws, linger)
    seen_servers: set[int] = set()
    seen_info: set[int] = set()
    while resumed.poll() is None:  # exactly one server on the data dir at any time; reused if it was alive
        servers = _servers(data)
        assert len(servers) <= 1, f"two servers on one data dir: {servers}"
        seen_servers |= set(servers)
        if (now := _server_info(data)) is not None:
            seen_info.add(now["pid"])
        time.sleep(0.2)
    _out, err = resumed.communicate()
    assert resumed.returncode == 0, err
    if linger is not None:
        assert seen_servers <= {server} and seen_info <= {server}, (seen_servers, seen_info, server)
        assert f"at {info['base_url']}" in err  # the same server, the same address
    else:
        assert server not in seen_servers

    trials = sorted(_trials(ws), key=lambda t: t.number)
    first = trials[0]
    assert first.user_attrs["job_id"] == job_id
    assert f"trial 0: re-attached to job {job_id}" in err
    if linger is not None:  # the job ran on in the reused server and the re-attached trial got its result
        assert first.state == TrialState.COMPLETE, first.user_attrs.get("failure")
    else:  # the server stopped, failing the job with a clear reason; not the configuration's fault: tried again
        assert first.state == TrialState.FAIL
        assert "server stopped while the job was running" in first.user_attrs["failure"]
        (retry,) = [t for t in trials if t.user_attrs.get("retry_of") == first.number]
        assert retry.state == TrialState.COMPLETE and retry.params == first.params
        assert retry.user_attrs["seed"] == first.user_attrs["seed"]
        assert f"trial {retry.number}: retry of trial {first.number}" in err
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 2
    assert all(t.state in (TrialState.COMPLETE, TrialState.FAIL) for t in trials)

    # the resumed run was the last owner: it stopped the server, and nothing of ours is left
    assert not any(_alive(p) for p in ours), sorted(p for p in ours if _alive(p))
    assert _on_data_dir(data) == {}
    assert not (data / "server.json").exists()
    assert list((data / "owners").iterdir()) == []


# ---- EmbeddedStudio and the server lock, directly ---------------------------------------------------------


def _healthy(studio: EmbeddedStudio) -> bool:
    answer = httpx.get(f"{studio.base_url}/api/1/jobs", headers={"x-api-key": studio.api_key.get_secret_value()},
                       timeout=10)
    return answer.status_code == 200 and answer.json()["success"] is True


def test_two_studios_on_one_data_dir_share_one_server_until_the_last_stops(tmp_path: Path,
                                                                          leftovers: Leftovers) -> None:
    data = tmp_path / "studio"
    leftovers.data_dirs.append(data)
    first, second = EmbeddedStudio(data), EmbeddedStudio(data)
    try:
        first.start()
        leftovers.pids.add(first.pid)
        assert first.reused is False and first.process is not None
        second.start()
        assert second.reused is True and second.pid == first.pid and second.base_url == first.base_url
        assert second.process is None and second.standalone is False
        assert _servers(data) == [first.pid]
        assert len(list((data / "owners").iterdir())) == 2
        server, family = first.pid, {first.pid} | _descendants(first.pid)

        first.stop()  # the other owner still holds it
        assert _alive(server) and _healthy(second)
        time.sleep(1.5)  # past a watch tick: the server counts the live owner and stays
        assert _alive(server) and _server_info(data)["pid"] == server

        second.stop()  # the last owner: stops the server and waits for it
        assert not _alive(server)
        wait_for(lambda: not any(_alive(p) for p in family), 10, "the server's workers to exit")
        assert not (data / "server.json").exists() and list((data / "owners").iterdir()) == []
    finally:
        first.stop()
        second.stop()


def test_a_second_server_on_a_locked_data_dir_waits_then_fails_naming_the_holder(tmp_path: Path,
                                                                                leftovers: Leftovers) -> None:
    data = tmp_path / "studio"
    leftovers.data_dirs.append(data)
    with EmbeddedStudio(data) as studio:
        leftovers.pids.add(studio.pid)
        before = _server_info(data)
        began = time.monotonic()
        second = leftovers.popen([sys.executable, "-m", "sweep.local", "--port", "0", "--data-dir", str(data),
                                  "--lock-wait", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _out, err = second.communicate(timeout=60)
        waited = time.monotonic() - began
        assert second.returncode != 0
        assert waited >= 2.0
        assert str(data) in err and f"pid {studio.pid}" in err and "lock" in err, err
        assert _server_info(data) == before and _healthy(studio)  # the first server is untouched
        assert _servers(data) == [studio.pid]


def test_a_waiting_server_takes_over_once_the_previous_one_stops(tmp_path: Path, leftovers: Leftovers) -> None:
    data = tmp_path / "studio"
    leftovers.data_dirs.append(data)
    studio = EmbeddedStudio(data)
    studio.start()
    try:
        leftovers.pids.add(studio.pid)
        first = studio.pid
        waiting = leftovers.popen([sys.executable, "-m", "sweep.local", "--port", "0", "--data-dir", str(data),
                                   "--lock-wait", "60"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  start_new_session=True)
        time.sleep(1.0)
        assert waiting.poll() is None and _server_info(data)["pid"] == first  # waiting, not serving
    finally:
        studio.stop()
    info = wait_for(lambda: (i := _server_info(data)) and i["pid"] == waiting.pid and i, 60,
                    "the waiting server to announce itself")
    assert info["standalone"] is True
    # a standalone server (as `sweep serve`) is reused by a run, and never stopped by one
    with EmbeddedStudio(data) as user:
        assert user.reused and user.standalone and user.pid == waiting.pid
        assert _healthy(user)
    assert waiting.poll() is None and _server_info(data)["pid"] == waiting.pid
    family = {waiting.pid} | _descendants(waiting.pid)
    waiting.send_signal(signal.SIGTERM)
    waiting.wait(30)
    assert not (data / "server.json").exists()
    wait_for(lambda: not any(_alive(p) for p in family), 10, "the standalone server's workers to exit")


def test_an_owned_server_without_live_owners_stops_by_itself(tmp_path: Path, leftovers: Leftovers) -> None:
    data = tmp_path / "studio"
    leftovers.data_dirs.append(data)
    (data / "owners").mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (data / "owners" / f"{dead.stdout.strip()}.-.0000").write_text("{}")  # a lease whose process is gone
    server = leftovers.popen([sys.executable, "-m", "sweep.local", "--port", "0", "--data-dir", str(data),
                              "--linger", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             start_new_session=True)
    info = wait_for(lambda: _server_info(data) or server.poll() is not None, 60, "the server to announce itself")
    assert server.poll() is None, server.communicate()[1]
    assert info["pid"] == server.pid and info["standalone"] is False
    family = {server.pid} | _descendants(server.pid)
    _, err = server.communicate(timeout=30)
    assert server.returncode == 0, err
    assert "no owner of this local studio has been alive for 1 s: stopping" in err
    assert not (data / "server.json").exists() and list((data / "owners").iterdir()) == []  # the dead lease pruned
    wait_for(lambda: not any(_alive(p) for p in family), 10, "the server's workers to exit")


def test_workers_die_at_once_when_their_server_is_killed(tmp_path: Path, leftovers: Leftovers) -> None:
    """SIGKILL of the server while its warm-up worker still imports Keras: the kernel kills the worker too."""
    data = tmp_path / "studio"
    leftovers.data_dirs.append(data)
    studio = EmbeddedStudio(data)
    studio.start()
    try:
        server = studio.pid
        leftovers.pids.add(server)

        def workers() -> set[int]:
            found = {p for p in _descendants(server)
                     if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()} if _alive(server) else set()
            leftovers.pids.update(found)
            return found

        spawned = wait_for(workers, 30, "the warm-up worker", interval=0.05)
        family = {server} | _descendants(server)
    finally:
        studio.kill()
    wait_for(lambda: not any(_alive(p) for p in family), 2, f"the workers {sorted(spawned)} to die with their server",
             interval=0.05)
    assert not any(_alive(p) for p in family)


# ---- --on-stop leave: the server runs on for the left job ---------------------------------------------------


def _job(data: Path, job_id: int) -> dict[str, Any]:
    return json.loads((data / "jobs" / str(job_id) / "job.json").read_text())


def _train_jobs(data: Path) -> list[int]:
    return sorted(int(p.parent.name) for p in (data / "jobs").glob("*/job.json")
                  if json.loads(p.read_text()).get("kind") == "train")


def _leave_at_a_job(leftovers: Leftovers, ws: Path, data: Path, skip: set[int]) -> tuple[int, int, str]:
    """Start `sweep run --on-stop leave`, SIGTERM it mid-training: (the left job, its server, the run's stderr)."""
    run = leftovers.popen([sys.executable, "-m", "sweep.cli", "run", str(ws / "lifetime.toml"), "--no-report",
                           "--on-stop", "leave"], env=_env(ws, 1.0), cwd=ws, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    job_id = wait_for(lambda: ((j := _running_job(data)) not in skip and j) or run.poll() is not None, 180,
                      "a job mid-training")
    assert run.poll() is None, run.communicate()[1]
    (server,) = _servers(data)
    leftovers.pids |= {server} | _descendants(server)
    run.send_signal(signal.SIGTERM)
    _out, err = run.communicate(timeout=60)
    assert run.returncode == 130, err
    assert f"job {job_id} left running" in err
    return job_id, server, err


def test_on_stop_leave_keeps_the_server_for_the_left_job_and_the_next_run_completes_it(
        tmp_path: Path, leftovers: Leftovers) -> None:
    """The run's own server outlives it for the job it left (1 s linger): the next run reuses it and completes the
    trial from that job; with no next run, the server stops once the left job has ended, and the run after
    that completes the trial from the finished job all the same. Nothing is trained twice."""
    ws, data = tmp_path, tmp_path / "data"
    leftovers.data_dirs.append(data)
    (ws / "lifetime.toml").write_text(STUDY)

    # 1. left while running; the next run takes it over on the same server
    first, server, _err = _leave_at_a_job(leftovers, ws, data, set())
    time.sleep(2.5)  # well past the 1 s linger: no owner is alive, but the left job is
    assert _alive(server) and _servers(data) == [server], "the server stopped with the run that left its job"
    assert _job(data, first)["finished"] is None, "the job ended too soon for this test"
    info = _server_info(data)
    second, server_2, err = _leave_at_a_job(leftovers, ws, data, {first})
    assert server_2 == server and f"at {info['base_url']}" in err  # the same server, reused
    assert f"trial 0: re-attached to job {first}" in err
    assert _job(data, first)["finishedSuccessful"] is True

    # 2. left while running, and no run comes: the server stops once that job has ended (and its linger)
    wait_for(lambda: _job(data, second)["finished"] is not None or not _alive(server), 180, "the left job to end")
    assert _job(data, second)["finishedSuccessful"] is True, _job(data, second)  # it ran to its end
    wait_for(lambda: not _alive(server), 15, "the server to stop after the left job ended", interval=0.1)
    assert not (data / "server.json").exists() and list((data / "owners").iterdir()) == []

    last = _start_run(leftovers, ws, 1.0)
    _out, err = last.communicate(timeout=300)
    assert last.returncode == 0, err
    assert f"trial 1: re-attached to job {second}" in err
    trials = sorted(_trials(ws), key=lambda t: t.number)
    assert [(t.state, t.user_attrs["job_id"]) for t in trials] == [(TrialState.COMPLETE, first),
                                                                  (TrialState.COMPLETE, second)]
    assert _train_jobs(data) == [first, second]  # neither trial trained again
    assert _on_data_dir(data) == {} and not (data / "server.json").exists()
