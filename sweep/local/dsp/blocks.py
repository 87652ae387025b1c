"""One door to every block: a window's features, their shape, the columns a reshape layer needs, Studio's outputConfig.

Every function takes the block's configuration as ``resolve`` does (strings or typed values; defaults for
what is missing) and refuses, with a :class:`~sweep.local.dsp.params.DspParameterError`, what the block
cannot compute for that window and rate. ``features(...).size == prod(output_shape(...))`` always.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from sweep.local.dsp import audio, spectral
from sweep.local.dsp.params import Config, DspParameterError, Values, resolve

__all__ = ["columns", "features", "output_config", "output_shape"]

_SINGLE_AXIS = ("spectrogram", "mfe", "mfcc")


def _check_input(block_type: str, samples: int, axes: int, frequency_hz: float) -> None:
    if not (math.isfinite(frequency_hz) and frequency_hz > 0):
        raise DspParameterError(block_type, None, None, f"the sampling rate must be a positive number of Hz "
                                                        f"(got {frequency_hz!r})")
    if samples < 1 or axes < 1:
        raise DspParameterError(block_type, None, None, f"the window is empty ({samples} samples of {axes} axes)")
    if block_type in _SINGLE_AXIS and axes != 1:
        raise DspParameterError(block_type, None, None, f"takes a single axis, the window has {axes}: use one "
                                                        f"{block_type} block per axis")


def features(block_type: str, values: Config, signal: npt.ArrayLike, frequency_hz: float) -> npt.NDArray[np.float32]:
    """The flat float32 feature vector of one window, ``signal`` (samples, axes) or (samples,) for one axis, at
    ``frequency_hz``; frame-based blocks give their (frames, columns) matrix row by row, as Studio flattens it."""
    v = resolve(block_type, values)
    x = np.asarray(signal, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise DspParameterError(block_type, None, None, f"the signal must be (samples, axes), not {x.shape}")
    _check_input(block_type, x.shape[0], x.shape[1], frequency_hz)
    if not np.all(np.isfinite(x)):
        raise DspParameterError(block_type, None, None, "the signal has values that are not finite numbers")
    if block_type == "raw":
        out = spectral.raw(v, x)
    elif block_type == "spectral-analysis":
        out = spectral.spectral_analysis(v, x, frequency_hz)
    elif block_type == "spectrogram":
        out = audio.spectrogram(v, x[:, 0], frequency_hz)
    elif block_type == "mfe":
        out = audio.mfe(v, x[:, 0], frequency_hz)
    else:
        out = audio.mfcc(v, x[:, 0], frequency_hz)
    return np.ascontiguousarray(out, dtype=np.float32).reshape(-1)


def _shape(block_type: str, v: Values, window_samples: int, axes: int, frequency_hz: float) -> tuple[int, ...]:
    _check_input(block_type, window_samples, axes, frequency_hz)
    if block_type == "raw":
        return (window_samples, axes)
    if block_type == "spectral-analysis":
        return (spectral.spectral_count(v, window_samples, axes, frequency_hz),)
    frames = audio.check_framing(block_type, v, window_samples, frequency_hz).count
    if block_type == "spectrogram":
        return (frames, int(v["fft_length"]) // 2 + 1)
    audio.filterbank(block_type, v, frequency_hz)  # refuses empty filters, as features() does
    return (frames, int(v["num_filters"] if block_type == "mfe" else v["num_cepstral"]))


def output_shape(block_type: str, values: Config, window_samples: int, axes: int,
                 frequency_hz: float) -> tuple[int, ...]:
    """The features' shape for a window of ``window_samples`` per axis: (samples, axes) raw, (features,) spectral
    analysis, (frames, fft_length // 2 + 1) spectrogram, (frames, num_filters) MFE, (frames, num_cepstral) MFCC."""
    return _shape(block_type, resolve(block_type, values), window_samples, axes, frequency_hz)


def columns(block_type: str, values: Config, window_samples: int, axes: int, frequency_hz: float) -> int:
    """The columns of one row of the features, what a reshape layer before a convolution takes: the last
    dimension of :func:`output_shape` (axes raw, bins spectrogram, filters MFE, coefficients MFCC; every
    feature for spectral analysis, one row, as Studio does not convolve over it)."""
    return output_shape(block_type, values, window_samples, axes, frequency_hz)[-1]


def output_config(block_type: str, values: Config, window_samples: int, axes: int,
                  frequency_hz: float) -> dict[str, Any]:
    """Studio's ``outputConfig`` of the block (its dsp.py's): ``{"type": "flat", "shape": {"width": features}}``
    for raw and spectral analysis, ``{"type": "spectrogram", "shape": {"width": frames, "height": columns}}``
    for the frame-based blocks. Note that there ``width`` counts frames, ``height`` the columns."""
    shape = output_shape(block_type, values, window_samples, axes, frequency_hz)
    if block_type in _SINGLE_AXIS:
        return {"type": "spectrogram", "shape": {"width": shape[0], "height": shape[1]}}
    return {"type": "flat", "shape": {"width": math.prod(shape)}}
