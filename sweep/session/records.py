"""What a trial's attributes say about its job, read in one place: its model's curves and confusion
matrices, and the compute each job really used.

A completed trial keeps ``metrics`` (flat numbers) and ``model`` (curves, confusion matrices, class
names, in one attribute: one storage write, not three); studies written before ``model`` existed
kept them as ``curves``, ``confusion`` and ``class_names``, which are read the same way.

Each trial's own job's compute, failed and pruned jobs included (they cost compute too), a reused twin's
zero (nothing was trained for it); the study's total, every job it started once, is
:func:`sweep.session.compute.totals`.
"""

from __future__ import annotations

from typing import Any

from optuna.trial import FrozenTrial, TrialState

__all__ = ["MODEL", "class_names", "confusion", "curves", "job_compute_s", "model_attr"]

COMPUTE = "compute_time_s"  # user attr: the compute (s) of the trial's own job, when it ended unsuccessfully
MODEL = "model"  # user attr: {"curves": ..., "confusion": ..., "class_names": ...} of a completed trial


def model_attr(curves: dict[str, list[float]], confusion: dict[str, list[list[float]]],
               class_names: list[str]) -> dict[str, Any]:
    """The ``model`` attribute of a completed trial."""
    return {"curves": curves, "confusion": confusion, "class_names": class_names}


def _part(trial: FrozenTrial, key: str) -> Any:
    model = trial.user_attrs.get(MODEL)
    if isinstance(model, dict) and key in model:
        return model[key]
    return trial.user_attrs.get(key)  # a study written before the ``model`` attribute


def curves(trial: FrozenTrial) -> dict[str, list[float]]:
    """Series name -> per-epoch values (empty when the job gave none)."""
    got = _part(trial, "curves")
    return dict(got) if isinstance(got, dict) else {}


def confusion(trial: FrozenTrial) -> dict[str, list[list[float]]]:
    """Model type -> confusion matrix (rows true class)."""
    got = _part(trial, "confusion")
    return dict(got) if isinstance(got, dict) else {}


def class_names(trial: FrozenTrial) -> list[str]:
    got = _part(trial, "class_names")
    return [str(n) for n in got] if isinstance(got, list) else []


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




