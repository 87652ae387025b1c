"""Compute budget: the study's own cap and the project's remaining quota, checked before each new job."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from optuna.trial import FrozenTrial

from sweep.errors import ApiError, ProtocolError, TransientError
from sweep.run.progress import Progress
from sweep.session.records import compute_used_s
from sweep.studio.backend import Project
from sweep.units import duration

__all__ = ["Budget", "show_quota"]


class Budget:
    """Says why no further job should start, or None.

    A job is expected to cost the median compute time of the study's jobs so far; before the
    first one finishes nothing is known, and nothing is refused. The project's quota
    (``computeTime.timeLeftMs``) is read at most every ``refresh_s``; a quota that cannot be
    read is no reason to stop.
    """

    def __init__(self, client: Project, cap_s: float | None, *, refresh_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client, self.cap_s, self.refresh_s, self.clock = client, cap_s, refresh_s, clock
        self._left_s: float | None = None
        self._read_at: float | None = None
        self._costs: dict[int, list[float]] = {}  # finished trials' costs (they never change), by trial number

    def exhausted(self, trials: list[FrozenTrial], running: int) -> str | None:
        for t in trials:
            if t.number not in self._costs and t.state.is_finished():
                self._costs[t.number] = compute_used_s([t])
        costs = [cost for one in self._costs.values() for cost in one]
        if not costs:
            return None
        job_s = statistics.median(costs)
        used_s = sum(costs)
        ahead_s = job_s * (running + 1)  # the jobs still running, and the next one
        if self.cap_s is not None and used_s + ahead_s > self.cap_s:
            return (f"compute budget: {duration(used_s)} of {duration(self.cap_s)} used, and a job takes about "
                    f"{duration(job_s)}")
        left_s = self._quota_left_s()
        if left_s is not None and left_s < ahead_s:
            return (f"compute quota: {duration(left_s)} left in this period, and a job takes about {duration(job_s)}")
        return None

    def _quota_left_s(self) -> float | None:
        now = self.clock()
        if self._read_at is None or now - self._read_at >= self.refresh_s:
            self._read_at = now
            try:
                self._left_s = self.client.project_info().compute_time.time_left_ms / 1000
            except (ApiError, ProtocolError, TransientError):
                self._left_s = None
        return self._left_s


def show_quota(project: Project, progress: Progress) -> None:
    """Say what the project's compute quota allows; a project we may not read is no reason to stop."""
    try:
        info = project.project_info()
    except (ApiError, ProtocolError) as exc:
        progress.info(f"compute quota unknown ({exc})")
        return
    left_min = info.compute_time.time_left_ms / 60000
    progress.info(f"compute quota: {left_min:.0f} min left this period; "
                  f"at most {info.performance.job_limit_m} min per job")
