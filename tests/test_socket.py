"""The project socket over real HTTP against the fake Studio: finishes and lines pushed, polling as the safety net."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from optuna.trial import TrialState

from sweep.run.follow import Follower, Polling
from sweep.studio.client import StudioClient
from sweep.studio.models import SocketTokenResponse
from sweep.studio.socket import ProjectSocket

from fake_studio import FakeStudio, JobScript
from runner_support import load, run_sweep, sweep_env, write_study

KEY = "ei_secret_fake_key_0123456789"


@pytest.fixture
def studio() -> Iterator[FakeStudio]:
    with FakeStudio(api_key=KEY) as fake:
        yield fake


@pytest.fixture
def client(studio: FakeStudio) -> Iterator[StudioClient]:
    with httpx.Client(base_url=studio.base_url, headers={"x-api-key": KEY}) as http:
        yield StudioClient(http, studio.project_id)


def _statuses(studio: FakeStudio, job_id: int) -> int:
    return sum(1 for method, path, _ in studio.requests if path.endswith(f"/jobs/{job_id}/status"))


def _start(studio: FakeStudio, client: StudioClient, seconds: float) -> int:
    from sweep.studio.models import SetKerasParameterRequest

    studio.script(JobScript(duration_s=seconds))
    return client.start_training(7, SetKerasParameterRequest(mode="visual", training_cycles=10, learning_rate=0.01))


def test_the_socket_token_parses_with_the_official_model(studio: FakeStudio, client: StudioClient) -> None:
    from edgeimpulse_api.models.socket_token_response import SocketTokenResponse as Official

    raw = httpx.get(f"{studio.base_url}/api/42/socket-token", headers={"x-api-key": KEY}).json()
    assert Official.from_dict(raw).token.socket_token == client.socket_token()
    assert SocketTokenResponse.model_validate(raw).token.socket_token


def test_a_finish_is_noticed_from_the_socket_without_polling(studio: FakeStudio, client: StudioClient) -> None:
    """Polls are 30 s apart, the job takes 1.5 s: only the socket can end the wait in time (job_timeout 6 s)."""
    socket = ProjectSocket.open(client.base_url, client.socket_token)
    assert socket is not None and socket.connected
    try:
        job_id = _start(studio, client, 1.5)
        follower = Follower(client, polling=Polling(30.0, 1.5, 30.0), stop=threading.Event(), job_timeout_s=6,
                            events=socket, tick_s=0.05)
        logs: list[list[str]] = []
        started = time.monotonic()
        job = follower.wait(job_id, on_poll=lambda job, log: logs.append(log.lines()) is not None and False)
        waited = time.monotonic() - started
        assert job.finished_successful and waited < 5.0
        assert _statuses(studio, job_id) <= 3  # the first look, then once the socket said it ended
        assert any(line.startswith("Epoch 1/10") for line in logs[-1])  # the lines came over the socket
        assert not any(path.endswith(f"/jobs/{job_id}/stdout") for _, path, _ in studio.requests)
    finally:
        socket.close()


def test_a_dropped_socket_reconnects_and_the_job_is_still_followed(studio: FakeStudio, client: StudioClient) -> None:
    socket = ProjectSocket.open(client.base_url, client.socket_token)
    assert socket is not None and studio.socket is not None
    try:
        job_id = _start(studio, client, 2.0)
        follower = Follower(client, polling=Polling(0.2, 1.5, 30.0), stop=threading.Event(), job_timeout_s=15,
                            events=socket, tick_s=0.05)
        threading.Timer(0.5, studio.socket.drop).start()
        job = follower.wait(job_id)
        assert job.finished_successful
        deadline = time.monotonic() + 5
        while studio.socket.connects < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert studio.socket.connects >= 2  # the client came back by itself
    finally:
        socket.close()


def test_without_a_socket_jobs_are_polled(caplog: pytest.LogCaptureFixture) -> None:
    with FakeStudio(api_key=KEY, project_socket=False) as studio, \
            httpx.Client(base_url=studio.base_url, headers={"x-api-key": KEY}) as http:
        client = StudioClient(http, studio.project_id)
        with caplog.at_level(logging.INFO, logger="sweep.studio.socket"):
            assert ProjectSocket.open(client.base_url, client.socket_token) is None
        assert "following jobs by polling" in caplog.text
        job_id = _start(studio, client, 0.3)
        job = Follower(client, polling=Polling(0.05, 1.5, 0.2), stop=threading.Event()).wait(job_id)
        assert job.finished_successful and _statuses(studio, job_id) >= 3


def test_a_sweep_prunes_from_the_sockets_lines_and_never_reads_the_running_log(
    studio: FakeStudio, tmp_path: Path
) -> None:
    from test_runner_fake import _PRUNER

    from runner_support import BASE_SPACE

    studio.script(*[JobScript(duration_s=0.5)] * 3, JobScript(duration_s=20.0, metrics={"accuracy": 0.05}))
    space = BASE_SPACE.replace("training_cycles = { low = 5, high = 30, step = 5 }", "training_cycles = 10")
    path = write_study(tmp_path, studio.base_url, trials=4, space=space + _PRUNER)
    proc = run_sweep("run", str(path), "--no-report", env=sweep_env(KEY), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    trials = load(tmp_path).get_trials()
    assert trials[3].state == TrialState.PRUNED
    pruned_job = trials[3].user_attrs["job_id"]
    assert not [p for _, p, _ in studio.requests if p.endswith(f"/jobs/{pruned_job}/stdout")]
    assert studio.socket is not None and studio.socket.connects >= 1
    assert KEY not in proc.stderr


def test_socket_off_by_setting(studio: FakeStudio, tmp_path: Path) -> None:
    """SWEEP_SOCKET=0: the run follows by polling only (no socket connection is made)."""
    path = write_study(tmp_path, studio.base_url, trials=2)
    proc = run_sweep("run", str(path), "--no-report", env=sweep_env(KEY, SWEEP_SOCKET="0"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert studio.socket is not None and studio.socket.connects == 0
    assert [t.state for t in load(tmp_path).get_trials()] == [TrialState.COMPLETE] * 2




def test_a_burst_of_lines_arrives_in_the_order_it_was_sent(studio: FakeStudio, client: StudioClient) -> None:
    """engine.io's client handles each message on a thread of its own, which can reorder a burst; a job's
    lines must come in order (an epoch's numbers follow its ``Epoch i/n`` line)."""
    from sweep.studio.models import SetKerasParameterRequest

    lines = [f"line {i:04d}" for i in range(400)]
    import sys

    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: any reordering shows
    studio.script(JobScript(duration_s=0.05, log_lines=lines))
    job_id = client.start_training(7, SetKerasParameterRequest(mode="visual", training_cycles=1, learning_rate=0.01))
    time.sleep(0.3)  # the job is over: subscribing now sends its whole log at once
    socket = ProjectSocket.open(client.base_url, client.socket_token)
    assert socket is not None
    try:
        stream = socket.follow(job_id)
        deadline = time.monotonic() + 10
        while len(stream.lines()) < len(lines) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert stream.lines() == lines
    finally:
        sys.setswitchinterval(old_interval)
        socket.close()


def test_a_server_side_disconnect_is_handled_quietly(studio: FakeStudio, client: StudioClient,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    """A server that stops disconnects its sockets first (the local studio does): the client's disconnect
    handling must not run in its own reading thread (it joins that thread) -- no handler error."""
    socket = ProjectSocket.open(client.base_url, client.socket_token)
    assert socket is not None and studio.socket is not None
    try:
        with caplog.at_level(logging.ERROR):
            for sid in list(studio.socket._subs):
                studio.socket.sio.disconnect(sid)
            deadline = time.monotonic() + 5
            while socket.connected and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(0.2)
        assert not socket.connected
        assert not [r for r in caplog.records if "handler error" in r.getMessage()], caplog.text
    finally:
        socket.close()


def test_the_live_line_shows_the_running_jobs_epoch_from_the_socket(studio: FakeStudio, client: StudioClient) -> None:
    """On a terminal, each poll draws the epoch the job is in, read from the socket's lines (no log reads)."""
    import io

    from sweep.run.follow import JobLog
    from sweep.run.progress import Progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    socket = ProjectSocket.open(client.base_url, client.socket_token)
    assert socket is not None
    try:
        job_id = _start(studio, client, 1.5)
        out = Terminal()
        progress = Progress(out)
        follower = Follower(client, polling=Polling(0.1, 1.5, 0.3), stop=threading.Event(), events=socket,
                            tick_s=0.05)

        def on_poll(job: object, log: JobLog) -> bool:
            progress.running(0, "trial 0", job_id, 7, "running", 0.0, log.epoch())
            return False

        assert follower.wait(job_id, on_poll=on_poll).finished_successful
        shown = {int(part.split("epoch ")[1].split("/")[0]) for part in out.getvalue().split("\r\x1b[2K")
                 if "epoch " in part}
        assert shown and max(shown) > 1 and all(1 <= e <= 10 for e in shown)
        assert not any(path.endswith(f"/jobs/{job_id}/stdout") for _, path, _ in studio.requests)
    finally:
        socket.close()
