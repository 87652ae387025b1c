"""A local studio job as stored in ``jobs/<id>/job.json``: one typed record; its state, an enum, follows its times."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from sweep.studio.models import FAILURE_CAUSE, Job

__all__ = ["JobKind", "JobRecord", "JobState"]

TRAIN_CATEGORY = ("Training model", "learn-train-studio-wrapper")
PROFILE_CATEGORY = ("Profiling model", "learn-profile-studio-wrapper")
FEATURES_CATEGORY = ("Generating features", "generate-features")  # category key: a guess (not in the spec)


class JobKind(StrEnum):
    TRAIN = "train"
    PROFILE = "profile"  # the second job that announces device metrics, as Studio's profiling job does
    FEATURES = "features"  # a generate-features job of a DSP block (no learn block: learn_id is 0)


class JobState(StrEnum):
    """Where a job is; derived from its record's times, so it can never disagree with them."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def is_finished(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED)


def _now() -> datetime:
    return datetime.now(UTC)


class JobRecord(BaseModel):
    """camelCase on disk (the same keys as the wire's ``Job`` plus ``kind``, ``reason``, ``request``, ``seed``).

    ``learnId`` is the learn block of a train or profiling job; a features job has ``dspId`` instead (and
    ``learnId`` 0, which no block has: block ids start at 1).
    """

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    id: int
    project_id: int
    learn_id: int
    kind: JobKind
    key: str
    category: str
    category_key: str
    created: datetime
    started: datetime | None = None
    finished: datetime | None = None
    finished_successful: bool | None = None
    compute_time: float | None = None
    reason: str | None = None
    cause: str | None = None  # why it failed, as a field (``failureCause``): SERVER_STOPPED, else None
    request: dict[str, Any] | None = None
    dsp_id: int | None = None
    seed: int | None = None  # a train job's training seed (the X-Sweep-Seed header, else the job id)

    @classmethod
    def new(cls, job_id: int, project_id: int, learn_id: int, kind: JobKind,
            request: dict[str, Any] | None, seed: int | None = None) -> JobRecord:
        """A train job (seeded by ``seed``, else by its id) or a profiling job (no seed)."""
        train = kind is JobKind.TRAIN
        category, category_key = TRAIN_CATEGORY if train else PROFILE_CATEGORY
        key = f"keras-{learn_id}" if train else f"keras-profile-{learn_id}"
        return cls(id=job_id, project_id=project_id, learn_id=learn_id, kind=kind, key=key, category=category,
                   category_key=category_key, created=_now(), request=request,
                   seed=(job_id if seed is None else seed) if train else None)

    @classmethod
    def new_features(cls, job_id: int, project_id: int, dsp_id: int, request: dict[str, Any]) -> JobRecord:
        """A generate-features job of DSP block ``dsp_id`` (key ``dsp-<dspId>``: a guess, not in the spec)."""
        category, category_key = FEATURES_CATEGORY
        return cls(id=job_id, project_id=project_id, learn_id=0, dsp_id=dsp_id, kind=JobKind.FEATURES,
                   key=f"dsp-{dsp_id}", category=category, category_key=category_key, created=_now(),
                   request=request)

    @property
    def state(self) -> JobState:
        if self.finished is not None:
            return JobState.SUCCEEDED if self.finished_successful else JobState.FAILED
        return JobState.RUNNING if self.started is not None else JobState.QUEUED

    def start(self) -> None:
        self.started = _now()

    def finish(self, success: bool, reason: str | None, cause: str | None = None) -> None:
        """Mark it finished; a job that started has used compute from then until now."""
        end = _now()
        self.finished, self.finished_successful, self.reason, self.cause = end, success, reason, cause
        if self.started is not None:
            self.compute_time = round((end - self.started).total_seconds(), 3)

    def stored(self) -> dict[str, Any]:
        """What ``job.json`` holds."""
        return self.model_dump(mode="json", by_alias=True)

    def wire(self) -> Job:
        """The official ``Job`` answer (its ``metadata`` says the learn block, the kind and why it failed)."""
        meta: dict[str, Any] = ({"dspId": self.dsp_id} if self.kind is JobKind.FEATURES else {"learnId": self.learn_id})
        meta["kind"] = self.kind.value
        if self.seed is not None:
            meta["seed"] = self.seed
        if self.reason:
            meta["failureReason"] = self.reason
        if self.cause:
            meta[FAILURE_CAUSE] = self.cause
        return Job(id=self.id, category=self.category, category_key=self.category_key, key=self.key,
                   created=self.created, started=self.started, finished=self.finished,
                   finished_successful=self.finished_successful, compute_time=self.compute_time, metadata=meta)
