"""The project socket of the local studio: socket.io at ``/socket.io/`` beside the routes, as Studio has it.

How a follower uses it (the official SDK's ``edgeimpulse.util.run_project_job_until_completion`` does this):
``GET /v1/api/{projectId}/socket-token`` -> ``token.socketToken``; connect socket.io to the host (no ``/v1``) at
``/socket.io/?token=<token>`` (the SDK's ``//socket.io/`` works too); emit ``start-log-stream {jobId}``.

What the server sends:
- ``job-data-{jobId} {data: "<line>\\n"}`` to a socket that started the job's log stream: first every line logged
  so far (a follower that joins mid-run catches up), then each new line as it is logged (the log file is read
  every :data:`POLL_S` s), each line once, in log order. A job of another project, or a second stream of the same
  job on the same socket, is ignored.
- ``job-finished-{jobId}`` then ``job-finished``, both ``{jobId, success}``, to every socket of the project when
  any of its jobs finishes (train, profiling, generate-features; failed or cancelled too): the job manager calls
  :meth:`ProjectSocket.job_finished` from its thread, which hands it to the event loop at once. A socket streaming
  the job first gets the job's last lines; its stream then ends. A stream started on a job that had already
  finished sends the log and then the job-finished pair to that socket (a guess, not Studio's documented
  behaviour: it keeps a follower that looked at the status just before the job finished from waiting forever).

Success is for the status route to say; the events only say when to look.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from typing import Any

import socketio
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from sweep.local import datasets
from sweep.local.jobs import JobManager
from sweep.local.logtail import LogTail
from sweep.local.record import JobRecord
from sweep.local.routing import Ctx, error, ok, route
from sweep.local.socket_tokens import SocketTokens, query_token
from sweep.studio.models import SocketToken, SocketTokenResponse

__all__ = ["POLL_S", "SOCKET_PATH", "ProjectSocket"]

log = logging.getLogger("sweep.local.socket")

SOCKET_PATH = "/socket.io/"
POLL_S = 0.1


def _room(project_id: int) -> str:
    return f"project-{project_id}"


def _job_id(data: Any) -> int | None:
    """The ``jobId`` of a ``start-log-stream`` payload (a number, or digits), or None."""
    raw = data.get("jobId") if isinstance(data, dict) else None
    if isinstance(raw, str) and raw.isdigit():
        return int(raw)
    return raw if isinstance(raw, int) and not isinstance(raw, bool) else None


class _Stream:
    """One socket following one job's log."""

    def __init__(self, sid: str, job_id: int, tail: LogTail) -> None:
        self.sid, self.job_id, self.tail = sid, job_id, tail
        self.lock = asyncio.Lock()  # one reader at a time: the lines go out once each, in order
        self.ended = False


class ProjectSocket:
    """The socket.io server, its tokens and its log streams; :meth:`asgi` puts it in front of the routes."""

    def __init__(self, manager: JobManager, *, tokens: SocketTokens | None = None, poll_s: float = POLL_S) -> None:
        self.manager, self.tokens, self.poll_s = manager, tokens or SocketTokens(), poll_s
        self.sio = socketio.AsyncServer(async_mode="asgi", logger=False, engineio_logger=False)
        self.sio.on("connect", self._connect)
        self.sio.on("disconnect", self._disconnect)
        self.sio.on("start-log-stream", self._start_log_stream)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._projects: dict[str, int] = {}  # sid -> the project of its token
        self._streams: dict[tuple[str, int], _Stream] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._lock = threading.Lock()
        self._pending: set[int] = set()  # jobs finished whose event the loop has not sent yet
        manager.on_finish(self.job_finished)

    # ---- wiring
    def routes(self) -> list[Route]:
        """``GET /v1/api/{projectId}/socket-token``."""
        async def socket_token(request: Request, ctx: Ctx, project: datasets.LocalProject) -> Response:
            token, expires = self.tokens.issue(project.id)
            return ok(SocketTokenResponse(success=True, token=SocketToken(socket_token=token, expires=expires)))
        return [route("/socket-token", socket_token, ["GET"])]

    def asgi(self, app: ASGIApp) -> ASGIApp:
        """``app`` with the socket in front: ``/socket.io/`` (``//socket.io/`` too) to socket.io, the rest to app."""
        inner = socketio.ASGIApp(self.sio, other_asgi_app=app, socketio_path=SOCKET_PATH.strip("/"))

        async def front(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] in ("http", "websocket"):
                path = "/" + scope["path"].lstrip("/")  # the SDK's URL: host.replace("/v1", "/") + "/socket.io/"
                if (path + "/").startswith(SOCKET_PATH):
                    if path != scope["path"]:
                        scope = {**scope, "path": path, "raw_path": path.encode()}
                    if self._closed or self.tokens.project_of(query_token(scope.get("query_string", b""))) is None:
                        await _refuse(scope, receive, send)
                        return
            await inner(scope, receive, send)
        return front

    def open(self) -> None:
        """Start serving events (from the event loop that runs the server)."""
        self._loop = asyncio.get_running_loop()

    async def close(self) -> None:
        """Disconnect every socket and stop every stream (before the server closes its connections)."""
        if self._closed:
            return
        self._closed = True
        for sid in list(self._projects):
            with contextlib.suppress(Exception):
                await self.sio.disconnect(sid)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.sio.shutdown()

    # ---- from the job manager (any thread, under its lock)
    def job_finished(self, rec: JobRecord) -> None:
        """Hand a finished job to the event loop; never blocks."""
        loop = self._loop
        if loop is None or self._closed:
            return
        with self._lock:
            self._pending.add(rec.id)
        with contextlib.suppress(RuntimeError):  # the loop is closed: the server is gone, and its sockets with it
            loop.call_soon_threadsafe(self._spawn_finished, rec.project_id, rec.id, bool(rec.finished_successful))

    def _spawn_finished(self, project_id: int, job_id: int, success: bool) -> None:
        if not self._closed:
            self._spawn(self._announce_finished(project_id, job_id, success))

    # ---- socket.io events
    async def _connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        project_id = self.tokens.project_of(query_token(environ.get("QUERY_STRING", "")))
        if project_id is None or self._closed:
            raise socketio.exceptions.ConnectionRefusedError("invalid or expired socket token")
        self._projects[sid] = project_id
        await self.sio.enter_room(sid, _room(project_id))

    async def _disconnect(self, sid: str, reason: Any = None) -> None:
        self._projects.pop(sid, None)
        for key in [k for k in self._streams if k[0] == sid]:
            self._streams.pop(key).ended = True  # its task sees it and stops

    async def _start_log_stream(self, sid: str, data: Any = None) -> None:
        job_id, project_id = _job_id(data), self._projects.get(sid)
        if job_id is None or project_id is None or (sid, job_id) in self._streams or self._closed:
            return
        rec = self.manager.get(project_id, job_id)
        if rec is None:
            return
        with self._lock:  # finished, and its event already sent: this stream ends with the lines there are
            done = rec.finished_successful if rec.state.is_finished and job_id not in self._pending else None
        stream = _Stream(sid, job_id, LogTail(self.manager.store.log_path(job_id)))
        self._streams[(sid, job_id)] = stream  # no await since the check: a finish event now will end it
        self._spawn(self._follow(stream, done))

    # ---- streams and events
    async def _follow(self, stream: _Stream, done: bool | None) -> None:
        if done is not None:
            await self._end(stream, done)
            return
        while not stream.ended:
            await self._send_lines(stream)
            await asyncio.sleep(self.poll_s)

    async def _send_lines(self, stream: _Stream) -> None:
        async with stream.lock:
            if not stream.ended:
                await self._emit_lines(stream)

    async def _emit_lines(self, stream: _Stream) -> None:
        for line in stream.tail.read():
            await self.sio.emit(f"job-data-{stream.job_id}", {"data": line + "\n"}, to=stream.sid)

    async def _end(self, stream: _Stream, success: bool) -> None:
        """The job's last lines to the stream's socket, then the job-finished pair; the stream ends."""
        async with stream.lock:
            if stream.ended:
                return
            await self._emit_lines(stream)
            stream.ended = True
            if self._streams.get((stream.sid, stream.job_id)) is stream:
                del self._streams[(stream.sid, stream.job_id)]
            await self._emit_finished(stream.job_id, success, to=stream.sid)

    async def _announce_finished(self, project_id: int, job_id: int, success: bool) -> None:
        with self._lock:
            self._pending.discard(job_id)
        streams = [s for (_, jid), s in self._streams.items() if jid == job_id]  # before any await
        for stream in streams:
            await self._end(stream, success)
        await self._emit_finished(job_id, success, room=_room(project_id), skip_sid=[s.sid for s in streams])

    async def _emit_finished(self, job_id: int, success: bool, **where: Any) -> None:
        payload = {"jobId": job_id, "success": success}
        await self.sio.emit(f"job-finished-{job_id}", payload, **where)
        await self.sio.emit("job-finished", payload, **where)

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("project socket task failed", exc_info=task.exception())


async def _refuse(scope: Scope, receive: Receive, send: Send) -> None:
    """No valid token: a websocket is closed before it opens (HTTP 403), a polling request gets 401."""
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.close", "code": 1008})
        return
    await error(401, "missing, unknown or expired socket token")(scope, receive, send)
