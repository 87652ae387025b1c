"""The Edge Impulse API client: one project's routes, typed answers, and no duplicate train jobs.

Each call goes through :class:`~sweep.studio.transport.Transport` (status and ``success`` checked
in one place, bounded retries). A train POST whose answer is lost is never re-sent blindly: the
job it may have created is looked up first (by key and start date).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Iterator
from datetime import UTC, datetime, timedelta
from typing import Literal
from urllib.parse import quote

import httpx

from sweep.errors import ApiError, ProtocolError, TransientError
from sweep.studio.downloads import Download, ProjectDownloadsResponse
from sweep.studio.dsp_data import TEST_SPLIT_HEADER, WindowData, window_data
from sweep.studio.impulse_models import (
    CloneImpulseRequest,
    CreateImpulseResponse,
    DspConfigResponse,
    DspDevicePerformance,
    DspInfo,
    DspMetadataResponse,
    DspPerformanceResponse,
    GenerateFeaturesRequest,
    GetAllImpulsesResponse,
    GetImpulseResponse,
    Impulse,
    SetDspConfigRequest,
    UpdateImpulseResponse,
)
from sweep.studio.models import (
    SEED_HEADER,
    GenericApiResponse,
    GetJobResponse,
    Job,
    JobLogItem,
    KerasModelMetadata,
    KerasModelMetadataResponse,
    KerasResponse,
    ListJobsResponse,
    LogStdoutResponse,
    ProjectInfoResponse,
    SetKerasParameterRequest,
    SocketTokenResponse,
    StartJobResponse,
)
from sweep.studio.retry import RetryPolicy, parse_retry_after
from sweep.studio.transport import NOT_SENT, TRANSPORT_ERRORS, Transport, make_http_client

__all__ = ["StudioClient", "make_http_client"]

log = logging.getLogger("sweep.studio")

Finished = Literal["successful", "failed", "all"]
_RECENT_JOBS = 25  # how many of a learn block's newest jobs a look-up reads


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class StudioClient:
    """Calls one project's routes over an injected ``httpx.Client`` (which carries the base URL and key)."""

    def __init__(
        self,
        http: httpx.Client,
        project_id: int,
        *,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.project_id = int(project_id)
        self.retry = retry or RetryPolicy()
        self._t = Transport(http, self.project_id, self.retry, sleep, clock)
        self._seen: set[int] = set()  # job ids this client has seen (none can be a new submission)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"StudioClient(base_url={str(self._t.http.base_url)!r}, project_id={self.project_id})"

    # ---- jobs ---------------------------------------------------------------------------------

    def start_training(
        self, learn_id: int, request: SetKerasParameterRequest, *, submitted_after: datetime | None = None,
        seed: int | None = None,
    ) -> int:
        """Submit a train job and return its id; a lost answer is looked up, never blindly re-sent. ``seed``
        goes in the ``X-Sweep-Seed`` header (the local studio trains with it; Studio ignores it)."""
        route = self._route("jobs", "train", "keras", learn_id)
        body = request.wire()
        headers = {SEED_HEADER: str(seed)} if seed is not None else None
        since = _utc(submitted_after) if submitted_after else datetime.now(UTC)
        with self._lock:
            known = frozenset(self._seen)
        t = self._t
        started, retry, reposts = t.clock(), 0, 0
        while True:
            try:
                response = t.http.post(route, json=body, headers=headers)
            except NOT_SENT as exc:
                t.wait_or_raise("POST", route, retry, started, t.describe(exc), None, None)
                retry += 1
                continue
            except TRANSPORT_ERRORS as exc:
                reason, status = t.describe(exc), None
            else:
                if response.status_code == 429:  # refused before it was processed
                    after = parse_retry_after(response.headers.get("retry-after"))
                    t.wait_or_raise("POST", route, retry, started, t.reason(response), 429, after)
                    retry += 1
                    continue
                if response.status_code < 500:
                    job_id = t.parse(response, StartJobResponse, "POST", route).id
                    self._remember([job_id])
                    return job_id
                reason, status = t.reason(response), response.status_code
            log.warning("POST %s: answer lost (%s); looking for the job before any re-submission", route, reason)
            found = self._find_lost(learn_id, since, known, route, reason)
            if found is not None:
                log.warning("POST %s: the lost submission did create job %s; using it", route, found.id)
                self._remember([found.id])
                return found.id
            if reposts >= self.retry.train_reposts:
                raise TransientError(
                    f"the answer to the train request was lost {reposts + 1} time(s) (last: {reason}) and "
                    f"no job keras-{learn_id} was created; giving up", method="POST", route=route, status_code=status)
            reposts += 1
            log.warning("POST %s: no job keras-%s was created; submitting again (%d of %d)",
                        route, learn_id, reposts, self.retry.train_reposts)

    def job_status(self, job_id: int) -> Job:
        job = self._t.call("GET", self._route("jobs", job_id, "status"), GetJobResponse).job
        self._remember([job.id])
        return job

    def job_log(self, job_id: int, *, limit: int | None = None) -> list[JobLogItem]:
        """The job's log lines as the wire gives them: newest first, at most the last 1000."""
        params = {"limit": str(limit)} if limit is not None else None
        return self._t.call("GET", self._route("jobs", job_id, "stdout"), LogStdoutResponse, params=params).stdout

    def cancel_job(self, job_id: int, *, force: bool = False) -> None:
        params = {"forceCancel": "true"} if force else None
        self._t.call("POST", self._route("jobs", job_id, "cancel"), GenericApiResponse, params=params)

    def list_jobs(
        self,
        *,
        key: str | None = None,
        finished: Finished | None = None,
        active_only: bool = False,
        limit: int | None = None,
        offset: int | None = None,
        start_date: datetime | None = None,
    ) -> list[Job]:
        """Active jobs (``/jobs``) or all jobs (``/jobs/all``), by key, finish status and creation date."""
        if active_only:
            jobs = self._t.call("GET", self._route("jobs"), ListJobsResponse).jobs
            jobs = [j for j in jobs if (key is None or j.key == key) and _finished_matches(j, finished)
                    and (start_date is None or _utc(j.created) >= _utc(start_date))]
        else:
            params = {name: str(value) for name, value in
                      (("key", key), ("finished", finished), ("limit", limit), ("offset", offset)) if value is not None}
            if start_date is not None:
                params["startDate"] = _utc(start_date).isoformat()
            jobs = self._t.call("GET", self._route("jobs", "all"), ListJobsResponse, params=params).jobs
        self._remember(j.id for j in jobs)
        return jobs

    def find_train_job(
        self, learn_id: int, *, created_after: datetime, exclude: Collection[int] = ()
    ) -> Job | None:
        """The train job (key ``keras-{learnId}``) created at/after ``created_after`` (less the clock-skew
        allowance), active or recent, skipping ``exclude``; the one closest to ``created_after`` wins,
        preferring jobs created after it. None if there is none. The server is asked for jobs from that
        date on (``startDate``), so a busy learn block's older jobs cannot crowd the answer out."""
        key = f"keras-{learn_id}"
        after = _utc(created_after)
        floor = after - timedelta(seconds=self.retry.clock_skew_s)
        jobs = {j.id: j for j in self.list_jobs(key=key, active_only=True, start_date=floor)}
        jobs.update((j.id, j) for j in self.list_jobs(key=key, limit=_RECENT_JOBS, start_date=floor))
        found = [j for j in jobs.values() if j.key == key and j.id not in exclude and _utc(j.created) >= floor]
        if not found:
            return None
        return min(found, key=lambda j: (_utc(j.created) < after, abs((_utc(j.created) - after).total_seconds())))

    # ---- learn blocks and project -------------------------------------------------------------

    def metadata(self, learn_id: int) -> KerasModelMetadata:
        route = self._route("training", "keras", learn_id, "metadata")
        return self._t.call("GET", route, KerasModelMetadataResponse, params={"excludeLabels": "true"})

    def keras_config(self, learn_id: int) -> KerasResponse:
        return self._t.call("GET", self._route("training", "keras", learn_id), KerasResponse)

    def save_keras_config(self, learn_id: int, request: SetKerasParameterRequest) -> None:
        # Setting a configuration is idempotent (the same body twice leaves the same state): retried.
        self._t.call("POST", self._route("training", "keras", learn_id), GenericApiResponse, json=request.wire())

    def socket_token(self) -> str:
        """A token that opens the project socket (short-lived; never logged)."""
        return self._t.call("GET", self._route("socket-token"), SocketTokenResponse).token.socket_token

    @property
    def base_url(self) -> str:
        """The API's base URL (``.../v1``); the project socket is at its host."""
        return str(self._t.http.base_url)

    def project_info(self, impulse_id: int | None = None) -> ProjectInfoResponse:
        return self._t.call("GET", f"/api/{self.project_id}", ProjectInfoResponse, params=_impulse(impulse_id))

    # ---- model files ----------------------------------------------------------------------------

    def downloads(self, impulse_id: int | None = None) -> list[Download]:
        """What the project offers for download for an impulse (the default one when None): models, data."""
        route = self._route("downloads")
        return self._t.call("GET", route, ProjectDownloadsResponse, params=_impulse(impulse_id)).downloads

    def download_model(self, learn_id: int, model_download_id: str) -> bytes:
        """A file of the learn block's latest trained model, by its id in :meth:`downloads`."""
        return self._t.fetch(self._route("learn-data", learn_id, "model", quote(model_download_id, safe="")))

    def dsp_data(self, dsp_id: int, category: str, n_classes: int) -> WindowData:
        """A DSP block's output over one category's windows (``GET /dsp-data/{dspId}/x|y/{category}``: NumPy
        features and labels, see :mod:`sweep.studio.dsp_data`), checked against the block's ``n_classes``."""
        x_route = self._route("dsp-data", dsp_id, "x", category)
        features = self._t.fetch(x_route)
        labels = self._t.fetch_response(self._route("dsp-data", dsp_id, "y", category))
        return window_data(features, labels.content, labels.headers.get(TEST_SPLIT_HEADER), x_route, n_classes)

    # ---- impulses and DSP blocks ----------------------------------------------------------------

    def impulse(self, impulse_id: int | None = None) -> Impulse:
        """An impulse of the project (its default impulse when ``impulse_id`` is None)."""
        route = self._route("impulse")
        impulse = self._t.call("GET", route, GetImpulseResponse, params=_impulse(impulse_id)).impulse
        if impulse is None:
            which = f"no impulse {impulse_id}" if impulse_id is not None else "no impulse yet"
            raise ApiError(f"project {self.project_id} has {which}; create one in Studio first",
                           method="GET", route=route, status_code=200)
        return impulse

    def impulses(self) -> GetAllImpulsesResponse:
        """Every impulse of the project, and how many it may have (``maxImpulseCount``, -1 = no limit)."""
        return self._t.call("GET", self._route("impulses"), GetAllImpulsesResponse)

    def clone_impulse(self, impulse_id: int, name: str) -> int:
        """Clone an impulse's structure and configuration (not its features or models); the new impulse's id.

        Not retried: a clone is not idempotent, and a lost answer is found by its name instead.
        """
        route = self._route("impulse", impulse_id, "clone", "structure")
        try:
            response = self._t.http.post(route, json=CloneImpulseRequest(name=name).wire())
        except TRANSPORT_ERRORS as exc:
            raise TransientError(f"no answer to the clone request ({self._t.describe(exc)}); look for an impulse "
                                 f"named {name!r} before cloning again", method="POST", route=route) from None
        return self._t.parse(response, CreateImpulseResponse, "POST", route).id

    def delete_impulse(self, impulse_id: int) -> None:
        route = self._route("impulse")
        self._t.call("DELETE", route, GenericApiResponse, params=_impulse(impulse_id))

    def generate_features(self, dsp_id: int) -> int:
        """Start a generate-features job for a DSP block; its job id."""
        body = GenerateFeaturesRequest(dsp_id=dsp_id).wire()
        return self._t.call("POST", self._route("jobs", "generate-features"), StartJobResponse, json=body).id

    def dsp(self, dsp_id: int) -> DspInfo:
        """A DSP block's state: whether (and how many) features are generated."""
        return self.dsp_config(dsp_id).dsp

    def dsp_config(self, dsp_id: int) -> DspConfigResponse:
        """A DSP block's state and its parameters (each with its value, type, range and options)."""
        return self._t.call("GET", self._route("dsp", dsp_id), DspConfigResponse)

    def set_dsp_config(self, dsp_id: int, config: dict[str, str]) -> None:
        """Change some of a DSP block's parameters (values as strings; the others stay)."""
        body = SetDspConfigRequest(config=config).wire()
        self._t.call("POST", self._route("dsp", dsp_id), GenericApiResponse, json=body)

    def dsp_metadata(self, dsp_id: int) -> DspMetadataResponse:
        """Which DSP configuration and window a block's features were generated from."""
        return self._t.call("GET", self._route("dsp", dsp_id, "metadata"), DspMetadataResponse,
                            params={"excludeIncludedSamples": "true"})

    def dsp_performance(self, dsp_id: int) -> list[DspDevicePerformance]:
        """The DSP block's estimated latency (ms) and RAM (bytes) on each device."""
        answer = self._t.call("GET", self._route("dsp", dsp_id, "performance"), DspPerformanceResponse)
        return list(answer.performance or [])

    def update_impulse(self, impulse: Impulse) -> None:
        """Write an impulse back (``POST /impulse?impulseId=``): e.g. its input block's window."""
        body = impulse.wire()
        self._t.call("POST", self._route("impulse"), UpdateImpulseResponse, json=body, params=_impulse(impulse.id))

    # ---- plumbing -----------------------------------------------------------------------------

    def _route(self, *parts: object) -> str:
        return f"/api/{self.project_id}/" + "/".join(str(p) for p in parts)

    def _remember(self, job_ids: Collection[int] | Iterator[int]) -> None:
        with self._lock:
            self._seen.update(job_ids)

    def _find_lost(self, learn_id: int, since: datetime, known: frozenset[int], route: str,
                   reason: str) -> Job | None:
        """Look for the job a lost submission may have created: now, and once more after a settle."""
        try:
            found = self.find_train_job(learn_id, created_after=since, exclude=known)
            if found is None:
                self._t.sleep(self.retry.settle_s)
                found = self.find_train_job(learn_id, created_after=since, exclude=known)
        except (TransientError, ProtocolError) as exc:
            raise TransientError(
                f"the answer to the train request was lost ({reason}) and the job list could not be read "
                f"({exc}); not submitting again, to avoid a duplicate job", method="POST", route=route,
            ) from exc
        return found


def _impulse(impulse_id: int | None) -> dict[str, str] | None:
    return {"impulseId": str(impulse_id)} if impulse_id is not None else None


def _finished_matches(job: Job, finished: Finished | None) -> bool:
    if finished is None or finished == "all":
        return True
    if job.finished is None:
        return False
    return bool(job.finished_successful) == (finished == "successful")
