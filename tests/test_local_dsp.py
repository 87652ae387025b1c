"""sweep/local/dsp: each block against a direct numpy/scipy computation on known signals, shapes, parameter checks,
the config groups through the official edgeimpulse_api models, and the on-device cost estimates."""

from __future__ import annotations

import ast
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.fft
import scipy.signal
import scipy.stats
from edgeimpulse_api.models.dsp_config_response import DSPConfigResponse
from edgeimpulse_api.models.dsp_group import DSPGroup
from edgeimpulse_api.models.dsp_performance import DspPerformance
from edgeimpulse_api.models.dsp_performance_all_variants_response import DspPerformanceAllVariantsResponse

from sweep.errors import ApiError
from sweep.local import devices, dsp

FS = 16000


def tone(freq: float, seconds: float = 1.0, fs: float = FS, amplitude: float = 3000.0) -> np.ndarray:
    t = np.arange(round(seconds * fs)) / fs
    return amplitude * np.sin(2 * np.pi * freq * t)


# ---- direct computations, written plainly (loops, the textbook formulas) --------------------------------------

def ref_frames(x: np.ndarray, length: int, stride: int) -> np.ndarray:
    count = (len(x) - length) // stride + 1
    return np.array([x[i * stride: i * stride + length] for i in range(count)])


def ref_power(frames: np.ndarray, n: int) -> np.ndarray:
    return np.array([np.abs(np.fft.rfft(f, n=n)) ** 2 / n for f in frames])


def mel(f: float) -> float:
    return 1127.0 * math.log(1 + f / 700.0)


def mel_inv(m: float) -> float:
    return 700.0 * (math.exp(m / 1127.0) - 1)


def ref_peak_bins(filters: int, fft: int, fs: float, low: float, high: float) -> list[int]:
    """The FFT bin index of each filter's edges (Studio floors ``(fft + 1) * hz / fs``)."""
    edges = [mel_inv(mel(low) + (mel(high) - mel(low)) * i / (filters + 1)) for i in range(filters + 2)]
    edges[-1] -= 0.001
    return [math.floor((fft + 1) * hz / fs) for hz in edges]


def ref_bank(filters: int, fft: int, fs: float, low: float, high: float) -> np.ndarray:
    idx = ref_peak_bins(filters, fft, fs, low, high)
    bank = np.zeros((filters, fft // 2 + 1))
    for i in range(filters):
        left, mid, right = idx[i], idx[i + 1], idx[i + 2]
        for b in range(fft // 2 + 1):
            if left < b <= mid:
                bank[i, b] = (b - left) / (mid - left)
            if mid <= b < right:
                bank[i, b] = (right - b) / (right - mid)
    return bank


def ref_log_mel(x: np.ndarray, length: int, stride: int, fft: int, bank: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    power = ref_power(ref_frames(x, length, stride), fft)
    energies = power @ bank.T
    return np.log(np.where(energies == 0, 1e-10, energies)), power.sum(axis=1)


def ref_cmvnw(x: np.ndarray, win: int) -> np.ndarray:
    pad = win // 2

    def local(a: np.ndarray, f: Any) -> np.ndarray:
        padded = np.pad(a, ((pad, pad), (0, 0)), mode="symmetric")
        return np.array([f(padded[i: i + win], axis=0) for i in range(len(a))])

    centred = x - local(x, np.mean)
    return centred / (local(centred, np.std) + 1e-10)


def ref_max_hold(x: np.ndarray, n: int, overlap: bool) -> np.ndarray:
    best = np.zeros(n // 2 + 1)
    start = 0
    while start <= len(x):
        seg = np.zeros(n)
        part = x[start: start + n]
        seg[: len(part)] = part
        best = np.maximum(best, np.abs(np.fft.rfft(seg)) ** 2 / n)
        start += n - (n // 2 if overlap else 0)
    return best


# ---- spectrogram ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("frame_length", "fft"), [(0.016, 256), (0.01, 512)])
@pytest.mark.parametrize("freq", [1000.0, 3250.0])
def test_spectrogram_tone_in_its_bin_and_equal_to_direct_computation(frame_length: float, fft: int,
                                                                    freq: float) -> None:
    config = {"frame_length": str(frame_length), "frame_stride": "0.008", "fft_length": str(fft)}
    out = dsp.features("spectrogram", config, tone(freq), FS)
    frames = dsp.output_shape("spectrogram", config, FS, 1, FS)
    spec = out.reshape(frames)
    assert int(np.argmax(spec.mean(axis=0))) == round(freq * fft / FS)
    power = ref_power(ref_frames(tone(freq), round(frame_length * FS), 128), fft)
    expected = np.clip((10 * np.log10(np.clip(power, 1e-30, None)) + 52) / 64, 0, None)
    np.testing.assert_allclose(spec, expected, rtol=1e-5, atol=1e-5)


# ---- MFE --------------------------------------------------------------------------------------------------------

MFE_SETTINGS = [  # frames as long as the FFT, so that a tone on a bin's frequency is in that bin only
    {"frame_length": "0.016", "frame_stride": "0.008", "num_filters": "40", "fft_length": "256"},
    {"frame_length": "0.032", "frame_stride": "0.016", "num_filters": "24", "fft_length": "512",
     "low_frequency": "300", "high_frequency": "6000"},
]


@pytest.mark.parametrize("config", MFE_SETTINGS)
@pytest.mark.parametrize("k", [8, 19])
def test_mfe_tone_in_its_filter(config: dict[str, str], k: int) -> None:
    filters, fft = int(config["num_filters"]), int(config["fft_length"])
    high = float(config.get("high_frequency", FS / 2))
    peak = ref_peak_bins(filters, fft, FS, float(config.get("low_frequency", 0)), high)[k + 1]
    out = dsp.features("mfe", config, tone(peak * FS / fft), FS).reshape(dsp.output_shape("mfe", config, FS, 1, FS))
    assert out.shape[1] == filters
    assert np.all(np.argmax(out, axis=1)[1:-1] == k)  # first and last frames see pre-emphasis wrap-around
    assert np.all((out >= 0) & (out < 1)) and np.allclose(out * 256, np.round(out * 256))  # 8-bit levels


def test_mfe_equals_direct_computation() -> None:
    x = tone(700) + tone(2900, amplitude=900) + np.random.default_rng(1).normal(0, 300, FS)
    out = dsp.features("mfe", {"noise_floor_db": "-60"}, x, FS)
    signal = x / 32768
    signal = signal - 0.98 * np.roll(signal, 1)
    energies = ref_power(ref_frames(signal, 320, 160), 256) @ ref_bank(40, 256, FS, 0, FS / 2).T
    db = 10 * np.log10(np.clip(np.where(energies == 0, 1e-10, energies), 1e-30, None))
    expected = np.clip(np.round(np.clip((db + 60) / 72, 0, 1) * 256), 0, 255) / 256
    assert np.mean(np.abs(out.reshape(expected.shape) - expected) > 1e-6) < 0.001  # rounding ties aside


# ---- MFCC -------------------------------------------------------------------------------------------------------

def test_mfcc_equals_dct_of_log_mel_energies_and_normalisation() -> None:
    x = tone(440) + np.random.default_rng(2).normal(0, 500, FS)
    config = {"num_cepstral": "13", "num_filters": "32", "win_size": "0", "pre_cof": "0.97", "pre_shift": "1"}
    raw = dsp.features("mfcc", config, x, FS).reshape(dsp.output_shape("mfcc", config, FS, 1, FS))
    emphasised = x - 0.97 * np.roll(x, 1)
    log_mel, energy = ref_log_mel(emphasised, 320, 320, 256, ref_bank(32, 256, FS, 0, FS / 2))
    expected = scipy.fft.dct(log_mel, type=2, norm="ortho", axis=1)[:, :13]
    expected[:, 0] = np.log(energy)
    np.testing.assert_allclose(raw, expected, rtol=1e-4, atol=1e-4)
    normalised = dsp.features("mfcc", {**config, "win_size": "7"}, x, FS).reshape(raw.shape)
    np.testing.assert_allclose(normalised, ref_cmvnw(expected, 7), rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("fft", [256, 512])
@pytest.mark.parametrize("k", [6, 15])
def test_mfcc_tone_in_its_filter_after_inverse_dct(fft: int, k: int) -> None:
    config = {"num_cepstral": "24", "num_filters": "24", "win_size": "0", "fft_length": str(fft),
              "frame_length": str(fft / FS), "frame_stride": str(fft / FS), "pre_cof": "0"}
    peak = ref_peak_bins(24, fft, FS, 0, FS / 2)[k + 1]
    coefficients = dsp.features("mfcc", config, tone(peak * FS / fft), FS).reshape(-1, 24)
    # the first coefficient is the frame's log energy instead of the DCT's: an offset shared by every filter
    log_mel = scipy.fft.idct(coefficients, type=2, norm="ortho", axis=1)
    assert np.all(np.argmax(log_mel, axis=1) == k)


# ---- shapes -----------------------------------------------------------------------------------------------------

SHAPES = [  # block, config, expected (frames, columns) at 16 kHz, 1 s, computed by hand
    ("spectrogram", {"frame_length": "0.02", "frame_stride": "0.01", "fft_length": "128"}, (99, 65)),
    ("spectrogram", {"frame_length": "0.025", "frame_stride": "0.02", "fft_length": "512"}, (49, 257)),
    ("mfe", {"frame_length": "0.02", "frame_stride": "0.01", "num_filters": "40"}, (99, 40)),
    ("mfe", {"frame_length": "0.032", "frame_stride": "0.016", "num_filters": "64", "fft_length": "1024"}, (61, 64)),
    ("mfcc", {"frame_length": "0.02", "frame_stride": "0.02", "num_cepstral": "13"}, (50, 13)),
    ("mfcc", {"frame_length": "0.05", "frame_stride": "0.025", "num_cepstral": "20", "num_filters": "40",
              "fft_length": "1024"}, (39, 20)),
]


@pytest.mark.parametrize(("block", "config", "expected"), SHAPES)
def test_output_shape_follows_the_parameters(block: str, config: dict[str, str], expected: tuple[int, int]) -> None:
    out = dsp.features(block, config, tone(1000), FS)
    assert dsp.output_shape(block, config, FS, 1, FS) == expected
    assert out.dtype == np.float32 and out.ndim == 1 and out.size == expected[0] * expected[1]
    assert dsp.columns(block, config, FS, 1, FS) == expected[1]
    assert dsp.output_config(block, config, FS, 1, FS) == {
        "type": "spectrogram", "shape": {"width": expected[0], "height": expected[1]}}
    assert np.all(np.isfinite(out))


def test_strings_and_typed_values_are_the_same_configuration() -> None:
    x = tone(500)
    a = dsp.features("mfcc", {"num_filters": "40", "frame_stride": "0.01", "win_size": "51"}, x, FS)
    b = dsp.features("mfcc", {"num_filters": 40, "frame_stride": 0.01, "win_size": 51}, x, FS)
    assert np.array_equal(a, b)
    assert dsp.resolve("spectral-analysis", {"do-log": "false", "input-decimation-ratio": "10"}) == dsp.resolve(
        "spectral-analysis", {"do-log": False, "input-decimation-ratio": 10})


# ---- raw and spectral analysis on a multi-axis time series -----------------------------------------------------

ACC_FS = 100.0


def accelerometer() -> np.ndarray:
    t = np.arange(200) / ACC_FS
    noise = np.random.default_rng(3).normal(0, [0.02, 0.02, 0.2], (200, 3))  # no bin without power
    return np.stack([np.sin(2 * np.pi * 12.5 * t), 0.5 * np.sin(2 * np.pi * 25 * t) + 0.3, 9.8 + 0 * t], 1) + noise


def test_raw_multi_axis_scaled_sample_by_sample() -> None:
    x = accelerometer()
    out = dsp.features("raw", {"scale-axes": "2.5"}, x, ACC_FS)
    np.testing.assert_allclose(out, (x * 2.5).reshape(-1), rtol=1e-6)
    assert out[:3].tolist() == pytest.approx((x[0] * 2.5).tolist(), rel=1e-6)  # x0, y0, z0 first
    assert dsp.output_shape("raw", {}, 200, 3, ACC_FS) == (200, 3) and dsp.columns("raw", {}, 200, 3, ACC_FS) == 3
    assert dsp.output_config("raw", {}, 200, 3, ACC_FS) == {"type": "flat", "shape": {"width": 600}}


@pytest.mark.parametrize("fft", [64, 128])
@pytest.mark.parametrize("overlap", [True, False])
def test_spectral_analysis_per_axis_against_direct_computation(fft: int, overlap: bool) -> None:
    x = accelerometer()
    config = {"fft-length": str(fft), "do-fft-overlap": str(overlap).lower(), "scale-axes": "2"}
    out = dsp.features("spectral-analysis", config, x, ACC_FS)
    per_axis = 5 + fft // 2
    assert dsp.output_shape("spectral-analysis", config, 200, 3, ACC_FS) == out.shape == (3 * per_axis,)
    for axis in range(3):
        got = out[axis * per_axis: (axis + 1) * per_axis]
        fx = 2 * x[:, axis] - np.mean(2 * x[:, axis])
        powers = ref_max_hold(fx, fft, overlap)
        expected = [np.sqrt(np.mean(fx**2)), scipy.stats.skew(fx), scipy.stats.kurtosis(fx),
                    scipy.stats.skew(powers), scipy.stats.kurtosis(powers), *np.log10(powers[1:] + 1e-30)]
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    for axis, freq in ((0, 12.5), (1, 25.0)):  # each tone's bin has the most power of its axis
        bins = out[axis * per_axis + 5: (axis + 1) * per_axis]
        assert int(np.argmax(bins)) + 1 == round(freq * fft / ACC_FS)


@pytest.mark.parametrize(("kind", "cutoff", "order"), [("low", 18.0, 6), ("high", 18.0, 8)])
def test_spectral_analysis_filter_masks_bins_and_filters(kind: str, cutoff: float, order: int) -> None:
    x, fft = accelerometer(), 64
    config = {"filter-type": kind, "filter-cutoff": str(cutoff), "filter-order": str(order), "fft-length": "64",
              "do-log": "false"}
    out = dsp.features("spectral-analysis", config, x, ACC_FS)
    half_bin = ACC_FS / fft / 2
    kept = [k for k in range(1, fft // 2 + 1) if
            (k * ACC_FS / fft <= cutoff + half_bin if kind == "low" else k * ACC_FS / fft > cutoff - half_bin)]
    per_axis = 5 + len(kept)
    assert out.shape == (3 * per_axis,) == dsp.output_shape("spectral-analysis", config, 200, 3, ACC_FS)
    sos = scipy.signal.butter(order, cutoff * 2 / ACC_FS, btype=kind, output="sos")
    for axis in range(3):
        filtered = scipy.signal.sosfilt(sos, x[:, axis])
        filtered -= filtered.mean()
        assert out[axis * per_axis] == pytest.approx(np.sqrt(np.mean(filtered**2)), rel=1e-3)
        powers = ref_max_hold(filtered, fft, True)
        np.testing.assert_allclose(out[axis * per_axis + 5: (axis + 1) * per_axis], powers[kept], rtol=2e-3,
                                   atol=1e-5)
    passed, stopped = (0, 1) if kind == "low" else (1, 0)  # the 12.5 Hz axis passes a low-pass, the 25 Hz a high
    assert out[passed * per_axis] > 0.25 and out[stopped * per_axis] < 0.1


def test_spectral_analysis_decimation_and_low_frequency_pass() -> None:
    fs, t = 1000.0, np.arange(2000) / 1000.0
    x = np.stack([np.sin(2 * np.pi * 5 * t), np.cos(2 * np.pi * 3 * t)], axis=1)
    decimated = dsp.features("spectral-analysis", {"input-decimation-ratio": "10", "fft-length": "32"}, x, fs)
    assert decimated.shape == (2 * (5 + 16),) == dsp.output_shape(
        "spectral-analysis", {"input-decimation-ratio": "10", "fft-length": "32"}, 2000, 2, fs)
    assert decimated[0] == pytest.approx(1 / math.sqrt(2), rel=0.02)  # 5 Hz survives decimation to 100 Hz
    assert int(np.argmax(decimated[5:21])) + 1 == round(5 * 32 / 100)
    both = dsp.features("spectral-analysis", {"extra-low-freq": "true", "fft-length": "32"}, x, fs)
    assert both.shape == (2 * 2 * (5 + 16),) == dsp.output_shape(
        "spectral-analysis", {"extra-low-freq": "true", "fft-length": "32"}, 2000, 2, fs)
    plain = dsp.features("spectral-analysis", {"fft-length": "32"}, x, fs)
    np.testing.assert_allclose(both[: plain.size], plain, rtol=1e-6)  # the low-frequency features come after
    with pytest.raises(ValueError, match="extra-low-freq"):
        dsp.features("spectral-analysis", {"extra-low-freq": "true", "fft-length": "512"}, x, fs)


# ---- parameter checks -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("block", "config", "words"), [
    ("mfe", {"num_filtres": "40"}, ["num_filtres", "'40'", "unknown"]),
    ("mfe", {"num_filters": "1"}, ["num_filters", "'1'", "minimum 2"]),
    ("mfcc", {"pre_cof": "1.5"}, ["pre_cof", "1.5", "maximum 1"]),
    ("spectrogram", {"noise_floor_db": 10}, ["noise_floor_db", "10", "maximum 0"]),
    ("spectral-analysis", {"filter-type": "band"}, ["filter-type", "'band'", "low, high, none"]),
    ("spectral-analysis", {"input-decimation-ratio": "7"}, ["input-decimation-ratio", "'7'", "1, 3, 10"]),
    ("mfe", {"num_filters": "forty"}, ["num_filters", "'forty'", "integer"]),
    ("mfe", {"num_filters": "40.5"}, ["num_filters", "'40.5'", "integer"]),
    ("mfe", {"num_filters": True}, ["num_filters", "True", "integer"]),
    ("mfe", {"frame_length": "short"}, ["frame_length", "'short'", "number"]),
    ("spectral-analysis", {"do-log": "yes"}, ["do-log", "'yes'", "boolean"]),
    ("mfe", {"fft_length": "300"}, ["fft_length", "300", "power of 2"]),
    ("mfe", {"implementation_version": "2"}, ["implementation_version", "'2'", "read-only"]),
    ("mfcc", {"win_size": "100"}, ["win_size", "100", "odd"]),
    ("mfcc", {"num_cepstral": "40", "num_filters": "32"}, ["num_cepstral", "40", "num_filters"]),
    ("spectral-analysis", {"analysis-type": "Wavelet"}, ["analysis-type", "'Wavelet'", "FFT"]),
    ("spectral-analysis", {"filter-order": "5"}, ["filter-order", "5", "even"]),
])
def test_refusals_name_the_parameter_and_the_value(block: str, config: dict[str, Any], words: list[str]) -> None:
    with pytest.raises(ValueError) as caught:
        dsp.resolve(block, config)
    message = str(caught.value)
    assert all(w in message for w in words), message
    assert isinstance(caught.value, ApiError) and caught.value.status_code == 400
    assert isinstance(caught.value, dsp.DspParameterError) and caught.value.param == words[0]


def test_refusals_that_need_the_window_and_rate() -> None:
    x = tone(1000, seconds=0.1)
    cases: list[tuple[str, dict[str, str], np.ndarray, str]] = [
        ("mfe", {"high_frequency": "9000"}, x, "high_frequency"),  # above Nyquist at 16 kHz
        ("mfe", {"frame_length": "0.2"}, x, "frame_length"),  # longer than the 100 ms window
        ("spectrogram", {"frame_stride": "0.001"}, tone(1000, seconds=1), "frame_stride"),  # > 500 frames
        ("mfe", {"num_filters": "120", "fft_length": "64"}, x, "num_filters"),  # filters with no FFT bin
        ("spectral-analysis", {"filter-type": "low", "filter-cutoff": "9000"}, x, "filter-cutoff"),
    ]
    for block, config, signal, param in cases:
        with pytest.raises(dsp.DspParameterError) as caught:
            dsp.features(block, config, signal, FS)
        assert caught.value.param == param and param in str(caught.value)
        with pytest.raises(dsp.DspParameterError):
            dsp.output_shape(block, config, len(signal), 1, FS)
    with pytest.raises(ValueError, match="single axis"):
        dsp.features("mfe", {}, np.zeros((FS, 2)), FS)
    with pytest.raises(ValueError, match="unknown DSP block type"):
        dsp.resolve("image", {})


# ---- describe() through the official models --------------------------------------------------------------------

# Studio's defaults, from edgeimpulse/processing-blocks' parameters.json (the latest implementation versions)
STUDIO_DEFAULTS = {
    "raw": {"scale-axes": "1"},
    "spectral-analysis": {"scale-axes": "1", "input-decimation-ratio": "1", "filter-type": "none",
                          "filter-cutoff": "3", "filter-order": "6", "analysis-type": "FFT", "fft-length": "16",
                          "do-log": "true", "do-fft-overlap": "true", "extra-low-freq": "false"},
    "spectrogram": {"frame_length": "0.02", "frame_stride": "0.01", "fft_length": "128", "noise_floor_db": "-52",
                    "show_axes": "true"},
    "mfe": {"frame_length": "0.02", "frame_stride": "0.01", "num_filters": "40", "fft_length": "256",
            "low_frequency": "0", "high_frequency": "0", "win_size": "101", "noise_floor_db": "-52"},
    "mfcc": {"num_cepstral": "13", "frame_length": "0.02", "frame_stride": "0.02", "num_filters": "32",
             "fft_length": "256", "win_size": "101", "low_frequency": "0", "high_frequency": "0", "pre_cof": "0.98",
             "pre_shift": "1"},
}


def _dsp_info(block: str) -> dict[str, Any]:
    perf = next(e for e in dsp.performance(block, {}, FS, 1, FS) if e.is_default)
    return {"id": 3, "name": block, "windowLength": 1000, "type": block, "classes": [], "expectedWindowCount": 1,
            "features": {"generated": False}, "inputAxes": ["audio"], "canCalculateFeatureImportance": False,
            "calculateFeatureImportance": False, "canNormalizeData": False, "normalizeData": "none",
            "performance": perf.summary()}


@pytest.mark.parametrize("block", list(STUDIO_DEFAULTS))
def test_describe_parses_with_the_official_models_and_round_trips(block: str) -> None:
    assert block in dsp.block_types()
    config = dsp.describe(block)
    body = {"success": True, "dsp": _dsp_info(block), "config": config}
    DSPConfigResponse.parse_obj(body)  # validates (from_dict alone does not)
    for group in config:
        assert DSPGroup.parse_obj(group).to_dict() == group  # every field name is an official one
    items = {i["param"]: i for g in config for i in g["items"]}
    for param, default in STUDIO_DEFAULTS[block].items():
        assert items[param]["defaultValue"] == default == items[param]["value"], param
    for item in items.values():
        assert isinstance(item["value"], str)
        if item["type"] == "select":
            assert item["value"] in [o["value"] for o in item["selectOptions"]]
    # what describe() shows, sent back as Studio would send it, is the same configuration
    strings = {p: i["value"] for p, i in items.items()}
    assert dsp.resolve(block, strings) == dsp.resolve(block, {})


def test_describe_shows_the_values_set() -> None:
    config = dsp.describe("mfe", {"num_filters": 64, "frame_stride": "0.02"})
    items = {i["param"]: i for g in config for i in g["items"]}
    assert items["num_filters"]["value"] == "64" and items["num_filters"]["defaultValue"] == "40"
    assert items["frame_stride"]["value"] == "0.02"
    assert items["num_filters"]["minVal"] <= 64 <= items["num_filters"]["maxVal"]
    assert [g["group"] for g in config] == ["Mel-filterbank energy features", "Normalization"]
    spectral = {i["param"]: i for g in dsp.describe("spectral-analysis", {"filter-type": "low"}) for i in g["items"]}
    assert [o["value"] for o in spectral["filter-type"]["selectOptions"] if o["selected"]] == ["low"]
    assert spectral["filter-cutoff"]["showIf"] == {"parameter": "filter-type", "operator": "neq", "value": "none"}


# ---- on-device cost estimates ---------------------------------------------------------------------------------

def _latency(block: str, config: dict[str, str], samples: int = FS, axes: int = 1, fs: float = FS) -> float:
    return next(e.latency_ms for e in dsp.performance(block, config, samples, axes, fs) if e.is_default)


def _ram(block: str, config: dict[str, str], samples: int = FS, axes: int = 1, fs: float = FS) -> int:
    return dsp.performance(block, config, samples, axes, fs)[0].ram_bytes


def test_cost_positive_and_priced_by_the_devices_constants() -> None:
    for block, samples, axes, fs in (("raw", 200, 3, ACC_FS), ("spectral-analysis", 200, 3, ACC_FS),
                                     ("spectrogram", FS, 1, FS), ("mfe", FS, 1, FS), ("mfcc", FS, 1, FS)):
        work = dsp.work(block, {}, samples, axes, fs)
        estimates = dsp.performance(block, {}, samples, axes, fs)
        assert [e.mcu for e in estimates] == [d.mcu for d in devices.DEVICES]
        assert [e.mcu for e in estimates if e.is_default] == [devices.DEFAULT_DEVICE]
        out_bytes = 4 * math.prod(dsp.output_shape(block, {}, samples, axes, fs))
        for e, d in zip(estimates, devices.DEVICES, strict=True):
            expected = (work.ops * d.cycles_per_mac_float32 + devices.OVERHEAD_CYCLES) / d.clock_hz * 1000
            assert e.latency_ms == pytest.approx(expected) and e.latency_ms > 0
            assert e.ram_bytes >= out_bytes > 0 and e.ram_bytes % devices.ALIGN == 0
        body = dsp.performance_body(block, {}, samples, axes, fs)
        parsed = DspPerformanceAllVariantsResponse.parse_obj(body)
        assert [p.mcu for p in parsed.performance] == [d.mcu for d in devices.DEVICES]
        assert all(p.latency >= 1 and p.ram == estimates[0].ram_bytes for p in parsed.performance)
        DspPerformance.parse_obj(estimates[0].summary())


def test_cost_grows_with_the_work() -> None:
    assert _latency("mfe", {"num_filters": "20"}) < _latency("mfe", {"num_filters": "40"}) < _latency(
        "mfe", {"num_filters": "80", "fft_length": "512"})
    assert _ram("mfe", {"num_filters": "20"}) < _ram("mfe", {"num_filters": "40"})
    assert _latency("mfe", {"fft_length": "256"}) < _latency("mfe", {"fft_length": "512"})
    assert _latency("mfe", {"frame_stride": "0.02"}) < _latency("mfe", {"frame_stride": "0.01"})
    assert _latency("spectrogram", {"fft_length": "128"}) < _latency("spectrogram", {"fft_length": "512"})
    assert _ram("spectrogram", {"fft_length": "128"}) < _ram("spectrogram", {"fft_length": "512"})
    assert _latency("mfcc", {"win_size": "0"}) < _latency("mfcc", {"win_size": "101"})
    assert _latency("mfcc", {"num_cepstral": "13"}) < _latency("mfcc", {"num_cepstral": "32"})
    assert _latency("mfe", {}, samples=FS // 2) < _latency("mfe", {})
    def spectral(config: dict[str, str], axes: int = 3) -> float:
        return _latency("spectral-analysis", config, samples=200, axes=axes, fs=ACC_FS)

    assert spectral({"fft-length": "16"}) < spectral({"fft-length": "128"})
    assert spectral({}, axes=1) < spectral({}, axes=3)
    assert spectral({"filter-type": "low", "filter-cutoff": "20", "filter-order": "2"}) < spectral(
        {"filter-type": "low", "filter-cutoff": "20", "filter-order": "8"})
    assert spectral({}) < spectral({"extra-low-freq": "true"})
    slow, fast = dsp.performance("mfe", {}, FS, 1, FS)[0], dsp.performance("mfe", {}, FS, 1, FS)[-1]
    assert slow.mcu == "cortex-m0plus-48mhz" and slow.latency_ms > fast.latency_ms


def test_dsp_package_imports_numpy_scipy_and_the_standard_library_only() -> None:
    allowed = {"__future__", "math", "dataclasses", "typing", "collections", "numpy", "scipy", "sweep"}
    for path in Path(dsp.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.name} imports {name}"
