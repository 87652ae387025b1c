"""The study file's [pruner] -> an Optuna pruner (bad names/options are StudyFileErrors); how a pruned trial is told.

A single-objective study uses Optuna's own pruners (``trial.report`` / ``trial.should_prune``).
Optuna cannot prune multi-objective studies: there the median rule is applied by
:class:`sweep.run.curve.CurveWatch`, which reads the curve from the job log.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import optuna
from optuna.pruners import BasePruner

from sweep.errors import StudyFileError
from sweep.study.spec import StudySpec
from sweep.units import metric_text

__all__ = ["MULTI_OPTIONS", "PRUNERS", "make_pruner", "pruned_reason"]

PRUNERS: dict[str, type[BasePruner]] = {
    "median": optuna.pruners.MedianPruner,
    "percentile": optuna.pruners.PercentilePruner,
    "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
    "hyperband": optuna.pruners.HyperbandPruner,
    "threshold": optuna.pruners.ThresholdPruner,
}
# The median rule for several objectives takes MedianPruner's options, less interval_steps.
MULTI_OPTIONS = ("n_startup_trials", "n_warmup_steps", "n_min_trials")


def make_pruner(spec: StudySpec) -> BasePruner | None:
    """The Optuna pruner of a single-objective study; None when there is none (or several
    objectives: see :class:`CurveWatch`). Bad names and options are StudyFileErrors."""
    ps, file = spec.pruner, str(spec.path)
    if ps.name == "none":
        if ps.options:
            raise StudyFileError(file, "pruner.options", ps.options, "options without a pruner: set pruner.name")
        return None
    multi = len(spec.objectives) > 1
    if multi and ps.name != "median":
        raise StudyFileError(file, "pruner.name", ps.name, "several objectives are pruned by the median rule only "
                             "(Optuna's pruners handle a single objective): use name = \"median\"")
    cls = PRUNERS[ps.name]
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    if multi:
        accepted = [p for p in accepted if p in MULTI_OPTIONS]
    for key, value in ps.options.items():
        if key not in accepted:
            raise StudyFileError(file, f"pruner.options.{key}", value,
                                 f"unknown option of the {ps.name} pruner (it takes: {', '.join(accepted)})")
    try:
        pruner = cls(**ps.options)
    except (TypeError, ValueError) as exc:
        raise StudyFileError(file, "pruner.options", ps.options,
                             f"the {ps.name} pruner refused these options: {exc}") from None
    return None if multi else pruner


def pruned_reason(info: dict[str, Any]) -> str:
    """Where a pruned trial stopped (its ``pruned`` user attr), as the log and the reports say it."""
    curve = str(info.get("curve"))
    return f"pruned at epoch {info.get('epoch')} ({curve} = {metric_text(curve, float(info.get('value', math.nan)))})"
