"""Wire models of impulses: their blocks, cloning, feature generation and DSP state (camelCase on the wire).

Shared by the client and the local studio, like :mod:`sweep.studio.models`. Impulses and their
blocks keep every field they arrive with (``extra="allow"``): an impulse read, changed and sent
back (the window, a DSP block) must not lose what sweep does not model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ConfigDict, Field
from pydantic.alias_generators import to_camel

from sweep.studio.models import GenericApiResponse, WireModel

__all__ = [
    "WINDOW_FIELDS",
    "CloneImpulseRequest",
    "CreateImpulseResponse",
    "DspConfigResponse",
    "DspDevicePerformance",
    "DspFeatures",
    "DspGroup",
    "DspInfo",
    "DspMetadataResponse",
    "DspOutputConfig",
    "DspOutputShape",
    "DspParameter",
    "DspPerformanceResponse",
    "DspSelectOption",
    "GenerateFeaturesRequest",
    "GetAllImpulsesResponse",
    "GetImpulseResponse",
    "Impulse",
    "ImpulseDspBlock",
    "ImpulseLearnBlock",
    "ListProjectsResponse",
    "SetDspConfigRequest",
    "UpdateImpulseResponse",
    "dsp_wire_value",
    "input_window",
    "is_keras_learn_block",
    "window_differences",
]

_KEEP_ALL = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

# An input block's *window*: every field of it that its DSP blocks' features depend on, time series and image
# alike (the official ``ImpulseInputBlock``'s, wire names). A change to any of them makes the features stale.
# One list for both sides: a run's check of a slot's features, and the local studio's record of their source.
WINDOW_FIELDS = ("type", "axes", "windowSizeMs", "windowIncreaseMs", "frequencyHz", "padZeros", "imageWidth",
                 "imageHeight", "resizeMode", "resizeMethod", "cropAnchor", "datasetSubset")


def input_window(block: Mapping[str, Any]) -> dict[str, Any]:
    """An input block's window: the fields of :data:`WINDOW_FIELDS` it sets."""
    return {k: block[k] for k in WINDOW_FIELDS if block.get(k) is not None}


def window_differences(have: Mapping[str, Any], want: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Each field of the window ``want`` that ``have`` (an input block, or a window) does not hold: name ->
    (held, wanted). Empty: ``have`` is that window, as far as ``want`` names it."""
    return {k: (have.get(k), v) for k, v in want.items() if have.get(k) != v}


def is_keras_learn_block(block_type: str) -> bool:
    """Whether a learn block trains on the Keras route (``/jobs/train/keras/{learnId}``); ``anomaly``,
    ``anomaly-gmm`` and others train elsewhere, and a sweep cannot run them."""
    return block_type.startswith("keras")


class ImpulseDspBlock(WireModel):
    model_config = _KEEP_ALL

    id: int
    type: str
    name: str = ""
    title: str = ""
    axes: list[str] = Field(default_factory=list)
    input: int | None = None
    implementation_version: int = 1


class ImpulseLearnBlock(WireModel):
    model_config = _KEEP_ALL

    id: int
    type: str
    name: str
    dsp: list[int] = Field(default_factory=list)
    title: str = ""

    @property
    def is_keras(self) -> bool:
        return is_keras_learn_block(self.type)


class Impulse(WireModel):
    model_config = _KEEP_ALL

    id: int
    name: str
    input_blocks: list[dict[str, Any]] = Field(default_factory=list)
    dsp_blocks: list[ImpulseDspBlock] = Field(default_factory=list)
    learn_blocks: list[ImpulseLearnBlock]
    post_processing_blocks: list[dict[str, Any]] = Field(default_factory=list)
    type: str = "default"


class GetImpulseResponse(GenericApiResponse):
    impulse: Impulse | None = None


class GetAllImpulsesResponse(GenericApiResponse):
    """``GET /api/{projectId}/impulses``; ``maxImpulseCount`` is -1 when unlimited."""

    impulses: list[Impulse]
    max_impulse_count: int


class CloneImpulseRequest(WireModel):
    name: str


class CreateImpulseResponse(GenericApiResponse):
    id: int


class GenerateFeaturesRequest(WireModel):
    dsp_id: int
    calculate_feature_importance: bool | None = None
    skip_feature_explorer: bool | None = None


class DspFeatures(WireModel):
    generated: bool
    count: int | None = None


class DspInfo(WireModel):
    """The parts of ``GET /api/{projectId}/dsp/{dspId}``'s ``dsp`` a sweep reads."""

    id: int
    name: str
    type: str
    features: DspFeatures
    window_length: int = 0
    classes: list[str] = Field(default_factory=list)


class DspSelectOption(WireModel):
    model_config = _KEEP_ALL

    value: str | None = None
    option_label: str | None = None


class DspParameter(WireModel):
    """One parameter of a DSP block as Studio describes it (``DSPGroupItem``): its wire name is ``param``."""

    model_config = _KEEP_ALL

    param: str
    name: str = ""
    type: str
    value: str | None = None
    default_value: str = ""
    select_options: list[DspSelectOption] | None = None
    readonly: bool = False
    min_val: float | None = None
    max_val: float | None = None


class DspGroup(WireModel):
    model_config = _KEEP_ALL

    group: str
    items: list[DspParameter]


class DspConfigResponse(GenericApiResponse):
    dsp: DspInfo
    config: list[DspGroup] | None = None

    def parameters(self) -> dict[str, DspParameter]:
        """The block's parameters by wire name (``param``)."""
        return {item.param: item for group in self.config or [] for item in group.items}


def dsp_wire_value(value: Any) -> str:
    """A DSP parameter's value as Studio writes and ``POST /dsp/{dspId}`` takes it: ``"true"``/``"false"``,
    ``"1"`` for 1.0, ``"0.02"``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value)


class SetDspConfigRequest(WireModel):
    """``POST /api/{projectId}/dsp/{dspId}``: the parameters to change, values as strings."""

    config: dict[str, str]


class DspOutputShape(WireModel):
    model_config = _KEEP_ALL

    width: int
    height: int | None = None


class DspOutputConfig(WireModel):
    model_config = _KEEP_ALL

    type: str
    shape: DspOutputShape


class DspMetadataResponse(GenericApiResponse):
    """``GET /api/{projectId}/dsp/{dspId}/metadata``: which configuration and window the features came from."""

    model_config = _KEEP_ALL

    generated: bool
    dsp_config: dict[str, str] = Field(default_factory=dict)
    window_size_ms: int | None = None
    window_increase_ms: int | None = None
    pad_zeros: bool | None = None
    feature_count: int | None = None
    output_config: DspOutputConfig | None = None

    def window(self) -> dict[str, Any]:
        """The window the features came from, as far as the metadata tells it: the sliding window (time series),
        and an image output's size (Studio's image block outputs the input resized to ``imageWidth`` x
        ``imageHeight``). ``frequency`` is left out: it is the original data's, not the input block's."""
        out: dict[str, Any] = {k: v for k, v in (("windowSizeMs", self.window_size_ms),
                                                 ("windowIncreaseMs", self.window_increase_ms),
                                                 ("padZeros", self.pad_zeros)) if v is not None}
        if self.output_config is not None and self.output_config.type == "image":
            out.update(imageWidth=self.output_config.shape.width, imageHeight=self.output_config.shape.height)
        return out


class DspDevicePerformance(WireModel):
    model_config = _KEEP_ALL

    mcu: str
    latency: float  # ms
    ram: float  # bytes


class DspPerformanceResponse(GenericApiResponse):
    """``GET /api/{projectId}/dsp/{dspId}/performance``: the block's latency and RAM on each device."""

    performance: list[DspDevicePerformance] | None = None


class UpdateImpulseResponse(GenericApiResponse):
    id: int | None = None


class ListProjectsResponse(GenericApiResponse):
    """``GET /api/projects``: with a project API key, that one project (the official SDK reads ``projects[0].id``)."""

    projects: list[dict[str, Any]]
