"""StudioClient over httpx.MockTransport: routes, parsing, errors, retries, and lost train POSTs."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from edgeimpulse_api.models.generic_api_response import (
    GenericApiResponse as OfficialGeneric,
)
from edgeimpulse_api.models.get_impulse_response import (
    GetImpulseResponse as OfficialImpulse,
)
from edgeimpulse_api.models.get_job_response import GetJobResponse as OfficialJob
from edgeimpulse_api.models.keras_model_metadata_response import (
    KerasModelMetadataResponse as OfficialMetadata,
)
from edgeimpulse_api.models.list_jobs_response import ListJobsResponse as OfficialJobs
from edgeimpulse_api.models.log_stdout_response import (
    LogStdoutResponse as OfficialStdout,
)
from edgeimpulse_api.models.set_keras_parameter_request import (
    SetKerasParameterRequest as OfficialRequest,
)
from edgeimpulse_api.models.start_job_response import StartJobResponse as OfficialStart
from pydantic import SecretStr

from sweep.errors import ApiError, AuthError, ProtocolError, TransientError
from sweep.studio.client import StudioClient, make_http_client
from sweep.studio.models import (
    AugmentationPolicySpectrogram,
    ModelType,
    SetKerasParameterRequest,
    VisualLayer,
)
from sweep.studio.retry import RetryPolicy

KEY = "ei_0123456789abcdef_secret_key"
PROJECT, LEARN = 77, 3
BASE = "https://studio.test/v1"
NOW = datetime.now(UTC).replace(microsecond=0)

Handler = Callable[[httpx.Request], httpx.Response]


def official(model: Any, body: dict[str, Any]) -> dict[str, Any]:
    """Validate a fixture with the official (pydantic v1) model; ``from_dict`` alone does not validate."""
    model.parse_obj(body)
    return body


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def job(job_id: int, *, key: str = f"keras-{LEARN}", created: datetime = NOW, finished: bool = False) -> dict[str, Any]:
    body = {"id": job_id, "category": "Training model", "categoryKey": "learn-train-studio-wrapper", "key": key,
            "created": iso(created), "jobNotificationUids": []}
    if finished:
        body.update(started=iso(created), finished=iso(created + timedelta(seconds=30)), finishedSuccessful=True,
                    computeTime=30.0)
    return body


def reply(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


class Clock:
    """A fake monotonic clock that only moves when the client sleeps."""

    def __init__(self) -> None:
        self.now, self.sleeps = 1000.0, []  # type: ignore[var-annotated]

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


def make(handler: Handler, clock: Clock, **policy: Any) -> StudioClient:
    http = httpx.Client(base_url=BASE, headers={"x-api-key": KEY}, transport=httpx.MockTransport(handler))
    retry = RetryPolicy(**{"jitter": False, **policy})
    return StudioClient(http, PROJECT, retry=retry, sleep=clock.sleep, clock=clock)


class FakeStudio:
    """Jobs kept in memory; ``post_fault`` decides what happens to each train POST."""

    def __init__(self, post_faults: list[str] | None = None, *, list_status: int = 200) -> None:
        self.jobs: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.bodies: list[dict[str, Any]] = []
        self.post_faults = list(post_faults or [])
        self.list_status = list_status
        self.next_id = 500

    def posts(self) -> int:
        return sum(1 for m, p, _ in self.requests if m == "POST" and "/jobs/train/" in p)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/v1")
        self.requests.append((request.method, path, dict(request.url.params)))
        if request.method == "POST" and path == f"/api/{PROJECT}/jobs/train/keras/{LEARN}":
            fault = self.post_faults.pop(0) if self.post_faults else "ok"
            if fault == "connect":  # refused before anything was sent
                raise httpx.ConnectError("connection refused", request=request)
            if fault == "read-no-job":
                raise httpx.ReadTimeout("timed out", request=request)
            self.bodies.append(json.loads(request.content))
            self.next_id += 1
            self.jobs.append(job(self.next_id, created=datetime.now(UTC).replace(microsecond=0)))
            if fault == "read":
                raise httpx.ReadError("connection reset by peer", request=request)
            if fault == "502":
                return httpx.Response(502, text="")
            return reply(official(OfficialStart, {"success": True, "id": self.next_id}))
        if path in (f"/api/{PROJECT}/jobs", f"/api/{PROJECT}/jobs/all"):
            if self.list_status != 200:
                return httpx.Response(self.list_status, text="bad gateway")
            jobs = self.jobs if path.endswith("/all") else [j for j in self.jobs if "finished" not in j]
            if "key" in request.url.params:
                jobs = [j for j in jobs if j["key"] == request.url.params["key"]]
            jobs = sorted(jobs, key=lambda j: -j["id"])
            return reply(official(OfficialJobs, {"success": True, "jobs": jobs, "totalJobCount": len(jobs)}))
        if path.endswith("/status"):
            job_id = int(path.split("/")[-2])
            found = [j for j in self.jobs if j["id"] == job_id]
            if not found:
                return reply({"success": False, "error": f"No job with ID {job_id}"}, 404)
            return reply(official(OfficialJob, {"success": True, "job": found[0]}))
        return reply({"success": False, "error": f"no route {path}"}, 404)


REQUEST = SetKerasParameterRequest(
    mode="visual",
    training_cycles=20,
    learning_rate=0.005,
    batch_size=32,
    selected_model_type=ModelType.INT8,
    visual_layers=[VisualLayer(type="dense", neurons=16), VisualLayer(type="dropout", dropout_rate=0.25)],
    augmentation_policy_spectrogram=AugmentationPolicySpectrogram(enabled=True, freq_masking="low"),
    profile_int8=True,
)


# ---- routes and answers ---------------------------------------------------------------------


def metadata_body() -> dict[str, Any]:
    metrics = {"type": "int8", "loss": 0.3, "accuracy": 0.9, "confusionMatrix": [[9.0, 1.0], [1.0, 9.0]],
               "report": {"accuracy": 0.9}, "onDevicePerformance": [], "visualization": "featureExplorer",
               "isSupportedOnMcu": True, "additionalMetrics": []}
    return official(OfficialMetadata, {
        "success": True, "created": iso(NOW), "layers": [], "classNames": ["no", "yes"], "labels": [],
        "availableModelTypes": ["int8"], "recommendedModelType": "int8", "modelValidationMetrics": [metrics],
        "hasTrainedModel": True, "mode": "classification", "imageInputScaling": "0..1", "thresholds": []})


def test_routes_query_parameters_and_parsed_answers() -> None:
    seen: list[tuple[str, str, dict[str, str]]] = []
    log_items = [{"created": iso(NOW), "data": "Epoch 2/2\n", "logLevel": "info"},
                 {"created": iso(NOW), "data": "Epoch 1/2\n", "logLevel": "info"}]
    impulse = {"id": 1, "name": "Impulse #1", "inputBlocks": [], "dspBlocks": [], "postProcessingBlocks": [],
               "type": "default",
               "learnBlocks": [{"id": LEARN, "type": "keras", "name": "NN", "dsp": [2], "title": "Classifier"}]}
    answers = {
        ("POST", f"/api/{PROJECT}/jobs/train/keras/{LEARN}"): official(OfficialStart, {"success": True, "id": 9}),
        ("GET", f"/api/{PROJECT}/jobs/9/status"): official(OfficialJob,
                                                            {"success": True, "job": job(9, finished=True)}),
        ("GET", f"/api/{PROJECT}/jobs/9/stdout"): official(OfficialStdout, {"success": True, "stdout": log_items,
                                                                             "totalCount": 2}),
        ("POST", f"/api/{PROJECT}/jobs/9/cancel"): official(OfficialGeneric, {"success": True}),
        ("GET", f"/api/{PROJECT}/jobs/all"): official(OfficialJobs, {"success": True, "jobs": [job(9, finished=True)],
                                                                     "totalJobCount": 1}),
        ("GET", f"/api/{PROJECT}/jobs"): official(OfficialJobs, {"success": True, "totalJobCount": 2,
                                                                 "jobs": [job(10), job(11, key="keras-4")]}),
        ("GET", f"/api/{PROJECT}/training/keras/{LEARN}/metadata"): metadata_body(),
        ("GET", f"/api/{PROJECT}/impulse"): official(OfficialImpulse, {"success": True, "impulse": impulse}),
        ("POST", f"/api/{PROJECT}/training/keras/{LEARN}"): official(OfficialGeneric, {"success": True}),
    }

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/v1")
        seen.append((request.method, path, dict(request.url.params)))
        assert request.url.host == "studio.test" and request.url.path.startswith("/v1/api/")
        return reply(answers[(request.method, path)])

    client = make(handler, Clock())
    assert client.start_training(LEARN, REQUEST) == 9
    status = client.job_status(9)
    assert (status.id, status.finished_successful, status.compute_time) == (9, True, 30.0)
    assert [i.data for i in client.job_log(9, limit=2)] == ["Epoch 2/2\n", "Epoch 1/2\n"]  # newest first, as given
    client.cancel_job(9, force=True)
    client.cancel_job(9)
    assert [j.id for j in client.list_jobs(key="keras-3", finished="successful", limit=5)] == [9]
    assert [j.id for j in client.list_jobs(key="keras-3", active_only=True)] == [10]
    meta = client.metadata(LEARN)
    assert meta.class_names == ["no", "yes"] and meta.model_validation_metrics[0].accuracy == 0.9
    assert client.impulse().learn_blocks[0].id == LEARN
    client.save_keras_config(LEARN, REQUEST)
    assert seen == [
        ("POST", f"/api/{PROJECT}/jobs/train/keras/{LEARN}", {}),
        ("GET", f"/api/{PROJECT}/jobs/9/status", {}),
        ("GET", f"/api/{PROJECT}/jobs/9/stdout", {"limit": "2"}),
        ("POST", f"/api/{PROJECT}/jobs/9/cancel", {"forceCancel": "true"}),
        ("POST", f"/api/{PROJECT}/jobs/9/cancel", {}),
        ("GET", f"/api/{PROJECT}/jobs/all", {"key": "keras-3", "finished": "successful", "limit": "5"}),
        ("GET", f"/api/{PROJECT}/jobs", {}),
        ("GET", f"/api/{PROJECT}/training/keras/{LEARN}/metadata", {"excludeLabels": "true"}),
        ("GET", f"/api/{PROJECT}/impulse", {}),
        ("POST", f"/api/{PROJECT}/training/keras/{LEARN}", {}),
    ]


def test_train_body_parses_with_the_official_request_model() -> None:
    studio = FakeStudio()
    client = make(studio, Clock())
    client.start_training(LEARN, REQUEST)
    (body,) = studio.bodies
    parsed = OfficialRequest.parse_obj(body)
    assert OfficialRequest.from_dict(body).to_dict() == parsed.to_dict()
    assert (parsed.mode, parsed.training_cycles, parsed.learning_rate, parsed.batch_size) == ("visual", 20, 0.005, 32)
    assert [(v.type, v.neurons, v.dropout_rate) for v in parsed.visual_layers] == [("dense", 16, None),
                                                                                   ("dropout", None, 0.25)]
    assert parsed.augmentation_policy_spectrogram.freq_masking == "low"
    assert "trainTestSplit" not in body and "script" not in body  # only fields that are set


def test_no_impulse_is_an_api_error() -> None:
    client = make(lambda r: reply(official(OfficialImpulse, {"success": True})), Clock())
    with pytest.raises(ApiError, match="no impulse"):
        client.impulse()


# ---- errors -----------------------------------------------------------------------------------


def test_success_false_inside_200_is_an_api_error_with_studio_text() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return reply({"success": False, "error": "Learn block 3 has no features yet"})

    with pytest.raises(ApiError) as info:
        make(handler, Clock()).keras_config(LEARN)
    err = info.value
    assert (err.method, err.route, err.status_code) == ("GET", f"/api/{PROJECT}/training/keras/{LEARN}", 200)
    assert "Learn block 3 has no features yet" in str(err) and len(calls) == 1


def test_400_is_not_retried() -> None:
    clock, calls = Clock(), []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return reply({"success": False, "error": "learningRate must be between 0 and 1"}, 400)

    with pytest.raises(ApiError, match="learningRate must be between 0 and 1") as info:
        make(handler, clock).save_keras_config(LEARN, REQUEST)
    assert info.value.status_code == 400 and len(calls) == 1 and clock.sleeps == []


@pytest.mark.parametrize("status", [401, 403])
def test_auth_error_never_shows_the_key(status: int) -> None:
    # Even if the server echoes the key back, it is scrubbed.
    handler = lambda r: reply({"success": False, "error": f"Invalid API key {r.headers['x-api-key']}"}, status)  # noqa: E731
    with pytest.raises(AuthError) as info:
        make(handler, Clock()).project_info()
    err = info.value
    assert err.status_code == status and "EI_API_KEY" in str(err)
    for text in (str(err), repr(err), repr(err.args)):
        assert KEY not in text


def test_unparseable_or_misshapen_answers_are_protocol_errors() -> None:
    client = make(lambda r: httpx.Response(200, text="<html>maintenance</html>"), Clock())
    with pytest.raises(ProtocolError, match="not JSON"):
        client.job_status(1)
    client = make(lambda r: reply({"success": True, "job": {"id": "seven"}}), Clock())
    with pytest.raises(ProtocolError, match="GetJobResponse") as info:
        client.job_status(1)
    assert info.value.route == f"/api/{PROJECT}/jobs/1/status"


# ---- retries ----------------------------------------------------------------------------------


def scripted(*steps: Any) -> Handler:
    """Each request consumes the next step: an int status, an exception type, or a Response."""
    queue = list(steps)

    def handler(request: httpx.Request) -> httpx.Response:
        step = queue.pop(0) if queue else 200
        if isinstance(step, type) and issubclass(step, Exception):
            raise step(f"simulated failure talking with key {KEY}", request=request)
        if isinstance(step, httpx.Response):
            return step
        if step == 200:
            return reply(official(OfficialJob, {"success": True, "job": job(5)}))
        return httpx.Response(step, text="")

    return handler


def test_503_502_then_success_backs_off_exponentially() -> None:
    clock = Clock()
    assert make(scripted(503, 502, 504, 200), clock).job_status(5).id == 5
    assert clock.sleeps == [0.5, 1.0, 2.0]


def test_full_jitter_draws_below_the_capped_exponential() -> None:
    clock = Clock()
    client = make(scripted(503, 503, 503, 503, 200), clock, jitter=True, max_delay_s=1.5, random=lambda: 0.5)
    client.job_status(5)
    assert clock.sleeps == [0.25, 0.5, 0.75, 0.75]


@pytest.mark.parametrize("error", [httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError,
                                   httpx.ReadTimeout, httpx.ConnectTimeout])
def test_connection_errors_are_retried_for_gets(error: type[Exception], caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    with caplog.at_level(logging.WARNING, logger="sweep.studio"):
        assert make(scripted(error, 200), clock).job_status(5).id == 5
    assert clock.sleeps == [0.5]
    assert "retry 1 of 5" in caplog.text and error.__name__ in caplog.text and KEY not in caplog.text


def test_retry_after_seconds_is_honoured() -> None:
    clock = Clock()
    make(scripted(reply({"success": False, "error": "slow down"}, 429, {"Retry-After": "7"}), 200), clock).job_status(5)
    assert clock.sleeps == [7.0]


def test_retry_after_http_date_is_honoured() -> None:
    clock = Clock()
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    make(scripted(httpx.Response(503, headers={"Retry-After": when}), 200), clock).job_status(5)
    (slept,) = clock.sleeps
    assert 17.0 < slept <= 20.0  # second resolution of the date, and the time this test takes


def test_retry_after_past_the_budget_gives_up_without_waiting() -> None:
    clock, handler = Clock(), scripted(httpx.Response(429, headers={"Retry-After": "600"}), 200)
    with pytest.raises(TransientError, match="asked to wait 600 s") as info:
        make(handler, clock, budget_s=300).job_status(5)
    assert info.value.status_code == 429 and clock.sleeps == []


def test_time_budget_bounds_the_total_wait() -> None:
    clock, calls = Clock(), []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(clock.now)
        return httpx.Response(503)

    with pytest.raises(TransientError) as info:
        make(handler, clock, attempts=100, budget_s=10.0).job_status(5)
    assert sum(clock.sleeps) == pytest.approx(10.0) and clock.sleeps[-1] < 8.0  # the last wait is cut to fit
    assert info.value.status_code == 503 and len(calls) == len(clock.sleeps) + 1


def test_attempts_bound_the_tries_and_cancel_is_retried() -> None:
    clock, calls = Clock(), []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(TransientError, match="gave up after 3 attempt") as info:
        make(handler, clock, attempts=3).cancel_job(5)
    assert calls == ["POST"] * 3 and clock.sleeps == [0.5, 1.0] and info.value.status_code is None
    assert KEY not in str(info.value)


# ---- the train POST: never a duplicate job -----------------------------------------------------


@pytest.mark.parametrize("fault", ["read", "502"])
def test_lost_answer_after_the_job_was_created_returns_that_job(fault: str) -> None:
    studio, clock = FakeStudio([fault]), Clock()
    job_id = make(studio, clock).start_training(LEARN, REQUEST)
    assert len(studio.jobs) == 1 and studio.posts() == 1
    assert job_id == studio.jobs[0]["id"] and clock.sleeps == []


def test_lost_answer_with_no_job_is_posted_once_more_after_a_settle() -> None:
    studio, clock = FakeStudio(["read-no-job"]), Clock()
    job_id = make(studio, clock, settle_s=3.0).start_training(LEARN, REQUEST)
    assert studio.posts() == 2 and len(studio.jobs) == 1 and job_id == studio.jobs[0]["id"]
    assert clock.sleeps == [3.0]
    gets = [p for m, p, _ in studio.requests if m == "GET"]
    assert gets == [f"/api/{PROJECT}/jobs", f"/api/{PROJECT}/jobs/all"] * 2  # looked up, settled, looked again


def test_lost_answers_are_re_posted_a_bounded_number_of_times() -> None:
    studio = FakeStudio(["read-no-job"] * 10)
    with pytest.raises(TransientError, match="lost 3 time") as info:
        make(studio, Clock(), train_reposts=2).start_training(LEARN, REQUEST)
    assert studio.posts() == 3 and studio.jobs == [] and info.value.method == "POST"


def test_connect_error_before_sending_is_retried_without_a_look_up() -> None:
    studio, clock = FakeStudio(["connect"]), Clock()
    assert make(studio, clock).start_training(LEARN, REQUEST) == studio.jobs[0]["id"]
    assert [m for m, _, _ in studio.requests] == ["POST", "POST"] and clock.sleeps == [0.5]


def test_unreadable_job_list_never_leads_to_a_second_post() -> None:
    studio = FakeStudio(["502"], list_status=503)
    with pytest.raises(TransientError, match="not submitting again"):
        make(studio, Clock(), attempts=2).start_training(LEARN, REQUEST)
    assert studio.posts() == 1 and len(studio.jobs) == 1


def test_look_up_ignores_known_old_and_foreign_jobs() -> None:
    studio, clock = FakeStudio(["read-no-job"]), Clock()
    since = datetime.now(UTC).replace(microsecond=0)
    studio.jobs = [job(90, created=since - timedelta(seconds=20), finished=True),   # seen before: not ours
                   job(91, created=since - timedelta(minutes=5)),                   # far too old
                   job(92, created=since + timedelta(seconds=1), key="keras-4")]    # another learn block
    client = make(studio, clock)
    client.job_status(90)
    job_id = client.start_training(LEARN, REQUEST, submitted_after=since)
    assert studio.posts() == 2 and job_id == studio.jobs[-1]["id"] and job_id not in (90, 91, 92)


def test_find_train_job_prefers_the_first_job_after_the_time() -> None:
    studio = FakeStudio()
    start = NOW
    studio.jobs = [job(1, created=start - timedelta(seconds=30), finished=True),
                   job(2, created=start + timedelta(seconds=5), finished=True),
                   job(3, created=start + timedelta(seconds=90))]
    client = make(studio, Clock())
    assert client.find_train_job(LEARN, created_after=start).id == 2
    assert client.find_train_job(LEARN, created_after=start, exclude={2, 3}).id == 1  # within the skew allowance
    assert client.find_train_job(LEARN, created_after=start + timedelta(minutes=5)) is None
    assert client.find_train_job(LEARN, created_after=start, exclude={1, 2, 3}) is None


# ---- the http client --------------------------------------------------------------------------


def test_make_http_client_sends_the_key_and_never_shows_it() -> None:
    got: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        got.append(request)
        return reply(official(OfficialJob, {"success": True, "job": job(5)}))

    with make_http_client(BASE + "/", SecretStr(KEY), timeout=5.0, transport=httpx.MockTransport(handler)) as http:
        client = StudioClient(http, PROJECT)
        client.job_status(5)
        assert got[0].headers["x-api-key"] == KEY
        assert str(got[0].url) == f"{BASE}/api/{PROJECT}/jobs/5/status"
        for text in (repr(client), repr(http), repr(http.auth), repr(http.headers), str(http.timeout)):
            assert KEY not in text
        assert http.timeout.read == 5.0
    with make_http_client(BASE, None, transport=httpx.MockTransport(handler)) as http:
        StudioClient(http, PROJECT).job_status(5)
        assert "x-api-key" not in got[1].headers


def test_server_echoing_the_key_in_a_5xx_is_scrubbed(caplog: pytest.LogCaptureFixture) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, text=f"proxy error for header x-api-key: {request.headers['x-api-key']}")

    with make_http_client(BASE, SecretStr(KEY), transport=httpx.MockTransport(handler)) as http:
        client = StudioClient(http, PROJECT, retry=RetryPolicy(attempts=2, jitter=False), sleep=lambda s: None)
        with caplog.at_level(logging.WARNING, logger="sweep.studio"), pytest.raises(TransientError) as info:
            client.job_status(5)
    assert "proxy error" in str(info.value) and KEY not in str(info.value) and KEY not in caplog.text


def test_the_lost_post_lookup_asks_the_server_for_jobs_from_the_submission_on() -> None:
    """``startDate`` goes with the look-up, so a busy learn block's older jobs cannot crowd the new one out."""
    studio, clock = FakeStudio(["read"]), Clock()
    before = datetime.now(UTC)
    make(studio, clock).start_training(LEARN, REQUEST)
    lookups = [params for method, path, params in studio.requests if path.endswith("/jobs/all")]
    assert lookups and all("startDate" in p for p in lookups)
    since = datetime.fromisoformat(lookups[0]["startDate"])
    assert before - timedelta(seconds=61) <= since <= before  # the submission time less the clock-skew allowance


def test_impulse_and_project_info_take_an_impulse_id() -> None:
    seen: list[tuple[str, dict[str, str]]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path, dict(request.url.params)))
        if request.url.path.endswith("/impulse"):
            return reply({"success": True, "impulse": {"id": 9, "name": "clone", "learnBlocks": []}})
        return reply({"success": False, "error": "not needed"}, 400)

    client = make(handler, Clock())
    assert client.impulse(9).id == 9 and client.impulse().id == 9
    with pytest.raises(ApiError):
        client.project_info(9)
    assert seen == [(f"/v1/api/{PROJECT}/impulse", {"impulseId": "9"}), (f"/v1/api/{PROJECT}/impulse", {}),
                    (f"/v1/api/{PROJECT}", {"impulseId": "9"})]
