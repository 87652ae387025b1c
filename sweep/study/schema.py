"""The study file's schema, exactly as written (names as in the TOML), as pydantic models.

Targets, sampler, pruner and objectives are here; the ``[space]`` table is :mod:`sweep.study.space`.
Every model is strict and refuses unknown fields, so a typo is an error, never a silent default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from sweep.studio.metric_names import is_metric
from sweep.study.space import Space

__all__ = [
    "MAX_SLOTS",
    "Constraint",
    "Duration",
    "LocalTarget",
    "Objective",
    "PrunerSpec",
    "SamplerSpec",
    "StudioTarget",
    "StudyFile",
    "Target",
    "parse_constraint",
    "parse_duration",
]

_CONSTRAINT_RE = re.compile(r"^\s*(\S+)\s*(<=|>=)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNITS = {None: 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_NAME_RE = r"^[A-Za-z0-9_.-]+$"


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


MAX_SLOTS = 64


class _Target(_Strict):
    """Where the trials train: ``slots`` clones of an impulse (the default: one), or ``learn_blocks`` given."""

    learn_blocks: list[Annotated[int, Field(ge=1)]] | None = Field(default=None, min_length=1)
    slots: Annotated[int, Field(ge=1, le=MAX_SLOTS)] | None = None
    impulse_id: Annotated[int, Field(ge=1)] | None = None
    learn_block: Annotated[int, Field(ge=1)] | None = None

    @field_validator("learn_blocks")
    @classmethod
    def _unique(cls, v: list[int] | None) -> list[int] | None:
        return _unique_list(v)

    @field_validator("slots", "impulse_id", "learn_block")
    @classmethod
    def _one_way(cls, v: int | None, info: ValidationInfo) -> int | None:
        if v is not None and info.data.get("learn_blocks") is not None:
            raise PydanticCustomError(
                "slots_or_blocks", "learn_blocks trains on the blocks you name (their models are replaced); "
                "{name} is for cloned slots (your impulse untouched): give one or the other", {"name": info.field_name})
        return v

    @property
    def slot_count(self) -> int:
        """How many cloned impulses the study trains on (0 when it trains on ``learn_blocks``)."""
        return 0 if self.learn_blocks is not None else (self.slots or 1)


class LocalTarget(_Target):
    """Jobs run on the embedded local studio (offline, real Keras training)."""

    kind: Literal["local"]
    project: str = Field(default="digits", min_length=1)

    @property
    def label(self) -> str:
        """The project's identity, kept on the study: one study's jobs all live in one project."""
        return f"local studio project {self.project!r}"


class StudioTarget(_Target):
    """Jobs run on Edge Impulse Studio (needs EI_API_KEY in the environment)."""

    kind: Literal["studio"]
    project_id: int = Field(ge=1)
    base_url: Annotated[str, Field(pattern=r"^https?://\S+$")] | None = None

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


class WarmStart(_Strict):
    """Start from earlier studies in the same storage: their ``top`` best configurations are tried first."""

    studies: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1)
    top: int = Field(default=3, ge=1, le=100)


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


def parse_constraint(text: str) -> Constraint:
    m = _CONSTRAINT_RE.match(text)
    if not m:
        raise PydanticCustomError("constraint", "not a constraint: write 'METRIC <= NUMBER' or 'METRIC >= NUMBER'")
    _validate_metric(m.group(1))
    return Constraint(m.group(1), m.group(2), float(m.group(3)))  # type: ignore[arg-type]


def _check_constraint(text: str) -> str:
    parse_constraint(text)
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
    training_seed: int | None = Field(default=None, ge=0, le=2**31 - 1)
    baseline: bool = True
    constraints: list[Annotated[str, AfterValidator(_check_constraint)]] = Field(default_factory=list)
    target: Target
    sampler: SamplerSpec = Field(default_factory=SamplerSpec)
    pruner: PrunerSpec = Field(default_factory=PrunerSpec)
    objectives: list[Objective] = Field(min_length=1)
    space: Space
    fixed: dict[str, Any] = Field(default_factory=dict)
    warm_start: WarmStart | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not re.match(_NAME_RE, v):
            raise PydanticCustomError(
                "name", "use only letters, digits, '_', '.' and '-' (it is also the Optuna study name)")
        return v

    @field_validator("device")
    @classmethod
    def _device(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^[^\s.]+$", v):
            raise PydanticCustomError(
                "device", "a device is written as in metric names: no spaces or dots (e.g. cortex-m4f-80mhz)")
        return v



