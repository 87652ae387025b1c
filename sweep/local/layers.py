"""Turn a keras-free layer plan (sweep.local.validate.plan_layers) into a Keras inference model on flat input."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras

from sweep.local.validate import Step

__all__ = ["build_model", "layer_summary"]


def _layer(step: Step, seed: int) -> keras.layers.Layer:
    a = step.args
    if step.op == "reshape":
        return keras.layers.Reshape(a["target"])
    if step.op == "conv1d":
        return keras.layers.Conv1D(a["filters"], a["kernel"], padding="same", activation="relu")
    if step.op == "conv2d":
        return keras.layers.Conv2D(a["filters"], a["kernel"], padding="same", activation="relu")
    if step.op == "maxpool1d":
        return keras.layers.MaxPooling1D(pool_size=2, strides=2, padding="same")
    if step.op == "maxpool2d":
        return keras.layers.MaxPooling2D(pool_size=2, strides=2, padding="same")
    if step.op == "dense":
        return keras.layers.Dense(a["units"], activation="relu")
    if step.op == "softmax":
        return keras.layers.Dense(a["units"], activation="softmax", name="y_pred")
    if step.op == "flatten":
        return keras.layers.Flatten()
    if step.op == "dropout":
        return keras.layers.Dropout(a["rate"], seed=seed)
    if step.op == "batchnorm":
        return keras.layers.BatchNormalization()
    raise ValueError(f"unknown plan op {step.op!r}")


def build_model(steps: list[Step], n_features: int, seed: int = 0) -> keras.Model:
    """The inference model: input (n_features,) float32 as Studio passes features, softmax output."""
    layers = [_layer(s, seed + i) for i, s in enumerate(steps)]
    return keras.Sequential([keras.Input((n_features,), name="x_input"), *layers], name="sweep_local")


def layer_summary(model: keras.Model) -> list[dict[str, object]]:
    """Layers in the official KerasModelLayer shape: input/output sizes per layer (flattened)."""
    out: list[dict[str, object]] = []
    for layer in model.layers:
        def size(t: keras.KerasTensor) -> int:
            n = 1
            for d in t.shape[1:]:
                n *= int(d or 1)
            return n
        out.append({"input": {"shape": size(layer.input), "name": layer.name + "/input",
                              "type": str(layer.input.dtype)},
                    "output": {"shape": size(layer.output), "name": layer.name + "/output",
                               "type": str(layer.output.dtype)}})
    return out
