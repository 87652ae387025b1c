"""A small typed in-memory :class:`~sweep.studio.backend.Backend` for unit tests at the backend seam.

No HTTP and no clock of its own: a job ends when the test says so (``finish``), its log is what the
test appends, and every answer is the wire model the real client would have parsed. Over HTTP, the
tests use ``fake_studio.FakeStudio`` or the real local studio instead.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sweep.errors import ApiError
from sweep.local import views
from sweep.local.datasets import LocalProject
from sweep.studio.backend import Backend
from sweep.studio.impulse_models import GetImpulseResponse, Impulse
from sweep.studio.models import (
    Job,
    JobLogItem,
    KerasModelMetadata,
    KerasResponse,
    ProjectInfoResponse,
    SetKerasParameterRequest,
)

__all__ = ["FakeBackend"]

T0 = datetime(2026, 11, 1, tzinfo=UTC)


class FakeBackend:
    """One project with learn blocks; ``quota_left_ms`` None makes the quota unreadable (403)."""

    def __init__(self, *, project_id: int = 42, learn_ids: tuple[int, ...] = (7,), quota_left_ms: int | None = 10**9
                 ) -> None:
        self.project_id = project_id
        self.learn_ids = learn_ids
        self.quota_left_ms = quota_left_ms
        self.jobs: dict[int, Job] = {}
        self.logs: dict[int, list[str]] = {}
        self.requests: dict[int, SetKerasParameterRequest] = {}
        self.configs: dict[int, SetKerasParameterRequest] = {}
        self.models: dict[int, KerasModelMetadata] = {}
        self.calls: list[str] = []
        self.cancelled: list[int] = []

    # ---- the test's side
    def add_job(self, learn_id: int, request: SetKerasParameterRequest | None = None) -> int:
        job_id = 1000 + len(self.jobs)
        self.jobs[job_id] = Job(id=job_id, category="Training model", category_key="learn-train-studio-wrapper",
                                key=f"keras-{learn_id}", created=T0 + timedelta(seconds=len(self.jobs)),
                                started=T0 + timedelta(seconds=len(self.jobs)))
        self.logs[job_id] = []
        self.requests[job_id] = request or SetKerasParameterRequest()
        return job_id

    def log(self, job_id: int, *lines: str) -> None:
        self.logs[job_id].extend(lines)

    def finish(self, job_id: int, *, success: bool = True, compute_time: float = 1.0) -> None:
        job = self.jobs[job_id]
        self.jobs[job_id] = job.model_copy(update={"finished": job.created + timedelta(seconds=compute_time),
                                                   "finished_successful": success, "compute_time": compute_time})

    # ---- Jobs
    def job_status(self, job_id: int) -> Job:
        self.calls.append(f"status {job_id}")
        if job_id not in self.jobs:
            raise ApiError(f"job {job_id} not found", method="GET", route=f"/jobs/{job_id}/status", status_code=404)
        return self.jobs[job_id]

    def job_log(self, job_id: int, *, limit: int | None = None) -> list[JobLogItem]:
        self.calls.append(f"log {job_id}")
        lines = self.logs.get(job_id, [])
        items = [JobLogItem(created=T0 + timedelta(seconds=i), data=line) for i, line in enumerate(lines)]
        return list(reversed(items))[: limit or 1000]

    def cancel_job(self, job_id: int, *, force: bool = False) -> None:
        self.calls.append(f"cancel {job_id}")
        self.cancelled.append(job_id)
        if self.jobs[job_id].finished is None:
            self.finish(job_id, success=False)

    # ---- Training
    def start_training(self, learn_id: int, request: SetKerasParameterRequest, *,
                       submitted_after: datetime | None = None) -> int:
        self.calls.append(f"train {learn_id}")
        return self.add_job(learn_id, request)

    def find_train_job(self, learn_id: int, *, created_after: datetime, exclude: Collection[int] = ()) -> Job | None:
        found = [j for j in self.jobs.values() if j.key == f"keras-{learn_id}" and j.id not in exclude
                 and j.created >= created_after]
        return min(found, key=lambda j: j.created, default=None)

    def metadata(self, learn_id: int) -> KerasModelMetadata:
        if learn_id not in self.models:
            raise ApiError("no trained model for this learn block", status_code=200)
        return self.models[learn_id]

    def keras_config(self, learn_id: int) -> KerasResponse:
        config = self.configs.get(learn_id, SetKerasParameterRequest()).wire()
        body = views.keras_body(self._project(), learn_id, config, learn_id in self.models)
        return KerasResponse.model_validate(body)

    def save_keras_config(self, learn_id: int, request: SetKerasParameterRequest) -> None:
        self.configs[learn_id] = request

    # ---- Project
    def project_info(self) -> ProjectInfoResponse:
        self.calls.append("project info")
        if self.quota_left_ms is None:
            raise ApiError("403: no access to this project's quota", status_code=403)
        quota = 20 * 3600 * 1000
        body = views.project_info_body(self._project(), period_start=T0, used_ms=quota - self.quota_left_ms,
                                       quota_ms=quota, job_limit_m=60)
        return ProjectInfoResponse.model_validate(body)

    def impulse(self) -> Impulse:
        impulse = GetImpulseResponse.model_validate(views.impulse_body(self._project())).impulse
        assert impulse is not None
        return impulse

    def _project(self) -> LocalProject:
        return LocalProject(id=self.project_id, name="fake", kind="image", input_shape=(8, 8, 1),
                            labels=["a", "b"], impulse_id=1, learn_block_ids=list(self.learn_ids),
                            path=Path("/nonexistent"))


def _conforms(backend: FakeBackend) -> Backend:
    return backend  # mypy checks here that the fake is a Backend
