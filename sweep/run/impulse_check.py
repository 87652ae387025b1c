"""[space.dsp.*] and [space.window] checked against the live impulse before anything is created or run.

Each DSP block the study names (by its name, title or id in the source impulse) must exist, and each of
its parameters must be one the block describes (``GET /api/{projectId}/dsp/{dspId}``: ``config`` groups of
``{param, type, selectOptions, minVal, maxVal, readonly}``), of that type, inside that range, among those
options. A window field must belong to the input block's kind (time series or image), and an image size is
not one the local studio can make (:func:`refuse_local_image_window`, from the file alone). Every refusal is a
study-file error naming the file, the field and the value, raised before the study is stored or a clone made.
"""

from __future__ import annotations

import math
from typing import Any

from sweep.errors import StudyFileError
from sweep.studio.backend import Backend
from sweep.studio.impulse_models import DspParameter, Impulse, dsp_wire_value
from sweep.study.space import WINDOW_WIRE, Choices, FloatRange, IntRange
from sweep.study.spec import StudySpec

__all__ = ["check_impulse_space", "dsp_positions", "refuse_local_image_window"]

_TIME_SERIES = ("window_size_ms", "window_increase_ms")
_IMAGE = ("image_width", "image_height")


def refuse_local_image_window(spec: StudySpec) -> None:
    """A study tuning ``image_width``/``image_height`` on the local studio, refused from the file alone (before
    anything is started or written): its image projects hold features made elsewhere at one size (it imports no
    raw images to resize), so a trial could only record a size it never trains on."""
    if spec.target.kind != "local" or spec.space.window is None:
        return
    for name in _IMAGE:
        value = getattr(spec.space.window, name)
        if value is not None:
            shown = value.model_dump(exclude_defaults=True) if hasattr(value, "model_dump") else value
            raise StudyFileError(str(spec.path), f"space.window.{name}", shown,
                                 "the local studio cannot resize images: its image projects hold features made "
                                 "at one size (it has no raw images to make them again from); tune image windows "
                                 "on Edge Impulse Studio (target.kind = \"studio\")")


def dsp_positions(spec: StudySpec, source: Impulse) -> dict[str, int]:
    """Each DSP block the study names -> its place in the source impulse (a clone's block at that place is its copy)."""
    out: dict[str, int] = {}
    for ref in spec.space.dsp or {}:
        found = [i for i, b in enumerate(source.dsp_blocks) if ref in (str(b.id), b.name, b.title)]
        if not found:
            found = [i for i, b in enumerate(source.dsp_blocks) if ref.lower() in (b.name.lower(), b.title.lower())]
        if len(found) != 1:
            have = ", ".join(f"{b.name or b.title!r} (id {b.id}, {b.type})" for b in source.dsp_blocks) or "none"
            why = "no DSP block" if not found else f"{len(found)} DSP blocks"
            raise StudyFileError(str(spec.path), f"space.dsp.{ref}", ref,
                                 f"{why} of impulse {source.id} by that name or id; its DSP blocks: {have}")
        out[ref] = found[0]
    return out


def check_impulse_space(spec: StudySpec, backend: Backend, source: Impulse) -> None:
    """Refuse (a study-file error) any DSP or window parameter the source impulse cannot take."""
    for ref, place in dsp_positions(spec, source).items():
        block = source.dsp_blocks[place]
        described = backend.dsp_config(block.id).parameters()
        for name, value in (spec.space.dsp or {})[ref].items():
            _check_param(str(spec.path), f"space.dsp.{ref}.{name}", name, value, described, block.type)
    if spec.space.window is not None:
        _check_window(spec, source)


def _values(value: Any) -> list[Any]:
    if isinstance(value, Choices):
        return list(value.choices)
    if isinstance(value, (IntRange, FloatRange)):
        return [value.low, value.high]
    return [value]


def _check_param(file: str, field: str, name: str, value: Any, described: dict[str, DspParameter],
                 block_type: str) -> None:
    item = described.get(name)
    shown = value.model_dump(exclude_defaults=True) if hasattr(value, "model_dump") else value
    if item is None:
        known = ", ".join(sorted(p for p, i in described.items() if not i.readonly)) or "none"
        raise StudyFileError(file, field, shown, f"the {block_type} block has no parameter {name!r}; its parameters: "
                                                 f"{known}")
    if item.readonly:
        raise StudyFileError(file, field, shown, f"{name!r} is read-only on the {block_type} block")
    for one in _values(value):
        why = _impossible(item, one, ranged=isinstance(value, (IntRange, FloatRange)))
        if why is not None:
            raise StudyFileError(file, field, shown, why)


def _impossible(item: DspParameter, value: Any, *, ranged: bool) -> str | None:
    """Why ``value`` cannot be this parameter's, or None."""
    kind = item.type.lower()
    if kind in ("int", "float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return f"{item.param!r} is a number ({kind}); got {value!r}"
        if kind == "int" and not float(value).is_integer():
            return f"{item.param!r} is a whole number; got {value!r}"
        if item.min_val is not None and value < item.min_val:
            return f"{item.param!r} must be at least {item.min_val:g}; got {value!r}"
        if item.max_val is not None and value > item.max_val:
            return f"{item.param!r} must be at most {item.max_val:g}; got {value!r}"
        return None
    if ranged:
        return f"{item.param!r} is a {kind} parameter: give a value or {{ choices = [...] }}, not a range"
    if kind in ("boolean", "bool"):
        return None if isinstance(value, bool) else f"{item.param!r} is true or false; got {value!r}"
    if kind == "select":
        options = [o.value for o in item.select_options or [] if o.value is not None]
        return None if dsp_wire_value(value) in options else f"{item.param!r} must be one of {options}; got {value!r}"
    return None if isinstance(value, str) else f"{item.param!r} is text; got {value!r}"


def _check_window(spec: StudySpec, source: Impulse) -> None:
    assert spec.space.window is not None
    kinds = {str(b.get("type")) for b in source.input_blocks}
    allowed = _IMAGE if kinds == {"image"} else _TIME_SERIES if kinds == {"time-series"} else ()
    for name in WINDOW_WIRE:
        value = getattr(spec.space.window, name)
        if value is not None and name not in allowed:
            shown = value.model_dump(exclude_defaults=True) if hasattr(value, "model_dump") else value
            kind = " and ".join(sorted(kinds)) or "no"
            raise StudyFileError(str(spec.path), f"space.window.{name}", shown,
                                 f"impulse {source.id} has {kind} input: it takes "
                                 f"{', '.join(allowed) or 'no window fields'}")
