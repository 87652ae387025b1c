"""The study file (TOML): pydantic schema, loading, and one clear error naming file, field and value."""

from __future__ import annotations

import difflib
import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from sweep.errors import MISSING, StudyFileError
from sweep.settings import Settings
from sweep.space import Space, distributions
from sweep.studio.models import SetKerasParameterRequest
from sweep.study_errors import dotted, file_error

__all__ = [
    "Constraint",
    "LocalTarget",
    "Objective",
    "PrunerSpec",
    "SamplerSpec",
    "StudioTarget",
    "StudyFile",
    "StudySpec",
    "is_metric",
    "load_study",
    "parse_duration",
]

_DEVICE_FIELDS = r"(?:latency_ms|ram_bytes|rom_bytes|model_bytes|arena_bytes)"
_MT = r"(?:float32|int8|akida)"
_SEG = r"[^\s.]+"
METRIC_RE = re.compile(
    rf"^(?:compute_time_s|wall_time_s|int8\.accuracy_drop|{_MT}\.(?:accuracy|loss)"
    rf"|{_MT}\.(?:f1|precision|recall)\.{_SEG}|(?:{_MT}\.)?{_SEG}\.{_DEVICE_FIELDS})$"
)
_CONSTRAINT_RE = re.compile(r"^\s*(\S+)\s*(<=|>=)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNITS = {None: 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_NAME_RE = r"^[A-Za-z0-9_.-]+$"
_SECRET_KEYS = {"apikey", "xapikey", "eiapikey"}  # api_key, apiKey, x-api-key, EI_API_KEY ...


def is_metric(name: str) -> bool:
    """Whether ``name`` follows the grammar of flat metric keys (see sweep.metrics)."""
    return METRIC_RE.match(name) is not None


def _validate_metric(name: str) -> str:
    if not is_metric(name):
        raise PydanticCustomError(
            "metric_name",
            "not a metric name: use e.g. int8.accuracy, float32.loss, int8.f1.<class>, "
            "<device>.ram_bytes, int8.<device>.latency_ms, default.rom_bytes, int8.accuracy_drop, "
            "compute_time_s or wall_time_s",
        )
    return name


def parse_duration(value: Any) -> Any:
    """Seconds (int/float) or text like ``90s``, ``30m``, ``2h``, ``1d`` -> seconds (float)."""
    if isinstance(value, bool):
        return value  # refused by the float validator after this
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        m = _DURATION_RE.match(value)
        if m:
            return float(m.group(1)) * _UNITS[m.group(2)]
        raise PydanticCustomError("duration", "not a duration: use seconds (e.g. 600) or text like '90s', '30m', '2h'")
    return value


Duration = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class LocalTarget(_Strict):
    """Jobs run on the embedded local studio (offline, real Keras training)."""

    kind: Literal["local"]
    project: str = Field(default="digits", min_length=1)
    learn_blocks: list[Annotated[int, Field(ge=1)]] | None = Field(default=None, min_length=1)

    @field_validator("learn_blocks")
    @classmethod
    def _unique(cls, v: list[int] | None) -> list[int] | None:
        return _unique_list(v)

    @property
    def label(self) -> str:
        """The project's identity, kept on the study: one study's jobs all live in one project."""
        return f"local studio project {self.project!r}"


class StudioTarget(_Strict):
    """Jobs run on Edge Impulse Studio (needs EI_API_KEY in the environment)."""

    kind: Literal["studio"]
    project_id: int = Field(ge=1)
    learn_blocks: list[Annotated[int, Field(ge=1)]] = Field(min_length=1)
    base_url: Annotated[str, Field(pattern=r"^https?://\S+$")] | None = None

    @field_validator("learn_blocks")
    @classmethod
    def _unique(cls, v: list[int]) -> list[int]:
        return _unique_list(v)

    @property
    def label(self) -> str:
        """The project's identity, kept on the study: one study's jobs all live in one project."""
        return f"Edge Impulse Studio project {self.project_id}"


def _unique_list(v: list[Any] | None) -> list[Any] | None:
    if v is not None and len(set(map(repr, v))) != len(v):
        raise PydanticCustomError("unique", "values must be unique")
    return v


Target = Annotated[LocalTarget | StudioTarget, Field(discriminator="kind")]


class SamplerSpec(_Strict):
    """Which Optuna sampler proposes the trials; ``options`` go to its constructor."""

    name: Literal["tpe", "random", "grid", "cmaes", "gp", "nsga2", "qmc"] = "tpe"
    seed: int | None = None
    options: dict[str, Any] = Field(default_factory=dict)


class PrunerSpec(_Strict):
    """Stop a trial's job early when its per-epoch ``curve`` (read from the job log) lags behind."""

    name: Literal["none", "median", "percentile", "successive_halving", "hyperband", "threshold"] = "none"
    curve: Literal["val_accuracy", "val_loss", "accuracy", "loss"] = "val_accuracy"
    check_every: Duration = 10.0
    options: dict[str, Any] = Field(default_factory=dict)


class Objective(_Strict):
    """One metric to optimise."""

    metric: Annotated[str, Field(min_length=1)]
    direction: Literal["maximize", "minimize"]
    constraints: Any = Field(default=None, exclude=True, repr=False)  # only to explain where they go

    @field_validator("constraints")
    @classmethod
    def _no_constraints_here(cls, v: Any) -> Any:
        raise PydanticCustomError(
            "misplaced", "constraints apply to the whole study: write `constraints = [...]` at the top "
            "of the file, before the first [table]")

    @field_validator("metric")
    @classmethod
    def _metric(cls, v: str) -> str:
        return _validate_metric(v)


@dataclass(frozen=True)
class Constraint:
    """``metric <= bound`` or ``metric >= bound``; feasible when ``value(metrics) <= 0``."""

    metric: str
    op: Literal["<=", ">="]
    bound: float

    def value(self, metrics: dict[str, float]) -> float:
        x = metrics[self.metric]
        return x - self.bound if self.op == "<=" else self.bound - x

    def __str__(self) -> str:
        bound: float | int = int(self.bound) if float(self.bound).is_integer() else self.bound
        return f"{self.metric} {self.op} {bound}"


def _parse_constraint(text: str) -> Constraint:
    m = _CONSTRAINT_RE.match(text)
    if not m:
        raise PydanticCustomError("constraint", "not a constraint: write 'METRIC <= NUMBER' or 'METRIC >= NUMBER'")
    _validate_metric(m.group(1))
    return Constraint(m.group(1), m.group(2), float(m.group(3)))  # type: ignore[arg-type]


def _check_constraint(text: str) -> str:
    _parse_constraint(text)
    return text


class StudyFile(_Strict):
    """The TOML document, exactly (names as in the file)."""

    name: Annotated[str, Field(min_length=1, max_length=120)]
    trials: int = Field(ge=1)
    time_limit: Duration | None = None
    timeout_per_job: Duration | None = None
    compute_budget: Duration | None = None
    storage: Annotated[str, Field(min_length=1)] | None = None
    max_consecutive_failures: int = Field(default=5, ge=1)
    device: str | None = None
    constraints: list[Annotated[str, AfterValidator(_check_constraint)]] = Field(default_factory=list)
    target: Target
    sampler: SamplerSpec = Field(default_factory=SamplerSpec)
    pruner: PrunerSpec = Field(default_factory=PrunerSpec)
    objectives: list[Objective] = Field(min_length=1)
    space: Space
    fixed: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not re.match(_NAME_RE, v):
            raise PydanticCustomError("name", "use only letters, digits, '_', '.' and '-' (it is also the Optuna study name)")
        return v

    @field_validator("device")
    @classmethod
    def _device(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^[^\s.]+$", v):
            raise PydanticCustomError("device", "a device is written as in metric names: no spaces or dots (e.g. cortex-m4f-80mhz)")
        return v



@dataclass(frozen=True)
class StudySpec:
    """A validated study file: what the runner, sampler and reports use."""

    name: str
    path: Path
    trials: int
    time_limit_s: float | None
    compute_budget_s: float | None
    storage: str | None
    sampler: SamplerSpec
    pruner: PrunerSpec
    objectives: list[Objective]
    constraints: list[Constraint]
    target: LocalTarget | StudioTarget
    max_consecutive_failures: int
    timeout_per_job_s: float | None
    device: str | None
    space: Space
    fixed: dict[str, Any]

    @property
    def directions(self) -> list[str]:
        return [o.direction for o in self.objectives]


# ---- loading ----------------------------------------------------------------------------------


def load_study(path: Path | str, settings: Settings | None = None) -> StudySpec:
    """Read and validate a study file; raise StudyFileError for every problem; write nothing.

    ``settings`` (the environment) decides a target whose ``kind`` the file leaves out: Edge
    Impulse Studio when ``EI_API_KEY`` is set, the embedded local studio otherwise. Without
    settings the environment is not consulted (no key, so local).
    """
    path = Path(path)
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
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise StudyFileError(file, "", MISSING, f"not valid TOML: {exc}") from None
    _refuse_secrets(file, raw, ())
    raw = _resolve_target(file, raw, settings)
    try:
        doc = StudyFile.model_validate(raw)
    except ValidationError as exc:
        raise file_error(file, exc.errors(), ()) from None
    _check_unique(file, "objectives[{}].metric", [o.metric for o in doc.objectives])
    _check_unique(file, "constraints[{}]", [str(_parse_constraint(c)) for c in doc.constraints])
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
        constraints=[_parse_constraint(c) for c in doc.constraints],
        target=doc.target,
        max_consecutive_failures=doc.max_consecutive_failures,
        timeout_per_job_s=doc.timeout_per_job,
        device=doc.device,
        space=doc.space,
        fixed=fixed,
    )
    from sweep.sampler import make_sampler  # imports optuna: only once a file is being loaded

    if not distributions(spec):
        raise StudyFileError(file, "space", MISSING, "no parameter to tune: give at least one range "
                             "({ low = ..., high = ... }) or { choices = [...] }")
    make_sampler(spec.sampler, spec)  # options are checked by building the sampler once
    from sweep.pruning import make_pruner

    make_pruner(spec)  # and the pruner's
    return spec


def _check_storage(file: str, url: str | None) -> None:
    """The storage URL's scheme, driver and shape, checked before anything is opened."""
    from sweep.storage import redact_url, storage_problem

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
        if "learn_blocks" not in target:
            raise StudyFileError(file, "target.learn_blocks", MISSING, why)
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
            raise StudyFileError(file, where, MISSING, f"use the wire name {fields[key].alias!r} (camelCase, as on the wire)")
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
