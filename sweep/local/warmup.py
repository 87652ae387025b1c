"""A fresh worker's warm-up: a tiny model through the trainer's own build, fit, save, conversion and evaluation.

A worker's first job pays first-use costs the jobs after it do not: Keras and TensorFlow code paths traced,
converted by autograph or imported lazily the first time a model is built, fitted (several steps per
execution), saved, converted to TFLite and run by the interpreter. Measured on 2 cores: about 0.2 s of a
3 s digits job (0.05 s before the first epoch, 0.1 s in it, 0.05 s in conversion). The warm-up pays them
while the worker waits for its first job, on 64 random rows and a 16-feature dense model: about 0.6 s for
the fit, 0.15 s for the rest. It runs in stages and stops before the next one as soon as a job is waiting,
so a job that arrives early waits for one stage at most. Nothing it does outlives it: the session is
cleared, its model file removed, and every job seeds itself (``keras.utils.set_random_seed``) anyway.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np

from sweep.local import evaluate, fitting
from sweep.local.layers import build_model
from sweep.local.validate import plan_layers, total_macs
from sweep.studio.models import VisualLayer

__all__ = ["STAGES", "WarmUp", "warm_up"]

STAGES = ("fit", "convert")
_ROWS, _FEATURES, _BATCH = 64, 16, 32  # two steps an epoch: the fit runs them in one execution, as jobs do


@dataclass
class WarmUp:
    """What the warm-up did: the stages it finished, in order, and how long it took."""

    done: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        return len(self.done) == len(STAGES)

    def describe(self) -> str:
        """For the first job's log: ``warmed up in 0.7 s`` or what it stopped before."""
        if self.complete:
            return f"warmed up in {self.seconds:.1f} s"
        left = STAGES[len(self.done)]
        return f"warm-up stopped before its {left} stage after {self.seconds:.1f} s: a job was waiting"


def warm_up(job_waiting: Callable[[], bool]) -> WarmUp:
    """Run the stages in order until one is left because ``job_waiting()``; clear the session afterwards."""
    out = WarmUp()
    start = time.monotonic()
    rng = np.random.default_rng(0)
    x = rng.random((_ROWS, _FEATURES), dtype=np.float32)
    y = (x[:, 0] > 0.5).astype(np.int64)
    core: keras.Model | None = None
    try:
        for stage in STAGES:
            if job_waiting():
                break
            if stage == "fit":
                core = _fit(x, y)
            else:
                assert core is not None
                _convert(core, x, y)
            out.done.append(stage)
    finally:
        keras.backend.clear_session()
        out.seconds = time.monotonic() - start
    return out


def _fit(x: np.ndarray, y: np.ndarray) -> keras.Model:
    keras.utils.set_random_seed(0)
    steps = plan_layers([VisualLayer(type="dense", neurons=4)], (_FEATURES,), 2)
    core = build_model(steps, _FEATURES)
    progress = fitting.Progress(lambda _line: None, lambda: False, 1, core, (x, y))
    fitting.fit(core, progress, (x, y), epochs=1, batch=_BATCH, learning_rate=0.01, class_weight=None,
                macs=total_macs(steps))
    return core


def _convert(core: keras.Model, x: np.ndarray, y: np.ndarray) -> None:
    with tempfile.TemporaryDirectory(prefix="sweep-warmup-") as tmp:
        core.save(Path(tmp) / "model.keras")
    for model in evaluate.convert(core, x):
        evaluate.evaluate_tflite(model, x, y, ["a", "b"])
