"""report/finals.py at its seam: Wilson intervals, and what the finals section says picked the winner."""

from __future__ import annotations

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from sweep.report.finals import chosen_on_validation, wilson
from sweep.session import tested


def _study(accuracies: list[float]) -> optuna.Study:
    study = optuna.create_study(direction="maximize", study_name="finals")
    study.set_user_attr("objectives", ["int8.accuracy"])
    for i, acc in enumerate(accuracies):
        study.add_trial(create_trial(state=TrialState.COMPLETE, value=acc, params={"lr": 0.01 * (i + 1)},
                                     distributions={"lr": FloatDistribution(1e-3, 1.0)},
                                     user_attrs={"metrics": {"int8.accuracy": acc}}))
    return study


def _test(study: optuna.Study, number: int) -> None:
    score = tested.ModelScore(sha256="0" * 64, accuracy=0.9, correct=9, windows=10, loss=0.3)
    tested.record(study, tested.Tested(trial=number, models={"int8": score, "float32": score}, dsp_id=6,
                                       data_digest="0" * 16, tested_at="2026-12-08T00:00:00"))


def test_wilson_interval_of_9_of_12() -> None:
    low, high = wilson(9, 12)
    assert (round(low, 3), round(high, 3)) == (0.468, 0.911)


def test_the_winner_is_named_only_when_it_was_tested() -> None:
    study = _study([0.91, 0.95])
    _test(study, 1)
    assert chosen_on_validation(study).startswith("The winner (trial 1) and the other finalists were chosen")
    study.add_trial(create_trial(state=TrialState.COMPLETE, value=0.97, params={"lr": 0.5},
                                 distributions={"lr": FloatDistribution(1e-3, 1.0)}))
    said = chosen_on_validation(study)  # a better trial came after `sweep test`: the table's top is not the winner
    assert "The winner (trial 2)" not in said
    assert "the study's best now, trial 2, is not tested yet (`sweep test` tests it)" in said
    assert "must not be" in said


@pytest.mark.parametrize(("correct", "n"), [(0, 10), (10, 10), (5, 10)])
def test_wilson_stays_inside_0_1_and_holds_the_estimate(correct: int, n: int) -> None:
    low, high = wilson(correct, n)
    assert 0.0 <= low <= correct / n <= high <= 1.0
