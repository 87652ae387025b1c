"""Compute budget: the study's own cap and the project's remaining quota, checked before each new job."""

from __future__ import annotations

import time
from collections.abc import Callable

from sweep.errors import ApiError, ProtocolError, TransientError
from sweep.run.progress import Progress
from sweep.session.compute import ComputeTotals
from sweep.studio.backend import Project
from sweep.units import duration

__all__ = ["Budget", "show_quota", "spent_reason"]


class Budget:
    """Says why no further training should start, or None.

    ``spent`` reads the study's compute (:func:`sweep.session.compute.totals`: every job once, its baseline,
    confirmation repeats, feature and profiling jobs included). A training is expected to cost the median
    train job plus its share of the feature and profiling jobs; before the first one finishes nothing is
    known, and nothing is refused. The project's quota (``computeTime.timeLeftMs``) is read at most every
    ``refresh_s``; a quota that cannot be read is no reason to stop.
    """

    def __init__(self, client: Project, cap_s: float | None, spent: Callable[[], ComputeTotals], *,
                 refresh_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.client, self.cap_s, self.spent, self.refresh_s, self.clock = client, cap_s, spent, refresh_s, clock
        self._left_s: float | None = None
        self._read_at: float | None = None

    def exhausted(self, running: int) -> str | None:
        """Why no new training should start now, with ``running`` trainings under way (None: it may)."""
        totals = self.spent()
        if reason := spent_reason(totals, self.cap_s):
            return reason
        job_s = totals.per_training_s
        if job_s is None:
            return None
        used_s = totals.total_s
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


def spent_reason(totals: ComputeTotals, cap_s: float | None) -> str | None:
    """Why no job of any kind may start: ``cap_s`` (the study's ``compute_budget``) is used up; None while some of
    it is left (or there is none). For a command that starts other jobs than trainings (features, say)."""
    if cap_s is not None and totals.total_s >= cap_s:
        return f"compute budget: {duration(totals.total_s)} of {duration(cap_s)} used"
    return None


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
