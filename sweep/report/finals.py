"""The finalists' validation beside their test accuracy (``sweep test``), as ``sweep test``, ``sweep best`` and the
report show it: each with a 95 % Wilson interval, and the validation - test gap.

Validation picked the winner, so its validation accuracy flatters it; the testing data was held out of every train
job and of the choice, so the gap (validation minus test accuracy of the same model) measures how much the choice
overfitted the validation set. It is not ``int8.accuracy_drop`` (float32 minus int8 accuracy, both on validation).
Confirmation repeats (``sweep confirm``) are shown as mean ± standard deviation over a configuration's trainings.
"""

from __future__ import annotations

import math
import statistics
import textwrap
from dataclasses import dataclass

import optuna
from optuna.trial import FrozenTrial, TrialState

from sweep.session import records, tested
from sweep.session.side import BASELINE, CONFIRM, side_study
from sweep.units import PERCENT, POINTS

__all__ = ["GAP_MEANS", "KINDS", "Figure", "Final", "chosen_on_validation", "finals", "finals_lines", "repeat_lines",
           "wilson"]

KINDS = ("int8", "float32")
WIDTH = 100  # the terminal's columns the lines fit
Z95 = 1.959963984540054
GAP_MEANS = ("validation - test gap: validation minus test accuracy of the same model (how much the choice "
             "overfitted the validation set); not int8.accuracy_drop, which is float32 minus int8 accuracy.")


def wilson(correct: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``correct / n`` (95 % by default); (nan, nan) when n is 0."""
    if n <= 0:
        return math.nan, math.nan
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    # at 0 of n and n of n the interval ends exactly at 0 and 1 (in floating point, centre + half is 1 - 1e-16)
    return (0.0 if correct == 0 else max(0.0, centre - half)), (1.0 if correct == n else min(1.0, centre + half))


@dataclass(frozen=True)
class Figure:
    """An accuracy measured on ``n`` windows (``correct`` of them right)."""

    accuracy: float
    correct: int
    n: int

    def text(self) -> str:
        lo, hi = wilson(self.correct, self.n)
        return f"{PERCENT.text(self.accuracy)} [{lo * 100:.1f}, {hi * 100:.1f}] of {self.n}"


@dataclass(frozen=True)
class Final:
    """One tested trial: its label, validation and test figure per model type, and what its test is worth."""

    label: str
    of: int | None
    repeat: int
    validation: dict[str, Figure | None]
    test: dict[str, Figure]
    before_split: bool | None
    record: tested.Tested

    def gap(self, kind: str) -> float | None:
        v = self.validation.get(kind)
        return v.accuracy - self.test[kind].accuracy if v is not None and kind in self.test else None


def _validation(trial: FrozenTrial, kind: str) -> Figure | None:
    accuracy = (trial.user_attrs.get("metrics") or {}).get(f"{kind}.accuracy")
    matrix = records.confusion(trial).get(kind)
    if accuracy is None or not matrix:
        return None
    n = round(sum(sum(row) for row in matrix))
    return Figure(float(accuracy), round(float(accuracy) * n), n) if n else None


def _finals_of(study: optuna.Study | None, label: str) -> list[Final]:
    if study is None:
        return []
    done = {t.number: t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))}
    out = []
    for number, record in tested.records(study).items():
        trial = done.get(number)
        if trial is None:
            continue
        of = trial.user_attrs.get("of", number) if label == "repeat" else (None if label == "baseline" else number)
        repeat = int(trial.user_attrs.get("repeat", 0)) if label == "repeat" else 0
        name = ("baseline" if of is None else f"trial {of}") + (f" repeat {repeat}" if repeat else "")
        out.append(Final(name, of, repeat, {k: _validation(trial, k) for k in KINDS},
                         {k: Figure(m.accuracy, m.correct, m.windows) for k, m in record.models.items()},
                         record.before_split, record))
    return out


def chosen_on_validation(study: optuna.Study) -> str:
    """What picked the winner, said once wherever test figures are shown; a best trial that came after the last
    ``sweep test`` is named as not tested yet (the table's top is not the study's winner then)."""
    objectives = ", ".join(study.user_attrs.get("objectives") or study.metric_names or ["its objectives"])
    winner = _ranked(study)[:1]
    tested_trials = set(tested.records(study))
    if winner and winner[0].number not in tested_trials:
        who = (f"The finalists were chosen on validation ({objectives}, the study's own ranking) when they were "
               f"tested; the study's best now, trial {winner[0].number}, is not tested yet (`sweep test` tests it). ")
        return who + "The test figures were not used to choose, and must not be."
    who = f"The winner (trial {winner[0].number})" if winner else "The winner"
    return (f"{who} and the other finalists were chosen on validation ({objectives}, the study's own ranking); "
            "the test figures were not used to choose, and must not be.")


def _ranked(study: optuna.Study) -> list[FrozenTrial]:
    """The complete feasible trials by the first objective, best first (the Pareto front first)."""
    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.values and all(v <= 0 for v in t.constraints.values())]
    sign = -1.0 if study.directions[0] == optuna.study.StudyDirection.MAXIMIZE else 1.0
    front = {t.number for t in study.best_trials} if len(study.directions) > 1 and done else set()
    return sorted(done, key=lambda t: (t.number not in front, sign * (t.values or [0.0])[0], t.number))


def finals(study: optuna.Study) -> list[Final]:
    """Every tested trial of the study (best first, as the study ranks them), the baseline, then the repeats."""
    rank = {t.number: i for i, t in enumerate(_ranked(study))}
    own = sorted(_finals_of(study, "trial"), key=lambda f: (rank.get(f.of or 0, len(rank)), f.of or 0))
    return own + _finals_of(side_study(study, BASELINE), "baseline") + \
        sorted(_finals_of(side_study(study, CONFIRM), "repeat"), key=lambda f: (f.of is None, f.of or 0, f.repeat))


def _row(final: Final, kind: str, first: bool) -> str:
    name = (final.label + ("*" if final.before_split else "")) if first else ""
    validation = final.validation.get(kind)
    gap = final.gap(kind)
    return (f"{name:<16} {kind:<7} {validation.text() if validation else '-':<28} {final.test[kind].text():<28} "
            f"{'-' if gap is None else ('+' if gap >= 0 else '') + POINTS.text(gap)}")


def finals_lines(study: optuna.Study) -> list[str]:
    """The tested finalists as a table (fits 100 columns), the confirmation repeats' spread, and what they mean."""
    shown = [f for f in finals(study) if f.repeat == 0]
    if not shown:
        return []
    lines = ["finalists: validation beside test accuracy, 95 % Wilson intervals of windows",
             f"{'finalist':<16} {'model':<7} {'validation':<28} {'test':<28} val - test"]
    for final in shown:
        lines += [_row(final, kind, i == 0) for i, kind in enumerate(k for k in KINDS if k in final.test)]
    lines += repeat_lines(study)
    record = shown[0].record
    samples = f" of {record.samples} samples" if record.samples is not None else ""
    lines += textwrap.wrap(f"test: {shown[0].test['int8'].n if 'int8' in shown[0].test else '?'} windows{samples} "
                           f"of the project's testing data (DSP block {record.dsp_id}), never trained on nor used to "
                           "choose.", WIDTH)
    notes = []
    if any(f.before_split for f in finals(study)):
        notes.append("* trained before the project's test split was made (its job ran before the split's first "
                     "job): it may have trained on what is now the testing data, so its test figure is not held out.")
    notes += [chosen_on_validation(study), GAP_MEANS]
    return lines + [line for note in notes for line in textwrap.wrap(note, WIDTH)]


def repeat_lines(study: optuna.Study) -> list[str]:
    """Each configuration with tested repeats: test accuracy as mean ± sd over its tested trainings."""
    every = finals(study)
    out = []
    for of in dict.fromkeys(f.of for f in every if f.repeat):
        runs = [f for f in every if f.of == of]
        parts = []
        for kind in KINDS:
            values = [f.test[kind].accuracy for f in runs if kind in f.test]
            if values:
                sd = statistics.stdev(values) if len(values) > 1 else 0.0
                parts.append(f"{kind} {PERCENT.text(statistics.fmean(values))} ± {POINTS.text(sd)}")
        label = "baseline" if of is None else f"trial {of}"
        out.append(f"{label}: test {', '.join(parts)} over {len(runs)} tested trainings (mean ± sd)")
    return out
