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
from sweep.studio.downloads import Download, model_link
from sweep.studio.impulse_models import (
    DspConfigResponse,
    DspDevicePerformance,
    DspFeatures,
    DspInfo,
    DspMetadataResponse,
    GetAllImpulsesResponse,
    GetImpulseResponse,
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

__all__ = ["FakeBackend"]

T0 = datetime(2026, 11, 1, tzinfo=UTC)
FAKE_DATA = views.DataSummary(count=1797, length_ms=0.0, stored=T0)  # what the fake project holds: 8x8 images
FAKE_INPUTS = (["Image"], 1797, 64)  # its learn blocks' DSP block, windows and features a window


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
        self.max_impulses = -1
        self.features: dict[int, bool] = {}  # DSP block id -> generated
        self.extra_impulses: list[Impulse] = []  # clones, in creation order
        self.deleted: list[int] = []
        self.model_files: dict[int, dict[str, bytes]] = {}  # learn block -> model download id -> its latest file
        self.download_error: Exception | None = None  # raised by download_model while set

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
        """End the job; a successful train job's model files become its learn block's (bytes naming the job)."""
        job = self.jobs[job_id]
        self.jobs[job_id] = job.model_copy(update={"finished": job.created + timedelta(seconds=compute_time),
                                                   "finished_successful": success, "compute_time": compute_time})
        learn_id = int(job.key.rsplit("-", 1)[-1])
        if success and learn_id:
            self.model_files[learn_id] = {"tflite-float": f"float32 model of job {job_id}".encode(),
                                          "tflite-int8": f"int8 model of job {job_id}".encode()}

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
                       submitted_after: datetime | None = None, seed: int | None = None) -> int:
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
        body = views.keras_body(self._project(), learn_id, config, learn_id in self.models, inputs=FAKE_INPUTS)
        return KerasResponse.model_validate(body)

    def save_keras_config(self, learn_id: int, request: SetKerasParameterRequest) -> None:
        self.configs[learn_id] = request

    # ---- Project
    def project_info(self, impulse_id: int | None = None) -> ProjectInfoResponse:
        self.calls.append("project info")
        if self.quota_left_ms is None:
            raise ApiError("403: no access to this project's quota", status_code=403)
        quota = 20 * 3600 * 1000
        body = views.project_info_body(self._project(), FAKE_DATA, period_start=T0,
                                       used_ms=quota - self.quota_left_ms, quota_ms=quota, job_limit_m=60)
        return ProjectInfoResponse.model_validate(body)

    def impulse(self, impulse_id: int | None = None) -> Impulse:
        for impulse in self._all_impulses():
            if impulse_id is None or impulse.id == impulse_id:
                return impulse
        raise ApiError(f"impulse {impulse_id} not found", status_code=404)

    # ---- Models
    def downloads(self, impulse_id: int | None = None) -> list[Download]:
        self.calls.append(f"downloads {impulse_id}")
        learn_ids = [b.id for b in self.impulse(impulse_id).learn_blocks]
        names = {"tflite-float": "TensorFlow Lite (float32)", "tflite-int8": "TensorFlow Lite (int8 quantized)"}
        return [Download(id=download_id, name=f"model-{lid}-{download_id}.lite", type=names[download_id],
                         link=model_link(self.project_id, lid, download_id))
                for lid in learn_ids for download_id in self.model_files.get(lid, {})]

    def download_model(self, learn_id: int, model_download_id: str) -> bytes:
        self.calls.append(f"download {learn_id} {model_download_id}")
        if self.download_error is not None:
            raise self.download_error
        files = self.model_files.get(learn_id, {})
        if model_download_id not in files:
            raise ApiError(f"no model {model_download_id!r} for learn block {learn_id}", status_code=404)
        return files[model_download_id]

    # ---- Impulses
    def impulses(self) -> GetAllImpulsesResponse:
        self.calls.append("impulses")
        return GetAllImpulsesResponse(success=True, impulses=self._all_impulses(), max_impulse_count=self.max_impulses)

    def clone_impulse(self, impulse_id: int, name: str) -> int:
        self.calls.append(f"clone {impulse_id}")
        source = self.impulse(impulse_id)
        taken = [b.id for i in self._all_impulses() for b in i.dsp_blocks]
        taken += [b.id for i in self._all_impulses() for b in i.learn_blocks]
        next_id = max([*taken, 99]) + 1
        dsp = [b.model_copy(update={"id": next_id + k}) for k, b in enumerate(source.dsp_blocks)]
        remap = {old.id: new.id for old, new in zip(source.dsp_blocks, dsp, strict=True)}
        learn = [b.model_copy(update={"id": next_id + len(dsp) + k, "dsp": [remap[d] for d in b.dsp]})
                 for k, b in enumerate(source.learn_blocks)]
        clone = source.model_copy(update={"id": max(i.id for i in self._all_impulses()) + 1, "name": name,
                                          "dsp_blocks": dsp, "learn_blocks": learn})
        self.extra_impulses.append(clone)
        self.features.update({b.id: False for b in dsp})
        return clone.id

    def delete_impulse(self, impulse_id: int) -> None:
        self.calls.append(f"delete {impulse_id}")
        self.deleted.append(impulse_id)
        self.extra_impulses = [i for i in self.extra_impulses if i.id != impulse_id]

    def generate_features(self, dsp_id: int) -> int:
        self.calls.append(f"features {dsp_id}")
        job_id = self.add_job(0)
        self.features[dsp_id] = True
        self.finish(job_id)
        return job_id

    def dsp(self, dsp_id: int) -> DspInfo:
        generated = self.features.get(dsp_id, True)  # the source impulse's blocks have their features
        return DspInfo(id=dsp_id, name="DSP", type="image", features=DspFeatures(generated=generated))

    # ---- ImpulseSettings (whole-impulse trials): settings recorded, features current once generated
    def dsp_config(self, dsp_id: int) -> DspConfigResponse:
        return DspConfigResponse(success=True, dsp=self.dsp(dsp_id), config=[])

    def set_dsp_config(self, dsp_id: int, config: dict[str, str]) -> None:
        self.calls.append(f"set dsp {dsp_id} {sorted(config.items())}")
        self.features[dsp_id] = False

    def dsp_metadata(self, dsp_id: int) -> DspMetadataResponse:
        return DspMetadataResponse(success=True, generated=self.features.get(dsp_id, True))

    def dsp_performance(self, dsp_id: int) -> list[DspDevicePerformance]:
        return []

    def update_impulse(self, impulse: Impulse) -> None:
        self.calls.append(f"update impulse {impulse.id}")

    def _all_impulses(self) -> list[Impulse]:
        first = GetImpulseResponse.model_validate(views.impulse_body(self._project())).impulse
        assert first is not None
        return [first, *self.extra_impulses]

    def _project(self) -> LocalProject:
        return LocalProject(id=self.project_id, name="fake", kind="image", input_shape=(8, 8, 1),
                            labels=["a", "b"], impulse_id=1, learn_block_ids=list(self.learn_ids),
                            path=Path("/nonexistent"))


def _conforms(backend: FakeBackend) -> Backend:
    return backend  # mypy checks here that the fake is a Backend
