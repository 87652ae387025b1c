"""A study's params as its report shows them: named by layer (``conv2d.neurons``), in the study file's order,
the values a trial did not use left out, by the rule that also tells twins apart (:mod:`sweep.study.effective`:
a block repeated 0 times, augmentation options with augmentation off, the learning rate of the learned optimizer).

Optuna keeps the names the space gives (``layers.0.neurons``): stored trials never change, and a study run
before its outline was recorded reads with its study file's space, or with those names as they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

from sweep.study.effective import unused_params
from sweep.study.space import LAYER_FIELDS, SPECTROGRAM_FIELDS, Space, outline

__all__ = ["UNUSED", "ParamNames", "param_names"]

UNUSED = "unused"  # what a table shows for a param the trial did not use
OUTLINE_ATTR = "space_outline"
_TOP = ("learning_rate", "batch_size", "training_cycles", "augmentation_policy_image")
_LAYER = re.compile(r"^layers\.(\d+)\.(\w+)$")


@dataclass(frozen=True)
class ParamNames:
    """How a study's params read in its report (``param_names`` builds it)."""

    layer_types: tuple[str, ...] = ()
    fixed_repeat: Mapping[int, int] = field(default_factory=dict)
    spectrogram_enabled: bool | None = None
    fixed: Mapping[str, Any] = field(default_factory=dict)  # the [fixed] fields the rule reads (useLearnedOptimizer)

    def name(self, raw: str) -> str:
        """``layers.0.neurons`` -> ``conv2d.neurons``; the second conv2d of the space is ``conv2d_1``."""
        m = _LAYER.match(raw)
        if not m or int(m.group(1)) >= len(self.layer_types):
            return raw
        index = int(m.group(1))
        kind = self.layer_types[index]
        nth = self.layer_types[:index].count(kind)
        return f"{kind}{f'_{nth}' if nth else ''}.{m.group(2)}"

    def order(self, raw_names: Iterable[str]) -> list[str]:
        """The names in the study file's order: training settings, spectrogram, then layer by layer."""
        def key(raw: str) -> tuple[int, int, int, str]:
            if raw in _TOP:
                return (0, _TOP.index(raw), 0, raw)
            if raw.startswith("spectrogram.") and raw[12:] in SPECTROGRAM_FIELDS:
                return (1, SPECTROGRAM_FIELDS.index(raw[12:]), 0, raw)
            m = _LAYER.match(raw)
            if m and m.group(2) in LAYER_FIELDS:
                return (2, int(m.group(1)), LAYER_FIELDS.index(m.group(2)), raw)
            return (3, 0, 0, raw)

        return sorted(set(raw_names), key=key)

    def unused(self, params: Mapping[str, Any]) -> set[str]:
        """The raw names of ``params`` the trial's model did not use (:func:`~sweep.study.effective.unused_params`,
        with the space's constants and ``[fixed]`` as the study recorded them): every field of a layer block
        repeated 0 times, every spectrogram option while ``spectrogram.enabled`` is false, the learning rate
        with ``useLearnedOptimizer``."""
        constants: dict[str, Any] = {f"layers.{i}.repeat": n for i, n in self.fixed_repeat.items()}
        if self.spectrogram_enabled is not None:
            constants["spectrogram.enabled"] = self.spectrogram_enabled
        return unused_params(params, constants, self.fixed)

    def used(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Shown name -> value of the params the trial used, in the study file's order."""
        skip = self.unused(params)
        return {self.name(raw): params[raw] for raw in self.order(params) if raw not in skip}

    def row(self, params: Mapping[str, Any], raw_names: Iterable[str]) -> dict[str, Any]:
        """Shown name -> value for a table: ``unused`` where the trial did not use it, None where it has none."""
        skip = self.unused(params)
        return {self.name(raw): UNUSED if raw in skip else params.get(raw) for raw in self.order(raw_names)}

    def distributions(self, trials: Iterable[FrozenTrial]) -> dict[str, BaseDistribution]:
        """Raw name -> distribution, as the newest of ``trials`` holding it has it."""
        out: dict[str, BaseDistribution] = {}
        for t in trials:
            out.update(t.distributions)
        return {raw: out[raw] for raw in self.order(out)}

    def study_used(self, study: optuna.Study) -> optuna.Study:
        """An in-memory copy of the study's complete trials with params renamed and the unused ones
        left out (conditional params, as Optuna's importance evaluators read them)."""
        copy = optuna.create_study(directions=study.directions)
        trials = []
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            skip = self.unused(t.params)
            kept = {raw: v for raw, v in t.params.items() if raw not in skip}
            trials.append(optuna.trial.create_trial(
                values=t.values, params={self.name(r): v for r, v in kept.items()},
                distributions={self.name(r): t.distributions[r] for r in kept},
                system_attrs=dict(t.system_attrs), state=TrialState.COMPLETE))
        copy.add_trials(trials)
        return copy


def _from_outline(doc: Any) -> ParamNames | None:
    if not isinstance(doc, dict) or not isinstance(doc.get("layers"), list):
        return None
    layers = [x for x in doc["layers"] if isinstance(x, dict) and isinstance(x.get("type"), str)]
    if len(layers) != len(doc["layers"]):
        return None
    repeat = {i: int(x["repeat"]) for i, x in enumerate(layers) if isinstance(x.get("repeat"), int)}
    enabled = doc.get("spectrogram_enabled")
    fixed = doc.get("fixed")
    return ParamNames(tuple(str(x["type"]) for x in layers), repeat, enabled if isinstance(enabled, bool) else None,
                      dict(fixed) if isinstance(fixed, dict) else {})


def param_names(study: optuna.Study, space: Space | None = None) -> ParamNames:
    """From the outline the study recorded (``space_outline``), else from ``space`` (its study file's, for a
    study run before outlines were recorded), else the raw names (unused params still told by their values)."""
    recorded = _from_outline(study.user_attrs.get(OUTLINE_ATTR))
    if recorded is not None:
        return recorded
    if space is not None:
        found = _from_outline(outline(space))
        if found is not None:
            return found
    return ParamNames()
