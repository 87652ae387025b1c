"""Who runs the local studio on a data dir, and for how long: one server by lock, its owners by lease.

Files in the data dir (DATA):

``server.lock``
    An exclusive ``flock`` the one server process holds for its whole life (its pid is written inside,
    for messages). A second server on the same data dir waits for it (a previous server may be shutting
    down), then gives up naming the holder. The kernel drops the lock when the holder dies, even by SIGKILL.
``server.json``
    ``{pid, pid_start, port, base_url, started, standalone, concurrency, profiling_job}``, written
    atomically once the server listens and removed as soon as it starts to stop. A server is *live* when
    this file names a process that is alive (same pid and start time) and ``server.lock`` is held.
``owners/``
    One lease file per client that uses an *owned* server (started by ``EmbeddedStudio``), named
    ``<pid>.<start>.<token>``: the pid, the process start time (``/proc/<pid>/stat`` field 22, so a reused
    pid is not taken for the owner; ``-`` where there is no /proc) and a token (one process may hold two).
    A job a run left running (``--on-stop leave``) holds a lease too, ``job.<id>.<token>``, alive while
    ``jobs/<id>/job.json`` says the job has not finished, so the server runs on for it after the run.
    The owned server exits ``linger`` seconds after the last live owner is gone; a standalone server
    (``sweep serve``) has no owners and runs until SIGTERM/SIGINT.
``owners.lock``
    A short ``flock`` that serialises claiming (a client deciding to reuse the live server and
    registering itself, or starting a new one), releasing (the last owner stopping the server) and the
    server's own decision to exit for lack of owners, so that no client ever picks a dying server.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sweep.errors import LocalStudioError

__all__ = ["DEFAULT_LINGER_S", "DEFAULT_LOCK_WAIT_S", "FileLock", "OwnerWatch", "acquire_server_lock",
           "live_owners", "live_server", "lock_holder", "owners_lock", "process_alive", "process_start",
           "read_server_info", "register_job_lease", "register_owner", "remove_server_info", "server_info",
           "server_lock_held", "unregister_owner", "write_server_info"]

log = logging.getLogger("sweep.local.lifetime")

DEFAULT_LINGER_S = 5.0  # an owned server outlives its last owner this long (a quick re-run reuses it)
DEFAULT_LOCK_WAIT_S = 30.0  # a new server waits this long for the previous one to let go of the data dir
WATCH_INTERVAL_S = 0.5

SERVER_LOCK, SERVER_JSON, OWNERS_LOCK, OWNERS_DIR = "server.lock", "server.json", "owners.lock", "owners"
_NO_START = "-"
_JOB = "job"  # the first part of a job's lease name, where an owner's has its pid


# ---- processes ------------------------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    """``/proc/<pid>/stat`` from field 3 (state) on, or None if there is no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    return text.rsplit(")", 1)[-1].split()  # the command name (field 2) may hold spaces and parentheses


def _have_proc() -> bool:
    return Path("/proc/self/stat").exists()


def process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of its stat), or None if unknown."""
    fields = _stat(pid)
    return fields[19] if fields is not None and len(fields) > 19 else None


def process_alive(pid: int, start: str | None = None) -> bool:
    """Is ``pid`` a running process (not a zombie) and, if ``start`` is given, the one that started then?"""
    if pid <= 0:
        return False
    if _have_proc():
        fields = _stat(pid)
        if fields is None or fields[0] in ("Z", "X"):
            return False
        return start in (None, _NO_START) or (len(fields) > 19 and fields[19] == start)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ---- locks ----------------------------------------------------------------------------------------


class FileLock:
    """An exclusive ``flock`` on ``path``, held on a descriptor of our own until :meth:`release` or exit.

    The descriptor is close-on-exec (Python's default) and the server spawns its children with
    ``close_fds``, so no worker or helper process ever inherits (and so prolongs) the lock.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, timeout: float | None = None, poll: float = 0.05) -> bool:
        """Take the lock, waiting up to ``timeout`` seconds (None: as long as it takes); False if not taken."""
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | (fcntl.LOCK_NB if deadline is not None else 0))
                    break
                except BlockingIOError:
                    assert deadline is not None
                    if time.monotonic() >= deadline:
                        os.close(fd)
                        return False
                    time.sleep(poll)
        except OSError as exc:  # e.g. a file system without flock
            with contextlib.suppress(OSError):
                os.close(fd)
            raise LocalStudioError(f"cannot lock {self.path}: {exc.strerror or exc}") from exc
        except BaseException:
            with contextlib.suppress(OSError):
                os.close(fd)
            raise
        self._fd = fd
        return True

    def write_pid(self) -> None:
        """Write our pid into the locked file (read by :func:`lock_holder` for messages)."""
        assert self._fd is not None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)  # closing the last descriptor drops the flock

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _held_elsewhere(path: Path) -> bool:
    """Does another open file (another process) hold an flock on ``path``? (Never waits.)"""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)  # also drops the lock if we got it
    return False


def server_lock_held(data_dir: Path) -> bool:
    return _held_elsewhere(data_dir / SERVER_LOCK)


def lock_holder(data_dir: Path) -> int | None:
    try:
        text = (data_dir / SERVER_LOCK).read_text(encoding="ascii").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def acquire_server_lock(data_dir: Path, wait: float) -> FileLock:
    """The data dir's server lock for this process, waiting up to ``wait`` s; a clear error if still held."""
    lock = FileLock(data_dir / SERVER_LOCK)
    if not lock.acquire(timeout=max(0.0, wait), poll=0.1):
        holder = lock_holder(data_dir)
        who = f"pid {holder}" if holder is not None else "another process"
        raise LocalStudioError(
            f"another local studio server ({who}) is running on the data dir {data_dir}: its lock "
            f"{data_dir / SERVER_LOCK} was still held after waiting {wait:g} s. Use that server (sweep run "
            f"reuses it), stop it, or give this one another data dir")
    lock.write_pid()
    return lock


@contextlib.contextmanager
def owners_lock(data_dir: Path, timeout: float) -> Iterator[FileLock]:
    """Hold ``DATA/owners.lock`` (waiting up to ``timeout`` s) while claiming or releasing the server."""
    lock = FileLock(data_dir / OWNERS_LOCK)
    if not lock.acquire(timeout=timeout):
        raise LocalStudioError(f"could not take {data_dir / OWNERS_LOCK} within {timeout:.0f} s "
                               f"(another sweep is starting or stopping the local studio there)")
    try:
        yield lock
    finally:
        lock.release()


# ---- server.json ----------------------------------------------------------------------------------


def write_server_info(data_dir: Path, info: dict[str, Any]) -> None:
    path = data_dir / SERVER_JSON
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_server_info(data_dir: Path) -> dict[str, Any] | None:
    try:
        info = json.loads((data_dir / SERVER_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) and isinstance(info.get("pid"), int) else None


def remove_server_info(data_dir: Path, pid: int) -> None:
    """Remove ``server.json`` if it names ``pid`` (never another server's)."""
    info = read_server_info(data_dir)
    if info is not None and info["pid"] == pid:
        with contextlib.suppress(FileNotFoundError):
            (data_dir / SERVER_JSON).unlink()


def server_info(*, port: int, base_url: str, standalone: bool, concurrency: int,
                profiling_job: bool) -> dict[str, Any]:
    pid = os.getpid()
    return {"pid": pid, "pid_start": process_start(pid) or _NO_START, "port": port, "base_url": base_url,
            "started": datetime.now(UTC).isoformat(), "standalone": standalone,
            "concurrency": concurrency, "profiling_job": profiling_job}


def live_server(data_dir: Path) -> dict[str, Any] | None:
    """``server.json`` if it names a live server: its process is alive and the data dir's lock is held."""
    info = read_server_info(data_dir)
    if info is None or not process_alive(info["pid"], info.get("pid_start")):
        return None
    return info if server_lock_held(data_dir) else None


# ---- owners ---------------------------------------------------------------------------------------


def register_owner(data_dir: Path, pid: int | None = None) -> Path:
    """A lease for ``pid`` (default: this process) on the data dir's owned server."""
    pid = os.getpid() if pid is None else pid
    start = process_start(pid) or _NO_START
    path = data_dir / OWNERS_DIR / f"{pid}.{start}.{secrets.token_hex(4)}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": pid, "start": start,
                                "since": datetime.now(UTC).isoformat()}) + "\n", encoding="utf-8")
    return path


def register_job_lease(data_dir: Path, job_id: int) -> Path:
    """A lease held by job ``job_id`` (left running by a run that stops): alive until the job finishes."""
    path = data_dir / OWNERS_DIR / f"{_JOB}.{int(job_id)}.{secrets.token_hex(4)}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"job": int(job_id), "since": datetime.now(UTC).isoformat()}) + "\n",
                    encoding="utf-8")
    return path


def unregister_owner(lease: Path | None) -> None:
    if lease is not None:
        with contextlib.suppress(FileNotFoundError):
            lease.unlink()


def _job_running(data_dir: Path, job_id: str) -> bool:
    """Has job ``job_id`` of the data dir not finished yet (its job.json has no ``finished`` time)?"""
    try:
        record = json.loads((data_dir / "jobs" / job_id / "job.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(record, dict) and record.get("finished") is None


def _lease_alive(path: Path) -> bool:
    pid, _, rest = path.name.partition(".")
    if pid == _JOB:
        job_id = rest.partition(".")[0]
        return job_id.isdigit() and _job_running(path.parent.parent, job_id)
    start = rest.partition(".")[0]
    return pid.isdigit() and process_alive(int(pid), start or _NO_START)


def live_owners(data_dir: Path, *, prune: bool = True) -> list[Path]:
    """The leases whose process is alive; the dead ones' files are removed when ``prune``."""
    alive = []
    try:
        entries = list((data_dir / OWNERS_DIR).iterdir())
    except FileNotFoundError:
        return []
    for path in entries:
        if path.name.startswith("."):
            continue
        if _lease_alive(path):
            alive.append(path)
        elif prune:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
    return alive


class OwnerWatch(threading.Thread):
    """In an owned server: call ``on_idle`` (under ``owners.lock``) once no owner has been alive for ``linger`` s.

    ``on_idle`` must make the server stop (remove ``server.json`` and ask uvicorn to exit); since it runs
    under the same lock a client takes to claim the server, no client can register with a server that
    has decided to go. ``stopped()`` ends the watch early (the server is stopping for another reason).
    """

    def __init__(self, data_dir: Path, linger: float, on_idle: Callable[[], None],
                 stopped: Callable[[], bool], interval: float = WATCH_INTERVAL_S) -> None:
        super().__init__(name="sweep-local-owners", daemon=True)
        self.data_dir, self.linger, self.on_idle, self.stopped = data_dir, linger, on_idle, stopped
        self.interval = interval

    def run(self) -> None:
        last_owner = time.monotonic()  # the first owner registered before the server started
        while not self.stopped():
            time.sleep(self.interval)
            try:
                if self._check(last_owner):
                    last_owner = time.monotonic()
            except _Idle:
                return
            except Exception:
                log.exception("owner watch error")

    def _check(self, last_owner: float) -> bool:
        """True if an owner is alive now; raises _Idle once the server was told to stop."""
        lock = FileLock(self.data_dir / OWNERS_LOCK)
        if not lock.acquire(timeout=0):
            return True  # a client is claiming or releasing right now: decide next tick
        try:
            if live_owners(self.data_dir):
                return True
            if time.monotonic() - last_owner >= self.linger and not self.stopped():
                log.warning("no owner of this local studio has been alive for %g s: stopping", self.linger)
                self.on_idle()
                raise _Idle
            return False
        finally:
            lock.release()


class _Idle(Exception):
    pass
