"""Compute budget: the study's own cap and the project's remaining quota, checked before each new job."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from optuna.trial import FrozenTrial, TrialState

from sweep.errors import ApiError, ProtocolError, TransientError
from sweep.studio.client import StudioClient

__all__ = ["Budget", "compute_used_s"]


def compute_used_s(trials: list[FrozenTrial]) -> list[float]:
    """Job compute time (s) of each finished trial that trained: completed ones (reused twins cost
    nothing) and failed jobs, which cost compute too."""
    used = []
    for t in trials:
        if t.state == TrialState.COMPLETE and "duplicate_of" not in t.user_attrs:
            cost = (t.user_attrs.get("metrics") or {}).get("compute_time_s")
        elif t.state == TrialState.FAIL:
            cost = t.user_attrs.get("compute_time_s")
        else:
            continue
        if cost is not None:
            used.append(float(cost))
    return used


class Budget:
    """Says why no further job should start, or None.

    A job is expected to cost the median compute time of the study's jobs so far; before the
    first one finishes nothing is known, and nothing is refused. The project's quota
    (``computeTime.timeLeftMs``) is read at most every ``refresh_s``; a quota that cannot be
    read is no reason to stop.
    """

    def __init__(self, client: StudioClient, cap_s: float | None, *, refresh_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client, self.cap_s, self.refresh_s, self.clock = client, cap_s, refresh_s, clock
        self._left_s: float | None = None
        self._read_at: float | None = None

    def exhausted(self, trials: list[FrozenTrial], running: int) -> str | None:
        costs = compute_used_s(trials)
        if not costs:
            return None
        job_s = statistics.median(costs)
        used_s = sum(costs)
        ahead_s = job_s * (running + 1)  # the jobs still running, and the next one
        if self.cap_s is not None and used_s + ahead_s > self.cap_s:
            return (f"compute budget: {_min(used_s)} of {_min(self.cap_s)} used, and a job takes about "
                    f"{_min(job_s)}")
        left_s = self._quota_left_s()
        if left_s is not None and left_s < ahead_s:
            return (f"compute quota: {_min(left_s)} left in this period, and a job takes about {_min(job_s)}")
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


def _min(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 90 else f"{seconds / 60:.1f} min"
