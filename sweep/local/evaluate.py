"""TFLite conversion (float32, full-integer int8) and interpreter evaluation of a trained local model."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

from sweep.local.devices import TensorLife, peak_live_bytes
from sweep.local.inference import make_interpreter, probabilities, score

__all__ = ["Evaluation", "convert", "evaluate_tflite", "make_interpreter"]

REPRESENTATIVE_SAMPLES = 200

# TFLite's Python converter (tensorflow/lite/python/convert.py, convert_graphdef) emits this for EVERY
# full-integer post-training quantization through from_concrete_functions: QuantizationMode.converter_flags()
# passes inference_type=int8 with post_training_quantize=False to the graph -> TFLite pass, and
# _is_quantized_input_stats_required() then asks for `quantized_input_stats` (mean/std), which only
# the legacy quantized-inference mode (fake-quant graphs, no calibration) reads. That pass produces
# a float32 model; the calibrator then runs the representative data through it, records min/max of
# every tensor, the input included, and the quantizer sets the int8 input's scale/zero point from
# that range. tests/test_local_int8.py pins this (input scale/zero point == the representative range
# for data not in [0, 1] too); benchmarks/int8_calibration.py shows the accuracy.
_NO_INPUT_STATS_WARNING = r"Statistics for quantized inputs were expected, but not specified"


@dataclass(frozen=True)
class Evaluation:
    loss: float
    accuracy: float
    confusion: list[list[float]]
    report: dict[str, Any]
    model_bytes: int
    arena_bytes: int


def convert(model: Any, x_train: np.ndarray, seed: int = 0) -> tuple[bytes, bytes]:
    """(float32 .tflite, int8 .tflite with int8 input/output) of a trained Keras model.

    The model's inference graph is frozen in memory (what ``from_saved_model`` does after writing
    a SavedModel to disk, which costs 1-2 s a job); representative data come from ``x_train``.
    They calibrate every tensor including the int8 input, whose scale/zero point cover their range
    (min/max, widened to include 0); evaluate_tflite quantizes inputs with those parameters.
    """
    graph = _frozen_graph(model)
    float_model = tf.lite.TFLiteConverter.from_concrete_functions([graph]).convert()
    rng = np.random.default_rng(seed)
    rep = x_train[rng.permutation(len(x_train))[:REPRESENTATIVE_SAMPLES]].astype(np.float32)

    def representative() -> Any:
        for row in rep:
            yield [row[None, :]]

    conv = tf.lite.TFLiteConverter.from_concrete_functions([graph])
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    with warnings.catch_warnings():  # harmless for calibrated conversion: see _NO_INPUT_STATS_WARNING
        warnings.filterwarnings("ignore", message=_NO_INPUT_STATS_WARNING, category=UserWarning,
                                module=r"tensorflow\.lite\.python\.convert")
        int8_model = conv.convert()
    return float_model, int8_model


def _frozen_graph(model: Any) -> Any:
    """The model's inference function (``training=False``) with its weights as constants."""
    # TF's own freezing step (the one its SavedModel converter uses); tensorflow-cpu is pinned.
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    spec = tf.TensorSpec([None, *model.inputs[0].shape[1:]], tf.float32)
    infer = tf.function(lambda x: model(x, training=False))
    return convert_variables_to_constants_v2(infer.get_concrete_function(spec))


def arena_bytes(model: bytes) -> int:
    """Peak live activation bytes over the op order at batch 1 (see devices.peak_live_bytes)."""
    it = make_interpreter(model)
    it.allocate_tensors()
    ops = it._get_ops_details()
    sizes = {t["index"]: int(np.prod(t["shape"])) * np.dtype(t["dtype"]).itemsize for t in it.get_tensor_details()}
    produced: dict[int, int] = {d["index"]: 0 for d in it.get_input_details()}
    last: dict[int, int] = {}
    for i, op in enumerate(ops):
        for t in op["outputs"]:
            produced.setdefault(int(t), i)
        for t in op["inputs"]:
            last[int(t)] = i
    for d in it.get_output_details():
        last[d["index"]] = len(ops) - 1
    lives = [TensorLife(sizes[t], first, max(last.get(t, first), first)) for t, first in produced.items()]
    return peak_live_bytes(lives)


def evaluate_tflite(model: bytes, x: np.ndarray, y: np.ndarray, labels: list[str]) -> Evaluation:
    """Run the whole validation split through the interpreter (inference.py: the statistic ``sweep test`` uses on
    the testing windows too); loss = mean categorical cross-entropy."""
    got = score(probabilities(model, x), y, labels)
    return Evaluation(loss=got.loss, accuracy=got.accuracy, confusion=got.confusion, report=got.report,
                      model_bytes=len(model), arena_bytes=arena_bytes(model))
