"""The Keras fit of a local job: several steps per execution, cancel checks between them, a lean validation pass."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np

from sweep.errors import JobFailed

__all__ = ["EXECUTION_FLOP", "MAX_STEPS_PER_EXECUTION", "Progress", "fit", "steps_per_execution", "validate"]

# A tiny model spends most of a default fit in per-step overhead (a Python call and a graph launch a step,
# 2-5 ms on 2 cores, against well under 1 ms of arithmetic), so the trainer runs several steps in one call
# (Keras' steps_per_execution). Callbacks, the cancel check among them, run between executions, so an
# execution is kept short: at most EXECUTION_FLOP of estimated work (about 1 s at a pessimistic 0.5 GFLOP/s
# on one loaded core) and at most MAX_STEPS_PER_EXECUTION steps (their overhead alone), never past an epoch.
# A model whose size is unknown (expert mode) runs one step per execution, as a default fit does.
EXECUTION_FLOP = 5e8
MAX_STEPS_PER_EXECUTION = 100
# Keras' own validation (model.evaluate inside fit) costs about 80 ms an epoch on the digits, nearly all of
# it set-up; the trainer runs the core model on the validation split itself, in chunks of this many rows.
VALIDATION_CHUNK = 256


def steps_per_execution(macs: int, batch: int, steps_per_epoch: int) -> int:
    """How many training steps one execution runs: a forward and backward pass is about 6 FLOP per MAC."""
    if macs <= 0:
        return 1
    by_work = int(EXECUTION_FLOP // (6 * macs * batch))
    return max(1, min(by_work, MAX_STEPS_PER_EXECUTION, steps_per_epoch))


def validate(model: keras.Model, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(loss, accuracy) of ``model`` (inference mode) on (x, y), as Keras' evaluate reports them for a model
    compiled with sparse categorical cross-entropy and "accuracy": sample means, plus the model's own losses."""
    total, hits = 0.0, 0
    for i in range(0, len(x), VALIDATION_CHUNK):
        xs, ys = x[i:i + VALIDATION_CHUNK], y[i:i + VALIDATION_CHUNK]
        probs = model(xs, training=False)
        total += float(keras.ops.sum(keras.losses.sparse_categorical_crossentropy(ys, probs)))
        hits += int((keras.ops.convert_to_numpy(probs).argmax(axis=-1) == ys).sum())
    extra = sum(float(keras.ops.convert_to_numpy(loss)) for loss in model.losses)
    return total / len(x) + extra, hits / len(x)


class Progress(keras.callbacks.Callback):
    """Keras-style epoch lines through ``log`` (validation metrics from :func:`validate` of ``core``), their
    history, and ``cancelled()`` checked after every execution (see :func:`steps_per_execution`)."""

    def __init__(self, log: Callable[[str], None], cancelled: Callable[[], bool], epochs: int, core: keras.Model,
                 validation: tuple[np.ndarray, np.ndarray]) -> None:
        super().__init__()
        self.log, self.cancelled, self.epochs = log, cancelled, epochs
        self.core, self.validation = core, validation
        self.was_cancelled = False
        self.history: dict[str, list[float]] = {}

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.log(f"Epoch {epoch + 1}/{self.epochs}")

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.cancelled():
            self.was_cancelled = True
            self.model.stop_training = True
            raise JobFailed("cancelled")

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        values = {k: float(v) for k, v in (logs or {}).items() if k in ("loss", "accuracy")}
        values["val_loss"], values["val_accuracy"] = validate(self.core, *self.validation)
        for key, value in values.items():
            self.history.setdefault(key, []).append(value)
        keys = ("loss", "accuracy", "val_loss", "val_accuracy")
        self.log(" - ".join(f"{k}: {values[k]:.4f}" for k in keys if k in values))


def fit(model: keras.Model, progress: Progress, data: tuple[np.ndarray, np.ndarray], *, epochs: int, batch: int,
        learning_rate: float, class_weight: dict[int, float] | None, macs: int) -> dict[str, list[float]]:
    """Compile and fit ``model`` on ``data``; the epoch history as ``progress`` kept it."""
    x, y = data
    per_epoch = math.ceil(len(x) / batch)
    per_execution = steps_per_execution(macs, batch, per_epoch)
    progress.log(f"Steps per execution: {per_execution} (cancel checked after each)")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"], steps_per_execution=per_execution)
    # steps_per_epoch as Keras counts it anyway: Keras then makes one data iterator an epoch instead of two
    # (the same batches in the same order; about a fifth of a digits fit on 2 cores)
    model.fit(x, y, epochs=epochs, batch_size=batch, steps_per_epoch=per_epoch, class_weight=class_weight,
              callbacks=[progress], verbose=0, shuffle=True)
    return progress.history
