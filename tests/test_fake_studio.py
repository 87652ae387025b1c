"""The fake studio answers every route in shapes the official edgeimpulse_api models parse."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from edgeimpulse_api.models.generic_api_response import GenericApiResponse
from edgeimpulse_api.models.get_impulse_response import GetImpulseResponse
from edgeimpulse_api.models.get_job_response import GetJobResponse
from edgeimpulse_api.models.keras_model_metadata_response import (
    KerasModelMetadataResponse,
)
from edgeimpulse_api.models.keras_response import KerasResponse
from edgeimpulse_api.models.list_jobs_response import ListJobsResponse
from edgeimpulse_api.models.log_stdout_response import LogStdoutResponse
from edgeimpulse_api.models.project_info_response import ProjectInfoResponse
from edgeimpulse_api.models.start_job_response import StartJobResponse

from fake_studio import FakeStudio, JobScript, fake_studio  # noqa: F401 - fixture

REQ = {"learningRate": 0.003, "trainingCycles": 3, "visualLayers": [{"type": "dense", "neurons": 32}]}


def _t(value: object) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def client(s: FakeStudio) -> httpx.Client:
    return httpx.Client(base_url=s.base_url, headers={"x-api-key": s.api_key}, timeout=5)


def train(c: httpx.Client, req: dict = REQ) -> int:
    r = c.post("/api/42/jobs/train/keras/7", json=req)
    assert r.status_code == 200, r.text
    return StartJobResponse.from_dict(r.json()).id


def test_every_route_parses_with_official_models(fake_studio: FakeStudio) -> None:
    with client(fake_studio) as c:
        ProjectInfoResponse.from_dict(c.get("/api/42").json())
        info = c.get("/api/42").json()
        assert info["performance"]["jobLimitM"] > 0 and info["computeTime"]["timeLeftMs"] > 0
        imp = GetImpulseResponse.from_dict(c.get("/api/42/impulse").json())
        assert [b.id for b in imp.impulse.learn_blocks] == [7]
        assert KerasResponse.from_dict(c.get("/api/42/training/keras/7").json()).trained is False
        assert c.get("/api/42/training/keras/7/metadata").json()["success"] is False
        GenericApiResponse.from_dict(c.post("/api/42/training/keras/7", json={"trainingCycles": 9}).json())
        assert c.get("/api/42/training/keras/7").json()["trainingCycles"] == 9
        jid = train(c)
        job = GetJobResponse.from_dict(c.get(f"/api/42/jobs/{jid}/status").json()).job
        assert job.finished_successful is True and _t(job.finished).tzinfo is not None and job.key == "keras-7"
        log = LogStdoutResponse.from_dict(c.get(f"/api/42/jobs/{jid}/stdout").json())
        assert log.total_count == len(log.stdout) and log.stdout[0].data.startswith("Job completed")
        assert log.stdout[-1].data.startswith("Epoch 1/3")
        listed = ListJobsResponse.from_dict(c.get("/api/42/jobs/all", params={"key": "keras-7"}).json())
        assert [j.id for j in listed.jobs] == [jid]
        assert ListJobsResponse.from_dict(c.get("/api/42/jobs").json()).jobs == []
        meta = KerasModelMetadataResponse.from_dict(c.get("/api/42/training/keras/7/metadata").json())
        assert _t(meta.created) >= _t(job.created) and meta.class_names == fake_studio.class_names
        int8 = next(m for m in meta.model_validation_metrics if m.type == "int8")
        dev = next(d for d in int8.on_device_performance if d.is_default)
        assert dev.mcu == "cortex-m4f-80mhz" and "macro avg" in int8.report
        assert len(meta.tensorboard_graphs[0].data[0].values) == 3
        assert KerasResponse.from_dict(c.get("/api/42/training/keras/7").json()).trained is True
        GenericApiResponse.from_dict(c.post(f"/api/42/jobs/{jid}/cancel").json())
        # wider layers cost more RAM and latency, so constraints and objectives have something to bite
        train(c, {**REQ, "visualLayers": [{"type": "dense", "neurons": 256}]})
        wide = c.get("/api/42/training/keras/7/metadata").json()["modelValidationMetrics"][1]["onDevicePerformance"][0]
        assert wide["eon"]["ramRequired"] > dev.eon.ram_required and wide["latency"] > dev.latency


def test_auth_busy_block_and_unknown_routes(fake_studio: FakeStudio) -> None:
    with httpx.Client(base_url=fake_studio.base_url, headers={"x-api-key": "wrong"}) as bad:
        r = bad.get("/api/42")
        assert r.status_code == 401 and r.json()["success"] is False
    fake_studio.script(JobScript(duration_s=30))
    with client(fake_studio) as c:
        jid = train(c)
        active = ListJobsResponse.from_dict(c.get("/api/42/jobs").json())
        assert [j.id for j in active.jobs] == [jid] and active.jobs[0].finished is None
        r = c.post("/api/42/jobs/train/keras/7", json=REQ)
        assert r.status_code == 400 and r.json()["success"] is False
        c.post(f"/api/42/jobs/{jid}/cancel")
        job = GetJobResponse.from_dict(c.get(f"/api/42/jobs/{jid}/status").json()).job
        assert job.finished is not None and job.finished_successful is False
        assert c.get("/api/42/jobs/99999/status").status_code == 404
        assert c.get("/api/43").status_code == 404


def test_scripts_failure_stale_profiling_and_status_errors(fake_studio: FakeStudio) -> None:
    fake_studio.script(JobScript(), JobScript(succeed=False, log_lines=["boom"]), JobScript(stale_metadata=True),
                       JobScript(profiling_delay_s=0.4, status_errors=[502, 429]))
    with client(fake_studio) as c:
        first = train(c)
        created = c.get("/api/42/training/keras/7/metadata").json()["created"]
        failed = train(c)
        job = GetJobResponse.from_dict(c.get(f"/api/42/jobs/{failed}/status").json()).job
        assert job.finished_successful is False
        assert [i["data"] for i in c.get(f"/api/42/jobs/{failed}/stdout").json()["stdout"]][-1] == "boom\n"
        stale = train(c)
        assert stale > first
        stale_job = GetJobResponse.from_dict(c.get(f"/api/42/jobs/{stale}/status").json()).job
        stale_meta = KerasModelMetadataResponse.from_dict(c.get("/api/42/training/keras/7/metadata").json())
        assert _t(stale_meta.created) <= _t(created) and _t(stale_meta.created) < _t(stale_job.created)
        prof = train(c)
        r1, r2 = c.get(f"/api/42/jobs/{prof}/status"), c.get(f"/api/42/jobs/{prof}/status")
        assert (r1.status_code, r2.status_code) == (502, 429) and r2.headers["retry-after"] == "0"
        assert c.get(f"/api/42/jobs/{prof}/status").status_code == 200
        meta = KerasModelMetadataResponse.from_dict(c.get("/api/42/training/keras/7/metadata").json())
        assert all(m.profiling_job_id and not m.on_device_performance for m in meta.model_validation_metrics)
        profiler = c.get(f"/api/42/jobs/{meta.model_validation_metrics[0].profiling_job_id}/status").json()["job"]
        assert profiler.get("finished") is None and profiler["key"] == "profile-keras-7"
        time.sleep(0.5)
        meta = KerasModelMetadataResponse.from_dict(c.get("/api/42/training/keras/7/metadata").json())
        assert all(m.profiling_job_id is None and m.on_device_performance for m in meta.model_validation_metrics)


def test_timed_job_and_dropped_post_answer(fake_studio: FakeStudio) -> None:
    fake_studio.script(JobScript(duration_s=0.3, drop_post_answer=True))
    with client(fake_studio) as c:
        with pytest.raises(httpx.TransportError):
            c.post("/api/42/jobs/train/keras/7", json=REQ)
        (jid,) = fake_studio.jobs
        running = ListJobsResponse.from_dict(c.get("/api/42/jobs/all", params={"finished": "false"}).json())
        assert [j.id for j in running.jobs] == [jid]
        assert c.get(f"/api/42/jobs/{jid}/status").json()["job"].get("finished") is None
        time.sleep(0.35)
        assert c.get(f"/api/42/jobs/{jid}/status").json()["job"]["finishedSuccessful"] is True


def test_metrics_script_and_default_is_deterministic(fake_studio: FakeStudio) -> None:
    fake_studio.script(JobScript(), JobScript(), JobScript(metrics={"accuracy": 0.5, "int8_accuracy": 0.25}))
    with client(fake_studio) as c:
        accs = []
        for _ in range(3):
            train(c)
            accs.append(c.get("/api/42/training/keras/7/metadata").json()["modelValidationMetrics"][1]["accuracy"])
    assert accs[0] == accs[1] != accs[2] == 0.25
    assert [p for m, p, _ in fake_studio.requests if m == "POST"] == ["/v1/api/42/jobs/train/keras/7"] * 3


def test_keep_alive_round_trip(fake_studio: FakeStudio) -> None:
    with client(fake_studio) as c:
        c.get("/api/42/jobs")
        t = time.perf_counter()
        for _ in range(100):
            c.get("/api/42/jobs")
        print(f"\nkeep-alive GET round trip: {(time.perf_counter() - t) * 10:.2f} ms")


def test_subprocess_state_survives_a_restart(tmp_path: Path) -> None:
    port_file, state = tmp_path / "port", tmp_path / "state.json"
    cmd = [sys.executable, str(Path(__file__).with_name("fake_studio.py")), "--port-file", str(port_file),
           "--state-file", str(state), "--job-duration", "60"]

    def run() -> tuple[subprocess.Popen, str]:
        port_file.unlink(missing_ok=True)
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
        end = time.monotonic() + 20
        while not port_file.exists():
            assert time.monotonic() < end and proc.poll() is None
            time.sleep(0.02)
        return proc, f"http://127.0.0.1:{port_file.read_text()}/v1"

    proc, url = run()
    try:
        with httpx.Client(base_url=url, headers={"x-api-key": "test-key-fake-0123456789"}) as c:
            jid = c.post("/api/42/jobs/train/keras/7", json=REQ).json()["id"]
    finally:
        proc.kill()
        proc.wait()
    proc, url = run()
    try:
        with httpx.Client(base_url=url, headers={"x-api-key": "test-key-fake-0123456789"}) as c:
            jobs = c.get("/api/42/jobs").json()["jobs"]
            assert [j["id"] for j in jobs] == [jid]
            assert c.post("/api/42/jobs/train/keras/7", json=REQ).status_code == 400
    finally:
        proc.kill()
        proc.wait()
