"""``sweep dashboard``: optuna-dashboard on a study's storage, showing its constraints the way the dashboard reads them.

Optuna 5 keeps each constraint under its own system attr (``constraints:<name>``); optuna-dashboard
(0.21) shows only the older list under ``constraints``. The dashboard is given a read-through view
of the storage that presents each trial's constraints as that list, in the study file's order;
everything else (writes too: notes, artifacts) goes to the storage unchanged.

Its "Best Trial" panel ignores constraints: with one objective it asks the storage for the best trial,
which the view answers with the best feasible one; with several it draws its own Pareto front of every
complete trial, which a storage cannot change. :func:`best_lines` says before it starts which trials are
the study's best (``study.best_trials``, constraints met) and warns when the panel will show others.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from typing import Any

import optuna
from optuna._typing import JSONSerializable
from optuna.distributions import BaseDistribution
from optuna.storages import BaseStorage
from optuna.study import StudyDirection
from optuna.study._frozen import FrozenStudy
from optuna.trial import FrozenTrial, TrialState

from sweep.report.frame import constraint_text
from sweep.report.status import best_trials
from sweep.study.schema import parse_constraint
from sweep.units import metrics_text

__all__ = ["ConstraintListView", "best_lines", "panel_trials", "serve_dashboard"]

_PREFIX = "constraints:"


class ConstraintListView(BaseStorage):
    """``inner`` as it is, except that trials read through it carry their constraints as one ordered list."""

    def __init__(self, inner: BaseStorage, order: Sequence[str]) -> None:
        self._inner, self._order = inner, list(order)

    def _fix(self, trial: FrozenTrial) -> FrozenTrial:
        named = {k[len(_PREFIX):]: v for k, v in trial.system_attrs.items() if k.startswith(_PREFIX)}
        if not named:
            return trial
        ordered = [named[n] for n in self._order if n in named] + [v for n, v in named.items() if n not in self._order]
        attrs = {k: v for k, v in trial.system_attrs.items() if not k.startswith(_PREFIX)}
        attrs["constraints"] = ordered
        fixed = FrozenTrial(number=trial.number, state=trial.state, value=None, values=trial.values,
                            datetime_start=trial.datetime_start, datetime_complete=trial.datetime_complete,
                            params=trial.params, distributions=trial.distributions, user_attrs=trial.user_attrs,
                            system_attrs=attrs, intermediate_values=trial.intermediate_values,
                            trial_id=trial._trial_id)
        return fixed

    # ---- everything else goes to the storage as it is
    def create_new_study(self, directions: Sequence[StudyDirection], study_name: str | None = None) -> int:
        return self._inner.create_new_study(directions, study_name)

    def delete_study(self, study_id: int) -> None:
        self._inner.delete_study(study_id)

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        self._inner.set_study_user_attr(study_id, key, value)

    def set_study_system_attr(self, study_id: int, key: str, value: JSONSerializable) -> None:
        self._inner.set_study_system_attr(study_id, key, value)

    def get_study_id_from_name(self, study_name: str) -> int:
        return self._inner.get_study_id_from_name(study_name)

    def get_study_name_from_id(self, study_id: int) -> str:
        return self._inner.get_study_name_from_id(study_id)

    def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        return self._inner.get_study_directions(study_id)

    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        return self._inner.get_study_user_attrs(study_id)

    def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:
        return self._inner.get_study_system_attrs(study_id)

    def get_all_studies(self) -> list[FrozenStudy]:
        return self._inner.get_all_studies()

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        return self._inner.create_new_trial(study_id, template_trial)

    def set_trial_param(self, trial_id: int, param_name: str, param_value_internal: float,
                        distribution: BaseDistribution) -> None:
        self._inner.set_trial_param(trial_id, param_name, param_value_internal, distribution)

    def set_trial_state_values(self, trial_id: int, state: TrialState, values: Sequence[float] | None = None) -> bool:
        return self._inner.set_trial_state_values(trial_id, state, values)

    def set_trial_intermediate_value(self, trial_id: int, step: int, intermediate_value: float) -> None:
        self._inner.set_trial_intermediate_value(trial_id, step, intermediate_value)

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._inner.set_trial_user_attr(trial_id, key, value)

    def set_trial_system_attr(self, trial_id: int, key: str, value: JSONSerializable) -> None:
        self._inner.set_trial_system_attr(trial_id, key, value)

    def get_best_trial(self, study_id: int) -> FrozenTrial:
        """The best feasible complete trial, as ``study.best_trial`` picks it (the dashboard's Best Trial panel
        of a one-objective study reads this); with no feasible one, the best of all (the panel needs one)."""
        done = self._inner.get_all_trials(study_id, deepcopy=False, states=(TrialState.COMPLETE,))
        feasible = [t for t in done if all(v <= 0 for v in t.constraints.values())]
        if not feasible:
            return self._fix(self._inner.get_best_trial(study_id))
        sign = -1.0 if self.get_study_directions(study_id)[0] == StudyDirection.MAXIMIZE else 1.0
        return self._fix(min(feasible, key=lambda t: (sign * float(t.values[0]), t.number)))

    # ---- the trials, read with their constraints as the dashboard reads them
    def get_trial(self, trial_id: int) -> FrozenTrial:
        return self._fix(self._inner.get_trial(trial_id))

    def get_all_trials(self, study_id: int, deepcopy: bool = True,
                       states: Container[TrialState] | None = None) -> list[FrozenTrial]:
        return [self._fix(t) for t in self._inner.get_all_trials(study_id, deepcopy=deepcopy, states=states)]


def serve_dashboard(view: ConstraintListView, *, host: str, port: int, artifact_store: Any = None) -> None:
    """Serve optuna-dashboard on ``view`` until interrupted (the extra: ``pip install -e '.[dashboard]'``)."""
    from optuna_dashboard import run_server

    run_server(view, host=host, port=port, artifact_store=artifact_store)


def panel_trials(view: BaseStorage, study_id: int) -> list[FrozenTrial]:
    """The trials optuna-dashboard 0.21's Best Trial panel shows, worked out as it does (its own code for
    several objectives: the Pareto front of every complete trial, constraints ignored)."""
    from optuna_dashboard._pareto_front import get_pareto_front_trials  # the extra, pinned to 0.21

    directions = view.get_study_directions(study_id)
    done = view.get_all_trials(study_id, deepcopy=False, states=(TrialState.COMPLETE,))
    if not done:
        return []
    if len(directions) == 1:
        return [view.get_best_trial(study_id)]
    return sorted(get_pareto_front_trials(trials=done, directions=directions), key=lambda t: t.number)


def best_lines(study: optuna.Study, shown: Sequence[FrozenTrial], names: Sequence[str]) -> list[str]:
    """What ``sweep dashboard`` says first: the study's best trials (``study.best_trials``, constraints met), and
    a warning when the dashboard's Best Trial panel (``shown``, from :func:`panel_trials`) will show others."""
    best = best_trials(study)
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}  # each constraint by name, as Optuna keeps it

    lines = ["best feasible trials (constraints met; `sweep best` shows them):" + ("" if best else " none yet")]
    lines += [f"  trial {t.number}: {metrics_text(zip(names, t.values or [], strict=False))}" for t in best]
    ours, theirs = {t.number for t in best}, sorted(t.number for t in shown)
    if set(theirs) != ours:
        lines.append("warning: optuna-dashboard's Best Trial panel ignores the constraints and will show "
                     + (", ".join(f"trial {n}" for n in theirs) or "no trial"))
        for n in (n for n in theirs if n not in ours):
            metrics = trials[n].user_attrs.get("metrics") or {}
            broken = [f"{_metric(k)} {constraint_text(k, v, metrics)}" for k, v in trials[n].constraints.items()
                      if v > 0]
            lines.append(f"  trial {n} breaks " + ", ".join(broken) if broken else f"  trial {n} is not feasible")
    return lines


def _metric(constraint: str) -> str:
    """The metric a constraint limits (``cortex-m4f-80mhz.ram_bytes <= 32768`` -> its metric), else the text."""
    try:
        return parse_constraint(constraint).metric
    except ValueError:
        return constraint
