"""Job queue of the local studio: dispatch to worker processes, cancel, persistence and restart recovery."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from sweep.errors import ApiError
from sweep.local.pool import WorkerPool
from sweep.local.record import JobKind, JobRecord
from sweep.local.store import Store, atomic_write_json, read_json
from sweep.local.worker import MAX_JOBS_PER_WORKER, Worker
from sweep.studio.models import SERVER_STOPPED

__all__ = ["STOPPED_REASON", "JobManager", "official_metadata"]

log = logging.getLogger("sweep.local.jobs")

STOPPED_REASON = "server stopped while the job was running"
_MODEL_MODES = {"classification", "regression", "object-detection", "visual-anomaly", "anomaly-gmm",
                "freeform", "anomaly"}


def official_metadata(md: dict[str, Any]) -> dict[str, Any]:
    """Normalise a stored metadata dict to the official shape (``mode`` is the model's task there)."""
    md = dict(md)
    if md.get("mode") not in _MODEL_MODES:
        md["mode"] = "classification"
    for key in ("layers", "labels", "thresholds"):
        md.setdefault(key, [])
    md.setdefault("imageInputScaling", "0..1")
    return md


class _Timed:
    """A job that needs no worker process: at ``due`` it finishes as ``complete()`` says (None: success,
    else the reason it failed). Profiling jobs, generate-features jobs and train jobs refused up front."""

    def __init__(self, due: float, complete: Callable[[], str | None]) -> None:
        self.due, self.complete = due, complete


class _Running:
    def __init__(self, worker: Worker, started: float) -> None:
        self.worker, self.started = worker, started
        self.cancel_at: float | None = None
        self.cancel_reason = "cancelled"


# ---- the manager ------------------------------------------------------------------------------


class JobManager:
    """Queues train jobs, runs each in a spawned worker process, keeps every state on disk.

    ``first_workers``: workers the server spawned ahead (see ``pool.spawn_ahead``), the first ones on hand.
    """

    def __init__(self, data_dir: Path, *, concurrency: int = 1, allow_user_code: bool = False,
                 profiling_job: bool = False, job_limit_m: int = 60, cancel_grace_s: float = 10.0,
                 profiling_delay_s: float = 1.0, features_delay_s: float = 1.0, prewarm: bool = True,
                 max_jobs_per_worker: int = MAX_JOBS_PER_WORKER, first_workers: list[Worker] | None = None) -> None:
        if concurrency < 1 or max_jobs_per_worker < 1:
            raise ValueError("concurrency and max_jobs_per_worker must be at least 1")
        self.data_dir, self.store = data_dir, Store(data_dir)
        self.concurrency, self.allow_user_code = concurrency, allow_user_code
        self.profiling_job, self.job_limit_m = profiling_job, job_limit_m
        self.cancel_grace_s, self.profiling_delay_s = cancel_grace_s, profiling_delay_s
        self.features_delay_s = features_delay_s
        self._ctx = multiprocessing.get_context("spawn")
        self._pool = WorkerPool(self._ctx, allow_user_code=allow_user_code, max_jobs=max_jobs_per_worker,
                                prewarm=prewarm, idle=first_workers)
        self._wake_r, self._wake_w = self._ctx.Pipe(duplex=False)  # wakes the loop at once on submit/cancel
        self._lock = threading.RLock()
        self._jobs: dict[int, JobRecord] = {}
        self._queue: deque[int] = deque()
        self._running: dict[int, _Running] = {}
        self._timed: dict[int, _Timed] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._on_finish: list[Callable[[JobRecord], None]] = []

    # ---- life cycle
    def start(self) -> None:
        for rec in self.store.all_jobs():
            if not rec.state.is_finished:
                started = rec.started is not None
                self._finish(rec, False, STOPPED_REASON if started else "server stopped before the job started",
                             SERVER_STOPPED)
            self._jobs[rec.id] = rec
        self._thread = threading.Thread(target=self._loop, name="sweep-local-jobs", daemon=True)
        self._thread.start()

    def shutdown(self) -> None:
        """Stop the loop; running jobs fail (their workers are killed) and idle workers are stopped.

        The loop thread itself stops the workers on its way out (see :meth:`_loop`); this does it only if the
        loop is not running or did not end in time.
        """
        self._stop.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(30)
        self._stop_workers()

    def _stop_workers(self) -> None:
        with self._lock:
            for job_id, run in list(self._running.items()):
                run.worker.kill()
                self._finish(self._jobs[job_id], False, STOPPED_REASON, SERVER_STOPPED)
            self._running.clear()
            for job_id in list(self._queue) + list(self._timed):
                self._finish(self._jobs[job_id], False, "server stopped before the job finished", SERVER_STOPPED)
            self._queue.clear()
            self._timed.clear()
            self._pool.stop_all()

    def on_finish(self, listener: Callable[[JobRecord], None]) -> None:
        """Call ``listener(copy of the record)`` each time a job is marked finished, in whatever thread marked it
        (the manager's, or a request's on cancel) and under the manager's lock: it must return at once."""
        self._on_finish.append(listener)

    # ---- queries
    def get(self, project_id: int, job_id: int) -> JobRecord | None:
        """A copy of the job's record (the manager goes on changing its own)."""
        with self._lock:
            rec = self._jobs.get(job_id)
            return rec.model_copy() if rec is not None and rec.project_id == project_id else None

    def jobs(self, project_id: int) -> list[JobRecord]:
        """Copies of the project's job records, newest first."""
        with self._lock:
            return [r.model_copy() for r in sorted(self._jobs.values(), key=lambda r: -r.id)
                    if r.project_id == project_id]

    def busy_job(self, project_id: int, learn_id: int) -> JobRecord | None:
        """The learn block's unfinished train job, if any (one job per learn block)."""
        with self._lock:
            for rec in self._jobs.values():
                if (rec.project_id, rec.learn_id, rec.kind) == (project_id, learn_id, JobKind.TRAIN) \
                        and not rec.state.is_finished:
                    return rec.model_copy()
        return None

    def busy_features(self, project_id: int, dsp_id: int) -> JobRecord | None:
        """The DSP block's unfinished generate-features job, if any (one at a time per DSP block)."""
        with self._lock:
            for rec in self._jobs.values():
                if (rec.project_id, rec.dsp_id, rec.kind) == (project_id, dsp_id, JobKind.FEATURES) \
                        and not rec.state.is_finished:
                    return rec.model_copy()
        return None

    def compute_time_ms(self, project_id: int, since: datetime) -> int:
        with self._lock:
            total = sum(rec.compute_time or 0.0 for rec in self._jobs.values()
                        if rec.project_id == project_id and rec.created >= since)
        return int(total * 1000)

    # ---- commands
    def submit_train(self, project_id: int, learn_id: int, request: dict[str, Any],
                     fail_reason: str | None = None, seed: int | None = None) -> JobRecord:
        """Queue a train job; a second job on a busy learn block is refused (409), nothing created.

        ``seed``: its training seed (None: the job id). ``fail_reason``: the job is accepted (as Studio accepts
        it) but cannot train, e.g. its features are not generated; it starts and fails with that reason a moment
        later, without a worker process.
        """
        with self._lock:
            busy = self.busy_job(project_id, learn_id)
            if busy is not None:
                raise ApiError(f"learn block {learn_id} already has job {busy.id} running; wait for it to "
                               f"finish or cancel it first", status_code=409)
            rec = self._new_record(project_id, learn_id, JobKind.TRAIN, request, seed)
            self.store.log(rec.id, f"Scheduling job in cluster... (job {rec.id}, learn block {learn_id})")
            if fail_reason is None:
                self._queue.append(rec.id)
            else:
                self._start_timed(rec, 0.2, lambda: fail_reason)
            self._wake()
            return rec.model_copy()

    def submit_features(self, project_id: int, dsp_id: int, request: dict[str, Any],
                        complete: Callable[[int], str | None]) -> JobRecord:
        """Start a generate-features job of a DSP block; it finishes ``features_delay_s`` later as
        ``complete(job_id)`` says. A second one on the same DSP block while one runs is refused (409)."""
        with self._lock:
            busy = self.busy_features(project_id, dsp_id)
            if busy is not None:
                raise ApiError(f"DSP block {dsp_id} already has generate-features job {busy.id} running; wait "
                               f"for it to finish or cancel it first", status_code=409)
            rec = JobRecord.new_features(self.store.new_job_id(), project_id, dsp_id, request)
            self._jobs[rec.id] = rec
            self.store.log(rec.id, f"Scheduling job in cluster... (job {rec.id}, DSP block {dsp_id})")
            self._start_timed(rec, self.features_delay_s, lambda: complete(rec.id))
            self.store.log(rec.id, f"Generating features for DSP block {dsp_id}")
            self._wake()
            return rec.model_copy()

    def cancel(self, project_id: int, job_id: int, *, force: bool) -> JobRecord | None:
        with self._lock:
            rec = self._jobs.get(job_id)
            if rec is None or rec.project_id != project_id:
                return None
            if rec.state.is_finished:
                return rec.model_copy()
            self.store.log(job_id, "Cancel requested" + (" (forced)" if force else ""))
            if job_id in self._queue:
                self._queue.remove(job_id)
                self._finish(rec, False, "cancelled")
            elif job_id in self._timed:
                del self._timed[job_id]
                self._finish(rec, False, "cancelled")
            elif job_id in self._running:
                run = self._running[job_id]
                (self.store.job_dir(job_id) / "cancel").touch()
                if force:
                    del self._running[job_id]
                    run.worker.kill()
                    self._finish(rec, False, "cancelled (forced)")
                elif run.cancel_at is None:
                    run.cancel_at = time.monotonic()
            self._wake()
            return rec.model_copy()

    # ---- internals
    def _new_record(self, project_id: int, learn_id: int, kind: JobKind, request: dict[str, Any] | None,
                    seed: int | None = None) -> JobRecord:
        rec = JobRecord.new(self.store.new_job_id(), project_id, learn_id, kind, request, seed)
        self._jobs[rec.id] = rec
        self.store.save_job(rec)
        return rec

    def _mark_started(self, rec: JobRecord) -> None:
        rec.start()
        self.store.save_job(rec)
        self.store.log(rec.id, "Job started")

    def _start_timed(self, rec: JobRecord, delay_s: float, complete: Callable[[], str | None]) -> None:
        self._mark_started(rec)
        self._timed[rec.id] = _Timed(time.monotonic() + delay_s, complete)

    def _end_timed(self, rec: JobRecord, timed: _Timed) -> None:
        try:
            reason = timed.complete()
        except Exception as exc:
            log.exception("job %d failed to complete", rec.id)
            reason = f"{type(exc).__name__}: {exc}"
        self._finish(rec, reason is None, reason)

    def _finish(self, rec: JobRecord, success: bool, reason: str | None, cause: str | None = None) -> None:
        rec.finish(success, reason, cause)
        self.store.log(rec.id, "Job completed" if success else f"Job failed: {reason}")
        self.store.save_job(rec)
        for listener in self._on_finish:
            try:
                listener(rec.model_copy())
            except Exception:
                log.exception("a job-finished listener failed on job %d", rec.id)

    def _wake(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._wake_w.send_bytes(b"")

    def _loop(self) -> None:
        """Tick when a worker reports or exits, on submit/cancel, and at least every 0.1 s.

        Only this thread spawns workers (in :meth:`_tick`), and it stops them before it ends: a worker's
        parent-death signal (see ``worker._die_with_parent``) fires when the *thread* that spawned it
        exits, so the spawning thread must live as long as its workers should.
        """
        try:
            self._run_loop()
        finally:
            self._stop_workers()

    def _run_loop(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                ready: list[Any] = [self._wake_r]
                for run in self._running.values():
                    ready += [run.worker.conn, run.worker.process.sentinel]
            with contextlib.suppress(OSError, ValueError):
                multiprocessing.connection.wait(ready, timeout=0.1)
                while self._wake_r.poll():
                    self._wake_r.recv_bytes()
            if self._stop.is_set():
                return
            try:
                with self._lock:
                    self._tick()
            except Exception:
                log.exception("job loop error")

    def _tick(self) -> None:
        clock = time.monotonic()
        for job_id, run in list(self._running.items()):
            rec = self._jobs[job_id]
            if rec.started is None and run.worker.ready():  # its worker finished importing Keras
                self._mark_started(rec)
                run.started = clock
            result = run.worker.result()
            if result is not None or not run.worker.process.is_alive():
                del self._running[job_id]
                if result is not None:  # a reusable worker stays warm: the next job starts without importing TF
                    self._pool.give_back(run.worker, bool(result.get("reusable")))
                self._complete(rec, run, result)
                continue
            if run.cancel_at is None and clock - run.started > self.job_limit_m * 60:
                self.store.log(job_id, f"Job exceeded the job limit of {self.job_limit_m} minutes")
                (self.store.job_dir(job_id) / "cancel").touch()
                run.cancel_at, run.cancel_reason = clock, f"exceeded the job limit of {self.job_limit_m} minutes"
            if run.cancel_at is not None and clock - run.cancel_at > self.cancel_grace_s:
                del self._running[job_id]
                run.worker.kill()
                self._finish(rec, False, run.cancel_reason)
        for job_id, timed in list(self._timed.items()):
            if clock >= timed.due:
                del self._timed[job_id]
                self._end_timed(self._jobs[job_id], timed)
        while self._queue and len(self._running) < self.concurrency:
            job_id = self._queue.popleft()
            self._dispatch(self._jobs[job_id])
        # a worker on its last job will not come back: its successor imports Keras while that job runs
        returning = sum(1 for run in self._running.values() if run.worker.jobs_left > 0)
        self._pool.top_up(self.concurrency - returning, clock)

    def _dispatch(self, rec: JobRecord) -> None:
        """Hand the job to a worker; it starts (and its compute counts) once the worker has imported Keras: a
        fresh server's first job stays queued meanwhile, as a Studio job waits in its queue for a machine."""
        worker = self._pool.take()
        if worker.ready():
            self._mark_started(rec)
        else:
            self.store.log(rec.id, "Waiting for a worker process to import Keras")
        job = {"id": rec.id, "dir": str(self.store.job_dir(rec.id)), "data_dir": str(self.data_dir),
               "project_id": rec.project_id, "learn_id": rec.learn_id, "request": rec.request,
               "seed": rec.id if rec.seed is None else rec.seed}
        try:
            worker.conn.send(job)
        except (OSError, ValueError) as exc:
            worker.kill()
            self._finish(rec, False, f"could not hand the job to a worker process: {exc}")
            return
        self._running[rec.id] = _Running(worker, time.monotonic())

    def _complete(self, rec: JobRecord, run: _Running, result: dict[str, Any] | None) -> None:
        job_dir = self.store.job_dir(rec.id)
        if result is None:
            try:
                result = read_json(job_dir / "result.json")
            except (FileNotFoundError, ValueError):
                code = run.worker.process.exitcode
                result = {"success": False, "reason": f"the worker process exited with code {code} without a result"}
        if run.cancel_at is not None and result.get("success"):
            result = {"success": False, "reason": run.cancel_reason}
        if not result.get("success"):
            self._finish(rec, False, str(result.get("reason") or "training failed"))
            return
        try:
            metadata = official_metadata(read_json(job_dir / "metadata.json"))
        except (FileNotFoundError, ValueError) as exc:
            self._finish(rec, False, f"the worker wrote no readable model metadata: {exc}")
            return
        pid, lid = rec.project_id, rec.learn_id
        if self.profiling_job:
            self._start_profiling(rec, metadata)
        else:
            self.store.save_block(pid, lid, "metadata.json", metadata)
        self.store.save_block(pid, lid, "model.json", {"jobId": rec.id, "dir": str(job_dir)})
        self._finish(rec, True, None)

    def _start_profiling(self, rec: JobRecord, metadata: dict[str, Any]) -> None:
        """As Studio does: the model's metadata names a profiling job until its device metrics are in."""
        pid, lid = rec.project_id, rec.learn_id
        prof = self._new_record(pid, lid, JobKind.PROFILE, None)
        atomic_write_json(self.store.job_dir(prof.id) / "metadata.json", metadata)
        pending = {**metadata, "modelValidationMetrics": [
            {**mm, "profilingJobId": prof.id, "onDevicePerformance": []}
            for mm in metadata.get("modelValidationMetrics", [])]}
        self.store.save_block(pid, lid, "metadata.json", pending)
        self._start_timed(prof, self.profiling_delay_s, lambda: self._complete_profiling(prof))
        self.store.log(prof.id, f"Profiling the model of job {rec.id}")

    def _complete_profiling(self, rec: JobRecord) -> None:
        pid, lid = rec.project_id, rec.learn_id
        full = read_json(self.store.job_dir(rec.id) / "metadata.json")
        current = self.store.load_block(pid, lid, "metadata.json") or {}
        if any(mm.get("profilingJobId") == rec.id for mm in current.get("modelValidationMetrics", [])):
            self.store.save_block(pid, lid, "metadata.json", full)
        self.store.log(rec.id, "Profiling done")
