"""The OFFICIAL edgeimpulse_api client drives our local studio: every answer parses with its models."""

from __future__ import annotations

import hashlib
import time
from datetime import datetime, timedelta
from typing import Any

import edgeimpulse_api as ei
import pytest

from sweep.local.embedded import EmbeddedStudio
from sweep.studio.models import KerasModelMetadataResponse

from local_fixtures import local_studio, official_api, official_client, wait_for  # noqa: F401

pytestmark = pytest.mark.slow
PROJECT = 1


def _dt(value: Any) -> datetime:
    """The official models keep some timestamps as ISO strings."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def _finished(jobs: ei.JobsApi, job_id: int, timeout: float = 90.0) -> Any:
    def done() -> Any:
        job = jobs.get_job_status(PROJECT, job_id).job
        return job if job.finished is not None else None
    return wait_for(done, timeout, f"job {job_id}")


def test_project_info_and_impulse(official_api: Any) -> None:
    info = ei.ProjectsApi(official_api).get_project_info(PROJECT)
    assert info.success and info.project.id == PROJECT and info.project.name == "digits"
    assert info.performance.job_limit_m == 60
    assert info.compute_time.time_left_ms > 0 and info.compute_time.time_used_ms >= 0
    assert _dt(info.compute_time.period_start_date) < _dt(info.compute_time.period_end_date)
    impulse = ei.ImpulseApi(official_api).get_impulse(PROJECT).impulse
    assert [b.id for b in impulse.learn_blocks] == [3, 4]
    assert all(b.type == "keras" for b in impulse.learn_blocks)


def test_keras_config_round_trip(official_api: Any) -> None:
    learn = ei.LearnApi(official_api)
    before = learn.get_keras(PROJECT, 4)
    assert before.success and before.shape == "(8, 8, 1)" and before.visual_layers
    saved = learn.set_keras(PROJECT, 4, ei.SetKerasParameterRequest(training_cycles=7, learning_rate=0.002))
    assert saved.success
    after = learn.get_keras(PROJECT, 4)
    assert (after.training_cycles, after.learning_rate) == (7, 0.002)
    assert [v.to_dict() for v in after.visual_layers] == [v.to_dict() for v in before.visual_layers]


def test_train_follow_log_metadata(official_api: Any) -> None:
    jobs, learn = ei.JobsApi(official_api), ei.LearnApi(official_api)
    request = ei.SetKerasParameterRequest(training_cycles=3, learning_rate=0.01, batch_size=32)
    start = jobs.train_keras_job(PROJECT, 3, request)
    assert start.success and start.id > 0
    active = jobs.list_active_jobs(PROJECT)
    assert start.id in [j.id for j in active.jobs]
    job = _finished(jobs, start.id)
    assert job.finished_successful is True and job.key == "keras-3"
    assert job.category == "Training model" and job.compute_time > 0

    logs = jobs.get_jobs_logs(PROJECT, start.id, limit=1000)
    lines = [item.data for item in logs.stdout]
    assert logs.total_count == len(lines)
    assert next(s for s in lines if s.startswith("Epoch")).startswith("Epoch 3/3")  # newest first
    text = jobs.download_jobs_logs(PROJECT, start.id)
    assert "Epoch 1/3" in text and text.index("Epoch 1/3") < text.index("Epoch 3/3")

    listed = jobs.list_all_jobs(PROJECT, key="keras-3", finished="successful")
    assert start.id in [j.id for j in listed.jobs] and listed.total_job_count >= 1

    metadata = learn.get_keras_metadata(PROJECT, 3)
    assert metadata.success and metadata.has_trained_model
    assert _dt(metadata.created) >= _dt(job.started) - timedelta(seconds=1)
    assert metadata.class_names == [str(i) for i in range(10)]
    assert metadata.model_validation_metrics and all(m.on_device_performance for m in metadata.model_validation_metrics)
    ours = KerasModelMetadataResponse.model_validate(metadata.to_dict())
    assert ours.model_validation_metrics[0].loss == metadata.model_validation_metrics[0].loss


def test_model_files_through_the_official_client(local_studio: EmbeddedStudio, official_api: Any) -> None:
    """The downloads list parses as ``ProjectDownloadsResponse``; each model is the latest job's own file."""
    jobs, learn, projects = ei.JobsApi(official_api), ei.LearnApi(official_api), ei.ProjectsApi(official_api)
    start = jobs.train_keras_job(PROJECT, 3, ei.SetKerasParameterRequest(training_cycles=2, learning_rate=0.01))
    assert _finished(jobs, start.id).finished_successful
    listing = projects.list_downloads(PROJECT, impulse_id=1)
    assert isinstance(listing, ei.ProjectDownloadsResponse) and listing.success
    models = {d.id: d for d in listing.downloads if "/learn-data/3/" in d.link}
    assert {d.type for d in models.values()} == {"TensorFlow Lite (float32)", "TensorFlow Lite (int8 quantized)"}
    for download_id, entry in models.items():
        assert entry.link == f"/v1/api/{PROJECT}/learn-data/3/model/{download_id}" and entry.impulse_id == 1
        raw = learn.download_learn_model(PROJECT, 3, download_id, _preload_content=False)
        kind = "int8" if "int8" in entry.type else "float32"
        own = (local_studio.data_dir / "jobs" / str(start.id) / f"model_{kind}.tflite").read_bytes()
        assert hashlib.sha256(raw.data).hexdigest() == hashlib.sha256(own).hexdigest()
        assert raw.headers["content-type"] == "application/octet-stream"
    with pytest.raises(ei.exceptions.NotFoundException):
        learn.download_learn_model(PROJECT, 3, "no-such-model", _preload_content=False)


def test_cancel_through_the_official_client(official_api: Any) -> None:
    jobs = ei.JobsApi(official_api)
    start = jobs.train_keras_job(PROJECT, 4, ei.SetKerasParameterRequest(training_cycles=3000, batch_size=16))
    wait_for(lambda: any(i.data.startswith("Epoch") for i in jobs.get_jobs_logs(PROJECT, start.id).stdout),
             60, "the first epoch")
    asked = time.monotonic()
    assert jobs.cancel_job(PROJECT, start.id).success
    job = _finished(jobs, start.id, timeout=15)
    assert job.finished_successful is False and time.monotonic() - asked < 15


def test_errors_reach_the_official_client(local_studio: EmbeddedStudio, official_api: Any) -> None:
    import edgeimpulse_api as ei_mod

    config = ei_mod.Configuration(host=local_studio.base_url, api_key={"ApiKeyAuthentication": "not-the-key"})
    with ei_mod.ApiClient(config) as wrong, pytest.raises(ei_mod.exceptions.UnauthorizedException):
        ei.JobsApi(wrong).list_active_jobs(PROJECT)
    with pytest.raises(ei_mod.exceptions.NotFoundException):
        ei.JobsApi(official_api).get_job_status(PROJECT, 987654)
    with pytest.raises(ei_mod.exceptions.ApiException) as bad:
        ei.JobsApi(official_api).train_keras_job(PROJECT, 3, ei.SetKerasParameterRequest(learning_rate=5.0))
    assert bad.value.status == 400 and '"success":false' in bad.value.body.replace(" ", "")


_ = official_client
