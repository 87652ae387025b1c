"""Fixtures that start the REAL local studio (a subprocess on 127.0.0.1) for tests; import them by name.

    from local_fixtures import local_studio, local_http, official_api  # noqa: F401

``local_studio`` (module scope): a running :class:`EmbeddedStudio` on a fresh data dir (concurrency 2).
``local_http``: an ``httpx.Client`` on ``studio.base_url`` carrying the key.
``official_api``: an ``edgeimpulse_api.ApiClient`` (the official client) on the same server.
``start_studio(data_dir, **kw)``: the context manager behind them, for tests that need their own server.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sweep.local.embedded import EmbeddedStudio

__all__ = [
    "http_client",
    "local_http",
    "local_studio",
    "official_api",
    "official_client",
    "start_studio",
    "wait_for",
]

TINY_TRAIN = {"trainingCycles": 2, "learningRate": 0.01, "batchSize": 32}


def start_studio(data_dir: Path, **kwargs: Any) -> EmbeddedStudio:
    """An EmbeddedStudio (use it as a context manager)."""
    return EmbeddedStudio(data_dir, **kwargs)


def http_client(studio: EmbeddedStudio) -> httpx.Client:
    return httpx.Client(base_url=studio.base_url, timeout=30.0,
                        headers={"x-api-key": studio.api_key.get_secret_value()})


def official_client(studio: EmbeddedStudio) -> Any:
    import edgeimpulse_api as ei

    config = ei.Configuration(host=studio.base_url,
                              api_key={"ApiKeyAuthentication": studio.api_key.get_secret_value()})
    return ei.ApiClient(config)


def wait_for(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    """Poll ``check`` until it returns something truthy; fail the test with ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


@pytest.fixture(scope="module")
def local_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedStudio]:
    with start_studio(tmp_path_factory.mktemp("local-studio"), concurrency=2) as studio:
        yield studio


@pytest.fixture(scope="module")
def local_http(local_studio: EmbeddedStudio) -> Iterator[httpx.Client]:
    with http_client(local_studio) as client:
        yield client


@pytest.fixture(scope="module")
def official_api(local_studio: EmbeddedStudio) -> Iterator[Any]:
    client = official_client(local_studio)
    try:
        yield client
    finally:
        client.close()
