"""The counters of one run, shared by its slot threads and changed only under one lock."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from enum import Enum

__all__ = ["Outcome", "RunSummary", "Tally"]


@dataclass
class RunSummary:
    """What this run did (the study's own totals are in its storage)."""

    completed: int = 0
    failed: int = 0
    reused: int = 0
    reattached: int = 0
    pruned: int = 0
    left: int = 0  # jobs left running when the run stopped (--on-stop leave), their trials RUNNING
    stopped_reason: str = ""
    # the baseline's own trainings in this run (its side study's counts), None when it trained nothing here
    baseline: RunSummary | None = None


class Outcome(Enum):
    """How one trial of this run ended (or, for REATTACHED, began)."""

    COMPLETED = "completed"
    FAILED = "failed"
    REUSED = "reused"
    REATTACHED = "reattached"
    PRUNED = "pruned"
    LEFT = "left"


class Tally:
    """Thread-safe counting for a run: outcomes, consecutive failures, the stop reason, the best so far."""

    def __init__(self) -> None:
        self.summary = RunSummary()
        self._lock = threading.Lock()
        self._consecutive_failures = 0
        self._best: list[tuple[float, int]] = []  # per objective

    def add(self, outcome: Outcome, *, in_a_row: bool = True) -> int:
        """Count ``outcome``; the number of consecutive failures after it (a trial that ended well resets it; a
        failure with ``in_a_row`` false, one whose configuration is tried again, leaves it as it was)."""
        with self._lock:
            setattr(self.summary, outcome.value, getattr(self.summary, outcome.value) + 1)
            if outcome is Outcome.FAILED:
                self._consecutive_failures += 1 if in_a_row else 0
            elif outcome not in (Outcome.REATTACHED, Outcome.LEFT):
                self._consecutive_failures = 0
            return self._consecutive_failures

    def stopped(self, reason: str) -> bool:
        """Record why no new trial starts; True the first time (later reasons are not kept)."""
        with self._lock:
            if self.summary.stopped_reason:
                return False
            self.summary.stopped_reason = reason
            return True

    def best(self, number: int, values: list[float], maximize: list[bool]) -> list[tuple[float, int]]:
        """Offer a feasible trial's values; the best (value, trial number) so far of each objective."""
        with self._lock:
            if len(self._best) != len(values):
                self._best = [(v, number) for v in values]
            for i, (v, up) in enumerate(zip(values, maximize, strict=True)):
                if (v > self._best[i][0]) if up else (v < self._best[i][0]):
                    self._best[i] = (v, number)
            return list(self._best)
