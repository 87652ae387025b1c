"""A DSP block's ``config`` groups as Studio's ``GET /api/{projectId}/dsp/{dspId}`` answers them.

The shape is the official ``edgeimpulse_api`` ``DSPGroup`` / ``DSPGroupItem`` (camelCase): every value a
string, ``readonly``, ``shouldShow``, ``required`` and ``showClickToSet`` always present, ``selectOptions``
for selects, ``minVal``/``maxVal`` where the parameter has a range, ``showIf`` where Studio has one.
"""

from __future__ import annotations

from typing import Any

from sweep.local.dsp.catalog import Param, params_of
from sweep.local.dsp.params import Config, resolve, wire_value

__all__ = ["describe"]


def describe(block_type: str, values: Config | None = None) -> list[dict[str, Any]]:
    """The block's parameter groups with ``values`` (checked; defaults for those missing), in Studio's order."""
    resolved = resolve(block_type, values or {})
    groups: list[dict[str, Any]] = []
    for p in params_of(block_type):
        if not groups or groups[-1]["group"] != p.group:
            groups.append({"group": p.group, "items": []})
        groups[-1]["items"].append(_item(p, wire_value(resolved[p.param])))
    return groups


def _item(p: Param, value: str) -> dict[str, Any]:
    item: dict[str, Any] = {
        "name": p.name, "param": p.param, "value": value, "defaultValue": wire_value(p.default), "type": p.type,
        "help": p.help, "readonly": p.readonly, "shouldShow": p.shown, "required": p.required,
        "showClickToSet": False,
    }
    if p.options:
        item["selectOptions"] = [{"value": o, "optionLabel": o, "selected": o == value} for o in p.options]
    if p.min is not None:
        item["minVal"] = p.min
    if p.max is not None:
        item["maxVal"] = p.max
    if p.show_if is not None:
        parameter, operator, wanted = p.show_if
        item["showIf"] = {"parameter": parameter, "operator": operator, "value": wanted}
    return item
