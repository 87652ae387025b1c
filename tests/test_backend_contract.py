"""One contract, every backend: the same assertions against the tests' fake Studio and the real local studio over HTTP.

Like Optuna's ``testing/pytest_storages.py`` for storages: a backend is whatever answers these
routes as Studio does. Train -> status -> log (newest first, epoch lines) -> metadata parsed by the
official models -> the model files, listed and downloaded (the latest job's) -> cancel -> a busy learn
block refused -> bad bodies 400 -> a wrong key 401 -> what a restart keeps.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from edgeimpulse_api.models.get_job_response import GetJobResponse as OfficialJob
from edgeimpulse_api.models.keras_model_metadata_response import KerasModelMetadataResponse as OfficialMetadata
from edgeimpulse_api.models.log_stdout_response import LogStdoutResponse as OfficialLog
from edgeimpulse_api.models.project_downloads_response import ProjectDownloadsResponse as OfficialDownloads
from pydantic import SecretStr

from sweep.errors import ApiError, AuthError
from sweep.studio.client import StudioClient, make_http_client
from sweep.studio.downloads import model_downloads
from sweep.studio.joblog import curves_from_log
from sweep.studio.models import Job, SetKerasParameterRequest

from fake_studio import FakeStudio, JobScript, model_bytes
from local_fixtures import start_studio

pytestmark = pytest.mark.slow
QUICK = SetKerasParameterRequest(training_cycles=2, learning_rate=0.01, batch_size=32)
LONG = SetKerasParameterRequest(training_cycles=3000, learning_rate=0.001, batch_size=16)
BAD_BODIES = [b"{trainingCycles: 3", b"[1, 2]", b'{"trainingCycles": "many"}', b'{"learningRate": "fast"}',
              b'{"visualLayers": {"type": "dense"}}']


@dataclass
class Served:
    """A running backend as the contract sees it: where it answers, its key, one project and learn block."""

    name: str
    url: Callable[[], str]  # may change across a restart (the local studio binds a free port)
    api_key: str
    project_id: int
    learn_id: int
    expect_long: Callable[[], None]  # the next train job runs until cancelled
    restart: Callable[[], None]  # stop and start again on the same data
    model_of: Callable[[int, str], bytes]  # the file (float32 or int8) a train job left, read from the backend's side

    def client(self, key: str | None = None) -> StudioClient:
        return StudioClient(make_http_client(self.url(), SecretStr(key or self.api_key), timeout=30), self.project_id)

    def post(self, route: str, body: bytes) -> httpx.Response:
        return httpx.post(f"{self.url()}/api/{self.project_id}{route}", content=body, timeout=30,
                          headers={"x-api-key": self.api_key, "content-type": "application/json"})

    def get(self, route: str) -> dict[str, Any]:
        answer = httpx.get(f"{self.url()}/api/{self.project_id}{route}", headers={"x-api-key": self.api_key},
                           timeout=30)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body


def _fake(tmp: Path) -> Iterator[Served]:
    state = tmp / "fake-state.json"
    holder = [FakeStudio(state_file=state, default_script=JobScript(duration_s=0.5)).start()]

    def restart() -> None:
        port = holder[0].port
        holder[0].stop()
        holder[0] = FakeStudio(state_file=state, port=port, default_script=JobScript(duration_s=0.5)).start()

    try:
        yield Served("fake Studio", lambda: holder[0].base_url, holder[0].api_key, holder[0].project_id, 7,
                     lambda: holder[0].script(JobScript(duration_s=600)), restart,
                     lambda job_id, kind: model_bytes(job_id, 7, kind))
    finally:
        holder[0].stop()


def _local(tmp: Path) -> Iterator[Served]:
    studio = start_studio(tmp / "local-studio", concurrency=1)
    studio.start()

    def restart() -> None:
        studio.stop()
        studio.start()

    try:
        yield Served("local studio", lambda: studio.base_url, studio.api_key.get_secret_value(), 1, 3,
                     lambda: None, restart,
                     lambda job_id, kind: (studio.data_dir / f"jobs/{job_id}/model_{kind}.tflite").read_bytes())
    finally:
        studio.stop()


@pytest.fixture(scope="class", params=["fake", "local"])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    make = _fake if request.param == "fake" else _local
    yield from make(tmp_path_factory.mktemp(f"contract-{request.param}"))


def _finished(client: StudioClient, job_id: int, timeout: float = 180.0) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.job_status(job_id)
        if job.finished is not None:
            return job
        time.sleep(0.2)
    pytest.fail(f"job {job_id} did not finish within {timeout:.0f} s")


def _running(client: StudioClient, job_id: int, timeout: float = 60.0) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.job_status(job_id)
        if job.started is not None:
            return job
        time.sleep(0.1)
    pytest.fail(f"job {job_id} did not start within {timeout:.0f} s")


class TestBackendContract:
    def test_train_status_log_and_metadata(self, served: Served) -> None:
        client = served.client()
        job_id = client.start_training(served.learn_id, QUICK)
        job = _finished(client, job_id)
        assert job.finished_successful is True and job.key == f"keras-{served.learn_id}"
        assert job.compute_time is not None and job.compute_time > 0
        assert OfficialJob.from_dict(served.get(f"/jobs/{job_id}/status")).job.id == job_id
        items = client.job_log(job_id)
        assert [i.created for i in items] == sorted((i.created for i in items), reverse=True)  # newest first
        lines = [i.data for i in reversed(items)]
        assert any(line.startswith("Epoch 1/") for line in lines), lines[:10]
        assert len(curves_from_log(lines)["loss"]) == 2  # one epoch line pair per epoch of QUICK
        assert OfficialLog.from_dict(served.get(f"/jobs/{job_id}/stdout")).total_count == len(items)
        metadata = client.metadata(served.learn_id)
        assert metadata.has_trained_model and {m.type.value for m in metadata.model_validation_metrics} >= {"int8"}
        official = OfficialMetadata.from_dict(served.get(f"/training/keras/{served.learn_id}/metadata"))
        assert official.success and official.class_names == metadata.class_names

    def test_the_latest_jobs_model_files_are_listed_and_downloaded(self, served: Served) -> None:
        client = served.client()
        impulse = client.impulse().id
        for _ in range(2):  # the second job's model replaces the first's, as on Studio
            job_id = client.start_training(served.learn_id, QUICK)
            assert _finished(client, job_id).finished_successful
            listing = client.downloads(impulse)
            official = OfficialDownloads.from_dict(served.get(f"/downloads?impulseId={impulse}"))
            assert official.success and [d.link for d in official.downloads] == [d.link for d in listing]
            found = model_downloads(listing, served.learn_id)
            assert set(found) == {"float32", "int8"}
            for kind, entry in found.items():
                data = client.download_model(served.learn_id, entry.download_id)
                assert data[4:8] == b"TFL3" and data == served.model_of(job_id, kind)
        with pytest.raises(ApiError) as unknown:
            client.download_model(served.learn_id, "no-such-model")
        assert unknown.value.status_code == 404

    def test_cancel_and_a_busy_learn_block(self, served: Served) -> None:
        client = served.client()
        served.expect_long()
        job_id = client.start_training(served.learn_id, LONG)
        _running(client, job_id)
        with pytest.raises(ApiError) as busy:
            client.start_training(served.learn_id, QUICK)
        assert busy.value.status_code in (400, 409) and "already" in str(busy.value)
        client.cancel_job(job_id)
        job = _finished(client, job_id, timeout=60)
        assert job.finished_successful is False

    @pytest.mark.parametrize("route", ["/jobs/train/keras/{lid}", "/training/keras/{lid}"])
    def test_bad_bodies_are_400(self, served: Served, route: str) -> None:
        before = served.get("/jobs/all")["totalJobCount"]
        for body in BAD_BODIES:
            answer = served.post(route.format(lid=served.learn_id), body)
            assert answer.status_code == 400, (body, answer.text)
            assert answer.json()["success"] is False and answer.json()["error"]
        assert served.get("/jobs/all")["totalJobCount"] == before

    def test_a_wrong_key_is_401(self, served: Served) -> None:
        with pytest.raises(AuthError) as refused:
            served.client(key="not-the-key").job_status(1)
        assert refused.value.status_code == 401 and "not-the-key" not in str(refused.value)

    def test_a_restart_keeps_finished_jobs_and_the_model(self, served: Served) -> None:
        client = served.client()
        job_id = client.start_training(served.learn_id, QUICK)
        before = _finished(client, job_id)
        served.restart()
        again = served.client()
        after = again.job_status(job_id)
        assert (after.finished, after.finished_successful, after.compute_time) == (
            before.finished, before.finished_successful, before.compute_time)
        assert again.metadata(served.learn_id).has_trained_model
