"""Run the local studio server (blocking): lock the data dir, bind, announce, serve until told to stop.

One server per data dir: it holds ``DATA/server.lock`` for its whole life and announces itself in
``DATA/server.json`` once listening (see :mod:`sweep.local.lifetime`). A *standalone* server (``sweep serve``)
runs until SIGTERM/SIGINT; an *owned* one (``--linger``, as ``EmbeddedStudio`` starts it) also stops by
itself once no owner registered in ``DATA/owners/`` has been alive for ``linger`` seconds.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sweep.errors import LocalStudioError
from sweep.local.identity import ensure_identity
from sweep.local.lifetime import (
    DEFAULT_LOCK_WAIT_S,
    OwnerWatch,
    acquire_server_lock,
    remove_server_info,
    server_info,
    write_server_info,
)

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from sweep.local.project_socket import ProjectSocket

__all__ = ["serve"]

log = logging.getLogger("sweep.local.serve")


def _write_port_file(path: Path, port: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(f"{port}\n", encoding="utf-8")
    os.replace(tmp, path)


def _connect_host(host: str) -> str:
    """The address a client on this machine uses to reach a server bound to ``host``."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def serve(host: str, port: int, data_dir: Path, *, concurrency: int = 1, allow_user_code: bool = False,
          api_key: str | None = None, port_file: Path | None = None, profiling_job: bool = False,
          job_limit_m: int = 60, linger: float | None = None, lock_wait: float = DEFAULT_LOCK_WAIT_S,
          max_impulses: int = -1) -> None:
    """Serve until stopped; ``port`` 0 picks a free port (printed, and written to ``port_file``).

    ``max_impulses``: how many impulses (the default one and its clones) a project may have; -1: unlimited.

    ``linger`` None: standalone. Otherwise owned: stop ``linger`` s after the last owner is gone.
    ``lock_wait``: how long to wait for another server on ``data_dir`` to let go of it before giving up.
    """
    if concurrency < 1:
        raise LocalStudioError(f"--concurrency must be at least 1 (got {concurrency})")
    if max_impulses < -1 or max_impulses == 0:
        raise LocalStudioError(f"--max-impulses must be -1 (unlimited) or at least 1 (got {max_impulses})")
    if linger is not None and linger < 0:
        raise LocalStudioError(f"--linger must not be negative (got {linger:g})")
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = acquire_server_lock(data_dir, lock_wait)  # first: a second server must not touch the jobs
    try:
        ensure_identity(data_dir)  # a new data dir (or one made before identities) gets its id now
        _serve_locked(host, port, data_dir, concurrency=concurrency, allow_user_code=allow_user_code,
                      api_key=api_key, port_file=port_file, profiling_job=profiling_job,
                      job_limit_m=job_limit_m, linger=linger, max_impulses=max_impulses)
    finally:
        remove_server_info(data_dir, os.getpid())
        lock.release()


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: any free one), or a LocalStudioError naming it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise LocalStudioError(f"cannot bind {host}:{port}: {exc}") from exc
    sock.listen(128)
    return sock


def _app(data_dir: Path, api_key: str | None, *, max_impulses: int, **manager_options: Any,
         ) -> tuple[ASGIApp, ProjectSocket]:
    """The server's ASGI app (the project socket in front of the routes) and its socket; its first workers (one per
    job it runs at once) are spawned before anything else, so that their Keras import overlaps the rest of the
    server's start."""
    from sweep.local.pool import spawn_ahead

    first_workers = spawn_ahead(bool(manager_options.get("allow_user_code")), int(manager_options["concurrency"]))
    try:
        return _build_app(data_dir, api_key, max_impulses=max_impulses, first_workers=first_workers,
                          **manager_options)
    except BaseException:
        for worker in first_workers:
            worker.stop()
        raise


def _build_app(data_dir: Path, api_key: str | None, *, max_impulses: int, **manager_options: Any,
               ) -> tuple[ASGIApp, ProjectSocket]:
    from sweep.local import datasets
    from sweep.local.app import create_app
    from sweep.local.jobs import JobManager
    from sweep.local.project_socket import ProjectSocket
    from sweep.local.store import load_or_create_api_key

    datasets.ensure_default_projects(data_dir)
    datasets.ensure_test_splits(data_dir)  # projects made before test splits: theirs, before any job runs
    key = api_key or load_or_create_api_key(data_dir)
    manager = JobManager(data_dir, **manager_options)
    project_socket = ProjectSocket(manager)
    routes = create_app(data_dir, manager, key, max_impulses=max_impulses, socket=project_socket)
    return project_socket.asgi(routes), project_socket


def _serve_locked(host: str, port: int, data_dir: Path, *, concurrency: int, allow_user_code: bool,
                  api_key: str | None, port_file: Path | None, profiling_job: bool, job_limit_m: int,
                  linger: float | None, max_impulses: int) -> None:
    app, project_socket = _app(data_dir, api_key, max_impulses=max_impulses, concurrency=concurrency,
                               allow_user_code=allow_user_code, profiling_job=profiling_job, job_limit_m=job_limit_m)
    import uvicorn

    sock = _listen(host, port)
    bound = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=5, access_log=False, ws="wsproto")
    pid = os.getpid()

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            # stopping (a signal, or no owners left): from now on no client may pick this server. Done
            # here, not after run(): uvicorn re-raises SIGTERM after its shutdown, which ends the process.
            remove_server_info(data_dir, pid)
            await project_socket.close()  # first: its followers are told goodbye, not cut off mid-stream
            await super().shutdown(sockets=sockets)

    server = Server(config)

    def stop_for_lack_of_owners() -> None:  # called under owners.lock
        remove_server_info(data_dir, pid)
        server.should_exit = True

    def exiting() -> bool:  # read afresh each time: another thread (a signal, the owner watch) sets it
        return bool(server.should_exit)

    def announce() -> None:
        while not server.started and not exiting():
            threading.Event().wait(0.05)
        if not server.started or exiting():
            return
        write_server_info(data_dir, server_info(
            port=bound, base_url=f"http://{_connect_host(host)}:{bound}/v1", standalone=linger is None,
            concurrency=concurrency, profiling_job=profiling_job))
        if exiting():  # a signal came in while we wrote it
            remove_server_info(data_dir, pid)
            return
        print(f"sweep local studio listening on http://{host}:{bound}/v1 (data dir {data_dir})", flush=True)
        if port_file is not None:
            _write_port_file(Path(port_file), bound)
        if linger is not None:
            OwnerWatch(data_dir, linger, stop_for_lack_of_owners, lambda: server.should_exit).start()

    threading.Thread(target=announce, name="sweep-local-announce", daemon=True).start()
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
