"""The local studio's DSP blocks (raw, spectral-analysis, spectrogram, MFE, MFCC), computed as Studio computes them.

What it offers (every function takes the block type and its configuration, strings as Studio sends them or
typed values, defaults for what is missing):

- :func:`resolve`: the typed values, or a :class:`DspParameterError` (an ``ApiError`` 400 and a ``ValueError``)
  naming the parameter and the value; :func:`describe`: the ``config`` groups of ``GET /dsp/{dspId}``;
- :func:`features`: one window's flat float32 feature vector; :func:`output_shape`, :func:`columns` and
  :func:`output_config`: its shape, the columns of a row (for a reshape layer), Studio's ``outputConfig``;
- :func:`performance` and :func:`performance_body`: estimated latency and RAM per device, the shape of
  ``GET /dsp/{dspId}/performance`` (docs/device-estimates.md).

The numerics follow Edge Impulse's public ``edgeimpulse/processing-blocks`` (each block at its latest
implementation version) in our own code. The library is **scipy** (``scipy.fft``, ``scipy.signal``) with numpy:
maintained, already installed with the ``local`` extra (scikit-learn needs it), typed arrays in and out, and it
has everything these blocks need (real FFT, DCT-II, Butterworth and Chebyshev designs, second-order-section
filtering). Not librosa: it pulls numba and llvmlite (hundreds of MB, a JIT warm-up in every worker) and its
mel scale and framing differ from Studio's anyway; not python_speech_features: unmaintained since 2020, and
Studio's SpeechPy fork differs from it too. No Keras or TensorFlow here.

Checked against that repository's own ``dsp.py`` on tones with noise (outside the test suite, which does not
depend on it): the same features to float32 precision (MFE identical, MFCC and spectrogram within 1e-6,
spectral analysis within 2e-5). The deliberate differences:

- **MFE 8-bit levels.** Studio computes ``np.uint8(np.around(x * 256))``, which wraps a value that rounds to 256
  (x >= 255.5 / 256: the loudest bins) to 0, silence; here it is clipped to 255 first.
- **Constant signals.** Skewness and kurtosis of a signal (or spectrum) without variance are 0 here, NaN in
  Studio (scipy.stats).
- **Filter stability.** The spectral-analysis Butterworth filter is refused when the poles of its float32
  sections leave the unit circle; Studio checks a Python replica of the SDK's two-stage design instead.
- **Wavelet analysis** is refused (``analysis-type`` FFT only): it needs PyWavelets.
- **One implementation version** per block, Studio's latest (4; raw 1): ``implementation_version`` is read-only.
- **Refused instead of computed oddly**: an even MFCC ``win_size`` (Studio fails an assertion), ``num_cepstral``
  above ``num_filters`` (Studio would give ``num_filters`` columns while announcing ``num_cepstral``), values
  outside our ``minVal``/``maxVal`` (Studio's parameters.json has no ranges).
"""

from __future__ import annotations

from sweep.local.dsp.blocks import columns, features, output_config, output_shape
from sweep.local.dsp.catalog import Param, Value, block_types, params_of
from sweep.local.dsp.cost import DspEstimate, DspWork, performance, performance_body, work
from sweep.local.dsp.describe import describe
from sweep.local.dsp.params import Config, DspParameterError, Values, resolve, wire_value

__all__ = [
    "Config",
    "DspEstimate",
    "DspParameterError",
    "DspWork",
    "Param",
    "Value",
    "Values",
    "block_types",
    "columns",
    "describe",
    "features",
    "output_config",
    "output_shape",
    "params_of",
    "performance",
    "performance_body",
    "resolve",
    "wire_value",
    "work",
]
