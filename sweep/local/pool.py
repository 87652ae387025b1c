"""The job manager's worker processes on hand: warm idle ones, spawned ahead of need, at most one a second."""

from __future__ import annotations

import multiprocessing
from multiprocessing.context import SpawnContext

from sweep.local.worker import MAX_JOBS_PER_WORKER, Worker

__all__ = ["WorkerPool", "spawn_ahead"]


def spawn_ahead(allow_user_code: bool, count: int = 1, max_jobs: int = MAX_JOBS_PER_WORKER) -> list[Worker]:
    """``count`` workers (one per job the server runs at once) spawned now, before the server has imported its web
    stack or written its default projects, so their Keras import and warm-up overlap them; for the job manager
    (``JobManager(first_workers=...)``). Call it from the server's main thread: a worker's parent-death signal
    follows the thread that spawned it."""
    ctx = multiprocessing.get_context("spawn")
    return [Worker(ctx, allow_user_code, max_jobs) for _ in range(max(1, count))]


class WorkerPool:
    """Idle workers (Keras imported, warmed up) for the next jobs; only the job manager's loop thread uses it
    (a worker's parent-death signal follows the thread that spawned it: see ``worker._die_with_parent``), and
    ``idle`` may start with workers spawned ahead by the server's main thread (:func:`spawn_ahead`)."""

    def __init__(self, ctx: SpawnContext, *, allow_user_code: bool, max_jobs: int, prewarm: bool,
                 idle: list[Worker] | None = None) -> None:
        self._ctx, self.allow_user_code, self.max_jobs, self.prewarm = ctx, allow_user_code, max_jobs, prewarm
        self.idle: list[Worker] = list(idle or [])
        self._last_spawn = -1e9

    def _spawn(self) -> Worker:
        return Worker(self._ctx, self.allow_user_code, self.max_jobs)

    def take(self) -> Worker:
        """A warm idle worker if there is one, else a new one; it counts the job it is given."""
        worker = self.idle.pop(0) if self.idle else self._spawn()
        worker.jobs_left -= 1
        return worker

    def give_back(self, worker: Worker, reusable: bool) -> None:
        """After its job: kept warm for the next one if it may take more, else stopped."""
        if reusable and worker.jobs_left > 0:
            self.idle.append(worker)
        else:
            worker.stop()

    def top_up(self, want: int, clock: float) -> None:
        """Forget dead idle workers; spawn one (at most one a second) while fewer than ``want`` are idle."""
        self.idle = [w for w in self.idle if w.process.is_alive()]
        if self.prewarm and len(self.idle) < want and clock - self._last_spawn > 1.0:
            self._last_spawn = clock
            self.idle.append(self._spawn())

    def stop_all(self) -> None:
        for worker in self.idle:
            worker.stop()
        self.idle.clear()
