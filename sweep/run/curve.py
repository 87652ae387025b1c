"""A running trial's per-epoch curve, from its log lines: reported to Optuna's pruner, or judged by the median rule.

A single-objective study uses Optuna's own pruners (``trial.report`` / ``trial.should_prune``).
Optuna cannot prune multi-objective studies, so there the median rule is applied here, on the
same curve, against the completed trials' curves at the same epoch.
"""

from __future__ import annotations

import logging
import statistics

import optuna
from optuna.trial import FrozenTrial, TrialState

from sweep.errors import ApiError, ProtocolError, TransientError
from sweep.run.follow import JobLog
from sweep.session.records import curves
from sweep.studio.joblog import curves_from_log
from sweep.study.schema import PrunerSpec

__all__ = ["CurveWatch"]

log = logging.getLogger("sweep.run.curve")


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

    def check(self, joblog: JobLog) -> tuple[int, float] | None:
        """Read the job's epochs so far from its log (the socket's lines, when it streams them): (epoch, value)
        when the trial should stop. An unreadable log is skipped (the next check reads it again)."""
        try:
            lines = joblog.lines()
        except (ApiError, ProtocolError, TransientError) as exc:
            log.info("job %s: log unreadable for pruning (%s)", joblog.job_id, exc)
            return None
        curve = curves_from_log(lines).get(self.spec.curve, [])
        return (len(curve), curve[-1]) if self.update(curve) else None

    def blind(self, joblog: JobLog) -> bool:
        """Whether a finished job's whole log shows no epoch of the curve (no ``Epoch i/n`` line followed by
        ``<curve>: value``): then no check could ever have judged it. False when the log cannot be read."""
        try:
            lines = joblog.lines()
        except (ApiError, ProtocolError, TransientError) as exc:
            log.info("job %s: log unreadable (%s)", joblog.job_id, exc)
            return False
        return not curves_from_log(lines).get(self.spec.curve)

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
    return [float(v) for v in curves(trial).get(name, [])]
