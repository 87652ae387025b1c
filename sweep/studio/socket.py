"""The project socket, as the official SDK follows jobs: job-finished events and live log lines over socket.io.

One connection per project: ``GET /api/{p}/socket-token`` gives a token, the socket is at the API's
host without ``/v1`` (``/socket.io/?token=...&onDemandLogs=true``, websocket transport). A followed
job is subscribed with ``start-log-stream``; its lines arrive as ``job-data-{jobId}`` and its end as
``job-finished`` (or ``job-finished-{jobId}``). The socket only makes following faster: whether a
job succeeded is always read from the status route, and a follower keeps polling it (more slowly)
as the safety net in case the socket drops.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

__all__ = ["JobStream", "ProjectSocket", "in_order_client"]

log = logging.getLogger("sweep.studio.socket")


_EVENT_PACKET = "2"  # socket.io's packet type of an event (a disconnect, "1", joins the reading thread)


def in_order_client() -> Any:
    """python-socketio's Client, but handling each message in the connection's reading thread: engine.io's
    client starts a thread per message, which can reorder a burst of a job's lines (an epoch's numbers
    must follow its ``Epoch i/n`` line). Our handlers only append to a list, so nothing waits on them."""
    import engineio
    import socketio  # here: only a run that follows jobs opens a socket

    class InOrderEngineIO(engineio.Client):  # type: ignore[misc]
        def _trigger_event(self, event: str, *args: Any, **kwargs: Any) -> Any:
            if event == "message" and args and isinstance(args[0], str) and args[0].startswith(_EVENT_PACKET):
                kwargs["run_async"] = False  # events only: a disconnect packet must not run in the reader
            return super()._trigger_event(event, *args, **kwargs)

    class InOrderClient(socketio.Client):  # type: ignore[misc]
        def _engineio_client_class(self) -> type[Any]:
            return InOrderEngineIO

    return InOrderClient


class JobStream:
    """One followed job as the socket tells it: its lines so far (in order) and whether it finished."""

    def __init__(self, job_id: int, live: Callable[[], bool]) -> None:
        self.job_id, self._live = job_id, live
        self.finished = threading.Event()
        self._lines: list[str] = []
        self._lock = threading.Lock()

    def restart(self) -> None:
        """After a reconnect: forget the lines (the server sends them again) and look at the job's status."""
        with self._lock:
            self._lines.clear()
        self.finished.set()

    def add(self, line: str) -> None:
        with self._lock:
            self._lines.append(line.rstrip("\n"))

    @property
    def live(self) -> bool:
        """Whether the socket is still connected (its lines and finish can be trusted to arrive)."""
        return self._live()

    def lines(self) -> list[str]:
        """Every line received so far, oldest first."""
        with self._lock:
            return list(self._lines)


class ProjectSocket:
    """A connected project socket; ``follow(job_id)`` subscribes a job. Thread-safe; ``close()`` when done."""

    def __init__(self, base_url: str, token: str, *, connect_timeout_s: float = 5.0) -> None:
        parts = urlsplit(base_url)
        root = f"{parts.scheme}://{parts.netloc}"
        self._streams: dict[int, JobStream] = {}
        self._lock = threading.Lock()
        self._sio = in_order_client()(reconnection=True, logger=False, engineio_logger=False)
        self._sio.on("connect", self._on_connect)
        self._sio.on("*", self._on_any)
        self._sio.on("job-finished", self._on_finished)
        self._sio.connect(f"{root}?token={token}&onDemandLogs=true", transports=["websocket"],
                          socketio_path="socket.io", wait_timeout=connect_timeout_s)

    @classmethod
    def open(cls, base_url: str, token: Callable[[], str]) -> ProjectSocket | None:
        """A connected socket, or None (logged) when the server offers none: following then polls only."""
        try:
            return cls(base_url, token())
        except Exception as exc:  # noqa: BLE001 - the socket is an optimisation; any failure means "poll"
            log.info("no project socket (%s: %s); following jobs by polling", type(exc).__name__, exc)
            return None

    @property
    def connected(self) -> bool:
        return bool(self._sio.connected)

    def follow(self, job_id: int) -> JobStream:
        """Subscribe a job's log stream (its lines so far, then each new one) and its finish."""
        with self._lock:
            stream = self._streams.get(job_id)
            if stream is None:
                stream = self._streams[job_id] = JobStream(job_id, lambda: self.connected)
        try:
            self._sio.emit("start-log-stream", {"jobId": job_id})
        except Exception as exc:  # noqa: BLE001 - a dropped socket: the follower's polling notices the end
            log.info("project socket: cannot follow job %s (%s)", job_id, exc)
        return stream

    def forget(self, job_id: int) -> None:
        with self._lock:
            self._streams.pop(job_id, None)

    def close(self) -> None:
        try:
            self._sio.disconnect()
        except Exception as exc:  # noqa: BLE001 - closing is best effort
            log.debug("project socket: %s while closing", exc)

    # ---- events (python-socketio's threads) -------------------------------------------------

    def _stream(self, job_id: Any) -> JobStream | None:
        try:
            key = int(job_id)
        except (TypeError, ValueError):
            return None
        with self._lock:
            return self._streams.get(key)

    def _on_connect(self) -> None:
        """A reconnect: subscribe the followed jobs again; what was missed meanwhile is read from the server."""
        with self._lock:
            streams = list(self._streams.values())
        for stream in streams:
            stream.restart()
            try:
                self._sio.emit("start-log-stream", {"jobId": stream.job_id})
            except Exception as exc:  # noqa: BLE001 - dropped again: the next connect retries
                log.info("project socket: cannot follow job %s again (%s)", stream.job_id, exc)

    def _on_any(self, event: str, data: Any = None) -> None:
        if event.startswith("job-data-") and isinstance(data, dict):
            stream = self._stream(event[len("job-data-"):])
            if stream is not None and isinstance(data.get("data"), str):
                for line in data["data"].splitlines() or [""]:
                    stream.add(line)
        elif event.startswith("job-finished-"):
            self._on_finished({"jobId": event[len("job-finished-"):]})

    def _on_finished(self, data: Any = None) -> None:
        if isinstance(data, dict):
            stream = self._stream(data.get("jobId"))
            if stream is not None:
                stream.finished.set()


@contextlib.contextmanager
def project_socket(base_url: str, token: Callable[[], str], *, enabled: bool = True) -> Iterator[ProjectSocket | None]:
    """The project socket while a run lasts (close it before its server stops); None when not ``enabled``
    (SWEEP_SOCKET=0) or when the server offers none (jobs are then polled)."""
    events = ProjectSocket.open(base_url, token) if enabled else None
    try:
        yield events
    finally:
        if events is not None:
            events.close()
