"""On-device cost ESTIMATES of a DSP block: operations and buffers counted per window, priced per device.

Same devices, clocks and cycles as the network's estimates (:mod:`sweep.local.devices`); formulas and the
operation weights below are in docs/device-estimates.md ("DSP blocks"):

  latency ms = (ops x cycles-per-MAC float32 + overhead cycles) / clock x 1000   (the DSP runs in float32)
  RAM bytes  = the sum of the block's working buffers, each 4 bytes a value, rounded up to 16 bytes

The answer has the shape of Studio's ``GET /api/{projectId}/dsp/{dspId}/performance`` (the official
``DspPerformanceAllVariantsResponse``: ``{success, performance: [{mcu, latency, ram}]}``, integers).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sweep.local.devices import ALIGN, DEFAULT_DEVICE, DEVICES, OVERHEAD_CYCLES
from sweep.local.dsp import audio, spectral
from sweep.local.dsp.blocks import output_shape
from sweep.local.dsp.params import Config, Values, resolve

__all__ = ["BIQUAD_OPS", "LOG_OPS", "MOMENT_OPS", "DspEstimate", "DspWork", "fft_ops", "performance",
           "performance_body", "work"]

LOG_OPS = 20  # one log10 / ln of a float (a polynomial approximation), in multiply-accumulates
BIQUAD_OPS = 5  # one second-order IIR section, per sample
MOMENT_OPS = 4  # mean, variance, third and fourth moments: per value
FLOAT = 4  # bytes of a float32


def fft_ops(n: int) -> int:
    """An n-point real FFT: n log2 n multiply-accumulates."""
    return int(n * math.log2(n))


@dataclass(frozen=True)
class DspWork:
    """One window's work: ``ops`` multiply-accumulate equivalents, ``buffers`` name -> bytes."""

    ops: int
    buffers: Mapping[str, int] = field(default_factory=dict)

    @property
    def ram_bytes(self) -> int:
        return sum(-(-b // ALIGN) * ALIGN for b in self.buffers.values())


@dataclass(frozen=True)
class DspEstimate:
    mcu: str
    name: str
    latency_ms: float
    ram_bytes: int
    is_default: bool

    def wire(self) -> dict[str, Any]:
        """``{mcu, latency, ram}`` as Studio answers them: whole ms (rounded up, so no cost reads 0) and bytes."""
        return {"mcu": self.mcu, "latency": math.ceil(self.latency_ms), "ram": self.ram_bytes}

    def summary(self) -> dict[str, Any]:
        """``{latency, ram}``: the official ``DspPerformance`` (``performance`` of ``GET /dsp/{dspId}``'s ``dsp``)."""
        return {"latency": math.ceil(self.latency_ms), "ram": self.ram_bytes}


def _spectrum(fft: int) -> tuple[int, dict[str, int]]:
    """Per frame: FFT and power (|X|^2, 2 per bin); the frame, complex spectrum and power buffers."""
    bins = fft // 2 + 1
    return fft_ops(fft) + 2 * bins, {"frame": fft * FLOAT, "spectrum": 2 * bins * FLOAT, "power": bins * FLOAT}


def _spectrogram(v: Values, n: int, fs: float) -> DspWork:
    f = audio.check_framing("spectrogram", v, n, fs)
    fft = int(v["fft_length"])
    bins = fft // 2 + 1
    per_frame, buffers = _spectrum(fft)
    per_frame += min(f.length, fft) + bins * (LOG_OPS + 2)  # copy the frame in; dB and noise-floor scaling
    return DspWork(f.count * per_frame, {**buffers, "output": f.count * bins * FLOAT})


def _mel(block_type: str, v: Values, n: int, fs: float) -> DspWork:
    f = audio.check_framing(block_type, v, n, fs)
    audio.filterbank(block_type, v, fs)
    fft, filters = int(v["fft_length"]), int(v["num_filters"])
    bins = fft // 2 + 1
    per_frame, buffers = _spectrum(fft)
    per_frame += min(f.length, fft) + filters * bins + filters * LOG_OPS  # frame in, dense filterbank, logs
    buffers |= {"filterbank": filters * bins * FLOAT, "energies": filters * FLOAT}
    if block_type == "mfe":
        ops = 2 * n + f.count * (per_frame + 3 * filters)  # scale and pre-emphasis; noise floor, clip, quantise
        return DspWork(ops, {**buffers, "output": f.count * filters * FLOAT})
    cepstral, win = int(v["num_cepstral"]), int(v["win_size"])
    per_frame += bins + filters * cepstral + LOG_OPS  # frame energy, DCT of the kept coefficients, its log
    ops = n + f.count * per_frame + 2 * win * f.count * cepstral  # pre-emphasis; mean and variance windows
    buffers["output"] = f.count * cepstral * FLOAT
    if win:
        buffers["normalization"] = (f.count + win - 1) * cepstral * FLOAT
    return DspWork(ops, buffers)


def _spectral_pass(v: Values, samples: int) -> int:
    fft = int(v["fft-length"])
    bins = fft // 2 + 1
    step = fft - (fft // 2 if v["do-fft-overlap"] else 0)
    frames = samples // step + 1
    per_frame, _ = _spectrum(fft)
    logs = bins * LOG_OPS if v["do-log"] else 0
    return 3 * samples + MOMENT_OPS * samples + frames * (per_frame + bins) + MOMENT_OPS * bins + logs


def _spectral(v: Values, n: int, axes: int, fs: float) -> DspWork:
    passes = spectral.spectral_plan(v, n, fs)
    sections = int(v["filter-order"]) // 2 if v["filter-type"] != "none" else 0
    decimated, samples = 0, n
    for step in spectral.DECIMATION_STEPS[int(v["input-decimation-ratio"])]:
        decimated, samples = decimated + 4 * BIQUAD_OPS * samples, -(-samples // step)
    per_axis = n + decimated + sections * BIQUAD_OPS * samples + _spectral_pass(v, samples)
    if len(passes) > 1:
        per_axis += 4 * BIQUAD_OPS * samples + _spectral_pass(v, passes[1][1])
    fft = int(v["fft-length"])
    buffers = {**_spectrum(fft)[1], "axis": n * FLOAT, "max_hold": (fft // 2 + 1) * FLOAT,
               "output": spectral.spectral_count(v, n, axes, fs) * FLOAT}
    return DspWork(axes * per_axis, buffers)


def work(block_type: str, values: Config, window_samples: int, axes: int, frequency_hz: float) -> DspWork:
    """The operations and buffers of one window (refused as :func:`~sweep.local.dsp.blocks.features` refuses)."""
    v = resolve(block_type, values)
    output_shape(block_type, v, window_samples, axes, frequency_hz)  # every refusal features() would make
    if block_type == "raw":
        return DspWork(window_samples * axes, {"output": window_samples * axes * FLOAT})
    if block_type == "spectral-analysis":
        return _spectral(v, window_samples, axes, frequency_hz)
    if block_type == "spectrogram":
        return _spectrogram(v, window_samples, frequency_hz)
    return _mel(block_type, v, window_samples, frequency_hz)


def performance(block_type: str, values: Config, window_samples: int, axes: int, frequency_hz: float,
                default: str = DEFAULT_DEVICE) -> list[DspEstimate]:
    """The block's estimated latency and RAM on every device of :mod:`sweep.local.devices`."""
    w = work(block_type, values, window_samples, axes, frequency_hz)
    return [DspEstimate(d.mcu, d.name, (w.ops * d.cycles_per_mac_float32 + OVERHEAD_CYCLES) / d.clock_hz * 1000.0,
                        w.ram_bytes, d.mcu == default) for d in DEVICES]


def performance_body(block_type: str, values: Config, window_samples: int, axes: int,
                     frequency_hz: float) -> dict[str, Any]:
    """``GET /api/{projectId}/dsp/{dspId}/performance``'s answer: ``{success, performance: [{mcu, latency, ram}]}``."""
    estimates = performance(block_type, values, window_samples, axes, frequency_hz)
    return {"success": True, "performance": [e.wire() for e in estimates]}
