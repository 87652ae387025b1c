"""Worker processes of the local studio: a spawned process that imports Keras once and runs train jobs."""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnContext
from pathlib import Path
from typing import Any

from sweep.local.store import append_log, atomic_write_json

__all__ = ["MAX_JOBS_PER_WORKER", "READY", "Worker"]

# A worker imports Keras/TensorFlow once (2.2-2.6 s on 2 cores), spawned as the server starts so that
# this overlaps the sweep's set-up, warms up while no job is waiting (sweep/local/warmup.py: the first-use
# costs a first job would pay), then runs jobs one after another: each job starts
# from keras.backend.clear_session() and train()'s own seeding, so a reused worker gives the same model
# as a fresh one. It sends each result back over its pipe at once (the server need not wait for a TF
# process to exit) and exits after MAX_JOBS_PER_WORKER jobs, after any error other than a failed or
# cancelled job, or when its server goes away (at once by a parent-death signal on Linux, else when it
# notices at the next job or epoch). Killing it (force cancel, grace or job limit) is safe.
# Keras is imported only inside the worker process (in _worker_main/_run_job), never at module import.

MAX_JOBS_PER_WORKER = 25  # measured: ~8 MiB more resident memory per job after clear_session (TF caches)
READY = "ready"  # a worker's first message: its import is over, a job handed to it starts now


def _run_job(job: dict[str, Any], parent_pid: int, allow_user_code: bool) -> dict[str, Any]:
    """Run one job in this worker; the result says whether the worker may take another one."""
    from sweep.errors import JobFailed
    from sweep.local import datasets, trainer
    from sweep.local.raw_features import training_project
    from sweep.studio.models import SetKerasParameterRequest

    job_dir = Path(job["dir"])
    log_path, cancel_path = job_dir / "log", job_dir / "cancel"

    def cancelled() -> bool:
        return cancel_path.exists() or os.getppid() != parent_pid

    def log(text: str) -> None:
        if os.getppid() == parent_pid:  # an orphan (its server was killed) keeps quiet
            append_log(log_path, text)

    import keras  # already imported by the trainer: this only names it

    result: dict[str, Any]
    try:
        keras.backend.clear_session()
        project = training_project(Path(job["data_dir"]), datasets.get_project(Path(job["data_dir"]),
                                                                               job["project_id"]), job["learn_id"])
        request = SetKerasParameterRequest.model_validate(job["request"])
        metadata = trainer.train(request, project, workdir=job_dir, log=log, cancelled=cancelled,
                                 seed=job["seed"], allow_user_code=allow_user_code)
        atomic_write_json(job_dir / "metadata.json", metadata.wire())
        result = {"success": True, "reusable": True}
    except JobFailed as exc:
        result = {"success": False, "reason": exc.message, "reusable": True}
    except BaseException as exc:  # noqa: BLE001 - anything that stops training fails the job, with its trace
        log(traceback.format_exc())
        result = {"success": False, "reason": f"{type(exc).__name__}: {exc}", "reusable": False}
    if cancelled():
        result["success"], result["reason"] = False, "cancelled"
    if job["request"].get("mode") == "expert":  # user code may have changed this process: retire it
        result["reusable"] = False
    return result


def _clear_session() -> None:
    import keras

    keras.backend.clear_session()


def _redirect_output(path: Path | None) -> None:
    """Point this process's stdout/stderr (fd 1 and 2: TF writes there too) at a job's file or nowhere."""
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(path if path is not None else os.devnull, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _die_with_parent() -> None:
    """On Linux, have the kernel SIGKILL this process when its server goes, even by SIGKILL.

    The "parent" here is the server *thread* that spawned us: the job manager's loop thread, which lives
    as long as the server and stops its workers before it ends (see ``JobManager._loop``). Elsewhere
    (no prctl) the ``os.getppid()`` checks in the job loop are the only guard; they are kept on Linux too.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # no prctl: the getppid() checks remain
        pass


# Keras imports pandas, matplotlib and scikit-learn whenever they are installed (sweep's reports install the
# first two, the local extra the third), for DataFrame inputs, plotting helpers and its sklearn wrappers, none
# of which the trainer uses (sweep/local/scores.py stands in for sklearn): about 2 s and 0.7 s of a worker's
# import on 2 cores. They are hidden while the trainer is imported (Keras then does without), and importable after.
_NOT_FOR_THE_TRAINER = ("pandas", "matplotlib", "sklearn")


def _import_trainer() -> None:
    hidden = [name for name in _NOT_FOR_THE_TRAINER if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # ``import name`` raises ImportError meanwhile
    try:
        from sweep.local import datasets, trainer  # noqa: F401
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


def _start(conn: Connection) -> tuple[str | None, Callable[[], str]]:
    """Import the trainer (slow: Keras, TensorFlow), then warm it up until a job arrives: (the traceback if the
    import failed, what the first job's log says of this worker's start: import, warm-up, wait)."""
    started = time.monotonic()
    try:
        _import_trainer()
    except Exception:  # noqa: BLE001 - reported as the job's failure
        with contextlib.suppress(OSError, ValueError):
            conn.send(READY)
        return traceback.format_exc(), lambda: ""
    # What the import made lives as long as the process: out of the collector's sight, a full collection
    # (keras.backend.clear_session() runs one, once before and once after each job) takes milliseconds
    # instead of about 0.5 s on 2 cores, and the next job no longer waits for them.
    gc.freeze()
    ready = time.monotonic()
    waited = _job_waiting(conn)
    imported = f"trainer imported in {ready - started:.1f} s"
    with contextlib.suppress(OSError, ValueError):
        conn.send(READY)  # the server starts the job it handed over (or the next one) from now
    if waited:
        return None, lambda: f" ({imported}; the job was waiting for it)"
    warmed, complete = _warm_up(conn)
    gc.freeze()  # what the warm-up left (traced code, caches) lives as long as the process too
    if not complete:
        return None, lambda: f" ({imported}, {warmed})"
    idle = time.monotonic()
    return None, lambda: f" ({imported}, {warmed}, then idle {time.monotonic() - idle:.1f} s)"


def _job_waiting(conn: Connection) -> bool:
    try:
        return conn.poll()
    except (EOFError, OSError):
        return True


def _warm_up(conn: Connection) -> tuple[str, bool]:
    """The warm-up (sweep/local/warmup.py) until a job arrives: what it did, for the first job's log, and whether
    it did all of it."""
    try:
        from sweep.local.warmup import warm_up

        done = warm_up(lambda: _job_waiting(conn))
    except Exception as exc:  # noqa: BLE001 - a failed warm-up leaves only the first-use costs to the first job
        return f"warm-up failed ({type(exc).__name__}: {exc})", False
    return done.describe(), done.complete


def _worker_main(conn: Connection, parent_pid: int, allow_user_code: bool, max_jobs: int) -> None:
    """Import the trainer before a job arrives, then run jobs until told to stop."""
    _die_with_parent()
    if os.getppid() != parent_pid:  # the server went before the death signal was armed
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server decides when a job stops
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import_error, first_start = _start(conn)
    for number in range(1, max_jobs + 1):
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        job_dir = Path(job["dir"])
        if os.getppid() == parent_pid:  # an orphan keeps quiet (as in _run_job)
            how = first_start() if number == 1 else ""
            append_log(job_dir / "log", f"Worker pid {os.getpid()}, job {number} of this worker{how}")
        _redirect_output(job_dir / "worker.out")
        if import_error is not None:
            append_log(job_dir / "log", import_error)
            result = {"success": False, "reason": "the trainer could not be imported", "reusable": False}
        else:
            result = _run_job(job, parent_pid, allow_user_code)
        _redirect_output(None)
        if os.getppid() != parent_pid:  # an orphan must not write into a later server's books
            return
        atomic_write_json(job_dir / "result.json", result)
        try:
            conn.send(result)
        except (OSError, ValueError):
            return
        if not result["reusable"]:
            return
        _clear_session()  # free the last model while idle (a full collection included)


class Worker:
    """The server's handle on one worker process: its pipe, its process and how many jobs it may still take."""

    def __init__(self, ctx: SpawnContext, allow_user_code: bool, max_jobs: int) -> None:
        parent, child = ctx.Pipe()
        self.conn = parent
        self.jobs_left = max_jobs
        self._ready = False
        self._result: dict[str, Any] | None = None
        self.process = ctx.Process(target=_worker_main, args=(child, os.getpid(), allow_user_code, max_jobs),
                                   daemon=True, name="sweep-local-worker")
        self.process.start()
        child.close()

    def _read(self) -> None:
        try:
            while self._result is None and self.conn.poll():
                message = self.conn.recv()
                if message == READY:
                    self._ready = True
                else:
                    self._result = message
        except (EOFError, OSError):
            pass

    def ready(self) -> bool:
        """Whether its import is over (a job handed to it is then really running)."""
        if not self._ready:
            self._read()
        return self._ready

    def result(self) -> dict[str, Any] | None:
        """The finished job's result if the worker has sent it, else None."""
        self._read()
        result, self._result = self._result, None
        return result

    def stop(self) -> None:
        """Tell the worker to exit, then terminate it if it is still alive."""
        with contextlib.suppress(OSError, ValueError):
            self.conn.send(None)
        self.kill()

    def kill(self) -> None:
        """Terminate the process (SIGTERM, then SIGKILL after 3 s)."""
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(3)
            if self.process.is_alive():
                self.process.kill()
                self.process.join(3)
