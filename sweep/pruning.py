"""Pruning: stop a trial's job early when its per-epoch curve, read from the job log, lags behind.

A single-objective study uses Optuna's own pruners (``trial.report`` / ``trial.should_prune``).
Optuna cannot prune multi-objective studies, so there the median rule is applied here, on the
same curve, against the completed trials' curves at the same epoch.
"""

from __future__ import annotations

import inspect
import logging
import statistics
from typing import TYPE_CHECKING, Any

import optuna
from optuna.pruners import BasePruner
from optuna.trial import FrozenTrial, TrialState

from sweep.errors import ApiError, ProtocolError, StudyFileError, TransientError
from sweep.joblog import curves_from_log

if TYPE_CHECKING:
    from sweep.studio.client import StudioClient
    from sweep.study import PrunerSpec, StudySpec

log = logging.getLogger("sweep.pruning")

__all__ = ["PRUNERS", "CurveWatch", "make_pruner", "pruned_reason"]

PRUNERS: dict[str, type[BasePruner]] = {
    "median": optuna.pruners.MedianPruner,
    "percentile": optuna.pruners.PercentilePruner,
    "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
    "hyperband": optuna.pruners.HyperbandPruner,
    "threshold": optuna.pruners.ThresholdPruner,
}
# The median rule for several objectives takes MedianPruner's options, less interval_steps.
_MULTI_OPTIONS = ("n_startup_trials", "n_warmup_steps", "n_min_trials")


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
        accepted = [p for p in accepted if p in _MULTI_OPTIONS]
    for key, value in ps.options.items():
        if key not in accepted:
            raise StudyFileError(file, f"pruner.options.{key}", value,
                                 f"unknown option of the {ps.name} pruner (it takes: {', '.join(accepted)})")
    try:
        pruner = cls(**ps.options)
    except (TypeError, ValueError) as exc:
        raise StudyFileError(file, "pruner.options", ps.options, f"the {ps.name} pruner refused these options: {exc}") from None
    return None if multi else pruner


class CurveWatch:
    """One running trial's curve: reports each new epoch and says whether to stop its job."""

    def __init__(self, study: optuna.Study, trial: optuna.Trial, pruner: PrunerSpec) -> None:
        self.study, self.trial, self.spec = study, trial, pruner
        self.multi = len(study.directions) > 1
        higher_better = "accuracy" in pruner.curve
        if self.multi or pruner.name == "threshold":
            # the median rule below compares "better" itself; thresholds are on the raw values
            self.sign = 1.0
        else:
            # Optuna's pruners read intermediate values in the study's direction
            maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
            self.sign = 1.0 if higher_better == maximize else -1.0
        self._better_sign = 1.0 if higher_better else -1.0
        self.reported = 0

    def check(self, client: StudioClient, job_id: int) -> tuple[int, float] | None:
        """Read the job's epochs so far from its log: (epoch, value) when the trial should stop.
        An unreadable log is skipped (the next check reads it again)."""
        try:
            lines = [item.data for item in reversed(client.job_log(job_id))]
        except (ApiError, ProtocolError, TransientError) as exc:
            log.info("job %s: log unreadable for pruning (%s)", job_id, exc)
            return None
        curve = curves_from_log(lines).get(self.spec.curve, [])
        return (len(curve), curve[-1]) if self.update(curve) else None

    def update(self, curve: list[float]) -> bool:
        """Report the epochs not reported yet; True when the trial should stop now."""
        new = curve[self.reported:]
        if not new:
            return False
        if not self.multi:
            for step, value in enumerate(new, start=self.reported):  # step = epoch - 1, as Optuna counts
                self.trial.report(self.sign * value, step)
        self.reported = len(curve)
        if self.multi:
            return self._median_rule(curve)
        return self.trial.should_prune()

    def _median_rule(self, curve: list[float]) -> bool:
        opts = self.spec.options
        step = len(curve)
        if step <= int(opts.get("n_warmup_steps", 0)):
            return False
        done = self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if len(done) < int(opts.get("n_startup_trials", 5)):
            return False
        others = [self._better_sign * c[step - 1] for c in (_curve(t, self.spec.curve) for t in done) if len(c) >= step]
        if not others or len(others) < int(opts.get("n_min_trials", 1)):
            return False
        return self._better_sign * curve[-1] < statistics.median(others)


def _curve(trial: FrozenTrial, name: str) -> list[float]:
    curves: dict[str, Any] = trial.user_attrs.get("curves") or {}
    return [float(v) for v in curves.get(name, [])]


def pruned_reason(info: dict[str, Any]) -> str:
    """Where a pruned trial stopped (its ``pruned`` user attr), as the log and the reports say it."""
    return f"pruned at epoch {info.get('epoch')} ({info.get('curve')} = {float(info.get('value', float('nan'))):.4g})"
