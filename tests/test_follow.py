"""Following one job at the client seam: adaptive polling, timeout, interrupt, stale model."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from sweep.errors import Interrupted, JobFailed, JobTimeout, StaleModelError
from sweep.run.follow import Follower, JobLog, Polling
from sweep.studio.client import StudioClient

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


class RecordingStop(threading.Event):
    """An Event whose waits return at once and are recorded; set after ``stop_after`` waits."""

    def __init__(self, stop_after: int | None = None) -> None:
        super().__init__()
        self.waits: list[float] = []
        self.stop_after = stop_after

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(float(timeout or 0))
        if self.stop_after is not None and len(self.waits) >= self.stop_after:
            self.set()
        return self.is_set()


def _job(finished: bool, ok: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {"id": 5, "category": "Training model", "categoryKey": "learn-train-studio-wrapper",
                            "key": "keras-7", "created": T0.isoformat(), "started": T0.isoformat(),
                            "jobNotificationUids": []}
    if finished:
        body.update(finished=(T0 + timedelta(seconds=30)).isoformat(), finishedSuccessful=ok, computeTime=30.0)
    return {"success": True, "job": body}


def _client(handler) -> StudioClient:  # type: ignore[no-untyped-def]
    http = httpx.Client(base_url="http://studio.test/v1", transport=httpx.MockTransport(handler))
    return StudioClient(http, 1, sleep=lambda s: None)


def _never_finishing(cancelled: list[str]):  # type: ignore[no-untyped-def]
    """A job that never finishes; cancel requests are recorded."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/cancel"):
            cancelled.append(request.url.path)
            return httpx.Response(200, json={"success": True})
        return httpx.Response(200, json=_job(finished=False))

    return handler


def test_polling_backs_off_to_a_cap() -> None:
    assert list(itertools.islice(Polling(1.0, 2.0, 5.0).intervals(), 5)) == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_wait_polls_quickly_then_backs_off() -> None:
    polls = itertools.count()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=_job(finished=next(polls) >= 4))

    stop = RecordingStop()
    clock = itertools.count(0, 200)  # each look 200 s after the last: the lag never binds
    follower = Follower(_client(handler), polling=Polling(0.5, 2.0, 3.0), stop=stop, clock=lambda: float(next(clock)))
    job = follower.wait(5)
    assert job.finished is not None and stop.waits == [0.5, 1.0, 2.0, 3.0]


def test_a_finished_job_is_noticed_within_three_percent_of_its_run() -> None:
    """The backoff never waits longer than 3 % of the time followed (at least the first interval)."""
    now = [0.0]
    polls = itertools.count()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=_job(finished=next(polls) >= 30))

    class Clocked(RecordingStop):
        def wait(self, timeout: float | None = None) -> bool:
            now[0] += float(timeout or 0)
            return super().wait(timeout)

    stop = Clocked()
    Follower(_client(handler), polling=Polling(1.0, 1.5, 30.0), stop=stop, clock=lambda: now[0]).wait(5)
    for waited, before in zip(stop.waits, itertools.accumulate([0.0, *stop.waits]), strict=False):
        assert waited <= max(1.0, 0.03 * before) + 1e-9


def test_stop_cancels_the_job_and_interrupts() -> None:
    cancelled: list[str] = []

    handler = _never_finishing(cancelled)

    with pytest.raises(Interrupted) as info:
        Follower(_client(handler), polling=Polling(0.1, 1.5, 1.0), stop=RecordingStop(stop_after=2)).wait(5)
    assert info.value.exit_code == 130 and cancelled == ["/v1/api/1/jobs/5/cancel"]


def test_timeout_cancels_the_job() -> None:
    clock = itertools.count(0, 100)
    cancelled: list[str] = []

    handler = _never_finishing(cancelled)

    follower = Follower(_client(handler), polling=Polling(), stop=RecordingStop(), job_timeout_s=250,
                        clock=lambda: float(next(clock)))
    with pytest.raises(JobTimeout):
        follower.wait(5)
    assert cancelled


def _metadata(created: datetime) -> dict[str, Any]:
    return {"success": True, "created": created.isoformat(), "classNames": ["a", "b"], "availableModelTypes": ["int8"],
            "recommendedModelType": "int8", "hasTrainedModel": True,
            "modelValidationMetrics": [{"type": "int8", "loss": 0.2, "accuracy": 0.9,
                                        "confusionMatrix": [[1, 0], [0, 1]], "report": {}, "onDevicePerformance": []}]}


def test_failed_job_keeps_the_log_tail_oldest_first() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        lines = [{"created": T0.isoformat(), "data": f"line {i}"} for i in (3, 2, 1)]  # newest first
        return httpx.Response(200, json={"success": True, "stdout": lines, "totalCount": 3})

    follower = Follower(_client(handler), polling=Polling(), stop=RecordingStop())
    from sweep.studio.models import Job

    with pytest.raises(JobFailed) as info:
        follower.result(Job.model_validate(_job(True, ok=False)["job"]), 7, need_device=False)
    assert info.value.log_tail == ["line 1", "line 2", "line 3"]
    assert str(info.value) == "job 5: failed: no line of its log says why (read its last 3 lines)"


def test_model_older_than_the_job_is_refused_after_retries() -> None:
    reads = itertools.count()

    def handler(request: httpx.Request) -> httpx.Response:
        next(reads)
        return httpx.Response(200, json=_metadata(T0 - timedelta(hours=1)))

    from sweep.studio.models import Job

    stop = RecordingStop()
    with pytest.raises(StaleModelError):
        Follower(_client(handler), polling=Polling(), stop=stop).result(
            Job.model_validate(_job(True)["job"]), 7, need_device=False, stale_retries=2)
    assert next(reads) == 3 and len(stop.waits) == 2


def test_fresh_model_after_one_stale_read_is_accepted() -> None:
    reads = itertools.count()

    def handler(request: httpx.Request) -> httpx.Response:
        if "/stdout" in request.url.path:
            return httpx.Response(200, json={"success": True, "stdout": [], "totalCount": 0})
        created = T0 - timedelta(hours=1) if next(reads) == 0 else T0 + timedelta(seconds=31)
        return httpx.Response(200, json=_metadata(created))

    from sweep.studio.models import Job

    result = Follower(_client(handler), polling=Polling(), stop=RecordingStop()).result(
        Job.model_validate(_job(True)["job"]), 7, need_device=False)
    assert result.metrics["int8.accuracy"] == 0.9 and result.metrics["compute_time_s"] == 30.0


def test_on_poll_may_stop_following_and_the_job_comes_back_unfinished() -> None:
    """Pruning is a return value of the poll callback, not an exception thrown through the follower."""
    from sweep.studio.models import Job

    from fake_backend import FakeBackend

    backend = FakeBackend()
    job_id = backend.add_job(7)
    seen: list[int] = []

    def on_poll(job: Job, joblog: JobLog) -> bool:
        seen.append(job.id)
        return len(seen) == 3

    follower = Follower(backend, polling=Polling(0.0, 1.0, 0.0), stop=RecordingStop())
    job = follower.wait(job_id, on_poll=on_poll)
    assert job.id == job_id and job.finished is None and seen == [job_id] * 3
    assert backend.cancelled == []  # stopping to follow is not cancelling: the caller decides


def test_profiling_job_failed_ends_the_wait_for_device_metrics() -> None:
    """``profilingJobFailed`` (the id may stay set): the trial fails with the profiling log's reason, no waiting on."""
    from sweep.studio.models import Job, KerasModelMetadata

    from fake_backend import FakeBackend

    backend = FakeBackend()
    train = backend.add_job(7)
    backend.finish(train)
    profiling = backend.add_job(7)
    backend.log(profiling, "Profiling...", "ERROR: model does not fit the device's flash")
    backend.finish(profiling, success=True)
    body = _metadata(T0 + timedelta(hours=1))
    body["modelValidationMetrics"][0].update(profilingJobId=profiling, profilingJobFailed=True)
    backend.models[7] = KerasModelMetadata.model_validate(body)
    follower = Follower(backend, polling=Polling(0.0, 1.0, 0.0), stop=RecordingStop())
    job = Job.model_validate({**backend.job_status(train).wire(), "started": T0.isoformat()})
    with pytest.raises(JobFailed) as info:
        follower.result(job, 7, need_device=True)
    assert str(info.value) == (f"job {train}: its profiling job {profiling} failed: "
                               "ERROR: model does not fit the device's flash")


class FakeEvents:
    """A project socket in memory: ``push`` sends a job's lines, ``end`` its finish; ``drop`` disconnects."""

    def __init__(self) -> None:
        from sweep.studio.socket import JobStream

        self.up = True
        self.streams: dict[int, JobStream] = {}
        self._make = lambda job_id: JobStream(job_id, lambda: self.up)

    @property
    def connected(self) -> bool:
        return self.up

    def follow(self, job_id: int):  # type: ignore[no-untyped-def]
        return self.streams.setdefault(job_id, self._make(job_id))

    def forget(self, job_id: int) -> None:
        self.streams.pop(job_id, None)


def _later(seconds: float, action) -> threading.Thread:  # type: ignore[no-untyped-def]
    thread = threading.Timer(seconds, action)
    thread.start()
    return thread


def test_with_the_socket_a_finish_is_read_when_the_socket_says_so() -> None:
    """The status route is read at the start and once the socket says the job ended, not in between
    (the safety-net poll is 30 s away); the job would time out at 5 s if the event were missed."""
    from fake_backend import FakeBackend

    backend, events = FakeBackend(), FakeEvents()
    job_id = backend.add_job(7)
    ticks: list[float] = []

    def finish() -> None:
        backend.finish(job_id)
        events.streams[job_id].finished.set()

    follower = Follower(backend, polling=Polling(30.0, 1.5, 30.0), stop=threading.Event(), job_timeout_s=5,
                        events=events, tick_s=0.05)
    timer = _later(0.3, finish)
    job = follower.wait(job_id, on_poll=lambda job, log: ticks.append(1.0) is not None and False)
    timer.join()
    assert job.finished is not None and backend.calls == [f"status {job_id}"] * 2
    assert len(ticks) >= 3  # the live line is refreshed every tick while the socket waits
    assert job_id not in events.streams  # forgotten once followed


def test_when_the_socket_drops_polling_takes_over() -> None:
    from fake_backend import FakeBackend

    backend, events = FakeBackend(), FakeEvents()
    job_id = backend.add_job(7)
    polls: list[int] = []

    def on_poll(job: Job, joblog: JobLog) -> bool:
        polls.append(job.id)
        if len(polls) == 2:
            events.up = False  # from now on no event arrives: the lag-capped polling must notice the end
        if len(backend.calls) == 4:
            backend.finish(job_id)
        return False

    from sweep.studio.models import Job

    stop = RecordingStop()
    follower = Follower(backend, polling=Polling(0.0, 1.0, 0.0), stop=stop, job_timeout_s=5, events=events,
                        tick_s=0.01)
    job = follower.wait(job_id, on_poll=on_poll)
    assert job.finished is not None and stop.waits  # the plain polling (stop.wait) took over


def test_pruning_reads_the_sockets_lines_not_the_log_route() -> None:
    from fake_backend import FakeBackend

    backend, events = FakeBackend(), FakeEvents()
    job_id = backend.add_job(7)
    stream = events.follow(job_id)
    for line in ("Epoch 1/5", "loss: 1.0 - accuracy: 0.3", "Epoch 2/5", "loss: 0.9 - accuracy: 0.4"):
        stream.add(line)
    assert JobLog(backend, job_id, stream).lines()[-1] == "loss: 0.9 - accuracy: 0.4"
    assert backend.calls == []
    events.up = False  # a dropped socket: the log route is read instead
    backend.log(job_id, "Epoch 1/5")
    assert JobLog(backend, job_id, stream).lines() == ["Epoch 1/5"] and backend.calls == [f"log {job_id}"]


def test_socket_lines_that_start_mid_training_are_not_trusted_for_the_curve() -> None:
    """A stream subscribed late (or after a reconnect to a server that does not replay) lacks the first
    epochs: the curve is then read from the log route, so epoch numbers stay right."""
    from fake_backend import FakeBackend

    backend, events = FakeBackend(), FakeEvents()
    job_id = backend.add_job(7)
    stream = events.follow(job_id)
    stream.add("Epoch 3/5")
    backend.log(job_id, "Epoch 1/5", "Epoch 2/5", "Epoch 3/5")
    assert JobLog(backend, job_id, stream).lines() == ["Epoch 1/5", "Epoch 2/5", "Epoch 3/5"]
