"""Pydantic validation errors of a study file, told as one error naming file, field and value."""

from __future__ import annotations

from typing import Any

from sweep.errors import MISSING, StudyFileError
from sweep.study.space import TAGS

__all__ = ["dotted", "file_error"]

# Tags pydantic puts in an error's location when it picks a union member: not fields of the file.
_UNION_TAGS = TAGS | {"local", "studio", "dense", "conv1d", "conv2d", "dropout", "reshape", "flatten",
                      "batchNormalization"}


def dotted(loc: tuple[Any, ...]) -> str:
    """A pydantic location as the file writes it (``space.layers[0].neurons``), union tags left out."""
    out = ""
    free = False  # inside a free-form table (fixed, options): every key is the user's
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not free and isinstance(part, str) and (part in _UNION_TAGS or part.startswith("function-")):
            continue
        else:
            out += f".{part}" if out else str(part)
            free = free or part in ("fixed", "options")
    return out


def _describe(err: Any) -> tuple[str, Any, str]:
    """(field, value, reason) of one pydantic error, in the file's terms."""
    loc = tuple(err["loc"])
    kind = err["type"]
    value: Any = err.get("input", MISSING)
    reason = err["msg"]
    if kind == "missing":
        value, reason = MISSING, "required field is missing"
    elif kind == "extra_forbidden":
        reason = "unknown field"
    elif kind in ("union_tag_invalid", "union_tag_not_found"):
        ctx = err.get("ctx") or {}
        disc = str(ctx.get("discriminator", "")).strip("'") or "type"
        loc = (*loc, disc)
        expected = ctx.get("expected_tags", "")
        if kind == "union_tag_not_found":
            value, reason = MISSING, "required field is missing"
        else:
            value, reason = ctx.get("tag", value), f"must be one of {expected}"
    elif kind == "literal_error":
        reason = "must be " + str((err.get("ctx") or {}).get("expected", reason))
    elif reason.startswith("Input should be "):
        reason = "must be " + reason[len("Input should be "):]
    reason = reason[:1].lower() + reason[1:]
    return dotted(loc), value, reason


def file_error(file: str, errors: list[Any], prefix: tuple[Any, ...]) -> StudyFileError:
    """One error for a failed validation: the first problem, then one line per other field."""
    described = [_describe({**e, "loc": (*prefix, *e["loc"])}) for e in errors]
    seen: list[tuple[str, Any, str]] = []
    for d in described:  # a union tried several kinds: keep one problem per field
        if all(d[0] != s[0] for s in seen):
            seen.append(d)
    field, value, reason = seen[0]
    error = StudyFileError(file, field, value, reason)
    if len(seen) > 1:
        more = [str(StudyFileError("", f, v, r)).lstrip(": ") for f, v, r in seen[1:]]
        message = error.message + "".join(f"\n  also {m}" for m in more)
        error.message, error.args = message, (message,)
    return error
