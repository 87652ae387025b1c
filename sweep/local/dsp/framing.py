"""The audio blocks' shared numerics: framing, power spectrum, mel filterbank, dB scaling, local normalisation.

Written after Studio's SpeechPy fork (``edgeimpulse/processing-blocks``, ``third_party/speechpy``, implementation
version 4) with scipy.fft and numpy, vectorised (no per-frame Python loop).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import fft as sfft  # type: ignore[import-untyped]

__all__ = ["F64", "MAX_FRAMES", "Framing", "cmvnw", "frame_samples", "framing", "mel_filterbank", "noise_floor_scale",
           "power_spectrum", "preemphasis", "stack_frames"]

F64 = npt.NDArray[np.float64]
MAX_FRAMES = 500  # Studio refuses more frames than this


def frame_samples(seconds: float, frequency_hz: float) -> int:
    """Seconds to samples as Studio rounds them: up, unless within 0.001 of the integer below (float noise)."""
    v = seconds * frequency_hz
    floor = math.floor(v)
    return floor if 0 < v - floor < 0.001 else math.ceil(v)


@dataclass(frozen=True)
class Framing:
    """How a window is cut into frames: ``count`` frames of ``length`` samples every ``stride`` samples."""

    length: int
    stride: int
    count: int


def framing(n: int, frame_length_s: float, frame_stride_s: float, frequency_hz: float) -> Framing:
    """Frames without zero padding: a last frame that does not fit is dropped (count may be 0 or less)."""
    length = frame_samples(frame_length_s, frequency_hz)
    stride = frame_samples(frame_stride_s, frequency_hz)
    count = (n - (length - stride)) // stride if stride > 0 else 0
    return Framing(length, stride, count)


def stack_frames(x: F64, f: Framing) -> F64:
    """(count, length): frame i is ``x[i*stride : i*stride + length]`` (rectangular window)."""
    windows = np.lib.stride_tricks.sliding_window_view(x, f.length)
    return np.ascontiguousarray(windows[:: f.stride][: f.count], dtype=np.float64)


def power_spectrum(frames: F64, fft_length: int) -> F64:
    """|rfft|^2 / fft_length per frame: frames shorter than the FFT are zero-padded, longer ones cut (as Studio)."""
    spectrum = sfft.rfft(frames, n=fft_length, axis=-1)
    return np.asarray(np.abs(spectrum) ** 2 / fft_length, dtype=np.float64)


def preemphasis(x: F64, cof: float, shift: int) -> F64:
    """``x - cof * roll(x, shift)``: Studio's pre-emphasis (circular, so the first samples see the last)."""
    return np.asarray(x - cof * np.roll(x, shift), dtype=np.float64)


def _hz_to_mel(f: F64) -> F64:
    return np.asarray(1127.0 * np.log1p(f / 700.0), dtype=np.float64)


def _mel_to_hz(m: F64) -> F64:
    return np.asarray(700.0 * np.expm1(m / 1127.0), dtype=np.float64)


def mel_filterbank(num_filters: int, fft_length: int, frequency_hz: float, low_hz: float,
                   high_hz: float) -> tuple[F64, F64]:
    """(num_filters, fft_length // 2 + 1) triangles on the mel scale from ``low_hz`` to ``high_hz``, and their
    centre frequencies. Edges are floored to FFT bins as Studio does; a filter no bin falls in is a zero row."""
    edges = _mel_to_hz(np.linspace(_hz_to_mel(np.array(low_hz)), _hz_to_mel(np.array(high_hz)), num_filters + 2))
    edges[-1] -= 0.001  # Studio's and the SDK's guard against the top edge rounding one bin up
    index = np.floor((fft_length + 1) * edges / frequency_hz).astype(np.int64)
    bins = np.arange(fft_length // 2 + 1, dtype=np.float64)[None, :]
    left, middle, right = (index[k: k + num_filters, None].astype(np.float64) for k in (0, 1, 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        rise = np.where((bins > left) & (bins <= middle), (bins - left) / (middle - left), 0.0)
        fall = np.where((bins >= middle) & (bins < right), (right - bins) / (right - middle), 0.0)
    bank = np.maximum(rise, fall)  # both are 1 at the centre, 0 beyond the edges
    return np.asarray(bank, dtype=np.float64), edges[1:-1]


def noise_floor_scale(power: F64, noise_floor_db: int) -> F64:
    """Power to dB (floored at 1e-30), then ``(dB - floor) / (12 - floor)`` clipped below at 0: Studio's scaling."""
    db = 10.0 * np.log10(np.clip(power, 1e-30, None))
    return np.clip((db - noise_floor_db) / (12.0 - noise_floor_db), 0.0, None)


def cmvnw(x: F64, win_size: int, variance: bool) -> F64:
    """Local normalisation over ``win_size`` rows (odd), the rows padded symmetrically at both ends: each row minus
    its window's mean, then (``variance``) divided by the window's standard deviation of those differences."""
    pad = (win_size - 1) // 2
    centred = x - _window_mean(np.pad(x, ((pad, pad), (0, 0)), mode="symmetric"), win_size)
    if not variance:
        return centred
    padded = np.pad(centred, ((pad, pad), (0, 0)), mode="symmetric")
    mean = _window_mean(padded, win_size)
    mean_sq = _window_mean(padded * padded, win_size)
    std = np.sqrt(np.clip(mean_sq - mean * mean, 0.0, None))
    return np.asarray(centred / (std + 1e-10), dtype=np.float64)


def _window_mean(padded: F64, win_size: int) -> F64:
    """Row i: the mean of rows i .. i + win_size - 1 of ``padded`` (one row per output row)."""
    sums = np.cumsum(np.vstack([np.zeros((1, padded.shape[1])), padded]), axis=0)
    return np.asarray((sums[win_size:] - sums[:-win_size]) / win_size, dtype=np.float64)
