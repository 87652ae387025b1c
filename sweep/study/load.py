"""Load a study file: read the TOML, choose the target, validate, and raise one error naming file, field and value.

Loading writes nothing. Every problem is a :class:`StudyFileError`; the storage URL, the sampler and
the pruner are checked here too, so a run never starts on a file that would fail later.
"""

from __future__ import annotations

import copy
import difflib
import json
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError

from sweep.errors import MISSING, StudyFileError
from sweep.settings import Settings
from sweep.studio.models import SetKerasParameterRequest
from sweep.study.errors import dotted, file_error
from sweep.study.schema import StudyFile, parse_constraint
from sweep.study.space import distributions
from sweep.study.spec import StudySpec

__all__ = ["load_study", "study_from_data"]

_SECRET_KEYS = {"apikey", "xapikey", "eiapikey"}  # api_key, apiKey, x-api-key, EI_API_KEY ...




def load_study(path: Path | str, settings: Settings | None = None) -> StudySpec:
    """Read and validate a study file; raise StudyFileError for every problem; write nothing.

    ``settings`` (the environment) decides a target whose ``kind`` the file leaves out: Edge
    Impulse Studio when ``EI_API_KEY`` is set, the embedded local studio otherwise. Without
    settings the environment is not consulted (no key, so local).
    """
    path = Path(path)
    return study_from_data(_read_toml(path), path, settings)


def study_from_data(data: Mapping[str, Any], path: Path | str, settings: Settings | None = None) -> StudySpec:
    """A study from the tables a study file holds (``tomllib.load`` of one, or built in Python), validated as a
    file is; ``path`` stands for the file (named in errors; the default storage and relative paths are beside
    it). Writes nothing; ``data`` is copied, not kept."""
    path = Path(path)
    file = str(path)
    raw = copy.deepcopy(dict(data))
    _refuse_secrets(file, raw, ())
    raw = _resolve_target(file, raw, settings)
    try:
        doc = StudyFile.model_validate(raw)
    except ValidationError as exc:
        raise file_error(file, exc.errors(), ()) from None
    _check_unique(file, "objectives[{}].metric", [o.metric for o in doc.objectives])
    _check_unique(file, "constraints[{}]", [str(parse_constraint(c)) for c in doc.constraints])
    fixed = _check_fixed(file, doc)
    _check_storage(file, doc.storage)
    spec = StudySpec(
        name=doc.name,
        path=path,
        trials=doc.trials,
        time_limit_s=doc.time_limit,
        compute_budget_s=doc.compute_budget,
        storage=doc.storage,
        sampler=doc.sampler,
        pruner=doc.pruner,
        objectives=list(doc.objectives),
        constraints=[parse_constraint(c) for c in doc.constraints],
        target=doc.target,
        max_consecutive_failures=doc.max_consecutive_failures,
        timeout_per_job_s=doc.timeout_per_job,
        device=doc.device,
        space=doc.space,
        fixed=fixed,
        training_seed=doc.training_seed,
        baseline=doc.baseline,
        warm_start=doc.warm_start,
    )
    from sweep.study.sampler import make_sampler  # imports optuna: only once a file is being loaded

    if not distributions(spec.space):
        raise StudyFileError(file, "space", MISSING, "no parameter to tune: give at least one range "
                             "({ low = ..., high = ... }) or { choices = [...] }")
    make_sampler(spec.sampler, spec)  # options are checked by building the sampler once
    from sweep.study.pruner import make_pruner

    make_pruner(spec)  # and the pruner's
    return spec


def _read_toml(path: Path) -> dict[str, Any]:
    """The file's TOML as a table, or a StudyFileError saying why it cannot be read."""
    file = str(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise StudyFileError(file, "", MISSING, "no such study file") from None
    except IsADirectoryError:
        raise StudyFileError(file, "", MISSING, "is a directory, not a study file") from None
    except UnicodeDecodeError as exc:
        raise StudyFileError(file, "", MISSING, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise StudyFileError(file, "", MISSING, f"cannot read: {exc.strerror}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise StudyFileError(file, "", MISSING, f"not valid TOML: {exc}") from None


def _check_storage(file: str, url: str | None) -> None:
    """The storage URL's scheme, driver and shape, checked before anything is opened."""
    from sweep.study.storage_url import redact_url, storage_problem

    if url is not None and (problem := storage_problem(url)) is not None:
        raise StudyFileError(file, "storage", redact_url(url), problem)


_LOCAL_ONLY = ("project",)
_STUDIO_ONLY = ("project_id", "base_url")


def _resolve_target(file: str, raw: dict[str, Any], settings: Settings | None) -> dict[str, Any]:
    """Fill in ``target.kind`` when the file leaves it out, and Studio's project id from EI_PROJECT_ID.

    With no kind, one file can name both targets (``project`` for local, ``project_id`` and
    ``base_url`` for Studio); the fields of the target not chosen are set aside.
    """
    target = raw.get("target", {})
    if not isinstance(target, dict):
        return raw  # the schema reports it
    has_key = settings is not None and settings.has_api_key
    project_id = settings.project_id if settings is not None else None
    chosen = "kind" not in target
    kind = target.get("kind", "studio" if has_key else "local")
    if chosen:
        drop = _LOCAL_ONLY if kind == "studio" else _STUDIO_ONLY
        target = {k: v for k, v in target.items() if k not in drop} | {"kind": kind}
    if kind == "studio" and "project_id" not in target and project_id is not None:
        target = target | {"project_id": project_id}
    if chosen and kind == "studio":
        why = ("required for Edge Impulse Studio: target.kind is not given and EI_API_KEY is set, so jobs "
               "go to Studio (write kind = \"local\" to use the embedded local studio)")
        if "project_id" not in target:
            raise StudyFileError(file, "target.project_id", MISSING, why + "; or set EI_PROJECT_ID")
    return raw | {"target": target}


def _check_unique(file: str, field: str, values: list[str]) -> None:
    for i, value in enumerate(values):
        if value in values[:i]:
            raise StudyFileError(file, field.format(i), value, f"repeats {field.format(values.index(value))}")


def _refuse_secrets(file: str, node: Any, loc: tuple[str | int, ...]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if re.sub(r"[_-]", "", str(key).lower()) in _SECRET_KEYS:
                raise StudyFileError(file, dotted((*loc, key)), MISSING,
                                     "refused: the API key is read only from EI_API_KEY, never from a file")
            _refuse_secrets(file, value, (*loc, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _refuse_secrets(file, value, (*loc, i))


# ---- fixed request fields ---------------------------------------------------------------------

_TUNED_WIRE = {
    "learning_rate": "learningRate",
    "batch_size": "batchSize",
    "training_cycles": "trainingCycles",
    "augmentation_policy_image": "augmentationPolicyImage",
    "augmentation_policy_spectrogram": "augmentationPolicySpectrogram",
    "layers": "visualLayers",
}


class _FixedFields(SetKerasParameterRequest):
    """The train request with the ranges a study file must respect."""

    training_cycles: Annotated[int, Field(ge=1)] | None = None
    learning_rate: Annotated[float, Field(gt=0, le=1)] | None = None
    batch_size: Annotated[int, Field(ge=1)] | None = None
    train_test_split: Annotated[float, Field(gt=0, lt=1)] | None = None
    minimum_confidence_rating: Annotated[float, Field(ge=0, le=1)] | None = None


def _check_fixed(file: str, doc: StudyFile) -> dict[str, Any]:
    fields = SetKerasParameterRequest.model_fields
    wire_names = {f.alias or n: n for n, f in fields.items()}
    for key in doc.fixed:
        where = f"fixed.{key}"
        if key in fields and fields[key].alias and fields[key].alias != key:
            raise StudyFileError(file, where, MISSING,
                                 f"use the wire name {fields[key].alias!r} (camelCase, as on the wire)")
        if key not in wire_names:
            close = difflib.get_close_matches(key, list(wire_names), n=1, cutoff=0.8)
            if close:
                raise StudyFileError(file, where, MISSING, f"unknown field; did you mean {close[0]!r}?")
            if not re.match(r"^[a-z][A-Za-z0-9]*$", key):
                raise StudyFileError(file, where, MISSING, "not a train request field name (camelCase, as on the wire)")
    space = doc.space
    owned = {wire for py, wire in _TUNED_WIRE.items() if getattr(space, py) is not None}
    if space.layers is not None:
        owned.add("mode")
    for key in doc.fixed:
        if key in owned:
            raise StudyFileError(file, f"fixed.{key}", doc.fixed[key],
                                 "already set by [space]; a field is either tuned or fixed, not both")
    try:
        _FixedFields.model_validate_json(json.dumps(doc.fixed), strict=True)
    except ValidationError as exc:
        raise file_error(file, exc.errors(), ("fixed",)) from None
    return dict(doc.fixed)
