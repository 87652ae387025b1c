"""One call to the Edge Impulse API: an answer becomes a typed model or an error, transient trouble is retried.

Every route goes through :meth:`Transport.call` (a file, through :meth:`Transport.fetch`; the one POST
that may not be repeated blindly, through :meth:`Transport.parse` and :meth:`Transport.wait_or_raise`),
so status codes and ``success: false`` are checked in one place, and no message ever holds the API key.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, SecretStr, ValidationError

from sweep.errors import ApiError, AuthError, ProtocolError, TransientError
from sweep.studio.retry import RetryPolicy, parse_retry_after
from sweep.version import __version__

__all__ = ["NOT_SENT", "TRANSPORT_ERRORS", "Transport", "make_http_client"]

log = logging.getLogger("sweep.studio")

M = TypeVar("M", bound=BaseModel)

# Nothing reached the server: safe to send again, even a POST.
NOT_SENT: tuple[type[Exception], ...] = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Connection trouble an idempotent call may retry (the answer may be lost after the request was sent).
TRANSPORT_ERRORS: tuple[type[Exception], ...] = (
    httpx.ConnectError, httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError, httpx.TimeoutException,
)


class _Answer(BaseModel):
    success: bool


def retryable(status: int) -> bool:
    return status == 429 or status >= 500


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


class Transport:
    """Calls routes over an injected ``httpx.Client`` (which carries the base URL and key) for one project."""

    def __init__(self, http: httpx.Client, project_id: int, retry: RetryPolicy, sleep: Callable[[float], None],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.http, self.project_id, self.retry, self.sleep, self.clock = http, project_id, retry, sleep, clock
        secrets = [http.headers.get("x-api-key", "")]
        if isinstance(http.auth, _ApiKeyAuth):
            secrets.append(http.auth.key.get_secret_value())
        self._secrets = [s for s in secrets if s]

    def call(self, method: str, route: str, model: type[M], *, params: dict[str, str] | None = None,
              json: Any = None) -> M:
        """One idempotent call: retried on connection errors, 429 and 5xx within the policy."""
        started, retry = self.clock(), 0
        while True:
            try:
                response = self.http.request(method, route, params=params, json=json)
            except TRANSPORT_ERRORS as exc:
                self.wait_or_raise(method, route, retry, started, self.describe(exc), None, None)
            else:
                if not retryable(response.status_code):
                    return self.parse(response, model, method, route)
                after = parse_retry_after(response.headers.get("retry-after"))
                self.wait_or_raise(method, route, retry, started, self.reason(response),
                                    response.status_code, after)
            retry += 1

    def wait_or_raise(self, method: str, route: str, retry: int, started: float, reason: str,
                       status: int | None, retry_after: float | None) -> None:
        """Sleep before the next try, or raise TransientError when attempts or the time budget are spent."""
        elapsed = self.clock() - started
        delay = self.retry.next_delay(retry, elapsed, retry_after)
        if delay is None:
            why = f"gave up after {retry + 1} attempt(s) in {elapsed:.1f} s"
            if retry_after is not None and retry + 1 < self.retry.attempts:
                why += f" (Studio asked to wait {retry_after:.0f} s, past the {self.retry.budget_s:.0f} s budget)"
            raise TransientError(f"{why}: {reason}", method=method, route=route, status_code=status)
        log.warning("%s %s: %s; retry %d of %d in %.1f s", method, route, reason, retry + 1,
                    self.retry.attempts - 1, delay)
        self.sleep(delay)

    def fetch(self, route: str, *, params: dict[str, str] | None = None) -> bytes:
        """A file's bytes (a GET, retried as :meth:`call` is). A redirect is followed once, without the key
        when it leaves the API's host; a JSON answer is an error (``success: false``), never the file."""
        return self.fetch_response(route, params=params).content

    def fetch_response(self, route: str, *, params: dict[str, str] | None = None) -> httpx.Response:
        """The answer holding a file, checked as :meth:`fetch` checks it (its headers too, for the caller)."""
        started, retry = self.clock(), 0
        while True:
            try:
                response = self._get_file(route, params)
            except TRANSPORT_ERRORS as exc:
                self.wait_or_raise("GET", route, retry, started, self.describe(exc), None, None)
            else:
                if not retryable(response.status_code):
                    return self._file(response, route)
                after = parse_retry_after(response.headers.get("retry-after"))
                self.wait_or_raise("GET", route, retry, started, self.reason(response), response.status_code, after)
            retry += 1

    def _get_file(self, route: str, params: dict[str, str] | None) -> httpx.Response:
        response = self.http.get(route, params=params, headers={"accept": "application/octet-stream"})
        if not response.is_redirect or "location" not in response.headers:
            return response
        target = response.url.join(response.headers["location"])
        request = self.http.build_request("GET", target, headers={"accept": "application/octet-stream"})
        if (target.scheme, target.host, target.port) == (response.url.scheme, response.url.host, response.url.port):
            return self.http.send(request)
        request.headers.pop("x-api-key", None)  # a storage host (a signed URL) must never see the key
        return self.http.send(request, auth=None)

    def _file(self, response: httpx.Response, route: str) -> httpx.Response:
        self.check(response, "GET", route)
        if "json" in response.headers.get("content-type", "").lower():
            self.parse(response, _Answer, "GET", route)  # Studio's error inside a 200
            raise ProtocolError("the answer is JSON, not the file asked for", method="GET", route=route,
                                status_code=response.status_code)
        return response

    def check(self, response: httpx.Response, method: str, route: str) -> None:
        """An error for any answer but a 2xx: refused key, refusal (4xx), server trouble, or an odd status."""
        status = response.status_code
        if status in (401, 403):
            detail = self.error_text(response)
            raise AuthError(
                f"Studio refused the API key{f' ({detail})' if detail else ''}; check EI_API_KEY: it must be "
                f"a valid key with access to project {self.project_id}", method=method, route=route,
                status_code=status)
        if retryable(status):
            raise TransientError(self.error_text(response) or "server busy or unavailable",
                                 method=method, route=route, status_code=status)
        if 400 <= status < 500:
            raise ApiError(self.error_text(response) or "refused without an error text",
                           method=method, route=route, status_code=status)
        if not 200 <= status < 300:
            raise ProtocolError(f"unexpected HTTP status {status}", method=method, route=route, status_code=status)

    def parse(self, response: httpx.Response, model: type[M], method: str, route: str) -> M:
        """The one place an answer becomes a model or an error (status AND ``success`` are checked)."""
        self.check(response, method, route)
        status = response.status_code
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
            raise ApiError(self.scrub(str(text)) if text else "success: false without an error text",
                           method=method, route=route, status_code=status)
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(body)'}: {e['msg']}"
                                 for e in exc.errors(include_url=False)[:3])
            raise ProtocolError(f"the answer does not have the {model.__name__} shape: {problems}",
                                method=method, route=route, status_code=status) from None

    def error_text(self, response: httpx.Response) -> str:
        """Studio's ``error`` text if the body has one, else a short scrubbed excerpt of the body."""
        try:
            data = response.json()
        except ValueError:
            return self._snippet(response.text)
        if isinstance(data, dict) and data.get("error"):
            return self.scrub(str(data["error"]))
        return self._snippet(response.text)

    def reason(self, response: httpx.Response) -> str:
        text = self.error_text(response)
        return f"HTTP {response.status_code}" + (f" ({text})" if text else "")

    def describe(self, exc: Exception) -> str:
        text = self.scrub(str(exc))
        return f"{type(exc).__name__}: {text}" if text else type(exc).__name__

    def _snippet(self, text: str) -> str:
        text = self.scrub(" ".join(text.split()))
        return text if len(text) <= 200 else text[:200] + "..."

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "**********")
        return text
