"""The Edge Impulse Studio API client: typed answers, bounded retries, and no duplicate train jobs."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Generator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

import httpx
from pydantic import BaseModel, SecretStr, ValidationError

from sweep.errors import ApiError, AuthError, ProtocolError, TransientError
from sweep.studio.impulse_models import GetImpulseResponse, Impulse
from sweep.studio.models import (
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
    StartJobResponse,
)
from sweep.studio.retry import RetryPolicy, parse_retry_after
from sweep.version import __version__

__all__ = ["StudioClient", "make_http_client"]

log = logging.getLogger("sweep.studio")

M = TypeVar("M", bound=BaseModel)
Finished = Literal["successful", "failed", "all"]

# Nothing reached the server: safe to send again, even a POST.
_NOT_SENT: tuple[type[Exception], ...] = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Connection trouble an idempotent call may retry (the answer may be lost after the request was sent).
_TRANSPORT: tuple[type[Exception], ...] = (
    httpx.ConnectError, httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError, httpx.TimeoutException,
)
_RECENT_JOBS = 25  # how many of a learn block's newest jobs a look-up reads


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class _ApiKeyAuth(httpx.Auth):
    """Adds ``x-api-key`` to each request; the key lives in a SecretStr, not in the client's headers."""

    def __init__(self, key: SecretStr) -> None:
        self.key = key

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["x-api-key"] = self.key.get_secret_value()
        yield request

    def __repr__(self) -> str:
        return "_ApiKeyAuth(key=SecretStr('**********'))"


def make_http_client(
    base_url: str,
    api_key: SecretStr | None,
    *,
    timeout: float = 30.0,
    transport: httpx.BaseTransport | None = None,
) -> httpx.Client:
    """One pooled client per run for ``base_url`` (e.g. ``https://studio.edgeimpulse.com/v1``)."""
    key = api_key.get_secret_value() if api_key is not None else ""
    return httpx.Client(
        base_url=base_url.rstrip("/"),
        auth=_ApiKeyAuth(api_key) if api_key is not None and key else None,
        headers={"accept": "application/json", "user-agent": f"sweep/{__version__}"},
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        follow_redirects=False,
        transport=transport,
    )


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
        self._http, self.project_id = http, int(project_id)
        self.retry = retry or RetryPolicy()
        self._sleep, self._clock = sleep, clock
        secrets = [http.headers.get("x-api-key", "")]
        if isinstance(http.auth, _ApiKeyAuth):
            secrets.append(http.auth.key.get_secret_value())
        self._secrets = [s for s in secrets if s]
        self._seen: set[int] = set()  # job ids this client has seen (none can be a new submission)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"StudioClient(base_url={str(self._http.base_url)!r}, project_id={self.project_id})"

    # ---- jobs ---------------------------------------------------------------------------------

    def start_training(
        self, learn_id: int, request: SetKerasParameterRequest, *, submitted_after: datetime | None = None
    ) -> int:
        """Submit a train job and return its id; a lost answer is looked up, never blindly re-sent."""
        route = self._route("jobs", "train", "keras", learn_id)
        body = request.wire()
        since = _utc(submitted_after) if submitted_after else datetime.now(UTC)
        with self._lock:
            known = frozenset(self._seen)
        started, retry, reposts = self._clock(), 0, 0
        while True:
            try:
                response = self._http.post(route, json=body)
            except _NOT_SENT as exc:
                self._wait_or_raise("POST", route, retry, started, self._describe(exc), None, None)
                retry += 1
                continue
            except _TRANSPORT as exc:
                reason, status = self._describe(exc), None
            else:
                if response.status_code == 429:  # refused before it was processed
                    after = parse_retry_after(response.headers.get("retry-after"))
                    self._wait_or_raise("POST", route, retry, started, self._reason(response), 429, after)
                    retry += 1
                    continue
                if response.status_code < 500:
                    job_id = self._parse(response, StartJobResponse, "POST", route).id
                    self._remember([job_id])
                    return job_id
                reason, status = self._reason(response), response.status_code
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
        job = self._call("GET", self._route("jobs", job_id, "status"), GetJobResponse).job
        self._remember([job.id])
        return job

    def job_log(self, job_id: int, *, limit: int | None = None) -> list[JobLogItem]:
        """The job's log lines as the wire gives them: newest first, at most the last 1000."""
        params = {"limit": str(limit)} if limit is not None else None
        return self._call("GET", self._route("jobs", job_id, "stdout"), LogStdoutResponse, params=params).stdout

    def cancel_job(self, job_id: int, *, force: bool = False) -> None:
        params = {"forceCancel": "true"} if force else None
        self._call("POST", self._route("jobs", job_id, "cancel"), GenericApiResponse, params=params)

    def list_jobs(
        self,
        *,
        key: str | None = None,
        finished: Finished | None = None,
        active_only: bool = False,
        limit: int | None = None,
        offset: int | None = None,
    ) -> list[Job]:
        """Active jobs (``/jobs``) or all jobs (``/jobs/all``), optionally by key and finish status."""
        if active_only:
            jobs = self._call("GET", self._route("jobs"), ListJobsResponse).jobs
            jobs = [j for j in jobs if (key is None or j.key == key) and _finished_matches(j, finished)]
        else:
            params = {name: str(value) for name, value in
                      (("key", key), ("finished", finished), ("limit", limit), ("offset", offset)) if value is not None}
            jobs = self._call("GET", self._route("jobs", "all"), ListJobsResponse, params=params).jobs
        self._remember(j.id for j in jobs)
        return jobs

    def find_train_job(
        self, learn_id: int, *, created_after: datetime, exclude: Collection[int] = ()
    ) -> Job | None:
        """The train job (key ``keras-{learnId}``) created at/after ``created_after`` (less the clock-skew
        allowance), active or recent, skipping ``exclude``; the one closest to ``created_after`` wins,
        preferring jobs created after it. None if there is none."""
        key = f"keras-{learn_id}"
        after = _utc(created_after)
        floor = after - timedelta(seconds=self.retry.clock_skew_s)
        jobs = {j.id: j for j in self.list_jobs(key=key, active_only=True)}
        jobs.update((j.id, j) for j in self.list_jobs(key=key, limit=_RECENT_JOBS))
        found = [j for j in jobs.values() if j.key == key and j.id not in exclude and _utc(j.created) >= floor]
        if not found:
            return None
        return min(found, key=lambda j: (_utc(j.created) < after, abs((_utc(j.created) - after).total_seconds())))

    # ---- learn blocks and project -------------------------------------------------------------

    def metadata(self, learn_id: int) -> KerasModelMetadata:
        route = self._route("training", "keras", learn_id, "metadata")
        return self._call("GET", route, KerasModelMetadataResponse, params={"excludeLabels": "true"})

    def impulse(self) -> Impulse:
        route = self._route("impulse")
        impulse = self._call("GET", route, GetImpulseResponse).impulse
        if impulse is None:
            raise ApiError(f"project {self.project_id} has no impulse yet; create one in Studio first",
                           method="GET", route=route, status_code=200)
        return impulse

    def keras_config(self, learn_id: int) -> KerasResponse:
        return self._call("GET", self._route("training", "keras", learn_id), KerasResponse)

    def save_keras_config(self, learn_id: int, request: SetKerasParameterRequest) -> None:
        # Setting a configuration is idempotent (the same body twice leaves the same state): retried.
        self._call("POST", self._route("training", "keras", learn_id), GenericApiResponse, json=request.wire())

    def project_info(self) -> ProjectInfoResponse:
        return self._call("GET", f"/api/{self.project_id}", ProjectInfoResponse)

    # ---- plumbing -----------------------------------------------------------------------------

    def _route(self, *parts: object) -> str:
        return f"/api/{self.project_id}/" + "/".join(str(p) for p in parts)

    def _remember(self, job_ids: Collection[int] | Iterator[int]) -> None:
        with self._lock:
            self._seen.update(job_ids)

    def _call(self, method: str, route: str, model: type[M], *, params: dict[str, str] | None = None,
              json: Any = None) -> M:
        """One idempotent call: retried on connection errors, 429 and 5xx within the policy."""
        started, retry = self._clock(), 0
        while True:
            try:
                response = self._http.request(method, route, params=params, json=json)
            except _TRANSPORT as exc:
                self._wait_or_raise(method, route, retry, started, self._describe(exc), None, None)
            else:
                if not _retryable(response.status_code):
                    return self._parse(response, model, method, route)
                after = parse_retry_after(response.headers.get("retry-after"))
                self._wait_or_raise(method, route, retry, started, self._reason(response),
                                    response.status_code, after)
            retry += 1

    def _wait_or_raise(self, method: str, route: str, retry: int, started: float, reason: str,
                       status: int | None, retry_after: float | None) -> None:
        """Sleep before the next try, or raise TransientError when attempts or the time budget are spent."""
        elapsed = self._clock() - started
        delay = self.retry.next_delay(retry, elapsed, retry_after)
        if delay is None:
            why = f"gave up after {retry + 1} attempt(s) in {elapsed:.1f} s"
            if retry_after is not None and retry + 1 < self.retry.attempts:
                why += f" (Studio asked to wait {retry_after:.0f} s, past the {self.retry.budget_s:.0f} s budget)"
            raise TransientError(f"{why}: {reason}", method=method, route=route, status_code=status)
        log.warning("%s %s: %s; retry %d of %d in %.1f s", method, route, reason, retry + 1,
                    self.retry.attempts - 1, delay)
        self._sleep(delay)

    def _find_lost(self, learn_id: int, since: datetime, known: frozenset[int], route: str,
                   reason: str) -> Job | None:
        """Look for the job a lost submission may have created: now, and once more after a settle."""
        try:
            found = self.find_train_job(learn_id, created_after=since, exclude=known)
            if found is None:
                self._sleep(self.retry.settle_s)
                found = self.find_train_job(learn_id, created_after=since, exclude=known)
        except (TransientError, ProtocolError) as exc:
            raise TransientError(
                f"the answer to the train request was lost ({reason}) and the job list could not be read "
                f"({exc}); not submitting again, to avoid a duplicate job", method="POST", route=route,
            ) from exc
        return found

    def _parse(self, response: httpx.Response, model: type[M], method: str, route: str) -> M:
        """The one place an answer becomes a model or an error (status AND ``success`` are checked)."""
        status = response.status_code
        if status in (401, 403):
            detail = self._error_text(response)
            raise AuthError(
                f"Studio refused the API key{f' ({detail})' if detail else ''}; check EI_API_KEY: it must be "
                f"a valid key with access to project {self.project_id}", method=method, route=route,
                status_code=status)
        if _retryable(status):
            raise TransientError(self._error_text(response) or "server busy or unavailable",
                                 method=method, route=route, status_code=status)
        if 400 <= status < 500:
            raise ApiError(self._error_text(response) or "refused without an error text",
                           method=method, route=route, status_code=status)
        if not 200 <= status < 300:
            raise ProtocolError(f"unexpected HTTP status {status}", method=method, route=route, status_code=status)
        try:
            data = response.json()
        except ValueError:
            raise ProtocolError(f"the answer is not JSON: {self._snippet(response.text)!r}",
                                method=method, route=route, status_code=status) from None
        if not isinstance(data, dict):
            raise ProtocolError(f"the answer is not a JSON object but {type(data).__name__}",
                                method=method, route=route, status_code=status)
        if data.get("success") is False:
            text = data.get("error")
            raise ApiError(self._scrub(str(text)) if text else "success: false without an error text",
                           method=method, route=route, status_code=status)
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(body)'}: {e['msg']}"
                                 for e in exc.errors(include_url=False)[:3])
            raise ProtocolError(f"the answer does not have the {model.__name__} shape: {problems}",
                                method=method, route=route, status_code=status) from None

    def _error_text(self, response: httpx.Response) -> str:
        """Studio's ``error`` text if the body has one, else a short scrubbed excerpt of the body."""
        try:
            data = response.json()
        except ValueError:
            return self._snippet(response.text)
        if isinstance(data, dict) and data.get("error"):
            return self._scrub(str(data["error"]))
        return self._snippet(response.text)

    def _reason(self, response: httpx.Response) -> str:
        text = self._error_text(response)
        return f"HTTP {response.status_code}" + (f" ({text})" if text else "")

    def _describe(self, exc: Exception) -> str:
        text = self._scrub(str(exc))
        return f"{type(exc).__name__}: {text}" if text else type(exc).__name__

    def _snippet(self, text: str) -> str:
        text = self._scrub(" ".join(text.split()))
        return text if len(text) <= 200 else text[:200] + "..."

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "**********")
        return text


def _finished_matches(job: Job, finished: Finished | None) -> bool:
    if finished is None or finished == "all":
        return True
    if job.finished is None:
        return False
    return bool(job.finished_successful) == (finished == "successful")
