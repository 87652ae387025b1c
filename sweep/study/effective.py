"""What a configuration actually trains: its train request without the values that have no effect on the model.

One rule, read two ways: on a train request body (:func:`effective_request`, which the twin key hashes, so two
configurations that differ only in such values are twins) and on a trial's params (:func:`unused_params`, the
report's ``unused`` marks), so the two can never disagree. The rule:

- ``useLearnedOptimizer = true``: the learned optimizer (VeLO) sets its own steps; ``learningRate`` has no effect;
- ``augmentationPolicySpectrogram.enabled = false``: its warping, masking and noise levels have none;
- a visual layer with ``enabled = false`` has none; a layer block repeated 0 times sends no layer at all, so
  none of its fields (``neurons``, ``kernel_size``, ...) has an effect.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sweep.studio.models import AugmentationPolicySpectrogram

__all__ = ["SPECTROGRAM_WIRE", "SWITCHES", "TOP_WIRE", "Switch", "effective_request", "fixed_switches", "param_path",
           "unused_params"]

Path = tuple[str, ...]
SPECTROGRAM = "augmentationPolicySpectrogram"
# a spectrogram param's field (``spectrogram.freq_masking``) -> its wire name in the policy, as the wire model says
SPECTROGRAM_WIRE = {name: info.alias or name for name, info in AugmentationPolicySpectrogram.model_fields.items()}
# a top-level param -> the train request field it sets (the one table train_request and this rule both read)
TOP_WIRE = {"learning_rate": "learningRate", "batch_size": "batchSize", "training_cycles": "trainingCycles",
            "augmentation_policy_image": "augmentationPolicyImage"}
_LAYER = re.compile(r"^layers\.(\d+)\.(\w+)$")


@dataclass(frozen=True)
class Switch:
    """A request field that, while it holds ``off``, leaves the fields at ``silences`` without effect."""

    at: Path
    off: Any
    silences: tuple[Path, ...]


SWITCHES: tuple[Switch, ...] = (
    Switch(("useLearnedOptimizer",), True, (("learningRate",),)),
    Switch((SPECTROGRAM, "enabled"), False,
           tuple((SPECTROGRAM, wire) for wire in SPECTROGRAM_WIRE.values() if wire != "enabled")),
)


def _get(body: Mapping[str, Any], path: Path) -> Any:
    value: Any = body
    for part in path:
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _silenced(body: Mapping[str, Any]) -> set[Path]:
    """The paths of ``body`` a switch set to its ``off`` value leaves without effect."""
    out: set[Path] = set()
    for switch in SWITCHES:
        value = _get(body, switch.at)
        if value is not None and value == switch.off and type(value) is type(switch.off):
            out.update(switch.silences)
    return out


def effective_request(body: Mapping[str, Any]) -> dict[str, Any]:
    """``body`` (a train request as sent or recorded) without the values that have no effect (a copy; ``body`` is
    left as it is): what the job actually trains, and what the twin key hashes."""
    out = dict(body)
    for path in _silenced(body):
        parent, last = path[:-1], path[-1]
        holder = _get(out, parent) if parent else out
        if isinstance(holder, Mapping) and last in holder:
            trimmed = {k: v for k, v in holder.items() if k != last}
            if parent:
                _put(out, parent, trimmed)
            else:
                out = trimmed
    layers = out.get("visualLayers")
    if isinstance(layers, list):
        out["visualLayers"] = [layer for layer in layers
                               if not (isinstance(layer, Mapping) and layer.get("enabled") is False)]
    return out


def _put(body: dict[str, Any], path: Path, value: Any) -> None:
    """Set ``value`` at ``path`` in ``body``, copying each mapping on the way (the caller's stay as they were)."""
    holder = body
    for part in path[:-1]:
        holder[part] = dict(holder.get(part) or {})
        holder = holder[part]
    holder[path[-1]] = value


def param_path(name: str) -> Path | None:
    """Where a param's value goes in the train request (``spectrogram.freq_masking`` ->
    ``augmentationPolicySpectrogram.freqMasking``); None for a layer's, the impulse's, or an unknown param."""
    if name in TOP_WIRE:
        return (TOP_WIRE[name],)
    if name.startswith("spectrogram.") and name[12:] in SPECTROGRAM_WIRE:
        return (SPECTROGRAM, SPECTROGRAM_WIRE[name[12:]])
    return None


def fixed_switches(fixed: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a study's ``[fixed]`` that the rule reads (``useLearnedOptimizer``, ...), recorded with the
    study so that its report reads the same rule without its study file."""
    roots = {switch.at[0] for switch in SWITCHES}
    return {k: v for k, v in fixed.items() if k in roots}


def unused_params(params: Mapping[str, Any], constants: Mapping[str, Any] | None = None,
                  fixed: Mapping[str, Any] | None = None) -> set[str]:
    """The names among a trial's ``params`` whose values have no effect on its model, by the rule of
    :func:`effective_request`. ``constants``: the space's constants by param name (``spectrogram.enabled``,
    ``layers.1.repeat``), ``fixed``: the study's ``[fixed]`` request fields (:func:`fixed_switches` suffices);
    the request is composed as a trial's is: ``fixed``, then constants and params."""
    values = {**(constants or {}), **params}
    body: dict[str, Any] = dict(fixed or {})
    for name, value in values.items():
        path = param_path(name)
        if path is not None:
            _put(body, path, value)
    silenced = _silenced(body)
    out = {name for name in params if param_path(name) in silenced}
    for name in params:
        m = _LAYER.match(name)
        if m and m.group(2) != "repeat" and int(values.get(f"layers.{m.group(1)}.repeat", 1)) == 0:
            out.add(name)
    return out
