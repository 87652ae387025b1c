"""Which configuration each trial trains, so each is trained once: a completed twin is reused, a running one awaited.

Two trials whose train requests have the same :func:`~sweep.study.request.config_key` are twins: they train the
same model (values without effect left out: :mod:`sweep.study.effective`). The index covers this worker's trials
and, through the storage, every other worker's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from optuna.trial import FrozenTrial, TrialState

from sweep.study.request import config_key, seeded_key

__all__ = ["Twins"]


class Twins:
    """Configuration keys of the study's trials: completed ones by key, this worker's in flight by number."""

    def __init__(self, *, seeded: bool = False) -> None:
        self.seeded = seeded  # a side study's trials: the same configuration with another seed is no twin
        self._lock = threading.Lock()
        self._completed: dict[str, int] = {}  # key -> the first completed trial with it
        self._indexed: set[int] = set()
        self._inflight: dict[int, str] = {}  # this worker's trials in flight: number -> key
        self._keys: dict[int, str] = {}  # keys of recorded requests, by trial number (computed once)

    def remember(self, trials: Iterable[FrozenTrial]) -> None:
        """Index completed trials with results (other workers' too), each trial once."""
        with self._lock:
            for t in trials:
                if t.number in self._indexed or t.state != TrialState.COMPLETE:
                    continue
                self._indexed.add(t.number)
                key = self._key_of(t)
                if key is not None and "metrics" in t.user_attrs:
                    self._completed.setdefault(key, t.number)

    def completed(self, key: str) -> int | None:
        """The completed trial whose result a trial with ``key`` reuses, if any."""
        with self._lock:
            return self._completed.get(key)

    def told(self, key: str, number: int) -> None:
        """Trial ``number`` of this worker completed with configuration ``key``."""
        with self._lock:
            self._completed.setdefault(key, number)

    def start(self, number: int, key: str, trials: list[FrozenTrial], alive: Callable[[dict[str, Any]], bool]
              ) -> int | None:
        """Register this worker's trial ``number``; the earliest trial with the same configuration still in
        flight (this worker's, or a live worker's; a dead worker's is left to its re-attacher), if none
        has completed."""
        with self._lock:
            twin = None
            if key not in self._completed:
                ours = [n for n, k in self._inflight.items() if k == key and n < number]
                theirs = [t.number for t in trials if t.state == TrialState.RUNNING and t.number < number
                          and t.number not in self._inflight and self._key_of(t) == key
                          and alive(t.user_attrs.get("worker") or {})]
                twin = min(ours + theirs, default=None)
            self._inflight[number] = key
            return twin

    def end(self, number: int) -> None:
        with self._lock:
            self._inflight.pop(number, None)

    def is_ours(self, number: int) -> bool:
        """Whether trial ``number`` is in flight in this worker."""
        with self._lock:
            return number in self._inflight

    def key_of(self, trial: FrozenTrial) -> str | None:
        """The configuration key of a trial that recorded its request (None for one that did not yet)."""
        with self._lock:
            return self._key_of(trial)

    def _key_of(self, trial: FrozenTrial) -> str | None:
        if trial.number not in self._keys:
            request = trial.user_attrs.get("request")
            if request is None:
                return None
            # a whole-impulse trial records its key: its body is recorded as sent (reshape columns filled in)
            key = trial.user_attrs.get("config_key") or config_key(request)
            seed = trial.user_attrs.get("seed")
            self._keys[trial.number] = seeded_key(key, int(seed)) if self.seeded and seed is not None else key
        return self._keys[trial.number]
