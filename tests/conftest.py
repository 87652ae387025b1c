"""Shared test hygiene: no EI_*/SWEEP_* variables leak in from the machine."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("EI_", "SWEEP_")):
            monkeypatch.delenv(name, raising=False)


# Files whose tests bound wall-clock times (a finish noticed within 0.5 s, two workers spawned 0.5 s apart, a
# server gone 5 s after its owner, a job still running 4 s after a stop): scripts/test.sh runs them on their own,
# after the rest has run two files at a time (pytest-xdist), so another test's training never skews their clocks.
SERIAL_FILES = frozenset({
    "test_batch.py", "test_client.py", "test_follow.py", "test_local_conformance.py", "test_local_lifetime.py",
    "test_local_server.py", "test_local_socket.py", "test_local_trainer.py", "test_local_warmup.py",
    "test_local_workers.py", "test_on_stop.py", "test_socket.py",
})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name in SERIAL_FILES:
            item.add_marker(pytest.mark.serial)
