"""The project socket of the local studio: tokens, the official SDK's follower, finish events, catch-up, shutdown.

Against the real server over HTTP (``local_fixtures``); the followers are the official SDK
(``edgeimpulse.util.run_project_job_until_completion``, unchanged) and plain ``socketio.Client``s.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import edgeimpulse
import httpx
import pytest
import socketio
from edgeimpulse import util

from sweep.local.embedded import EmbeddedStudio
from sweep.local.logtail import LogTail
from sweep.local.socket_tokens import SocketTokens, query_token
from sweep.local.store import append_log, read_log
from sweep.studio.models import GetJobResponse, LogStdoutResponse, SocketTokenResponse, StartJobResponse
from sweep.studio.socket import in_order_client

from local_fixtures import (  # noqa: F401
    http_client,
    local_http,
    local_studio,
    official_client,
    start_studio,
    wait_for,
)

DIGITS, KEYWORDS = 1, 2
LEARN_ID, DSP_ID = 3, 2  # the digits project's default impulse
slow = pytest.mark.slow


# ---- helpers ----------------------------------------------------------------------------------------------


def _token(http: httpx.Client, project: int = DIGITS) -> str:
    answer = http.get(f"/api/{project}/socket-token")
    assert answer.status_code == 200, answer.text
    return SocketTokenResponse.model_validate(answer.json()).token.socket_token


def _socket_url(studio: EmbeddedStudio, token: str) -> str:
    """As the official SDK builds it: ws://host:port//socket.io/?token=... (the double slash included)."""
    host = studio.base_url.replace("http://", "ws://").replace("/v1", "/")
    return f"{host}/socket.io/?token={token}&onDemandLogs=true"


def _train(http: httpx.Client, cycles: int) -> int:
    answer = http.post(f"/api/{DIGITS}/jobs/train/keras/{LEARN_ID}",
                       json={"trainingCycles": cycles, "learningRate": 0.01, "batchSize": 32})
    assert answer.status_code == 200, answer.text
    return StartJobResponse.model_validate(answer.json()).id


def _status(http: httpx.Client, job_id: int) -> Any:
    answer = http.get(f"/api/{DIGITS}/jobs/{job_id}/status")
    assert answer.status_code == 200, answer.text
    return GetJobResponse.model_validate(answer.json()).job


def _log(http: httpx.Client, job_id: int) -> list[str]:
    """The job's log lines, oldest first, each ending in a newline (the stdout route answers newest first)."""
    answer = http.get(f"/api/{DIGITS}/jobs/{job_id}/stdout")
    assert answer.status_code == 200, answer.text
    return [item.data for item in LogStdoutResponse.model_validate(answer.json()).stdout][::-1]


def _finished(http: httpx.Client, job_id: int, timeout: float = 120.0) -> Any:
    return wait_for(lambda: (j := _status(http, job_id)).finished is not None and j, timeout, f"job {job_id}")


class Follower:
    """A socket.io client (websocket transport) on the project socket; records each event and when it came.

    python-socketio's plain Client handles each message in a thread of its own, so under load it can record a
    burst of lines out of the order they came in; what the server sent is checked here, so the follower handles
    them in the connection's reading thread, as sweep's own client does (``in_order_client``)."""

    def __init__(self) -> None:
        self.sio = in_order_client()(reconnection=False)
        self._lock = threading.Lock()
        self.events: list[tuple[float, str, Any]] = []
        self.disconnected = threading.Event()
        self.sio.on("*", self._record)
        self.sio.on("disconnect", lambda *reason: self.disconnected.set())

    def _record(self, event: str, data: Any) -> None:
        with self._lock:
            self.events.append((time.time(), event, data))

    def connect(self, studio: EmbeddedStudio, token: str) -> Follower:
        self.sio.connect(_socket_url(studio, token), transports=["websocket"])
        return self

    def stream(self, job_id: int) -> None:
        self.sio.emit("start-log-stream", {"jobId": job_id})

    def lines(self, job_id: int) -> list[str]:
        with self._lock:
            return [data["data"] for _, event, data in self.events if event == f"job-data-{job_id}"]

    def arrivals(self, event: str) -> list[tuple[float, Any]]:
        with self._lock:
            return [(at, data) for at, name, data in self.events if name == event]

    def finish_of(self, job_id: int, timeout: float = 120.0) -> tuple[float, Any]:
        """When ``job-finished`` for ``job_id`` came, and its payload (waits for it)."""
        found = wait_for(lambda: [a for a in self.arrivals("job-finished") if a[1]["jobId"] == job_id], timeout,
                         f"job-finished of job {job_id}", interval=0.05)
        return found[0]  # type: ignore[no-any-return]

    def close(self) -> None:
        self.sio.disconnect()


@pytest.fixture
def followers() -> Iterator[list[Follower]]:
    made: list[Follower] = []
    try:
        yield made
    finally:
        for follower in made:
            follower.close()


# ---- tokens and the log tail, directly --------------------------------------------------------------------


def test_a_token_is_bound_to_its_project_and_expires() -> None:
    tokens = SocketTokens(ttl_s=0.3)
    first, expires = tokens.issue(DIGITS)
    second, _ = tokens.issue(KEYWORDS)
    assert first != second and len(first) >= 40 and expires.tzinfo is not None
    assert tokens.project_of(first) == DIGITS and tokens.project_of(second) == KEYWORDS
    assert tokens.project_of("") is None and tokens.project_of("not-a-token") is None
    time.sleep(0.35)
    assert tokens.project_of(first) is None
    assert query_token(b"token=abc&onDemandLogs=true") == "abc" and query_token("onDemandLogs=true") == ""


def test_the_log_tail_gives_each_completed_line_once_as_the_stdout_route_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "log"
    tail = LogTail(path)
    assert tail.read() == []  # not written yet
    append_log(path, "Scheduling job\nJob started")
    assert tail.read() == ["Scheduling job", "Job started"]
    assert tail.read() == []
    with open(path, "a", encoding="utf-8") as fh:  # a line half written: left for the next read
        fh.write("2026-01-01T00:00:00+00:00\tEpoch 1/")
    assert tail.read() == []
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("3 ünïcode\n")
    append_log(path, "")
    assert tail.read() == ["Epoch 1/3 ünïcode", ""]
    assert [data for _, data in read_log(path)] == ["Scheduling job", "Job started", "Epoch 1/3 ünïcode", ""]


# ---- over the real server ---------------------------------------------------------------------------------


@slow
def test_the_official_sdk_follows_a_train_job_to_its_end(local_studio: EmbeddedStudio, local_http: httpx.Client,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    key = local_studio.api_key.get_secret_value()
    monkeypatch.setattr(edgeimpulse, "API_KEY", key)
    monkeypatch.setattr(edgeimpulse, "API_ENDPOINT", local_studio.base_url)  # the SDK's socket host comes from it
    client = official_client(local_studio)
    got: list[str] = []
    try:
        job_id = _train(local_http, 5)
        util.run_project_job_until_completion(job_id, data_cb=got.append, client=client, project_id=DIGITS,
                                              timeout_sec=180)
    finally:
        client.close()
    job = _status(local_http, job_id)
    assert job.finished is not None and job.finished_successful is True
    assert [line for line in got if line.startswith("Epoch")] == [f"Epoch {i}/5" for i in range(1, 6)]
    assert got == [line.strip() for line in _log(local_http, job_id)]  # from the first line to "Job completed"


@slow
def test_a_bad_token_is_refused_and_a_token_needs_the_key(local_studio: EmbeddedStudio,
                                                         local_http: httpx.Client) -> None:
    assert httpx.get(f"{local_studio.base_url}/api/{DIGITS}/socket-token").status_code == 401
    assert local_http.get("/api/99/socket-token").status_code == 404
    assert _token(local_http) != _token(local_http)
    base = local_studio.base_url.replace("/v1", "")
    for url in (_socket_url(local_studio, "not-a-token"), f"{base}/socket.io/", f"{base}/socket.io/?token="):
        refused = socketio.Client(reconnection=False)
        with pytest.raises(socketio.exceptions.ConnectionError):
            refused.connect(url, transports=["websocket"])
        assert not refused.connected
    for path in ("/socket.io/", "/socket.io", "//socket.io/"):
        polling = httpx.get(base + path, params={"EIO": "4", "transport": "polling", "token": "nope"})
        assert polling.status_code == 401 and polling.json()["success"] is False, path
    for transport in ("websocket", "polling"):  # with a valid token, a single slash works too
        ok = socketio.Client(reconnection=False)
        ok.connect(f"{base}/socket.io/?token={_token(local_http)}", transports=[transport])
        assert ok.connected and ok.transport() == transport
        if transport == "polling":  # python-socketio's polling client waits out the 25 s ping before it returns
            ok.eio.disconnect(abort=True)  # from disconnect(); the websocket one (the SDK's, ours) does not
        else:
            ok.disconnect()


@slow
def test_job_finished_reaches_every_socket_of_the_project_at_once(local_studio: EmbeddedStudio,
                                                                 local_http: httpx.Client,
                                                                 followers: list[Follower]) -> None:
    ours = Follower().connect(local_studio, _token(local_http))
    other = Follower().connect(local_studio, _token(local_http, KEYWORDS))
    followers += [ours, other]
    train = _train(local_http, 2)
    other.stream(train)  # a job of another project: ignored
    answer = local_http.post(f"/api/{DIGITS}/jobs/generate-features", json={"dspId": DSP_ID})
    assert answer.status_code == 200, answer.text
    features = StartJobResponse.model_validate(answer.json()).id
    _check_finish(local_http, ours, features, True)
    _check_finish(local_http, ours, train, True)
    cancelled = _train(local_http, 3000)
    assert local_http.post(f"/api/{DIGITS}/jobs/{cancelled}/cancel", params={"forceCancel": "true"}).status_code == 200
    _check_finish(local_http, ours, cancelled, False)
    # once each; the train job (2 epochs on a warm worker) and the features job (Studio's 1 s) finish in either
    # order, and the cancelled one was started after both had finished
    finished = [p["jobId"] for _, p in ours.arrivals("job-finished")]
    assert sorted(finished[:2]) == sorted([features, train]) and finished[2:] == [cancelled]
    time.sleep(0.3)
    assert other.events == []  # nothing of the digits project reaches a keywords socket


def _check_finish(http: httpx.Client, follower: Follower, job_id: int, success: bool) -> None:
    """``job-finished`` and ``job-finished-{id}`` came, said ``success``, within 0.5 s of the job's finish time."""
    arrived, payload = follower.finish_of(job_id)
    job = _finished(http, job_id)
    assert payload == {"jobId": job_id, "success": success} and job.finished_successful is success
    assert -0.05 < arrived - job.finished.timestamp() <= 0.5, (job_id, arrived, job.finished)
    named = wait_for(lambda: follower.arrivals(f"job-finished-{job_id}"), 5, f"job-finished-{job_id}")
    assert [p for _, p in named] == [payload]


@slow
def test_a_stream_started_mid_run_catches_up_then_follows_without_duplicates_or_gaps(
        local_studio: EmbeddedStudio, local_http: httpx.Client, followers: list[Follower]) -> None:
    job_id = _train(local_http, 100)  # long enough that epoch 30 comes seconds before the end (0.1 s an epoch)
    wait_for(lambda: any(line.startswith("Epoch 3/") for line in _log(local_http, job_id)), 120, "epoch 3")
    late = Follower().connect(local_studio, _token(local_http))
    followers.append(late)
    late.stream(job_id)
    late.stream(job_id)  # a second request for the same stream changes nothing
    done_at, payload = late.finish_of(job_id)
    assert payload == {"jobId": job_id, "success": True}
    log = _log(local_http, job_id)
    assert late.lines(job_id) == log  # caught up from the first line, then every line once, in order, to the last
    assert log[0].startswith("Scheduling job") and log[-1] == "Job completed\n"
    live = [at for at, data in late.arrivals(f"job-data-{job_id}") if data["data"] == "Epoch 30/100\n"]
    assert live and live[0] < done_at - 1.0, "lines are sent as they are written, not at the end"

    after = Follower().connect(local_studio, _token(local_http))  # a job already finished: its log, then the end
    followers.append(after)
    after.stream(job_id)
    after.finish_of(job_id, timeout=10)
    assert after.lines(job_id) == log
    assert [name for _, name, _ in after.events][-2:] == [f"job-finished-{job_id}", "job-finished"]


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
                found |= {int(entry.name)} | _children(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        return (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]) not in ("Z", "X")
    except (OSError, IndexError):
        return False


@slow
def test_the_server_stops_cleanly_with_sockets_connected(tmp_path: Path, followers: list[Follower]) -> None:
    studio = start_studio(tmp_path / "studio")
    studio.start()
    try:
        with http_client(studio) as http:
            job_id = _train(http, 3000)
            wait_for(lambda: any(line.startswith("Epoch") for line in _log(http, job_id)), 120, "the first epoch")
            streaming, idle = Follower().connect(studio, _token(http)), Follower().connect(studio, _token(http))
        followers += [streaming, idle]
        streaming.stream(job_id)
        wait_for(lambda: streaming.lines(job_id), 10, "the stream's first lines")
        family = {studio.pid} | _children(studio.pid)
        assert len(family) >= 2  # the server and its training worker
        log_before = studio.log_path.read_text(errors="replace")
    finally:
        began = time.monotonic()
        studio.stop()
    assert time.monotonic() - began < 4.0, "no wait for sockets or streams to time out"
    wait_for(lambda: not any(_alive(p) for p in family), 10, "the server and its workers to exit", interval=0.1)
    for follower in (streaming, idle):
        assert follower.disconnected.wait(5) and not follower.sio.connected
    added = studio.log_path.read_text(errors="replace")[len(log_before):]
    for bad in ("Traceback", "ERROR", "Task was destroyed", "never awaited", "graceful shutdown exceeded",
                "Exception"):
        assert bad not in added, added
