"""A trial that failed for a reason outside its configuration is tried once more, once per configuration.

A transient failure (``SweepError.transient``: its job vanished, its server stopped under it, Studio kept
answering 5xx; or its worker stopped before submitting it) says nothing about the configuration. As KerasTuner's
``max_retries_per_trial`` and the EON Tuner's ``retries`` do, the configuration is queued again with Optuna's
``enqueue_trial``: the same params and seed (a side study's: the same request, seed and origin), the new trial
recording ``retry_of`` (the number of the trial it repeats). The record lives in the study's storage, so a
configuration is retried once across workers and resumed runs: not when the failed trial is itself a retry, nor
when a retry of that configuration exists already, nor when another trial with it completed or is running (a twin
waiting for it trains it). A job's own errors (divergence, bad layers, its time limit, out of memory) and unknown
ones are never retried. Only the worker whose ``tell`` failed the trial queues its retry.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

__all__ = ["RETRY_OF", "Retries"]

RETRY_OF = "retry_of"  # user attr of a retry: the number of the trial it repeats
_CARRIED = ("seed", "request", "impulse", "of", "repeat")  # what a trial keeps besides its params (side studies)


class Retries:
    """Decides and queues the one retry of a configuration; ``key_of`` names a trial's configuration (None when it
    has no recorded request)."""

    def __init__(self, study: optuna.Study, key_of: Callable[[FrozenTrial], str | None]) -> None:
        self.study, self.key_of = study, key_of
        self._lock = threading.Lock()  # one decision at a time in this worker

    def why_not(self, number: int, key: str | None) -> str | None:
        """None when trial ``number`` (configuration ``key``) is to be retried after its transient failure; else
        why it is not."""
        with self._lock:
            trials = self.study.get_trials(deepcopy=False)
            failed = trials[number]
            if RETRY_OF in failed.user_attrs:
                return f"it was the retry of trial {failed.user_attrs[RETRY_OF]}"
            key = key or self.key_of(failed)
            if key is None:
                return "its configuration is not recorded"
            for t in trials:
                if t.number == number:
                    continue
                of = t.user_attrs.get(RETRY_OF)
                if isinstance(of, int) and 0 <= of < len(trials) and self.key_of(trials[of]) == key:
                    return f"its configuration was retried already (trial {t.number})"
                if t.state in (TrialState.COMPLETE, TrialState.RUNNING) and self.key_of(t) == key:
                    return f"trial {t.number} has the same configuration"
            return None

    def queue(self, number: int, params: dict[str, Any], attrs: dict[str, Any], seed: int | None = None) -> None:
        """Queue the retry of trial ``number`` (call it once the trial is told FAIL): its ``params``, its seed and
        the attrs a side study's trial is made of."""
        carried = {k: attrs[k] for k in _CARRIED if k in attrs}
        if seed is not None:
            carried["seed"] = seed
        self.study.enqueue_trial(params, user_attrs={**carried, RETRY_OF: number})
