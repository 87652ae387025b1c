"""Confirmed results: each confirmed configuration's repeats as mean ± standard deviation, the leader against the
runner-up, the best against the baseline, and what one validation sample is worth.

The repeats come from the side studies (:mod:`sweep.session.side`): ``<study>:confirm`` holds the
retrainings of the chosen trials with other seeds, ``<study>:baseline`` the baseline's own training.
A configuration's first value is its original trial's (or the baseline's); the repeats follow.

"Distinguishable" is Welch's two-sided t-test at the 5 % level on the first objective: the
difference of the means against its standard error, with Welch-Satterthwaite degrees of freedom.
With three or four values per configuration only large gaps pass: that is the honest answer.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import optuna
from optuna.trial import FrozenTrial, TrialState

from sweep.session import records
from sweep.session.side import BASELINE, CONFIRM, side_study

__all__ = ["Confirmed", "Verdict", "baseline_trial", "confirmations", "one_sample", "verdict"]

# Two-sided 5 % critical values of Student's t for 1..30 degrees of freedom (beyond: the normal's 1.96).
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


@dataclass(frozen=True)
class Confirmed:
    """One configuration's values per objective (its original first, then each repeat)."""

    of: int | None  # the trial it repeats; None for the baseline
    values: list[list[float]]  # [objective][run]

    @property
    def n(self) -> int:
        return len(self.values[0]) if self.values else 0

    def mean(self, i: int = 0) -> float:
        return statistics.fmean(self.values[i])

    def sd(self, i: int = 0) -> float:
        return statistics.stdev(self.values[i]) if self.n > 1 else 0.0

    @property
    def label(self) -> str:
        return "baseline" if self.of is None else f"trial {self.of}"


@dataclass(frozen=True)
class Verdict:
    """The leader against the runner-up on the first objective."""

    leader: Confirmed
    runner_up: Confirmed
    difference: float  # leader's mean minus runner-up's
    t: float
    critical: float

    @property
    def distinguishable(self) -> bool:
        return abs(self.t) > self.critical


def baseline_trial(study: optuna.Study) -> FrozenTrial | None:
    """The study's completed baseline training, if it has one."""
    side = side_study(study, BASELINE)
    if side is None:
        return None
    done = side.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return done[0] if done else None


def confirmations(study: optuna.Study) -> list[Confirmed]:
    """Every configuration with at least one completed repeat, best mean first (first objective)."""
    side = side_study(study, CONFIRM)
    if side is None:
        return []
    originals: dict[int | None, FrozenTrial] = {t.number: t for t in study.get_trials(deepcopy=False)
                                                if t.state == TrialState.COMPLETE}
    base = baseline_trial(study)
    if base is not None:
        originals[None] = base
    runs: dict[int | None, list[list[float]]] = {}
    for t in side.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        of = t.user_attrs.get("of")
        if of in originals and t.values:
            runs.setdefault(of, [list(originals[of].values or [])]).append(list(t.values))
    out = [Confirmed(of, [list(col) for col in zip(*rows, strict=True)]) for of, rows in runs.items()]
    sign = -1.0 if study.directions[0] == optuna.study.StudyDirection.MAXIMIZE else 1.0
    out.sort(key=lambda c: (sign * c.mean(), c.of if c.of is not None else -1))
    return out


def verdict(ranked: list[Confirmed]) -> Verdict | None:
    """Welch's t-test of the two best configurations that are not the baseline (None: fewer than two)."""
    tried = [c for c in ranked if c.of is not None]
    if len(tried) < 2:
        return None
    a, b = tried[0], tried[1]
    diff = a.mean() - b.mean()
    va, vb = a.sd() ** 2 / a.n, b.sd() ** 2 / b.n
    se = math.sqrt(va + vb)
    if se == 0.0:
        return Verdict(a, b, diff, math.inf if diff else 0.0, 0.0)
    df = (va + vb) ** 2 / ((va**2 / (a.n - 1) if a.n > 1 else 0.0) + (vb**2 / (b.n - 1) if b.n > 1 else 0.0))
    critical = _T95[min(max(int(df), 1), len(_T95)) - 1] if df <= len(_T95) else 1.96
    return Verdict(a, b, diff, diff / se, critical)


def one_sample(trial: FrozenTrial) -> int | None:
    """The validation set's size behind a trial's accuracy (the int8 confusion matrix's total, else
    float32's); None when the trial kept no confusion matrix."""
    matrices = records.confusion(trial)
    for kind in ("int8", "float32", *matrices):
        matrix = matrices.get(kind)
        if matrix:
            total = round(sum(sum(row) for row in matrix))
            return total or None
    return None
