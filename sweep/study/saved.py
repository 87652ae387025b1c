"""A learn block's saved configuration (``KerasResponse``) -> the train request that trains it again.

The copy is derived from the models, not a list: every field of the saved configuration that the train
request (``SetKerasParameterRequest``) also has travels, with its value as saved, so a field Studio adds to
both is carried without a change here. What the request cannot carry (``thresholds``, set through the
impulse's thresholds, not by training) stays behind: :func:`left_behind` names it. Two rules follow the
block's mode, as the official model's field descriptions say: in expert mode the script sets the
network and its training (``visualLayers``, ``trainingCycles``, ``learningRate`` and ``batchSize`` are
"only in visual mode"; Studio answers them as ``[]`` and 0), so they are not sent; in visual mode the
script is Studio's own rendering of the layers and is not sent, and a block with no batch size saved
trains with its ``defaultBatchSize``.
"""

from __future__ import annotations

from typing import Any

from sweep.studio.models import KerasResponse, SetKerasParameterRequest

__all__ = ["VISUAL_ONLY", "left_behind", "request_fields", "saved_request"]

VISUAL_ONLY = ("visualLayers", "trainingCycles", "learningRate", "batchSize")
# Answer fields that describe the block rather than configure it: never part of a train request.
_DESCRIBING = {"success", "error", "dependencies", "trained", "name", "type", "defaultBatchSize", "shape",
               "transferLearningModels", "isMultiHead"}


def request_fields() -> set[str]:
    """The train request's fields by their wire names."""
    return {info.alias or name for name, info in SetKerasParameterRequest.model_fields.items()}


def _held(config: KerasResponse) -> dict[str, Any]:
    """The saved configuration as it came, wire names, the fields sweep does not model included."""
    return config.model_dump(mode="json", by_alias=True, exclude_none=True)


def saved_request(config: KerasResponse) -> SetKerasParameterRequest:
    """The train request that trains ``config`` again: each of its fields the request has, by the mode's rules."""
    wire = request_fields()
    body = {k: v for k, v in _held(config).items() if k in wire}
    if body.get("mode") == "expert":
        for name in VISUAL_ONLY:
            body.pop(name, None)
    else:
        body.pop("script", None)
        body.setdefault("batchSize", config.default_batch_size)
    return SetKerasParameterRequest.model_validate(body)


def left_behind(config: KerasResponse) -> list[str]:
    """The settings the block holds that no train request carries (e.g. ``thresholds``), by wire name."""
    held = {k for k, v in _held(config).items() if v not in ([], {}, "")}
    return sorted(held - request_fields() - _DESCRIBING)
