"""The DSP blocks' parameters as Studio names and groups them: type, default, range, options, what they change.

Names, labels, help texts, groups, defaults and select options follow Edge Impulse's public
``edgeimpulse/processing-blocks`` (each block's ``parameters.json``) at the latest implementation version of
each block. That repository gives no ranges for int and float parameters: the ``minVal``/``maxVal`` here are
ours, wide enough for any setting the block's ``dsp.py`` accepts, narrow enough to refuse nonsense early.
Parameters Studio only shows for older implementation versions (``spectral-peaks-count``, ``win_size`` of the
MFE block, ...) and UI-only ones (``show_axes``) are accepted and described but change no feature.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

__all__ = ["BLOCKS", "IMPLEMENTATION_VERSIONS", "Param", "ParamType", "Value", "block_types", "params_of"]

ParamType = Literal["int", "float", "boolean", "select", "string"]
Value = bool | int | float | str


@dataclass(frozen=True)
class Param:
    """One parameter of a DSP block; ``default`` is typed (an int select's default is an int)."""

    param: str  # the wire name, e.g. "num_filters"
    name: str  # the label Studio shows
    type: ParamType
    default: Value
    help: str
    group: str = ""
    min: float | None = None
    max: float | None = None
    options: tuple[str, ...] = ()  # a select's valid values, in Studio's order
    select_int: bool = False  # a select whose values are ints ("configType": "int")
    affects_features: bool = True
    shown: bool = True  # shown at the block's implementation version (Studio's shouldShow)
    required: bool = True  # false for Studio's "optional" parameters
    readonly: bool = False
    show_if: tuple[str, str, str] | None = None  # (parameter, "eq" | "neq", value): Studio's showIf


def _g(group: str, *params: Param) -> tuple[Param, ...]:
    return tuple(replace(p, group=group) for p in params)


def _version(version: int) -> Param:
    return Param("implementation_version", "Implementation version", "int", version,
                 "The version of the block's algorithm (fixed: the latest Studio has)", readonly=True,
                 shown=False, affects_features=False, min=version, max=version)


_SCALE = Param("scale-axes", "Scale axes", "float", 1.0, "Multiplies axes by this number", min=1e-6, max=1e6)
_FRAME_LENGTH = Param("frame_length", "Frame length", "float", 0.02, "The length of each frame in seconds",
                      min=0.0005, max=30.0)
_FRAME_STRIDE = Param("frame_stride", "Frame stride", "float", 0.01,
                      "The step between successive frames in seconds", min=0.0005, max=30.0)
_FFT = Param("fft_length", "FFT length", "int", 256, "Number of FFT points", min=16, max=4096)
_FILTERS = Param("num_filters", "Filter number", "int", 40, "The number of filters in the filterbank",
                 min=2, max=256)
_LOW = Param("low_frequency", "Low frequency", "int", 0, "Lowest band edge of mel filters (in Hz)",
             min=0, max=1_000_000)
_HIGH = Param("high_frequency", "High frequency", "int", 0,
              "Highest band edge of mel filters (in Hz). If set to 0 this is samplerate / 2",
              min=0, max=1_000_000, required=False)
_NOISE_FLOOR = Param("noise_floor_db", "Noise floor (dB)", "int", -52,
                     "Everything less loud than the noise floor will be dropped", min=-200, max=0)
_FFT_ONLY = ("analysis-type", "eq", "FFT")
_FILTERED = ("filter-type", "neq", "none")
_WAVELETS = tuple(
    [f"bior{v}" for v in ("1.3", "1.5", "2.2", "2.4", "2.6", "2.8", "3.1", "3.3", "3.5", "3.7", "3.9", "4.4",
                          "5.5", "6.8")]
    + ["coif1", "coif2", "coif3"] + [f"db{i}" for i in range(2, 11)] + ["haar"]
    + [f"rbio{v}" for v in ("1.3", "1.5", "2.2", "2.4", "2.6", "2.8", "3.1", "3.3", "3.5", "3.7", "3.9", "4.4",
                            "5.5", "6.8")]
    + [f"sym{i}" for i in range(2, 11)])

_RAW = _g("Scaling", _SCALE, _version(1))

_SPECTRAL = _g(
    "Filter", _SCALE,
    Param("input-decimation-ratio", "Input decimation ratio", "select", 1, "Decimate signal to improve effeciency",
          options=("1", "3", "10", "30", "100", "1000"), select_int=True),
    Param("filter-type", "Type", "select", "none",
          "Type of filter to apply to the raw data. (Example: low is low pass)", options=("low", "high", "none")),
    Param("filter-cutoff", "Cut-off frequency", "float", 3.0, "Cut-off frequency in hertz", min=0.001,
          max=1_000_000, show_if=_FILTERED),
    Param("filter-order", "Order", "int", 6, "Number of poles to use in filter. More improves filtering at "
          "expense of latency. Use zero to only mask FFT bins and skip filtering.", min=0, max=8,
          show_if=_FILTERED),
) + _g(
    "Analysis",
    Param("analysis-type", "Type", "select", "FFT", "Type of spectral analysis to apply", options=("FFT", "Wavelet")),
    Param("fft-length", "FFT length", "int", 16, "Number of FFT points", min=16, max=4096, show_if=_FFT_ONLY),
    Param("spectral-peaks-count", "No. of peaks", "int", 3, "Number of spectral power peaks", min=0, max=100,
          shown=False, affects_features=False),
    Param("spectral-peaks-threshold", "Peaks threshold", "float", 0.1, "Minimum (normalized) threshold for a "
          "peak, this eliminates peaks that are very close", min=0, max=1e6, shown=False, affects_features=False),
    Param("spectral-power-edges", "Power edges", "string", "0.1, 0.5, 1.0, 2.0, 5.0",
          "Splits the spectral density in various buckets", shown=False, affects_features=False),
    Param("do-log", "Take log of spectrum?", "boolean", True, "Apply log base 10 to spectrum", show_if=_FFT_ONLY),
    Param("do-fft-overlap", "Overlap FFT frames?", "boolean", True, "When more than one FFT is needed to cover a "
          "window, then setting true will reuse the last half of the previous FFT frame. Similar to frame stride.",
          show_if=_FFT_ONLY),
    Param("wavelet-level", "Wavelet Decomposition Level", "int", 1, "Decomposition level (must be >= 0)", min=0,
          max=10, show_if=("analysis-type", "eq", "Wavelet"), affects_features=False),
    Param("wavelet", "Wavelet", "select", "db4", "Wavelet to use", options=_WAVELETS,
          show_if=("analysis-type", "eq", "Wavelet"), affects_features=False),
    Param("extra-low-freq", "Improve low frequency resolution?", "boolean", False,
          "Decimate signal to improve low frequency resolution", show_if=_FFT_ONLY),
    _version(4),
)

_SPECTROGRAM = _g(
    "Spectrogram", _FRAME_LENGTH, _FRAME_STRIDE,
    Param("fft_length", "FFT length", "int", 128, "Number of frequency bands. Choose a power of two (e.g. 64, 128, "
          "256) for optimal performance on device.", min=16, max=4096),
) + _g(
    "Normalization",
    Param("noise_floor_db", "Noise floor (dB)", "int", -52, "When the spectrogram is rescaled, all frequency bins "
          "below this noise floor will be clipped to zero", min=-200, max=0),
    Param("show_axes", "Show axes", "boolean", True, "Show frequency / time axes in the graphs", shown=False,
          affects_features=False),
    _version(4),
)

_MFE = _g(
    "Mel-filterbank energy features", _FRAME_LENGTH, _FRAME_STRIDE, _FILTERS, _FFT, _LOW, _HIGH,
) + _g(
    "Normalization",
    Param("win_size", "Window size", "int", 101, "The size of sliding window for local normalization", min=0,
          max=1001, shown=False, affects_features=False),
    _NOISE_FLOOR, _version(4),
)

_MFCC = _g(
    "Mel Frequency Cepstral Coefficients",
    Param("num_cepstral", "Number of coefficients", "int", 13, "Number of cepstral coefficients", min=1, max=256),
    _FRAME_LENGTH, replace(_FRAME_STRIDE, default=0.02), replace(_FILTERS, default=32),
    _FFT,
    Param("win_size", "Normalization window size", "int", 101, "The size of sliding window for local "
          "normalization. Set this to 0 to disable normalization.", min=0, max=1001),
    _LOW, replace(_HIGH, help="Highest band edge of mel filters (in Hz). If not set (or set to 0) this is "
                              "samplerate / 2"),
) + _g(
    "Pre-emphasis",
    Param("pre_cof", "Coefficient", "float", 0.98, "The pre-emphasizing coefficient to apply to the input signal "
          "(0 equals to no filtering)", min=0, max=1),
    Param("pre_shift", "Shift", "int", 1, "The pre-emphasis shift value to roll over the input signal", min=1,
          max=100, shown=False),
    _version(4),
)

BLOCKS: dict[str, tuple[Param, ...]] = {
    "raw": _RAW, "spectral-analysis": _SPECTRAL, "spectrogram": _SPECTROGRAM, "mfe": _MFE, "mfcc": _MFCC,
}
IMPLEMENTATION_VERSIONS: dict[str, int] = {"raw": 1, "spectral-analysis": 4, "spectrogram": 4, "mfe": 4, "mfcc": 4}


def block_types() -> tuple[str, ...]:
    """The DSP block types the local studio computes."""
    return tuple(BLOCKS)


def params_of(block_type: str) -> tuple[Param, ...]:
    """The block's parameters in Studio's order; KeyError for a block type the local studio does not compute."""
    return BLOCKS[block_type]
