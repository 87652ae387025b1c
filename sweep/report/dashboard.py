"""``sweep dashboard``: optuna-dashboard on a study's storage, showing its constraints the way the dashboard reads them.

Optuna 5 keeps each constraint under its own system attr (``constraints:<name>``); optuna-dashboard
(0.21) shows only the older list under ``constraints``. The dashboard is given a read-through view
of the storage that presents each trial's constraints as that list, in the study file's order;
everything else (writes too: notes, artifacts) goes to the storage unchanged.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from typing import Any

from optuna._typing import JSONSerializable
from optuna.distributions import BaseDistribution
from optuna.storages import BaseStorage
from optuna.study import StudyDirection
from optuna.study._frozen import FrozenStudy
from optuna.trial import FrozenTrial, TrialState

__all__ = ["ConstraintListView", "serve_dashboard"]

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

    # ---- the trials, read with their constraints as the dashboard reads them
    def get_trial(self, trial_id: int) -> FrozenTrial:
        return self._fix(self._inner.get_trial(trial_id))

    def get_all_trials(self, study_id: int, deepcopy: bool = True,
                       states: Container[TrialState] | None = None) -> list[FrozenTrial]:
        return [self._fix(t) for t in self._inner.get_all_trials(study_id, deepcopy=deepcopy, states=states)]


def serve_dashboard(storage: BaseStorage, constraints: Sequence[str], *, host: str, port: int,
                    artifact_store: Any = None) -> None:
    """Serve optuna-dashboard until interrupted (the ``dashboard`` extra: ``pip install -e '.[dashboard]'``)."""
    from optuna_dashboard import run_server

    run_server(ConstraintListView(storage, constraints), host=host, port=port, artifact_store=artifact_store)
