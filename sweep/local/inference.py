"""A .tflite classifier run on feature rows: class probabilities, and the validation statistic computed from them.

One code path for the local studio's validation (``evaluate.evaluate_tflite``, in every train job) and for
``sweep test`` (a kept model on a project's testing windows): the rows go through the interpreter in one batch,
an int8 input is quantized with the model's own scale and zero point and an int8 output dequantized, and each
row's class is the argmax of its probabilities (no uncertainty threshold). This is the door through which code
outside the local studio runs a model: it imports the interpreter (ai_edge_litert, else TensorFlow's) only when
a model is run, so importing it costs NumPy alone.
"""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from sweep.local.scores import classification_report, confusion_matrix

__all__ = ["Scores", "make_interpreter", "probabilities", "score"]


@dataclass(frozen=True)
class Scores:
    """A model's figures on labelled rows: accuracy (argmax per row), mean cross-entropy, the confusion matrix
    (rows: the true class) and scikit-learn's classification report."""

    accuracy: float
    correct: int
    rows: int
    loss: float
    confusion: list[list[float]]
    report: dict[str, Any]


def make_interpreter(model: bytes) -> Any:
    """ai_edge_litert's interpreter when installed, else tf.lite.Interpreter."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow as tf

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return tf.lite.Interpreter(model_content=model, num_threads=1)
    return Interpreter(model_content=model, num_threads=1)


@contextlib.contextmanager
def _native_logs_muted() -> Iterator[None]:
    """File descriptor 2 to /dev/null: what TensorFlow's and TFLite's C++ write there on first use (absl's
    "before InitializeLog", oneDNN, the XNNPACK delegate) ignores TF_CPP_MIN_LOG_LEVEL. For a command's own
    terminal; a Python exception is raised after the descriptor is back, so nothing of ours is lost."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def probabilities(model: bytes, x: np.ndarray, *, mute_native_logs: bool = False) -> np.ndarray:
    """The model's class probabilities (float32, (N, classes)) for rows ``x`` (each reshaped to the model's input
    when its size matches; ValueError naming both sizes when it does not). ``mute_native_logs``: for a command
    run in a terminal (``sweep test``), keep the interpreter's C++ start-up lines off it."""
    with _native_logs_muted() if mute_native_logs else contextlib.nullcontext():
        return _probabilities(model, x)


def _probabilities(model: bytes, x: np.ndarray) -> np.ndarray:
    it = make_interpreter(model)
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    per_row = [int(v) for v in inp["shape"][1:]]
    flat = x.reshape(len(x), -1)
    if flat.shape[1] != math.prod(per_row):
        raise ValueError(f"the model takes {math.prod(per_row)} features a row (input shape {per_row}), the rows "
                         f"have {flat.shape[1]}")
    it.resize_tensor_input(inp["index"], [len(x), *per_row])
    it.allocate_tensors()
    feed = flat.astype(np.float32).reshape(len(x), *per_row)
    if inp["dtype"] == np.int8:
        scale, zero = inp["quantization"]
        feed = np.clip(np.round(feed / scale + zero), -128, 127).astype(np.int8)
    it.set_tensor(inp["index"], feed)
    it.invoke()
    probs = it.get_tensor(out["index"]).astype(np.float32).reshape(len(x), -1)
    if out["dtype"] == np.int8:
        scale, zero = out["quantization"]
        probs = (probs - zero) * scale
    return np.asarray(probs, dtype=np.float32)


def score(probs: np.ndarray, y: np.ndarray, labels: list[str]) -> Scores:
    """Accuracy (argmax per row, no threshold), loss, confusion matrix and report of ``probs`` against ``y``."""
    if probs.shape[1] != len(labels):
        raise ValueError(f"the model gives {probs.shape[1]} class probabilities a row, for {len(labels)} classes")
    pred = probs.argmax(axis=1) if len(probs) else np.zeros(0, dtype=np.int64)
    p_true = np.clip(probs[np.arange(len(y)), y], 1e-7, 1.0)
    correct = int((pred == y).sum())
    return Scores(accuracy=correct / len(y) if len(y) else float("nan"), correct=correct, rows=len(y),
                  loss=float(-np.log(p_true).mean()) if len(y) else float("nan"),
                  confusion=confusion_matrix(y, pred, len(labels)).astype(float).tolist(),
                  report=classification_report(y, pred, labels))
