"""The frame-based blocks, one axis each: spectrogram, MFE (mel-filterbank energies) and MFCC, as Studio computes
them at implementation version 4 (``edgeimpulse/processing-blocks``: ``spectrogram``, ``mfe``, ``mfcc``)."""

from __future__ import annotations

import numpy as np
import scipy.fft as sfft  # type: ignore[import-untyped]

from sweep.local.dsp.catalog import Value
from sweep.local.dsp.framing import (
    F64,
    MAX_FRAMES,
    Framing,
    cmvnw,
    framing,
    mel_filterbank,
    noise_floor_scale,
    power_spectrum,
    preemphasis,
    stack_frames,
)
from sweep.local.dsp.params import DspParameterError

__all__ = ["check_framing", "filterbank", "mfcc", "mfe", "spectrogram"]

Values = dict[str, Value]


def check_framing(block_type: str, v: Values, n: int, frequency_hz: float) -> Framing:
    """The frames of a window of ``n`` samples, or a refusal naming the parameter (as Studio refuses them)."""
    f = framing(n, float(v["frame_length"]), float(v["frame_stride"]), frequency_hz)
    minimum = 4 if block_type == "spectrogram" else 1
    for param, samples in (("frame_length", f.length), ("frame_stride", f.stride)):
        if samples < minimum:
            raise DspParameterError(block_type, param, v[param], f"is {samples} samples at {frequency_hz:g} Hz: "
                                                                 f"at least {minimum} needed")
    if f.count < 1:
        raise DspParameterError(block_type, "frame_length", v["frame_length"],
                                f"is {f.length} samples, longer than the window ({n} samples)")
    if f.count > MAX_FRAMES:
        raise DspParameterError(block_type, "frame_stride", v["frame_stride"],
                                f"gives {f.count} frames in {n} samples, more than {MAX_FRAMES}: increase the "
                                f"frame stride or decrease the window size")
    return f


def filterbank(block_type: str, v: Values, frequency_hz: float) -> F64:
    """The block's mel filterbank (filters x FFT bins), or a refusal: a band edge above Nyquist, an empty filter."""
    nyquist = frequency_hz / 2
    low, high = float(v["low_frequency"]), float(v["high_frequency"]) or nyquist
    if high > nyquist:
        raise DspParameterError(block_type, "high_frequency", v["high_frequency"],
                                f"above half the sampling rate ({nyquist:g} Hz)")
    if low >= high:
        raise DspParameterError(block_type, "low_frequency", v["low_frequency"],
                                f"must be below the high band edge ({high:g} Hz)")
    filters, fft = int(v["num_filters"]), int(v["fft_length"])
    bank, _ = mel_filterbank(filters, fft, frequency_hz, low, high)
    empty = int(np.count_nonzero(~bank.any(axis=1)))
    if empty:
        raise DspParameterError(block_type, "num_filters", v["num_filters"],
                                f"{empty} of the mel filters cover no FFT bin of {fft} points between {low:g} and "
                                f"{high:g} Hz: lower the filter number (to {(fft // 2 + 1) // 4} or fewer) or "
                                f"increase fft_length")
    return bank


def spectrogram(v: Values, x: F64, frequency_hz: float) -> F64:
    """(frames, fft_length // 2 + 1): each frame's power spectrum in dB, scaled by the noise floor. Values are taken
    as they come (int16 units for audio), as Studio's version 4 does; there is no upper clip at that version."""
    f = check_framing("spectrogram", v, x.shape[0], frequency_hz)
    power = power_spectrum(stack_frames(x, f), int(v["fft_length"]))
    return noise_floor_scale(power, int(v["noise_floor_db"]))


def mfe(v: Values, x: F64, frequency_hz: float) -> F64:
    """(frames, num_filters): int16 units to [-1, 1], pre-emphasis 0.98, mel energies in dB scaled by the noise
    floor and clipped to [0, 1], then quantised to 8 bits (k / 256, k = 0..255) as Studio's version 4 does."""
    f = check_framing("mfe", v, x.shape[0], frequency_hz)
    bank = filterbank("mfe", v, frequency_hz)
    signal = preemphasis(x / 2**15, 0.98, 1)
    energies = power_spectrum(stack_frames(signal, f), int(v["fft_length"])) @ bank.T
    energies = np.where(energies == 0, 1e-10, energies)
    scaled = np.clip(noise_floor_scale(energies, int(v["noise_floor_db"])), 0.0, 1.0)
    return np.clip(np.around(scaled * 256), 0, 255) / 256


def mfcc(v: Values, x: F64, frequency_hz: float) -> F64:
    """(frames, num_cepstral): pre-emphasis, log mel energies, DCT-II (orthonormal), the first coefficient replaced
    by the log of the frame's energy, then local mean and variance normalisation over ``win_size`` frames."""
    f = check_framing("mfcc", v, x.shape[0], frequency_hz)
    bank = filterbank("mfcc", v, frequency_hz)
    signal = preemphasis(x, float(v["pre_cof"]), int(v["pre_shift"]))
    power = power_spectrum(stack_frames(signal, f), int(v["fft_length"]))
    energy = power.sum(axis=1)
    energies = power @ bank.T
    cepstra = sfft.dct(np.log(np.where(energies == 0, 1e-10, energies)), type=2, axis=-1, norm="ortho")
    out = np.array(cepstra[:, : int(v["num_cepstral"])], dtype=np.float64)
    out[:, 0] = np.log(np.where(energy == 0, 1e-10, energy))
    win = int(v["win_size"])
    return cmvnw(out, win, variance=True) if win > 0 else out
