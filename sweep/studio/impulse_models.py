"""Wire models of impulses: their blocks, cloning, feature generation and DSP state (camelCase on the wire).

Shared by the client and the local studio, like :mod:`sweep.studio.models`. Impulses and their
blocks keep every field they arrive with (``extra="allow"``): an impulse read, changed and sent
back (the window, a DSP block) must not lose what sweep does not model.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field
from pydantic.alias_generators import to_camel

from sweep.studio.models import GenericApiResponse, WireModel

__all__ = [
    "CloneImpulseRequest",
    "CreateImpulseResponse",
    "DspConfigResponse",
    "DspFeatures",
    "DspInfo",
    "GenerateFeaturesRequest",
    "GetAllImpulsesResponse",
    "GetImpulseResponse",
    "Impulse",
    "ImpulseDspBlock",
    "ImpulseLearnBlock",
    "ListProjectsResponse",
    "is_keras_learn_block",
]

_KEEP_ALL = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")


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


class DspConfigResponse(GenericApiResponse):
    dsp: DspInfo
    config: list[dict[str, Any]] | None = None


class ListProjectsResponse(GenericApiResponse):
    """``GET /api/projects``: with a project API key, that one project (the official SDK reads ``projects[0].id``)."""

    projects: list[dict[str, Any]]
