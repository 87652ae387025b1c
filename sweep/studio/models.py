"""Pydantic v2 wire models of the Edge Impulse API routes sweep uses (camelCase on the wire).

Shared by the client (parsing answers, building requests) and the local studio (validating
requests, building answers). Shapes follow the official ``edgeimpulse-api`` models, which the
tests use as a conformance oracle. Answers ignore unknown fields so a newer Studio never breaks
a sweep; requests are dumped with ``by_alias=True, exclude_none=True`` ("only fields defined are
set").
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

__all__ = [
    "FAILURE_CAUSE",
    "SEED_HEADER",
    "SERVER_STOPPED",
    "AugmentationPolicySpectrogram",
    "CustomMetric",
    "DeviceBudget",
    "GenericApiResponse",
    "GetJobResponse",
    "Job",
    "JobLogItem",
    "KerasModelMetadata",
    "KerasModelMetadataGraph",
    "KerasModelMetadataGraphSeries",
    "KerasModelMetadataResponse",
    "KerasResponse",
    "LatencyDevice",
    "LayerType",
    "ListJobsResponse",
    "LogStdoutResponse",
    "ModelMetrics",
    "ModelType",
    "OnDevicePerformance",
    "ProjectComputeTime",
    "ProjectDataSummary",
    "ProjectInfoResponse",
    "ProjectPerformance",
    "SetKerasParameterRequest",
    "SocketToken",
    "SocketTokenResponse",
    "StartJobResponse",
    "VisualLayer",
    "WireModel",
]

# The train route's body has no seed field: sweep sends a trial's seed in this header. The local
# studio seeds the job's weights, shuffling and augmentation with it; Edge Impulse Studio ignores it.
SEED_HEADER = "X-Sweep-Seed"


class WireModel(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields are kept out of the way."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    def wire(self) -> dict[str, Any]:
        """The JSON body as Studio expects it: aliases, only the fields that are set."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class ModelType(str, Enum):
    INT8 = "int8"
    FLOAT32 = "float32"
    AKIDA = "akida"
    REQUIRES_RETRAIN = "requiresRetrain"


class LayerType(str, Enum):
    """Visual layer types the harness tunes; Studio knows more (``transfer_*`` etc.)."""

    DENSE = "dense"
    CONV1D = "conv1d"
    CONV2D = "conv2d"
    RESHAPE = "reshape"
    FLATTEN = "flatten"
    DROPOUT = "dropout"
    BATCH_NORMALIZATION = "batchNormalization"


class GenericApiResponse(WireModel):
    success: bool
    error: str | None = None


# ---- requests ---------------------------------------------------------------------------------


class VisualLayer(WireModel):
    # str, not LayerType: Studio accepts transfer_* and others; the local studio refuses them.
    type: str
    neurons: int | None = None
    kernel_size: int | None = None
    dropout_rate: float | None = None
    columns: int | None = None
    stack: int | None = None
    enabled: bool | None = None
    organization_model_id: int | None = None


class AugmentationPolicySpectrogram(WireModel):
    enabled: bool
    warping: bool | None = None
    freq_masking: Literal["none", "low", "high"] | None = None
    time_masking: Literal["none", "low", "high"] | None = None
    gaussian_noise: Literal["none", "low", "high"] | None = None


class SetKerasParameterRequest(WireModel):
    """The body of the train and save-config routes; every field optional. Its fields are the official
    model's, all of them (``tests/test_baseline.py`` holds them equal): a baseline copies every one a learn
    block's saved configuration holds (:mod:`sweep.study.saved`)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    mode: Literal["visual", "expert"] | None = None
    minimum_confidence_rating: float | None = None
    selected_model_type: ModelType | None = None
    script: str | None = None
    visual_layers: list[VisualLayer] | None = None
    training_cycles: int | None = None
    learning_rate: float | None = None
    batch_size: int | None = None
    train_test_split: float | None = None
    auto_class_weights: bool | None = None
    use_learned_optimizer: bool | None = None
    augmentation_policy_image: Literal["none", "all"] | None = None
    augmentation_policy_spectrogram: AugmentationPolicySpectrogram | None = None
    profile_int8: bool | None = None
    skip_embeddings_and_memory: bool | None = None
    akida_edge_learning_config: dict[str, Any] | None = None
    custom_validation_metadata_key: str | None = None
    show_advanced_training_settings: bool | None = None
    show_augmentation_training_settings: bool | None = None
    custom_parameters: dict[str, str] | None = None
    anomaly_capacity: Literal["low", "medium", "high"] | None = None
    last_shown_model_variant: Literal["int8", "float32", "akida"] | None = None
    block_parameters: dict[str, Any] | None = None
    training_processor: str | None = None
    k_folds_validation_config: dict[str, Any] | None = None
    assert_gpu_usage_percentage: float | None = None


# ---- jobs -------------------------------------------------------------------------------------


class StartJobResponse(GenericApiResponse):
    id: int


FAILURE_CAUSE = "failureCause"  # a key of a failed job's metadata (the local studio's): why, as a field
SERVER_STOPPED = "server-stopped"  # its value for a job that failed because its server stopped


class Job(WireModel):
    id: int
    category: str
    category_key: str
    key: str
    created: datetime
    started: datetime | None = None
    finished: datetime | None = None
    finished_successful: bool | None = None
    job_notification_uids: list[int] = Field(default_factory=list)
    additional_info: str | None = None
    compute_time: float | None = None
    metadata: dict[str, Any] | None = None

    @property
    def stopped_by_server(self) -> bool:
        """Whether the job failed because its server stopped under it (``metadata.failureCause``
        ``"server-stopped"``, which the local studio sets; Studio's jobs carry no such field)."""
        return (self.metadata or {}).get(FAILURE_CAUSE) == SERVER_STOPPED


class SocketToken(WireModel):
    socket_token: str
    expires: datetime


class SocketTokenResponse(GenericApiResponse):
    """``GET /api/{projectId}/socket-token``: the token that opens the project socket."""

    token: SocketToken


class GetJobResponse(GenericApiResponse):
    job: Job


class ListJobsResponse(GenericApiResponse):
    jobs: list[Job]
    total_job_count: int


class JobLogItem(WireModel):
    created: datetime
    data: str
    log_level: str | None = None


class LogStdoutResponse(GenericApiResponse):
    """Newest first; Studio returns only the last 1000 lines."""

    stdout: list[JobLogItem]
    total_count: int


# ---- impulse / project ------------------------------------------------------------------------


class ProjectPerformance(WireModel):
    gpu: bool = False
    job_limit_m: int
    dsp_file_size_mb: int = 0
    enterprise_performance: bool = False
    train_job_ram_mb: int = 0


class ProjectComputeTime(WireModel):
    period_start_date: datetime
    period_end_date: datetime
    time_used_ms: int
    time_left_ms: int


class LatencyDevice(WireModel):
    """A device the project's on-device estimates are made for (``mcu`` names it in the metrics)."""

    mcu: str
    name: str
    selected: bool = False


class ProjectDataSummary(WireModel):
    labels: list[str] = Field(default_factory=list)  # the labels in the training set: the model's classes


class ProjectInfoResponse(GenericApiResponse):
    """Only the parts a sweep reads: the project, its quota and per-job limit, its devices and training labels
    (the official model requires both; an answer without them leaves the names they check unchecked)."""

    project: dict[str, Any]
    performance: ProjectPerformance
    compute_time: ProjectComputeTime
    latency_devices: list[LatencyDevice] = Field(default_factory=list)
    data_summary: ProjectDataSummary = Field(default_factory=ProjectDataSummary)


class KerasResponse(GenericApiResponse):
    """A learn block's current configuration (the parts a sweep reads)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    trained: bool
    name: str
    type: str | None = None
    script: str = ""
    selected_model_type: ModelType
    mode: str
    visual_layers: list[VisualLayer]
    training_cycles: int
    learning_rate: float
    batch_size: int | None = None
    default_batch_size: int
    shape: str
    train_test_split: float | None = None
    auto_class_weights: bool | None = None
    augmentation_policy_image: str
    augmentation_policy_spectrogram: AugmentationPolicySpectrogram | None = None
    profile_int8: bool
    skip_embeddings_and_memory: bool


# ---- results ----------------------------------------------------------------------------------


class DeviceBudget(WireModel):
    ram_required: int
    rom_required: int
    arena_size: int
    model_size: int


class CustomMetric(WireModel):
    name: str
    value: str  # a string on the wire, numeric or not


class OnDevicePerformance(WireModel):
    mcu: str
    name: str
    is_default: bool
    latency: float
    tflite: DeviceBudget
    eon: DeviceBudget
    # The one snake_case name of this shape on the wire (the official model's alias says so too).
    eon_ram_optimized: DeviceBudget | None = Field(default=None, alias="eon_ram_optimized")
    custom_metrics: list[CustomMetric] | None = None
    has_performance: bool
    profiling_error: str | None = None


class ModelMetrics(WireModel):
    type: ModelType
    loss: float
    accuracy: float | None = None
    confusion_matrix: list[list[float]]
    report: dict[str, Any]
    on_device_performance: list[OnDevicePerformance]
    visualization: str = "featureExplorer"
    is_supported_on_mcu: bool = True
    mcu_support_error: str | None = None
    profiling_job_id: int | None = None
    profiling_job_failed: bool | None = None
    additional_metrics: list[dict[str, Any]] = Field(default_factory=list)


class KerasModelMetadataGraphSeries(WireModel):
    title: str
    values: list[float]


class KerasModelMetadataGraph(WireModel):
    title: str
    x_label: str | None = None
    y_label: str | None = None
    description: str | None = None
    data: list[KerasModelMetadataGraphSeries]


class KerasModelMetadata(WireModel):
    created: datetime
    layers: list[dict[str, Any]] = Field(default_factory=list)
    class_names: list[str]
    labels: list[str] = Field(default_factory=list)
    available_model_types: list[ModelType]
    recommended_model_type: ModelType
    model_validation_metrics: list[ModelMetrics]
    has_trained_model: bool
    mode: str = "classification"
    image_input_scaling: str = "0..1"
    thresholds: list[dict[str, Any]] = Field(default_factory=list)
    tensorboard_graphs: list[KerasModelMetadataGraph] | None = None


class KerasModelMetadataResponse(GenericApiResponse, KerasModelMetadata):
    """``GET .../training/keras/{learnId}/metadata``: the metadata plus ``success``."""
