"""What a sweep needs of an Edge Impulse backend, as small typed protocols (Studio, the local studio, a test fake).

Each part of the harness asks only for the protocol it uses: following a job needs :class:`Jobs`
and :class:`Training`'s metadata, the budget needs :class:`Project`. :class:`StudioClient` (over
HTTP, for both Studio and the embedded local studio) implements them all. New parts of the API
(impulses for cloned slots, DSP blocks) join as further protocols that :class:`Backend` extends,
without changing the existing ones.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Protocol

from sweep.studio.impulse_models import Impulse
from sweep.studio.models import (
    Job,
    JobLogItem,
    KerasModelMetadata,
    KerasResponse,
    ProjectInfoResponse,
    SetKerasParameterRequest,
)

__all__ = ["Backend", "Jobs", "Project", "Training"]


class Jobs(Protocol):
    """A project's jobs: status, log, cancel."""

    def job_status(self, job_id: int) -> Job:
        """The job as it is now (``finished`` set once it has ended)."""

    def job_log(self, job_id: int, *, limit: int | None = None) -> list[JobLogItem]:
        """Its log lines, newest first (Studio keeps the last 1000)."""

    def cancel_job(self, job_id: int, *, force: bool = False) -> None:
        """Ask the job to stop (``force``: mark it finished at once)."""


class Training(Protocol):
    """Train jobs of Keras learn blocks, their results and saved configurations."""

    def start_training(self, learn_id: int, request: SetKerasParameterRequest, *,
                       submitted_after: datetime | None = None) -> int:
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

    def project_info(self) -> ProjectInfoResponse:
        """Project info, including the compute quota left and the per-job limit."""

    def impulse(self) -> Impulse:
        """The project's (default) impulse and its blocks."""


class Backend(Jobs, Training, Project, Protocol):
    """Everything a sweep asks of a backend."""
