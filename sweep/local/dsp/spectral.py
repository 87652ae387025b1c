"""The spectral-analysis block (FFT analysis, implementation version 4) and the raw block, on every axis.

Per axis, as Studio's ``spectral_analysis/dsp.py``: scaled, decimated (Chebyshev type I, order 8, ripple 0.05 dB,
cut-off 0.8 / ratio, then every ratio-th sample), Butterworth-filtered (second-order sections, float32
coefficients), mean removed; then RMS, skewness, kurtosis, the skewness and kurtosis of the spectrum, and the
spectral power of the FFT bins the filter leaves (DC skipped): a max-hold over FFT frames of ``fft-length``
points (half-overlapping with ``do-fft-overlap``), ``log10`` with ``do-log``. ``extra-low-freq`` repeats the
features on the signal decimated by 10, after every axis's features.
"""

from __future__ import annotations

import numpy as np
from scipy import signal as ssig  # type: ignore[import-untyped]

from sweep.local.dsp.catalog import Value
from sweep.local.dsp.framing import F64, power_spectrum
from sweep.local.dsp.params import DspParameterError

__all__ = ["DECIMATION_STEPS", "bin_range", "butterworth", "decimate", "moments", "raw", "spectral_analysis",
           "spectral_count", "spectral_plan"]

Values = dict[str, Value]
BLOCK = "spectral-analysis"
DECIMATION_STEPS = {1: (), 3: (3,), 10: (10,), 30: (3, 10), 100: (10, 10), 1000: (10, 10, 10)}
LOW_FREQ_RATIO = 10


def raw(v: Values, x: F64) -> F64:
    """The window as it is, times ``scale-axes``: (samples, axes), flattened sample by sample as Studio does."""
    return np.asarray(x * float(v["scale-axes"]), dtype=np.float64)


def decimate(x: F64, ratio: int) -> F64:
    """Low-pass (Chebyshev I, order 8, 0.05 dB, 0.8 / ratio; state started at the first sample), keep every
    ratio-th sample: ``ceil(len / ratio)`` samples."""
    if ratio == 1:
        return x
    sos = ssig.cheby1(8, 0.05, 0.8 / ratio, output="sos")
    y, _ = ssig.sosfilt(sos, x, zi=ssig.sosfilt_zi(sos) * x[0])
    return np.asarray(y[::ratio], dtype=np.float64)


def butterworth(v: Values, frequency_hz: float) -> F64 | None:
    """The block's Butterworth filter as float32 second-order sections at the (decimated) rate; None when it
    does not filter. Refuses a cut-off at or above Nyquist and a filter whose poles leave the unit circle."""
    kind, order, cutoff = str(v["filter-type"]), int(v["filter-order"]), float(v["filter-cutoff"])
    if kind == "none" or order == 0:
        return None
    if cutoff * 2 / frequency_hz >= 1.0:
        raise DspParameterError(BLOCK, "filter-cutoff", v["filter-cutoff"],
                                f"at or above Nyquist (half the {frequency_hz:g} Hz rate): choose a lower cut-off")
    sos = np.asarray(ssig.butter(order, cutoff * 2 / frequency_hz, btype=kind, output="sos"), dtype=np.float32)
    _, poles, _ = ssig.sos2zpk(sos.astype(np.float64))
    if poles.size and float(np.max(np.abs(poles))) >= 1.0:
        raise DspParameterError(BLOCK, "filter-cutoff", v["filter-cutoff"],
                                "gives an unstable filter: move the cut-off away from 0 and from Nyquist")
    return np.asarray(sos, dtype=np.float64)


def bin_range(v: Values, frequency_hz: float) -> range:
    """The FFT bins kept as features: 1 .. fft/2 unfiltered, up to the cut-off for low-pass, from it for high-pass."""
    fft, kind = int(v["fft-length"]), str(v["filter-type"])
    bin_val = min(float(v["filter-cutoff"]), frequency_hz / 2) * fft / frequency_hz
    if kind == "high":
        return range(max(1, int(bin_val - 0.5) + 1), fft // 2 + 1)
    if kind == "low":
        return range(1, int(bin_val + 0.5) + 1)
    return range(1, fft // 2 + 1)


def spectral_plan(v: Values, n: int, frequency_hz: float) -> list[tuple[float, int]]:
    """(rate, samples) of each pass of the features over an axis: the main one and, with extra-low-freq, the
    low-frequency one; every refusal that depends on the rate or the window is raised here."""
    ratio = int(v["input-decimation-ratio"])
    kind, cutoff = str(v["filter-type"]), float(v["filter-cutoff"])
    if ratio > 1 and kind != "none" and cutoff > frequency_hz / 2 / ratio * 0.9:
        raise DspParameterError(BLOCK, "input-decimation-ratio", ratio,
                                f"too high for the {cutoff:g} Hz cut-off at {frequency_hz:g} Hz: lower it")
    rate, samples = frequency_hz, n
    for step in DECIMATION_STEPS[ratio]:
        rate, samples = rate / step, -(-samples // step)
    butterworth(v, rate)
    passes = [(rate, samples)]
    if v["extra-low-freq"]:
        low = -(-samples // LOW_FREQ_RATIO)
        if low < int(v["fft-length"]) / 2:
            raise DspParameterError(BLOCK, "extra-low-freq", True,
                                    f"needs at least {int(v['fft-length']) // 2 * LOW_FREQ_RATIO} samples after "
                                    f"decimation, the window has {samples}")
        passes.append((rate / LOW_FREQ_RATIO, low))
    for pass_rate, _ in passes:
        if not bin_range(v, pass_rate):
            raise DspParameterError(BLOCK, "filter-cutoff", v["filter-cutoff"], "masks every FFT bin")
    return passes


def spectral_count(v: Values, n: int, axes: int, frequency_hz: float) -> int:
    """How many features the block gives for a window of ``n`` samples of ``axes`` axes."""
    return axes * sum(5 + len(bin_range(v, rate)) for rate, _ in spectral_plan(v, n, frequency_hz))


def moments(x: F64) -> tuple[float, float]:
    """Skewness and (Fisher, excess) kurtosis, biased as scipy.stats' defaults; 0 for a constant signal."""
    centred = x - x.mean()
    m2 = float(np.mean(centred**2))
    if m2 <= 1e-12 * max(1.0, float(np.mean(x**2))):
        return 0.0, 0.0
    return float(np.mean(centred**3)) / m2**1.5, float(np.mean(centred**4)) / m2**2 - 3.0


def _max_hold(x: F64, fft: int, overlap: bool) -> F64:
    """The largest |rfft|^2 / fft of each bin over frames every ``fft - overlap`` samples, the last zero-padded."""
    step = fft - (fft // 2 if overlap else 0)
    starts = np.arange(0, x.shape[0] + 1, step)
    padded = np.concatenate([x, np.zeros(fft)])
    frames = padded[starts[:, None] + np.arange(fft)[None, :]]
    return np.asarray(power_spectrum(frames, fft).max(axis=0), dtype=np.float64)


def _features(v: Values, x: F64, rate: float) -> list[float]:
    skewness, kurtosis = moments(x)
    powers = _max_hold(x, int(v["fft-length"]), bool(v["do-fft-overlap"]))
    spec_skew, spec_kurt = moments(powers)
    if v["do-log"]:
        powers = np.log10(np.where(powers == 0, 1e-10, powers))
    rms = float(np.sqrt(np.mean(x**2)))
    return [rms, skewness, kurtosis, spec_skew, spec_kurt, *(float(powers[i]) for i in bin_range(v, rate))]


def spectral_analysis(v: Values, x: F64, frequency_hz: float) -> F64:
    """The features of every axis of ``x`` (samples, axes), then (extra-low-freq) every axis's low-frequency ones."""
    passes = spectral_plan(v, x.shape[0], frequency_hz)
    rate = passes[0][0]
    sos = butterworth(v, rate)
    main: list[float] = []
    low: list[float] = []
    for axis in range(x.shape[1]):
        fx = np.asarray(x[:, axis], dtype=np.float32).astype(np.float64) * float(v["scale-axes"])
        for step in DECIMATION_STEPS[int(v["input-decimation-ratio"])]:
            fx = decimate(fx, step)
        if sos is not None:
            fx = np.asarray(ssig.sosfilt(sos, fx), dtype=np.float64)
        fx = fx - fx.mean()
        main += _features(v, fx, rate)
        if len(passes) > 1:
            lf = decimate(fx, LOW_FREQ_RATIO)
            low += _features(v, lf - lf.mean(), passes[1][0])
    return np.asarray(main + low, dtype=np.float64)
