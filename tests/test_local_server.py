"""The local studio over real HTTP on 127.0.0.1: auth, bad input, 404s, busy blocks, cancel, restart."""

from __future__ import annotations

import json
import stat
from datetime import timedelta
from typing import Any

import httpx
import pytest

from sweep.local.embedded import EmbeddedStudio
from sweep.studio.models import (
    GetJobResponse,
    KerasModelMetadataResponse,
    KerasResponse,
    ListJobsResponse,
    LogStdoutResponse,
    StartJobResponse,
)

from local_fixtures import (  # noqa: F401
    TINY_TRAIN,
    http_client,
    local_http,
    local_studio,
    start_studio,
    wait_for,
)

pytestmark = pytest.mark.slow
LONG_TRAIN = {"trainingCycles": 3000, "learningRate": 0.001, "batchSize": 16}


def _count(http: httpx.Client, project: int = 1) -> int:
    answer = http.get(f"/api/{project}/jobs/all", params={"limit": 1})
    assert answer.status_code == 200
    return ListJobsResponse.model_validate(answer.json()).total_job_count


def _train(http: httpx.Client, learn_id: int, body: dict[str, Any]) -> int:
    answer = http.post(f"/api/1/jobs/train/keras/{learn_id}", json=body)
    assert answer.status_code == 200, answer.text
    return StartJobResponse.model_validate(answer.json()).id


def _status(http: httpx.Client, job_id: int, project: int = 1) -> Any:
    answer = http.get(f"/api/{project}/jobs/{job_id}/status")
    assert answer.status_code == 200, answer.text
    return GetJobResponse.model_validate(answer.json()).job


def _finished(http: httpx.Client, job_id: int, timeout: float = 90.0) -> Any:
    return wait_for(lambda: (j := _status(http, job_id)).finished is not None and j, timeout, f"job {job_id}")


def _log(http: httpx.Client, job_id: int, **params: Any) -> list[str]:
    answer = http.get(f"/api/1/jobs/{job_id}/stdout", params=params)
    assert answer.status_code == 200, answer.text
    return [item.data for item in LogStdoutResponse.model_validate(answer.json()).stdout]


def _has_epoch(http: httpx.Client, job_id: int) -> bool:
    return any(line.startswith("Epoch") for line in _log(http, job_id))


def _metadata(http: httpx.Client, learn_id: int) -> KerasModelMetadataResponse:
    answer = http.get(f"/api/1/training/keras/{learn_id}/metadata")
    assert answer.status_code == 200, answer.text
    return KerasModelMetadataResponse.model_validate(answer.json())


def _refused(answer: httpx.Response, status: int) -> str:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["success"] is False and isinstance(body["error"], str) and body["error"]
    return body["error"]


def test_the_api_key_is_required_and_kept_private(local_studio: EmbeddedStudio) -> None:
    url = f"{local_studio.base_url}/api/1/jobs"
    _refused(httpx.get(url), 401)
    _refused(httpx.get(url, headers={"x-api-key": "wrong"}), 401)
    _refused(httpx.post(f"{local_studio.base_url}/api/1/jobs/train/keras/3", json=TINY_TRAIN), 401)
    assert httpx.get(url, headers={"x-api-key": local_studio.api_key.get_secret_value()}).status_code == 200
    mode = (local_studio.data_dir / "api_key").stat().st_mode
    assert stat.S_IMODE(mode) == 0o600
    assert local_studio.api_key.get_secret_value() not in local_studio.log_path.read_text()


DEEP = b'{"blockParameters": ' + b'{"a": ' * 40 + b"1" + b"}" * 40 + b"}"
TEN_THOUSAND_DENSE = json.dumps({"visualLayers": [{"type": "dense", "neurons": 8}] * 10000}).encode()
STACKED_CONV = json.dumps({"visualLayers": [{"type": "reshape", "columns": 8}]
                           + [{"type": "conv1d", "neurons": 4, "kernelSize": 3, "stack": 16}] * 100}).encode()
BAD_BODIES: dict[str, tuple[bytes, str]] = {
    "not json": (b"{trainingCycles: 3", "invalid request body: body: Invalid JSON: key must be a string at line 1 "
                 "column 2 (got b'{trainingCycles: 3')"),
    "not an object": (b"[1, 2, 3]", "invalid request body: body: Input should be an object (got [1, 2, 3])"),
    "wrong type": (b'{"trainingCycles": "many"}',
                   "invalid request body: trainingCycles: Input should be a valid integer, unable to parse string as "
                   "an integer (got 'many')"),
    "float cycles": (b'{"trainingCycles": 2.5}',
                     "invalid request body: trainingCycles: Input should be a valid integer, got a number with a "
                     "fractional part (got 2.5)"),
    "bool cycles": (b'{"trainingCycles": true}',
                    "invalid request body: trainingCycles: Input should be a valid integer, not a boolean (got True)"),
    "bool batch size": (b'{"batchSize": true}',
                        "invalid request body: batchSize: Input should be a valid integer, not a boolean (got True)"),
    "bool learning rate": (b'{"learningRate": false}',
                           "invalid request body: learningRate: Input should be a valid number, not a boolean "
                           "(got False)"),
    "bool neurons": (b'{"visualLayers": [{"type": "dense", "neurons": true}]}',
                     "invalid request body: visualLayers.0.neurons: Input should be a valid integer, not a "
                     "boolean (got True)"),
    "text learning rate": (b'{"learningRate": "fast"}',
                           "invalid request body: learningRate: Input should be a valid number, unable to parse string "
                           "as a number (got 'fast')"),
    "unknown layer type": (b'{"visualLayers": [{"type": "transformer", "neurons": 8}]}',
                           "visualLayers[0] (transformer): unknown layer type 'transformer'; known: "
                           "batchNormalization, "
                           "conv1d, conv2d, dense, dropout, flatten, reshape"),
    "layer without type": (b'{"visualLayers": [{"neurons": 8}]}',
                           "invalid request body: visualLayers.0.type: Field required (got {'neurons': 8})"),
    "layers not a list": (b'{"visualLayers": {"type": "dense"}}',
                          "invalid request body: visualLayers: Input should be a valid array (got {'type': 'dense'})"),
    "10000 dense layers": (TEN_THOUSAND_DENSE, "visualLayers: at most 256 layers (got 10000)"),
    "stacked conv layers": (STACKED_CONV, "visualLayers: the model would have 1703 Keras layers, over 1024"),
    "deep nesting": (DEEP, "request body nests 41 levels deep (at most 16)"),
    "learning rate 5": (b'{"learningRate": 5}', "learningRate must be in (0, 1] (got 5.0)"),
    "nan learning rate": (b'{"learningRate": NaN}', "learningRate must be in (0, 1] (got nan)"),
    "batch size 0": (b'{"batchSize": 0}', "batchSize must be in 1..65536 (got 0)"),
    "negative cycles": (b'{"trainingCycles": -1}', "trainingCycles must be in 1..10000 (got -1)"),
    "absurd cycles": (b'{"trainingCycles": 1000000000}', "trainingCycles must be in 1..10000 (got 1000000000)"),
    "absurd neurons": (b'{"visualLayers": [{"type": "dense", "neurons": 1000000000}]}',
                       "visualLayers[0] (dense): neurons must be in 1..4096 (got 1000000000)"),
    "dropout 1": (b'{"visualLayers": [{"type": "dropout", "dropoutRate": 1.0}]}',
                  "visualLayers[0] (dropout): dropoutRate must be in [0, 1) (got 1.0)"),
    "columns not dividing": (b'{"visualLayers": [{"type": "reshape", "columns": 7}, {"type": "conv1d"}]}',
                             "visualLayers[0] (reshape): columns 7 does not divide the 64 input features"),
    "split 1": (b'{"trainTestSplit": 1.0}', "trainTestSplit must be in (0, 1) (got 1.0)"),
    "unknown model type": (b'{"selectedModelType": "int4"}',
                           "invalid request body: selectedModelType: Input should be 'int8', 'float32', 'akida' or "
                           "'requiresRetrain' (got 'int4')"),
    "masking level": (b'{"augmentationPolicySpectrogram": {"enabled": true, "freqMasking": "huge"}}',
                      "invalid request body: augmentationPolicySpectrogram.freqMasking: Input should be 'none', 'low' "
                      "or 'high' (got 'huge')"),
    "custom parameter not text": (b'{"customParameters": {"a": 1}}',
                                  "invalid request body: customParameters.a: Input should be a valid string (got 1)"),
    "huge body": (b'{"script": "' + b"x" * 2_000_000 + b'"}',
                  "request body too large (2000014 bytes; at most 1000000)"),
}


@pytest.mark.parametrize("route", ["/jobs/train/keras/3", "/training/keras/3"])
def test_bad_bodies_are_refused_with_400_and_change_nothing(local_http: httpx.Client, local_studio: EmbeddedStudio,
                                                            route: str) -> None:
    before_jobs = _count(local_http)
    before_config = local_http.get("/api/1/training/keras/3").json()
    before_dirs = sorted(p.name for p in (local_studio.data_dir / "jobs").iterdir())
    for name, (body, message) in BAD_BODIES.items():
        answer = local_http.post(f"/api/1{route}", content=body, headers={"content-type": "application/json"})
        assert _refused(answer, 400) == message, name
    assert _count(local_http) == before_jobs
    assert sorted(p.name for p in (local_studio.data_dir / "jobs").iterdir()) == before_dirs  # no job was created
    assert local_http.get("/api/1/training/keras/3").json() == before_config
    assert local_http.get("/api/1").status_code == 200  # still healthy


def test_unknown_project_block_or_job_is_404(local_http: httpx.Client) -> None:
    before = _count(local_http)
    _refused(local_http.get("/api/999/impulse"), 404)
    _refused(local_http.get("/api/1/training/keras/99"), 404)
    _refused(local_http.get("/api/1/training/keras/99/metadata"), 404)
    _refused(local_http.post("/api/1/jobs/train/keras/99", json=TINY_TRAIN), 404)
    _refused(local_http.get("/api/1/jobs/999999/status"), 404)
    _refused(local_http.get("/api/1/jobs/999999/stdout"), 404)
    _refused(local_http.post("/api/1/jobs/999999/cancel"), 404)
    _refused(local_http.get("/api/1/no/such/route"), 404)
    _refused(local_http.get("/api/1/jobs/all", params={"limit": "ten"}), 400)
    assert _count(local_http) == before


def test_train_busy_block_stale_metadata_cancel(local_http: httpx.Client) -> None:
    first = _train(local_http, 4, TINY_TRAIN)
    job = _finished(local_http, first)
    assert job.finished_successful is True and job.key == "keras-4" and job.compute_time > 0
    model = _metadata(local_http, 4)
    assert model.has_trained_model and model.created >= job.started - timedelta(seconds=1)
    assert model.created <= job.finished

    long_job = _train(local_http, 4, LONG_TRAIN)
    before = _count(local_http)
    error = _refused(local_http.post("/api/1/jobs/train/keras/4", json=TINY_TRAIN), 409)
    assert "learn block 4" in error and f"job {long_job}" in error
    assert _count(local_http) == before
    active = ListJobsResponse.model_validate(local_http.get("/api/1/jobs").json()).jobs
    assert long_job in [j.id for j in active]

    wait_for(lambda: _has_epoch(local_http, long_job), 60, "the long job's first epoch")
    assert _metadata(local_http, 4).created == model.created  # the previous model while training runs
    assert local_http.post(f"/api/1/jobs/{long_job}/cancel").json() == {"success": True}
    cancelled = _finished(local_http, long_job, timeout=15)
    assert cancelled.finished_successful is False
    assert any("cancel" in line.lower() for line in _log(local_http, long_job))
    assert _metadata(local_http, 4).created == model.created  # a cancelled job replaces nothing


def test_force_cancel_finishes_at_once(local_http: httpx.Client) -> None:
    job_id = _train(local_http, 3, LONG_TRAIN)
    wait_for(lambda: _status(local_http, job_id).started, 30, "the job to start")
    assert local_http.post(f"/api/1/jobs/{job_id}/cancel", params={"forceCancel": "true"}).status_code == 200
    job = _status(local_http, job_id)
    assert job.finished is not None and job.finished_successful is False
    _train(local_http, 3, TINY_TRAIN)  # the block is free again


def test_listing_filters_and_log_paging(local_http: httpx.Client) -> None:
    job_id = _train(local_http, 4, TINY_TRAIN)
    _finished(local_http, job_id)
    listing = ListJobsResponse.model_validate(
        local_http.get("/api/1/jobs/all", params={"key": "keras-4", "finished": "successful"}).json())
    assert job_id in [j.id for j in listing.jobs]
    assert all(j.key == "keras-4" and j.finished_successful for j in listing.jobs)
    ids = [j.id for j in listing.jobs]
    assert ids == sorted(ids, reverse=True)
    page = ListJobsResponse.model_validate(local_http.get("/api/1/jobs/all", params={"limit": 1, "offset": 1}).json())
    assert len(page.jobs) == 1 and page.total_job_count >= 2

    everything = LogStdoutResponse.model_validate(local_http.get(f"/api/1/jobs/{job_id}/stdout").json())
    assert everything.total_count == len(everything.stdout) >= 4
    stamps = [item.created for item in everything.stdout]
    assert stamps == sorted(stamps, reverse=True)  # newest first
    assert _log(local_http, job_id, limit=2) == [i.data for i in everything.stdout[:2]]
    assert _log(local_http, job_id, limit=2, offset=1) == [i.data for i in everything.stdout[1:3]]
    text = local_http.get(f"/api/1/jobs/{job_id}/stdout/download").text
    assert text.splitlines() == [i.data.rstrip("\n") for i in reversed(everything.stdout)]
    assert "Epoch 1/2" in text
    config = KerasResponse.model_validate(local_http.get("/api/1/training/keras/4").json())
    assert config.training_cycles == TINY_TRAIN["trainingCycles"]  # a train request also saves the config


def test_restart_keeps_everything_and_fails_the_killed_job(tmp_path: Any) -> None:
    data = tmp_path / "studio"
    with start_studio(data) as studio, http_client(studio) as http:
        done = _train(http, 3, TINY_TRAIN)
        job = _finished(http, done)
        log = _log(http, done)
        model = _metadata(http, 3)
        running = _train(http, 3, LONG_TRAIN)
        wait_for(lambda: _has_epoch(http, running), 60, "the long job's first epoch")
        studio.kill()  # kill -9: no chance to clean up

    with start_studio(data, profiling_job=True) as studio, http_client(studio) as http:
        assert _status(http, done) == job
        assert _log(http, done) == log
        assert _metadata(http, 3) == model
        killed = _status(http, running)
        assert killed.finished is not None and killed.finished_successful is False
        assert "server stopped while the job was running" in _log(http, running)[0]
        assert killed.stopped_by_server and (killed.metadata or {})["failureCause"] == "server-stopped"
        assert not _status(http, done).stopped_by_server
        assert http.get("/api/1/jobs").json()["jobs"] == []

        # --profiling-job: device metrics come from a second job, announced on the metadata
        fresh = _train(http, 3, TINY_TRAIN)
        assert fresh > running
        _finished(http, fresh)
        profiling = ListJobsResponse.model_validate(
            http.get("/api/1/jobs/all", params={"key": "keras-profile-3"}).json()).jobs
        assert len(profiling) == 1
        prof = _finished(http, profiling[0].id, timeout=30)
        assert prof.finished_successful is True
        final = _metadata(http, 3)
        assert final.created > model.created
        assert all(mm.profiling_job_id is None and mm.on_device_performance for mm in final.model_validation_metrics)
        last = _train(http, 3, LONG_TRAIN)
        wait_for(lambda: _status(http, last).started, 30, "the last job to start")
    # a graceful stop (SIGTERM) fails the running job at once, on disk
    record = json.loads((data / "jobs" / str(last) / "job.json").read_text())
    assert record["finished"] is not None and record["finishedSuccessful"] is False
    assert record["reason"] == "server stopped while the job was running" and record["cause"] == "server-stopped"


def test_a_server_that_cannot_start_says_why(tmp_path: Any) -> None:
    from sweep.errors import LocalStudioError

    studio = start_studio(tmp_path / "studio", extra_args=["--concurrency", "0"], startup_timeout=60)
    with pytest.raises(LocalStudioError, match="concurrency"):
        studio.start()



@pytest.mark.parametrize(("raw", "depth"), [
    (b"{}", 1), (b'{"a": [1, {"b": []}]}', 4), (b'{"s": "[[[[{{{{"}', 1), (b'{"s": "\\\\\\"[[["}', 1),
    (b"3", 0), (b'[[["]"]]]', 3),
])
def test_json_depth_skips_strings(raw: bytes, depth: int) -> None:
    from sweep.local.bodies import json_depth

    assert json_depth(raw) == depth
