"""Configurations given rather than sampled: checked against the study's space (warm starts, ``run --enqueue``).

A configuration is a mapping of param names (as the study names them: ``learning_rate``,
``layers.0.neurons``, ``spectrogram.enabled``) to values. Each value must lie in the param's
distribution; a param the space does not tune is not accepted. Params left out are sampled.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from optuna.distributions import BaseDistribution

from sweep.errors import MISSING, StudyFileError
from sweep.study.space import distributions, parameters
from sweep.study.spec import StudySpec

__all__ = ["load_enqueue_file", "misfit", "warm_params"]


def misfit(space: Mapping[str, BaseDistribution], params: Mapping[str, Any]) -> tuple[str, Any] | None:
    """The first (name, value) that this space does not hold: an unknown name or a value outside its range."""
    for name, value in params.items():
        dist = space.get(name)
        if dist is None:
            return name, value
        try:
            if not dist._contains(dist.to_internal_repr(value)):
                return name, value
        except (ValueError, TypeError):
            return name, value
    return None


def warm_params(spec: StudySpec, params: Mapping[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """An earlier study's trial params for this study: the params this space tunes too, or None with the
    reason when one of them lies outside it; params this space does not tune are dropped (said in the note)."""
    space = distributions(spec.space)
    kept = {k: v for k, v in params.items() if k in space}
    dropped = sorted(set(params) - set(kept))
    bad = misfit(space, kept)
    if bad is not None:
        return None, f"{bad[0]} = {bad[1]!r} is outside this study's space"
    return kept, (f"not tuned here, left out: {', '.join(dropped)}" if dropped else "")


def load_enqueue_file(path: Path, spec: StudySpec) -> list[dict[str, Any]]:
    """Hand-written configurations: a JSON list of objects, or TOML ``[[trial]]`` tables; every one checked."""
    file = str(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise StudyFileError(file, "", MISSING, f"cannot read it: {exc.strerror or exc}") from None
    try:
        got: Any = json.loads(text) if path.suffix == ".json" else tomllib.loads(text).get("trial", [])
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise StudyFileError(file, "", MISSING, f"not valid {'JSON' if path.suffix == '.json' else 'TOML'}: {exc}"
                             ) from None
    if not isinstance(got, list) or not got or not all(isinstance(c, dict) for c in got):
        raise StudyFileError(file, "trial", MISSING, "give a JSON list of objects, or TOML [[trial]] tables "
                             "(param name = value), at least one")
    space = distributions(spec.space)
    fields = {name: field for name, field, _ in parameters(spec.space)}
    for i, config in enumerate(got):
        bad = misfit(space, config)
        if bad is not None:
            name, value = bad
            reason = (f"not a param this study tunes ({', '.join(sorted(space))})" if name not in space
                      else f"outside {fields.get(name, name)} of {spec.path}")
            raise StudyFileError(file, f"trial[{i}].{name}", value, reason)
    return [dict(c) for c in got]
