"""Run the local studio server (blocking): bind, write the bound port, serve until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import threading
from pathlib import Path

from sweep.errors import LocalStudioError

__all__ = ["serve", "add_arguments", "main"]

log = logging.getLogger("sweep.local.serve")


def _write_port_file(path: Path, port: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(f"{port}\n", encoding="utf-8")
    os.replace(tmp, path)


def serve(host: str, port: int, data_dir: Path, *, concurrency: int = 1, allow_user_code: bool = False,
          api_key: str | None = None, port_file: Path | None = None, profiling_job: bool = False,
          job_limit_m: int = 60) -> None:
    """Serve until stopped; ``port`` 0 picks a free port (printed, and written to ``port_file``)."""
    import uvicorn

    from sweep.local import datasets
    from sweep.local.app import create_app
    from sweep.local.jobs import JobManager
    from sweep.local.store import load_or_create_api_key

    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    datasets.ensure_default_projects(data_dir)
    key = api_key or load_or_create_api_key(data_dir)
    manager = JobManager(data_dir, concurrency=concurrency, allow_user_code=allow_user_code,
                         profiling_job=profiling_job, job_limit_m=job_limit_m)
    app = create_app(data_dir, manager, key)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise LocalStudioError(f"cannot bind {host}:{port}: {exc}") from exc
    sock.listen(128)
    bound = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=5, access_log=False)
    server = uvicorn.Server(config)

    def announce() -> None:
        while not server.started and not server.should_exit:
            threading.Event().wait(0.05)
        if server.started:
            print(f"sweep local studio listening on http://{host}:{bound}/v1 (data dir {data_dir})", flush=True)
            if port_file is not None:
                _write_port_file(Path(port_file), bound)

    threading.Thread(target=announce, daemon=True).start()
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=4810, help="port (0 = any free port; default 4810)")
    parser.add_argument("--data-dir", type=Path, default=Path(".sweep/studio"), help="projects, jobs and models")
    parser.add_argument("--concurrency", type=int, default=1, help="training jobs at once (default 1)")
    parser.add_argument("--allow-user-code", action="store_true",
                        help="allow expert-mode scripts (runs the request's Python code!)")
    parser.add_argument("--port-file", type=Path, default=None, help="write the bound port here once listening")
    parser.add_argument("--profiling-job", action="store_true",
                        help="announce device metrics via a second (profiling) job, as Studio does")
    parser.add_argument("--job-limit-m", type=int, default=60, help="minutes a job may run (default 60)")


def main(args: argparse.Namespace) -> int:
    """Entry point for ``sweep serve`` and ``python -m sweep.local``."""
    if args.concurrency < 1:
        raise LocalStudioError(f"--concurrency must be at least 1 (got {args.concurrency})")
    serve(args.host, args.port, Path(args.data_dir), concurrency=args.concurrency,
          allow_user_code=args.allow_user_code, port_file=getattr(args, "port_file", None),
          profiling_job=getattr(args, "profiling_job", False), job_limit_m=getattr(args, "job_limit_m", 60))
    return 0
