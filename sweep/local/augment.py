"""Training-only Keras augmentation layers: Studio's image policy "all" and the spectrogram policy."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
from keras import ops

from sweep.studio.models import AugmentationPolicySpectrogram

__all__ = ["MASKS", "NOISE_STDDEV", "NO_FLIP_PROJECTS", "image_layers", "spectrogram_layers"]

# Projects whose labels change under a mirror image: no random flip for them.
NO_FLIP_PROJECTS = frozenset({"digits"})
# level -> (number of masks, max width as a fraction of the axis)
MASKS = {"none": (0, 0.0), "low": (1, 0.1), "high": (2, 0.2)}
NOISE_STDDEV = {"none": 0.0, "low": 0.03, "high": 0.1}


def image_layers(flip: bool, seed: int) -> list[keras.layers.Layer]:
    """Policy "all": random shift (+/-12.5%), random zoom/crop (+/-10%), brightness (+/-0.2), flip if suited."""
    layers: list[keras.layers.Layer] = [
        keras.layers.RandomTranslation(0.125, 0.125, fill_mode="constant", seed=seed),
        keras.layers.RandomZoom(0.1, fill_mode="constant", seed=seed + 1),
        keras.layers.RandomBrightness(0.2, value_range=(0.0, 1.0), seed=seed + 2),
    ]
    if flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed + 3))
    return layers


class TimeWarp(keras.layers.Layer):
    """Per sample: stretch the time axis by a random factor in [1 - max_stretch, 1 + max_stretch] (nearest)."""

    def __init__(self, max_stretch: float = 0.15, seed: int = 0, **kw: object) -> None:
        super().__init__(**kw)
        self.max_stretch = max_stretch
        self.gen = keras.random.SeedGenerator(seed)

    def call(self, x, training=None):  # type: ignore[no-untyped-def]
        if not training:
            return x
        b, t = ops.shape(x)[0], x.shape[1]
        s = keras.random.uniform((b, 1), 1 - self.max_stretch, 1 + self.max_stretch, seed=self.gen)
        pos = ops.cast(ops.arange(t), "float32")[None, :]
        centre = (t - 1) / 2.0
        idx = ops.clip(ops.cast(ops.round(centre + (pos - centre) * s), "int32"), 0, t - 1)
        idx = ops.broadcast_to(idx[:, :, None, None], ops.shape(x))
        return ops.take_along_axis(x, idx, axis=1)


class AxisMask(keras.layers.Layer):
    """SpecAugment-style masks: ``count`` bands of random width <= max_frac of ``axis`` (1 = time, 2 = freq) zeroed."""

    def __init__(self, axis: int, count: int, max_frac: float, seed: int = 0, **kw: object) -> None:
        super().__init__(**kw)
        self.axis, self.count, self.max_frac = axis, count, max_frac
        self.gen = keras.random.SeedGenerator(seed)

    def call(self, x, training=None):  # type: ignore[no-untyped-def]
        if not training or self.count == 0:
            return x
        b, n = ops.shape(x)[0], x.shape[self.axis]
        max_w = max(1, round(n * self.max_frac))
        pos = ops.cast(ops.arange(n), "float32")[None, :]
        keep = ops.ones((b, n))
        for _ in range(self.count):
            w = ops.floor(keras.random.uniform((b, 1), 0, max_w + 1, seed=self.gen))
            start = ops.floor(keras.random.uniform((b, 1), 0, 1, seed=self.gen) * (n - w + 1))
            keep = keep * (1.0 - ops.cast((pos >= start) & (pos < start + w), "float32"))
        keep = ops.reshape(keep, (-1, n, 1, 1) if self.axis == 1 else (-1, 1, n, 1))
        return x * keep


def spectrogram_layers(policy: AugmentationPolicySpectrogram, seed: int) -> list[keras.layers.Layer]:
    """The layers for an enabled spectrogram policy (input (time, freq, 1)); empty when disabled."""
    if not policy.enabled:
        return []
    layers: list[keras.layers.Layer] = []
    if policy.warping:
        layers.append(TimeWarp(seed=seed))
    t_count, t_frac = MASKS[policy.time_masking or "none"]
    if t_count:
        layers.append(AxisMask(1, t_count, t_frac, seed=seed + 1))
    f_count, f_frac = MASKS[policy.freq_masking or "none"]
    if f_count:
        layers.append(AxisMask(2, f_count, f_frac, seed=seed + 2))
    noise = NOISE_STDDEV[policy.gaussian_noise or "none"]
    if noise:
        layers.append(keras.layers.GaussianNoise(noise, seed=seed + 3))
    return layers
