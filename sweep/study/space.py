"""The search space is data: the [space] schema and its Optuna distributions (params -> request: study.request)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Annotated, Any, Generic, Literal, TypeAlias, TypeVar, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from sweep.errors import StudyFileError
from sweep.study.effective import SPECTROGRAM_WIRE, fixed_switches

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution

__all__ = [
    "TAGS",
    "WINDOW_WIRE",
    "Choices",
    "FloatRange",
    "IntRange",
    "Layer",
    "Space",
    "Spectrogram",
    "Window",
    "distributions",
    "grid",
    "grid_size",
    "is_tuned",
    "outline",
    "parameters",
    "window_fields",
]

T = TypeVar("T")
TAGS = frozenset({"Constant", "Range", "Choices"})
GRID_LIMIT = 100_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Choices(_Strict, Generic[T]):
    """``{ choices = [a, b, c] }``: one of the listed values (categorical)."""

    choices: list[T] = Field(min_length=1)

    @field_validator("choices")
    @classmethod
    def _unique(cls, v: list[T]) -> list[T]:
        if len({json.dumps(x) for x in v}) != len(v):
            raise PydanticCustomError("unique", "choices must be unique")
        return v


class _Range(_Strict, Generic[T]):
    # log and step come first so the bounds' validators can see them.
    log: bool = False
    step: Any = None
    low: T
    high: T

    @field_validator("low")
    @classmethod
    def _low(cls, v: Any, info: ValidationInfo) -> Any:
        if info.data.get("log") and v <= 0:
            raise PydanticCustomError("log_low", "must be > 0 when log = true")
        return v

    @field_validator("high")
    @classmethod
    def _high(cls, v: Any, info: ValidationInfo) -> Any:
        low, step = info.data.get("low"), info.data.get("step")
        if low is None:
            return v
        if v < low:
            raise PydanticCustomError("range", "must be >= low ({low})", {"low": low})
        if step is not None and not _on_grid(v - low, step):
            raise PydanticCustomError("step", "high - low must be a multiple of step ({step})", {"step": step})
        return v


def _on_grid(span: float, step: float) -> bool:
    n = span / step
    return abs(n - round(n)) <= 1e-9 * max(1.0, abs(n))


class FloatRange(_Range[T], Generic[T]):
    """``{ low, high, log = false, step = none }``: a float range (log and step exclude each other)."""

    step: Annotated[float, Field(gt=0)] | None = None

    @field_validator("step")
    @classmethod
    def _step(cls, v: float | None, info: ValidationInfo) -> float | None:
        if v is not None and info.data.get("log"):
            raise PydanticCustomError("log_step", "cannot be combined with log = true")
        return v


class IntRange(_Range[T], Generic[T]):
    """``{ low, high, step = 1, log = false }``: an integer range (log needs step = 1)."""

    step: Annotated[int, Field(ge=1)] = 1

    @field_validator("step")
    @classmethod
    def _step(cls, v: int, info: ValidationInfo) -> int:
        if v != 1 and info.data.get("log"):
            raise PydanticCustomError("log_step", "must be 1 when log = true")
        return v


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "Choices" if "choices" in value else "Range"
    return "Constant"


def _param(value_type: Any, range_type: Any) -> Any:
    """A constant, a range or ``{ choices = [...] }``, told apart by shape."""
    members: list[Any] = [Annotated[value_type, Tag("Constant")], Annotated[Choices[value_type], Tag("Choices")]]
    if range_type is not None:
        members.append(Annotated[range_type[value_type], Tag("Range")])
    return Annotated[Union[tuple(members)], Discriminator(_kind)]  # noqa: UP007 - built at run time


PositiveInt = Annotated[int, Field(ge=1)]
Level = Literal["none", "low", "high"]
if TYPE_CHECKING:  # built at run time for pydantic; a type checker sees each as "any value of the file"
    LearningRate: TypeAlias = Any
    IntParam: TypeAlias = Any
    RepeatParam: TypeAlias = Any
    RateParam: TypeAlias = Any
    BoolParam: TypeAlias = Any
    LevelParam: TypeAlias = Any
    ImagePolicyParam: TypeAlias = Any
else:
    LearningRate = _param(Annotated[float, Field(gt=0, le=1)], FloatRange)
    IntParam = _param(PositiveInt, IntRange)
    RepeatParam = _param(Annotated[int, Field(ge=0, le=32)], IntRange)
    RateParam = _param(Annotated[float, Field(ge=0, lt=1)], FloatRange)
    BoolParam = _param(bool, None)
    LevelParam = _param(Level, None)
    ImagePolicyParam = _param(Literal["none", "all"], None)


class _Layer(_Strict):
    repeat: RepeatParam | None = None


class DenseLayer(_Layer):
    type: Literal["dense"]
    neurons: IntParam


class ConvLayer(_Layer):
    type: Literal["conv1d", "conv2d"]
    neurons: IntParam
    kernel_size: IntParam | None = None
    stack: IntParam | None = None


class DropoutLayer(_Layer):
    type: Literal["dropout"]
    dropout_rate: RateParam


class ReshapeLayer(_Layer):
    """``columns`` left out: it follows the features (the DSP block's output width, read after features)."""

    type: Literal["reshape"]
    columns: IntParam | None = None


class PlainLayer(_Layer):
    type: Literal["flatten", "batchNormalization"]


Layer = Annotated[DenseLayer | ConvLayer | DropoutLayer | ReshapeLayer | PlainLayer, Field(discriminator="type")]


class Spectrogram(_Strict):
    """``augmentationPolicySpectrogram``: each field a constant or a distribution."""

    enabled: BoolParam
    warping: BoolParam | None = None
    freq_masking: LevelParam | None = None
    time_masking: LevelParam | None = None
    gaussian_noise: LevelParam | None = None


def _dsp_kind(value: Any) -> str:
    """A DSP parameter's value by shape: a range of whole numbers is an int range, else a float range."""
    if not isinstance(value, dict):
        return "Constant"
    if "choices" in value:
        return "Choices"
    whole = all(type(value.get(k)) is int for k in ("low", "high")) and type(value.get("step", 1)) is int
    return "IntRange" if whole else "FloatRange"


DspValue = int | float | str | bool
if TYPE_CHECKING:
    DspParam: TypeAlias = Any
else:
    DspParam = Annotated[Union[  # noqa: UP007 - built at run time
        Annotated[DspValue, Tag("Constant")], Annotated[Choices[DspValue], Tag("Choices")],
        Annotated[IntRange[int], Tag("IntRange")], Annotated[FloatRange[float], Tag("FloatRange")]],
        Discriminator(_dsp_kind)]


class Window(_Strict):
    """``[space.window]``: the input block's window (time series) or image size, as Studio names them."""

    window_size_ms: IntParam | None = None
    window_increase_ms: IntParam | None = None
    image_width: IntParam | None = None
    image_height: IntParam | None = None


WINDOW_WIRE = {"window_size_ms": "windowSizeMs", "window_increase_ms": "windowIncreaseMs",
               "image_width": "imageWidth", "image_height": "imageHeight"}


class Space(_Strict):
    """The ``[space]`` table: what each trial's train request (and, with ``dsp``/``window``, its impulse) is
    made of. ``dsp`` maps a DSP block (by the name or id Studio gives it) to its parameters by Studio's names."""

    learning_rate: LearningRate | None = None
    batch_size: IntParam | None = None
    training_cycles: IntParam | None = None
    augmentation_policy_image: ImagePolicyParam | None = None
    augmentation_policy_spectrogram: Spectrogram | None = None
    layers: list[Layer] | None = None
    dsp: dict[str, dict[str, DspParam]] | None = None
    window: Window | None = None

    @property
    def tunes_impulse(self) -> bool:
        """Whether trials set the impulse too (DSP parameters or the window), not only the learn block."""
        return bool(self.dsp) or bool(window_fields(self))


# ---- space -> parameters ----------------------------------------------------------------------

LAYER_FIELDS = ("neurons", "kernel_size", "stack", "dropout_rate", "columns", "repeat")
SPECTROGRAM_FIELDS = tuple(SPECTROGRAM_WIRE)  # the spectrogram policy's fields, in the wire model's order


def parameters(space: Space) -> Iterator[tuple[str, str, Any]]:
    """Every set value of the space as ``(param name, field path in the file, value)``."""
    for name in ("learning_rate", "batch_size", "training_cycles", "augmentation_policy_image"):
        value = getattr(space, name)
        if value is not None:
            yield name, f"space.{name}", value
    spectrogram = space.augmentation_policy_spectrogram
    if spectrogram is not None:
        for name in SPECTROGRAM_FIELDS:
            value = getattr(spectrogram, name)
            if value is not None:
                yield f"spectrogram.{name}", f"space.augmentation_policy_spectrogram.{name}", value
    for i, layer in enumerate(space.layers or []):
        for name in LAYER_FIELDS:
            value = getattr(layer, name, None)
            if value is not None:
                yield f"layers.{i}.{name}", f"space.layers[{i}].{name}", value
    yield from _impulse_parameters(space)


def _impulse_parameters(space: Space) -> Iterator[tuple[str, str, Any]]:
    """The DSP blocks' and the window's set values (``dsp.<block>.<param>``, ``window.<field>``)."""
    for block, params in (space.dsp or {}).items():
        for name, value in params.items():
            yield f"dsp.{block}.{name}", f"space.dsp.{block}.{name}", value
    for name in window_fields(space):
        yield f"window.{name}", f"space.window.{name}", getattr(space.window, name)


def window_fields(space: Space) -> list[str]:
    """The ``[space.window]`` fields the study sets."""
    return [n for n in WINDOW_WIRE if space.window is not None and getattr(space.window, n) is not None]


def outline(space: Space, fixed: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What a report reads of the space, as JSON: each layer's type and fixed ``repeat``, a fixed spectrogram
    ``enabled`` (tuned ones are params), and the ``[fixed]`` fields that decide whether a param has an effect
    (``useLearnedOptimizer``: :mod:`sweep.study.effective`). Recorded on the study, so its report names params
    by layer (``conv2d.neurons``) and leaves out those a trial did not use."""
    layers = [{"type": layer.type, **({"repeat": layer.repeat} if isinstance(layer.repeat, int) else {})}
              for layer in space.layers or []]
    out: dict[str, Any] = {"layers": layers}
    spectrogram = space.augmentation_policy_spectrogram
    if spectrogram is not None and isinstance(spectrogram.enabled, bool):
        out["spectrogram_enabled"] = spectrogram.enabled
    if switches := fixed_switches(fixed or {}):
        out["fixed"] = switches
    return out


def is_tuned(value: Any) -> bool:
    return isinstance(value, (FloatRange, IntRange, Choices))


def _distribution(value: Any) -> BaseDistribution:
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    if isinstance(value, Choices):
        return CategoricalDistribution(list(value.choices))
    if isinstance(value, IntRange):
        return IntDistribution(int(value.low), int(value.high), log=value.log, step=value.step)
    return FloatDistribution(float(value.low), float(value.high), log=value.log, step=value.step)


def distributions(space: Space) -> dict[str, BaseDistribution]:
    """The Optuna search space: one distribution per tuned value (constants are not params)."""
    return {name: _distribution(value) for name, _, value in parameters(space) if is_tuned(value)}


def grid(space: Space, file: str) -> dict[str, list[Any]]:
    """Every value of every param, for GridSampler; a continuous range is refused by its field."""
    out: dict[str, list[Any]] = {}
    for name, field, value in parameters(space):
        if isinstance(value, Choices):
            out[name] = list(value.choices)
        elif isinstance(value, IntRange):
            out[name] = list(range(int(value.low), int(value.high) + 1, value.step))
        elif isinstance(value, FloatRange):
            if value.step is None:
                raise StudyFileError(file, field, value.model_dump(exclude_defaults=True),
                                     "the grid sampler needs a finite set of values: give a step or choices")
            n = round((value.high - value.low) / value.step)
            out[name] = [_tidy(value.low + k * value.step) for k in range(n + 1)]
    size = math.prod(len(v) for v in out.values())
    if size > GRID_LIMIT:
        raise StudyFileError(file, "sampler.name", "grid",
                             f"the grid has {size} points (more than {GRID_LIMIT}); "
                             "use another sampler or fewer values")
    return out


def _tidy(x: float) -> float:
    return float(f"{x:.12g}")


def grid_size(space: Space, file: str) -> int:
    """How many distinct points the grid sampler would visit."""
    return math.prod(len(v) for v in grid(space, file).values())

