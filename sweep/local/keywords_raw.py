"""The shipped raw audio project keywords-raw: six classes of 1 s "words" at 8 kHz, synthesised from a fixed seed.

Why: a whole-impulse search (window, DSP parameters, network) needs raw data on which the DSP choices really
change the result. Each pair of classes below differs in one detail only, so one DSP choice decides it:

- ``lowhigh`` / ``highlow``: TEMPORAL ORDER. The same two formant-like bursts (band-limited noise around
  600 Hz and 1800 Hz, Gaussian bandwidth 120 Hz, 150-200 ms each, 30-60 ms apart), in either order. A frame as
  long as the word (or one spectrum of the whole second), a frame stride of the same size, or a window that holds
  only one burst, sees the same energies in the same bands: only a short frame stride tells them apart.
- ``buzz100`` / ``buzz125``: FINE FREQUENCY DETAIL. A harmonic buzz (all harmonics up to 3.9 kHz) with
  fundamental 100 Hz or 125 Hz, both under the same formant envelope (Gaussian around 500 Hz, 250 Hz wide),
  300-500 ms long. Their energy per band is the same; only the spacing of the harmonics differs, which needs
  frequency bins well under 100 Hz: an FFT of 256 points or more at 8 kHz, or many narrow filters (a mel
  filterbank of 8-16 bands, or an FFT of 32-64 points, merges them).
- ``noise`` / ``rumble``: A CUE AT THE BAND EDGE. ``rumble`` is ``noise`` plus a low rumble (three sines
  of 90-200 Hz, amplitude-modulated at 4-8 Hz, 400-600 ms): a filterbank whose low edge is 300 Hz (a low cut
  often used for speech; Studio's MFCC default is 0 Hz since 2023) removes all of it.

Every sample: 8000 values (1 s at 8 kHz), int16, one axis ``audio``. Background noise in all of them: white
noise with a random spectral tilt (amplitude ∝ f^-β, β in [0, 0.4]) at an RMS of 150-600, plus 0-2
distractor blips (30-80 ms of band-limited noise at a random 600-3000 Hz, amplitude 300-1200) that belong to
no class. The word (none for ``noise``) starts at a random onset, keeping 50 ms clear of both ends, at a peak
amplitude of 1500-9000 (log-uniform: some words are faint), and every frequency of a sample is scaled by one
random pitch factor in [0.97, 1.03].
100 samples per class, shuffled; NumPy's PCG64 from the seed makes the same bytes on every run (9.6 MB on disk,
generated in under a second). The test ``tests/test_local_rawdata.py`` measures what each coarse choice
costs with a plain spectrogram and a nearest-centroid classifier.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "KEYWORDS_RAW_HZ",
    "KEYWORDS_RAW_LABELS",
    "KEYWORDS_RAW_LENGTH",
    "KEYWORDS_RAW_PER_CLASS",
    "KEYWORDS_RAW_SEED",
    "keywords_raw",
]

KEYWORDS_RAW_HZ = 8000
KEYWORDS_RAW_LENGTH = 8000  # 1 s
KEYWORDS_RAW_LABELS = ("noise", "rumble", "lowhigh", "highlow", "buzz100", "buzz125")
KEYWORDS_RAW_PER_CLASS = 100
KEYWORDS_RAW_SEED = 20261203
_EDGE = 400  # 50 ms kept clear at both ends of a sample


def _envelope(n: int, attack_s: float, release_s: float) -> np.ndarray:
    """A linear attack and release around a flat top, so no burst starts with a click."""
    e = np.ones(n)
    a, r = max(1, min(n, int(attack_s * KEYWORDS_RAW_HZ))), max(1, min(n, int(release_s * KEYWORDS_RAW_HZ)))
    e[:a] = np.linspace(0.0, 1.0, a)
    e[n - r:] = np.minimum(e[n - r:], np.linspace(1.0, 0.0, r))
    return e


def _band_noise(rng: np.random.Generator, n: int, centre_hz: float, width_hz: float) -> np.ndarray:
    """White noise shaped by a Gaussian band around ``centre_hz``, peak 1."""
    freqs = np.fft.rfftfreq(n, 1.0 / KEYWORDS_RAW_HZ)
    spectrum = np.fft.rfft(rng.standard_normal(n)) * np.exp(-0.5 * ((freqs - centre_hz) / width_hz) ** 2)
    x = np.fft.irfft(spectrum, n)
    return np.asarray(x / (np.abs(x).max() + 1e-9))


def _background(rng: np.random.Generator) -> np.ndarray:
    """Tilted white noise at a random level, and a few distractor blips that belong to no class."""
    n = KEYWORDS_RAW_LENGTH
    freqs = np.maximum(np.fft.rfftfreq(n, 1.0 / KEYWORDS_RAW_HZ), 50.0)
    tilt = (freqs / 1000.0) ** -rng.uniform(0.0, 0.4)
    x = np.fft.irfft(np.fft.rfft(rng.standard_normal(n)) * tilt, n)
    x *= rng.uniform(150.0, 600.0) / (x.std() + 1e-9)
    for _ in range(int(rng.integers(0, 3))):
        d = int(rng.uniform(0.03, 0.08) * KEYWORDS_RAW_HZ)
        start = int(rng.integers(0, n - d))
        blip = _band_noise(rng, d, rng.uniform(600.0, 3000.0), 150.0) * _envelope(d, 0.005, 0.01)
        x[start:start + d] += rng.uniform(300.0, 1200.0) * blip
    return x


def _rumble(rng: np.random.Generator) -> np.ndarray:
    n = int(rng.uniform(0.4, 0.6) * KEYWORDS_RAW_HZ)
    t = np.arange(n) / KEYWORDS_RAW_HZ
    x = sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)) for f in rng.uniform(90.0, 200.0, 3)) / 3
    x = x * (0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(4.0, 8.0) * t))
    return np.asarray(x * _envelope(n, 0.03, 0.05))


def _two_bursts(rng: np.random.Generator, pitch: float, low_first: bool) -> np.ndarray:
    first, gap, second = (int(rng.uniform(a, b) * KEYWORDS_RAW_HZ) for a, b in ((0.15, 0.2), (0.03, 0.06),
                                                                               (0.15, 0.2)))
    centres = (600.0 * pitch, 1800.0 * pitch) if low_first else (1800.0 * pitch, 600.0 * pitch)
    a = _band_noise(rng, first, centres[0], 120.0) * _envelope(first, 0.01, 0.02)
    b = _band_noise(rng, second, centres[1], 120.0) * _envelope(second, 0.01, 0.02)
    return np.concatenate([a, np.zeros(gap), b])


def _buzz(rng: np.random.Generator, f0: float) -> np.ndarray:
    n = int(rng.uniform(0.3, 0.5) * KEYWORDS_RAW_HZ)
    t = np.arange(n) / KEYWORDS_RAW_HZ
    k = np.arange(1, int(3900.0 / f0) + 1)
    amplitude = np.exp(-0.5 * ((k * f0 - 500.0) / 250.0) ** 2)
    phase = rng.uniform(0, 2 * np.pi, len(k))
    x = (amplitude[:, None] * np.sin(2 * np.pi * f0 * k[:, None] * t[None, :] + phase[:, None])).sum(axis=0)
    return np.asarray(x / (np.abs(x).max() + 1e-9) * _envelope(n, 0.02, 0.05))


def _word(rng: np.random.Generator, label: str, pitch: float) -> np.ndarray | None:
    if label == "noise":
        return None
    if label == "rumble":
        return _rumble(rng)
    if label in ("lowhigh", "highlow"):
        return _two_bursts(rng, pitch, low_first=label == "lowhigh")
    return _buzz(rng, (100.0 if label == "buzz100" else 125.0) * pitch)


def keywords_raw(seed: int = KEYWORDS_RAW_SEED,
                 per_class: int = KEYWORDS_RAW_PER_CLASS) -> tuple[list[np.ndarray], np.ndarray]:
    """The project's signals, each an int16 (8000, 1) array, and their class indices into KEYWORDS_RAW_LABELS."""
    rng = np.random.default_rng(seed)
    signals, ys = [], []
    for cls, label in enumerate(KEYWORDS_RAW_LABELS):
        for _ in range(per_class):
            pitch = rng.uniform(0.97, 1.03)
            x = _background(rng)
            word = _word(rng, label, pitch)
            if word is not None:
                start = int(rng.integers(_EDGE, KEYWORDS_RAW_LENGTH - len(word) - _EDGE))
                x[start:start + len(word)] += np.exp(rng.uniform(np.log(1500.0), np.log(9000.0))) * word
            signals.append(np.clip(np.round(x), -32768, 32767).astype(np.int16)[:, None])
            ys.append(cls)
    order = rng.permutation(len(ys))
    return [signals[i] for i in order], np.asarray(ys, dtype=np.int64)[order]
