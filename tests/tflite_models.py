"""Real .tflite classifiers whose answer is known, for tests that run kept models (``sweep test``).

``argmax_models(features, classes)``: float32 and int8 models of one dense layer whose weights copy the first
``classes`` features to the outputs, then softmax: a window's class is the argmax of its first ``classes`` features.
Built with the local studio's own converter (sweep.local.evaluate.convert), once per test session.
"""

from __future__ import annotations

import functools

import numpy as np


@functools.cache
def argmax_models(features: int, classes: int) -> tuple[bytes, bytes]:
    """(float32 .tflite, int8 .tflite) of the argmax-of-the-first-features classifier."""
    import keras

    from sweep.local.evaluate import convert

    weights = np.zeros((features, classes), dtype=np.float32)
    weights[np.arange(classes), np.arange(classes)] = 8.0
    model = keras.Sequential([keras.Input((features,)), keras.layers.Dense(classes, use_bias=False),
                              keras.layers.Softmax()])
    model.layers[0].set_weights([weights])
    rng = np.random.default_rng(0)
    calibration = np.eye(features, dtype=np.float32)[rng.integers(0, features, 64)]
    return convert(model, calibration)
