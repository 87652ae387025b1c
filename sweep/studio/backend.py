"""What a sweep needs of an Edge Impulse backend, as small typed protocols (Studio, the local studio, a test fake).

Each part of the harness asks only for the protocol it uses: following a job needs :class:`Jobs`
and :class:`Training`'s metadata, the budget needs :class:`Project`. :class:`StudioClient` (over
HTTP, for both Studio and the embedded local studio) implements them all. New parts of the API
(impulses for cloned slots, DSP blocks, model files) join as further protocols that :class:`Backend`
extends, without changing the existing ones.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Protocol

from sweep.studio.downloads import Download
from sweep.studio.dsp_data import WindowData
from sweep.studio.impulse_models import (
    DspConfigResponse,
    DspDevicePerformance,
    DspInfo,
    DspMetadataResponse,
    GetAllImpulsesResponse,
    Impulse,
)
from sweep.studio.models import (
    Job,
    JobLogItem,
    KerasModelMetadata,
    KerasResponse,
    ProjectInfoResponse,
    SetKerasParameterRequest,
)
from sweep.studio.socket import JobStream

__all__ = ["Backend", "DspData", "ImpulseSettings", "Impulses", "JobEvents", "Jobs", "Models", "Project", "Training"]


class Jobs(Protocol):
    """A project's jobs: status, log, cancel."""

    def job_status(self, job_id: int) -> Job:
        """The job as it is now (``finished`` set once it has ended)."""

    def job_log(self, job_id: int, *, limit: int | None = None) -> list[JobLogItem]:
        """Its log lines, newest first (Studio keeps the last 1000)."""

    def cancel_job(self, job_id: int, *, force: bool = False) -> None:
        """Ask the job to stop (``force``: mark it finished at once)."""


class JobEvents(Protocol):
    """Jobs as they happen (the project socket): their log lines and their finish, pushed."""

    @property
    def connected(self) -> bool:
        """Whether events arrive now (a follower polls as before when not)."""

    def follow(self, job_id: int) -> JobStream:
        """Subscribe a job: its lines so far, then each new one, and its finish."""

    def forget(self, job_id: int) -> None:
        """Stop keeping the job's lines."""


class Training(Protocol):
    """Train jobs of Keras learn blocks, their results and saved configurations."""

    def start_training(self, learn_id: int, request: SetKerasParameterRequest, *,
                       submitted_after: datetime | None = None, seed: int | None = None) -> int:
        """Submit a train job on ``learn_id``; its job id (a lost answer is looked up, never re-sent blindly)."""

    def find_train_job(self, learn_id: int, *, created_after: datetime, exclude: Collection[int] = ()) -> Job | None:
        """The train job of ``learn_id`` created at/after ``created_after`` and not in ``exclude``, if any."""

    def metadata(self, learn_id: int) -> KerasModelMetadata:
        """The learn block's latest trained model: metrics, confusion matrices, device figures."""

    def keras_config(self, learn_id: int) -> KerasResponse:
        """The learn block's saved configuration."""

    def save_keras_config(self, learn_id: int, request: SetKerasParameterRequest) -> None:
        """Save a configuration on the learn block without training."""


class Project(Protocol):
    """The project itself: its quota and its impulse."""

    project_id: int

    def project_info(self, impulse_id: int | None = None) -> ProjectInfoResponse:
        """Project info, including the compute quota left and the per-job limit."""

    def impulse(self, impulse_id: int | None = None) -> Impulse:
        """An impulse and its blocks (the project's default impulse when ``impulse_id`` is None)."""


class Impulses(Protocol):
    """The project's impulses, as slots: list, clone, delete, and their DSP blocks' features."""

    def impulses(self) -> GetAllImpulsesResponse:
        """Every impulse, and how many the project may have (``maxImpulseCount``, -1 = no limit)."""

    def clone_impulse(self, impulse_id: int, name: str) -> int:
        """Clone an impulse's structure and configuration (no features, no models); the new id."""

    def delete_impulse(self, impulse_id: int) -> None:
        """Delete an impulse (a clone sweep made)."""

    def generate_features(self, dsp_id: int) -> int:
        """Start a generate-features job for a DSP block; its job id."""

    def dsp(self, dsp_id: int) -> DspInfo:
        """A DSP block's state: whether its features are generated."""


class ImpulseSettings(Protocol):
    """What a whole-impulse trial sets and reads before and after training: DSP parameters, the window."""

    def dsp_config(self, dsp_id: int) -> DspConfigResponse:
        """A DSP block's state and parameters (value, type, range, options of each)."""

    def set_dsp_config(self, dsp_id: int, config: dict[str, str]) -> None:
        """Change some of a DSP block's parameters (strings, as Studio takes them)."""

    def dsp_metadata(self, dsp_id: int) -> DspMetadataResponse:
        """Which DSP configuration and window the block's features came from, and their shape."""

    def dsp_performance(self, dsp_id: int) -> list[DspDevicePerformance]:
        """The DSP block's latency and RAM on each device."""

    def update_impulse(self, impulse: Impulse) -> None:
        """Write an impulse back (its input block's window changed)."""


class Models(Protocol):
    """The files of learn blocks' trained models: listed per impulse, fetched by the id the list gives."""

    def downloads(self, impulse_id: int | None = None) -> list[Download]:
        """The impulse's downloads (the default impulse's when None); a model's link names its learn block."""

    def download_model(self, learn_id: int, model_download_id: str) -> bytes:
        """A file of the learn block's latest trained model (``model_download_id`` from :meth:`downloads`)."""


class DspData(Protocol):
    """A DSP block's output over a category's windows (``sweep test`` reads the testing category's)."""

    def dsp_data(self, dsp_id: int, category: str, n_classes: int) -> WindowData:
        """Features and labels of the category's windows, checked against the learn block's ``n_classes``."""


class Backend(Jobs, Training, Project, Impulses, ImpulseSettings, Models, Protocol):
    """Everything a sweep asks of a backend."""
