"""What a trial's attributes say about its job, read in one place: the compute each job really used.

One figure for the budget, ``sweep status`` and the report: each job's compute counted once, failed
and pruned jobs included (they cost compute too), a reused twin's zero (nothing was trained for it).
"""

from __future__ import annotations

from collections.abc import Iterable

from optuna.trial import FrozenTrial, TrialState

__all__ = ["compute_used_s", "job_compute_s", "total_compute_s"]

COMPUTE = "compute_time_s"  # user attr: the compute (s) of the trial's own job, when it ended unsuccessfully


def job_compute_s(trial: FrozenTrial) -> float | None:
    """Seconds of compute the trial's own job used: 0 for a reused twin, None while unknown (running,
    never submitted, or a server that did not say)."""
    attrs = trial.user_attrs
    if "duplicate_of" in attrs:
        return 0.0
    if COMPUTE in attrs and attrs[COMPUTE] is not None:
        return float(attrs[COMPUTE])
    if trial.state == TrialState.COMPLETE:
        cost = (attrs.get("metrics") or {}).get(COMPUTE)
        return float(cost) if cost is not None else None
    return None


def compute_used_s(trials: Iterable[FrozenTrial]) -> list[float]:
    """The compute of every job that ran and ended (a reused twin ran none: it is left out)."""
    return [cost for t in trials if "duplicate_of" not in t.user_attrs and (cost := job_compute_s(t)) is not None]


def total_compute_s(trials: Iterable[FrozenTrial]) -> float:
    """The study's compute so far: the one figure the budget, ``sweep status`` and the report give."""
    return float(sum(compute_used_s(trials)))
