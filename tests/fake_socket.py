"""The fake Studio's project socket: socket.io over its own HTTP server, pushing job lines and finishes on time."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import socketio  # type: ignore[import-untyped]

if TYPE_CHECKING:
    from fake_studio import FakeStudio

__all__ = ["FakeSocket"]

TOKEN = "fake-socket-token-0123"


class FakeSocket:
    """Studio's project socket as the SDK uses it: ``start-log-stream {jobId}`` replays a job's lines so far
    as ``job-data-{jobId}`` events and sends each new one when its time comes; ``job-finished`` (and
    ``job-finished-{jobId}``) go to every client of the project when a job ends. ``drop()`` cuts every
    connection (the clients reconnect on their own); ``enabled = False`` refuses new ones."""

    def __init__(self, studio: FakeStudio, *, tick_s: float = 0.02) -> None:
        self.studio, self.tick_s = studio, tick_s
        self.enabled = True
        self.connects = 0
        self.connections: list[socket.socket] = []  # the websockets' TCP connections (for drop())
        self.finish_delay_s = 0.0  # how late job-finished is sent after the status says finished
        self.sio = socketio.Server(async_mode="threading", cors_allowed_origins="*", logger=False,
                                   engineio_logger=False)
        self.app = socketio.WSGIApp(self.sio, socketio_path="socket.io")
        self._subs: dict[str, dict[int, int]] = {}  # sid -> job id -> lines sent
        self._announced: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.sio.on("connect", self._connect)
        self.sio.on("disconnect", self._disconnect)
        self.sio.on("start-log-stream", self._start_log_stream)
        self._thread = threading.Thread(target=self._push, name="fake-socket", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        for sid in list(self._subs):
            self.sio.disconnect(sid)
        self.drop()

    def drop(self) -> None:
        """Cut every websocket's connection, as a network blip would (the clients reconnect by themselves)."""
        with self._lock:
            connections, self.connections = self.connections, []
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # ---- socket.io events ---------------------------------------------------------------------

    def _connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> bool:
        query = dict(part.split("=", 1) for part in environ.get("QUERY_STRING", "").split("&") if "=" in part)
        if not self.enabled or query.get("token") != TOKEN:
            return False
        with self._lock:
            self._subs[sid] = {}
            self.connects += 1
        return True

    def _disconnect(self, sid: str, *args: Any) -> None:
        with self._lock:
            self._subs.pop(sid, None)

    def _start_log_stream(self, sid: str, data: Any) -> None:
        job_id = int(data["jobId"]) if isinstance(data, dict) and "jobId" in data else None
        if job_id is None:
            return
        with self._lock:
            if sid in self._subs:
                self._subs[sid].setdefault(job_id, 0)

    # ---- pushing, on the jobs' scripted clock -------------------------------------------------

    def _push(self) -> None:
        while not self._stop.wait(self.tick_s):
            with self._lock:
                if not self._subs:
                    continue  # nobody listens: nothing to compute (the fake stays cheap for polling clients)
                wanted = {jid for subs in self._subs.values() for jid in subs}
            now = time.time()
            with self.studio._lock:
                pending = {jid: job for jid, job in self.studio.jobs.items() if jid not in self._announced}
                logs = {jid: [line for _, line in self.studio._log(job, now)]
                        for jid, job in self.studio.jobs.items() if jid in wanted}
                done = {jid: job.successful() for jid, job in pending.items() if job.done(now - self.finish_delay_s)}
            with self._lock:
                sends = [(sid, jid, logs[jid][sent:]) for sid, subs in self._subs.items()
                         for jid, sent in subs.items() if jid in logs and len(logs[jid]) > sent]
                for sid, jid, new in sends:
                    self._subs[sid][jid] += len(new)
                self._announced |= set(done)
            for sid, jid, new in sends:
                for line in new:
                    self.sio.emit(f"job-data-{jid}", {"data": line + "\n"}, to=sid)
            for jid, success in sorted(done.items()):
                self.sio.emit("job-finished", {"jobId": jid, "success": success})
                self.sio.emit(f"job-finished-{jid}", {"jobId": jid, "success": success})


def serve_socket_io(handler: BaseHTTPRequestHandler, fake: FakeSocket) -> None:
    """Hand one /socket.io/ request of an http.server handler to a WSGI socket.io app (a websocket upgrade
    takes the connection over until it closes)."""
    url = urlsplit(handler.path)
    length = int(handler.headers.get("Content-Length") or 0)
    body = handler.rfile.read(length) if length else b""
    import io

    environ: dict[str, Any] = {
        "REQUEST_METHOD": handler.command, "PATH_INFO": url.path, "QUERY_STRING": url.query,
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": str(handler.server.server_address[1]),
        "SERVER_PROTOCOL": handler.request_version, "wsgi.input": io.BytesIO(body), "wsgi.url_scheme": "http",
        "wsgi.errors": io.StringIO(), "wsgi.version": (1, 0), "wsgi.multithread": True,
        "wsgi.multiprocess": False, "wsgi.run_once": False, "CONTENT_LENGTH": str(length),
        "CONTENT_TYPE": handler.headers.get("Content-Type", ""), "werkzeug.socket": handler.connection,
    }
    for key, value in handler.headers.items():
        environ["HTTP_" + key.upper().replace("-", "_")] = value
    started: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        started["status"], started["headers"] = status, headers

    upgrade = environ.get("HTTP_UPGRADE", "").lower() == "websocket"
    if upgrade:
        with fake._lock:
            fake.connections.append(handler.connection)
    chunks = b"".join(fake.app(environ, start_response))
    if upgrade:
        handler.close_connection = True  # the websocket owned the connection; it is closed now
        return
    code, _, reason = started["status"].partition(" ")
    handler.send_response(int(code), reason)
    for key, value in started["headers"]:
        if key.lower() != "content-length":
            handler.send_header(key, value)
    handler.send_header("Content-Length", str(len(chunks)))
    handler.end_headers()
    handler.wfile.write(chunks)
