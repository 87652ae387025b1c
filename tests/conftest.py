"""Shared test hygiene: no EI_*/SWEEP_* variables leak in from the machine."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("EI_", "SWEEP_")):
            monkeypatch.delenv(name, raising=False)
