"""StudioClient against the REAL local studio on loopback: every route, real errors, a lost answer."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr

from sweep.errors import ApiError, AuthError, TransientError
from sweep.local.embedded import EmbeddedStudio
from sweep.session.resolver import TargetFacts
from sweep.studio.client import StudioClient, make_http_client
from sweep.studio.joblog import curves_from_log
from sweep.studio.metric_names import parse
from sweep.studio.metrics import curves_from_metadata, flatten_metadata
from sweep.studio.models import SetKerasParameterRequest, VisualLayer
from sweep.studio.retry import RetryPolicy

from local_fixtures import local_studio  # noqa: F401

PROJECT, LEARN, SPARE = 1, 3, 4  # the shipped `digits` project and its two learn blocks
TINY = SetKerasParameterRequest(training_cycles=2, learning_rate=0.01, batch_size=32,
                                visual_layers=[VisualLayer(type="flatten"), VisualLayer(type="dense", neurons=8)])


@pytest.fixture(scope="module")
def client(local_studio: EmbeddedStudio) -> Iterator[StudioClient]:
    with make_http_client(local_studio.base_url, local_studio.api_key, timeout=30.0) as http:
        yield StudioClient(http, PROJECT)


def wait_finished(client: StudioClient, job_id: int, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while client.job_status(job_id).finished is None:
        if time.monotonic() > deadline:
            client.cancel_job(job_id, force=True)
            pytest.fail(f"job {job_id} did not finish in {timeout:.0f} s")
        time.sleep(0.3)


def test_every_route_against_the_local_studio(client: StudioClient) -> None:
    assert {b.id for b in client.impulse().learn_blocks} >= {LEARN, SPARE}
    info = client.project_info()
    assert info.performance.job_limit_m > 0
    config = client.keras_config(LEARN)
    assert config.training_cycles > 0 and config.shape
    client.save_keras_config(LEARN, config_request := SetKerasParameterRequest(training_cycles=3))
    assert client.keras_config(LEARN).training_cycles == config_request.training_cycles

    submitted = datetime.now(UTC)
    job_id = client.start_training(LEARN, TINY)
    assert any(j.id == job_id for j in client.list_jobs(key=f"keras-{LEARN}"))
    wait_finished(client, job_id)
    job = client.job_status(job_id)
    assert job.finished_successful is True and job.key == f"keras-{LEARN}"
    lines = client.job_log(job_id, limit=5)
    assert 0 < len(lines) <= 5 and lines[0].created >= lines[-1].created  # newest first
    metadata = client.metadata(LEARN)
    assert metadata.has_trained_model and metadata.created >= submitted.replace(microsecond=0)
    # the epoch lines pruning reads agree with the curves the metadata publishes
    curves = curves_from_log([item.data for item in reversed(client.job_log(job_id))])
    assert len(curves["val_accuracy"]) == len(curves["val_loss"]) == TINY.training_cycles
    assert curves["val_accuracy"] == pytest.approx(curves_from_metadata(metadata)["val_accuracy"], abs=1e-3)
    # every name its model reports is one the resolver accepts for this project, by the one grammar
    facts = TargetFacts.of_project(info, "digits", [b.type for b in client.impulse().learn_blocks])
    for key in flatten_metadata(metadata):
        assert (name := parse(key)) is not None and facts.refusal(name, tunes_impulse=False) is None, key
    found = client.find_train_job(LEARN, created_after=submitted)
    assert found is not None and found.id == job_id
    assert job_id in [j.id for j in client.list_jobs(key=f"keras-{LEARN}", finished="successful")]
    assert job_id not in [j.id for j in client.list_jobs(active_only=True)]


def test_real_errors_map_to_the_error_tree(client: StudioClient, local_studio: EmbeddedStudio) -> None:
    with pytest.raises(ApiError) as info:
        client.job_status(987654)
    assert info.value.status_code == 404 and info.value.route == f"/api/{PROJECT}/jobs/987654/status"
    with pytest.raises(ApiError) as info:
        client.start_training(LEARN, SetKerasParameterRequest(learning_rate=5.0))
    assert info.value.status_code == 400
    wrong = SecretStr("ei_wrong_key_" + "x" * 20)
    with make_http_client(local_studio.base_url, wrong) as http, pytest.raises(AuthError) as auth:
        StudioClient(http, PROJECT).impulse()
    assert "EI_API_KEY" in str(auth.value) and wrong.get_secret_value() not in str(auth.value)
    with make_http_client("http://127.0.0.1:9/v1", wrong, timeout=2.0) as http, pytest.raises(TransientError):
        StudioClient(http, PROJECT, retry=RetryPolicy(attempts=2, base_delay_s=0.01)).impulse()


class LoseTrainAnswer(httpx.BaseTransport):
    """Forwards to the real server, then drops the answer of the first train POST (fault injection)."""

    def __init__(self) -> None:
        self.real, self.posts, self.lost = httpx.HTTPTransport(), 0, 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.real.handle_request(request)
        if request.method == "POST" and "/jobs/train/keras/" in request.url.path:
            self.posts += 1
            if self.lost == 0:
                response.read()
                response.close()
                self.lost += 1
                raise httpx.ReadError("connection reset while reading the answer", request=request)
        return response

    def close(self) -> None:
        self.real.close()


def test_lost_train_answer_on_the_real_server_makes_one_job(local_studio: EmbeddedStudio) -> None:
    transport = LoseTrainAnswer()
    with make_http_client(local_studio.base_url, local_studio.api_key, transport=transport) as http:
        client = StudioClient(http, PROJECT)
        before = {j.id for j in client.list_jobs(key=f"keras-{SPARE}")}
        job_id = client.start_training(SPARE, TINY)
        after = [j.id for j in client.list_jobs(key=f"keras-{SPARE}") if j.id not in before]
        assert after == [job_id] and transport.posts == 1
        wait_finished(client, job_id)
