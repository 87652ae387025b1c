"""Reading a train request: its body's nesting, JSON, official shape (no booleans for numbers), its seed header."""

from __future__ import annotations

import json
import re
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from sweep.errors import ApiError
from sweep.studio.models import SetKerasParameterRequest, VisualLayer

__all__ = ["MAX_JSON_DEPTH", "MAX_SEED", "SEED_HEADER", "describe", "json_depth", "parse_train_request",
           "train_seed"]

MAX_JSON_DEPTH = 16  # a train request nests 3 levels (body, visualLayers, a layer); options a few more
# The training seed of a train job: Studio's body has no seed field, so sweep sends it as a header (Studio
# ignores it). Without it the job id seeds the job. At most 2**32 - 1: numpy's seed range.
SEED_HEADER = "X-Sweep-Seed"
MAX_SEED = 2**32 - 1
_DIGITS = re.compile(r"[0-9]{1,20}")


def train_seed(values: list[str]) -> int | None:
    """The seed the ``X-Sweep-Seed`` header's values give (None without the header), or ApiError(400)."""
    if not values:
        return None
    if len(values) > 1:
        raise ApiError(f"header {SEED_HEADER} given {len(values)} times (got {values!r}); send it once",
                       status_code=400)
    raw = values[0].strip()
    if not _DIGITS.fullmatch(raw) or int(raw) > MAX_SEED:
        raise ApiError(f"header {SEED_HEADER} must be an integer from 0 to {MAX_SEED} (got {values[0]!r})",
                       status_code=400)
    return int(raw)


def parse_train_request(raw: bytes) -> SetKerasParameterRequest:
    """The body as the official request model, or ApiError(400) naming the field and value."""
    depth = json_depth(raw)
    if depth > MAX_JSON_DEPTH:
        raise ApiError(f"request body nests {depth} levels deep (at most {MAX_JSON_DEPTH})", status_code=400)
    try:
        body = SetKerasParameterRequest.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        raise ApiError(describe(exc), status_code=400) from None
    # pydantic reads ``true`` as 1 for an int: look at the JSON itself (it parsed above, so this does too)
    if problem := _boolean_number(json.loads(raw or b"{}"), SetKerasParameterRequest):
        raise ApiError(f"invalid request body: {problem}", status_code=400)
    return body


def json_depth(raw: bytes) -> int:
    """How deeply the JSON text nests objects and arrays (strings skipped), read before parsing so a
    pathological body cannot exhaust the parser's or the validator's recursion."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest


def _number_kind(annotation: Any) -> str | None:
    """"integer" or "number" when a field holds an int or a float (optional or not), else None."""
    kinds = {a for a in (get_args(annotation) or (annotation,)) if a is not type(None)}
    if kinds == {int}:
        return "integer"
    if kinds == {float}:
        return "number"
    return None


def _boolean_number(data: Any, model: type[BaseModel], where: str = "") -> str | None:
    """Where a JSON boolean stands for a number (pydantic would read ``true`` as 1): the first such
    field as ``path: reason (got True)``, or None. Layers are checked inside ``visualLayers``."""
    if not isinstance(data, dict):
        return None
    for name, info in model.model_fields.items():
        key = info.alias or name
        value = data.get(key)
        if isinstance(value, bool) and (kind := _number_kind(info.annotation)):
            return f"{where}{key}: Input should be a valid {kind}, not a boolean (got {value})"
        if key == "visualLayers" and isinstance(value, list):
            for i, layer in enumerate(value):
                if found := _boolean_number(layer, VisualLayer, f"{where}{key}.{i}."):
                    return found
    return None


def describe(exc: ValidationError) -> str:
    """A validation error as the local studio's 400 says it: up to five fields, each with its value."""
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "body"
        shown = repr(err.get("input"))
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        parts.append(f"{where}: {err['msg']} (got {shown})")
    return "invalid request body: " + "; ".join(parts)
