"""A raw project's signals on disk: every sample's values end to end in one array, each sample's length and class.

A project of kind ``"raw"`` keeps, beside its ``project.json`` (which adds ``frequencyHz`` and ``axes``):

- ``signals.npy``: (total length, axes), int16 when every value is an int16 (audio from 8/16-bit WAV files,
  integer JSON values), else float32; the samples one after the other, in sample order;
- ``lengths.npy``: (N,) int64, each sample's length in values per axis (samples may differ in length);
- ``y.npy``: (N,) int64, each sample's class index into the project's labels.

Each file is written atomically (a reader never sees half of one), and ``project.json`` after them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sweep.errors import LocalStudioError

__all__ = ["LENGTHS_FILE", "SIGNALS_FILE", "Y_FILE", "read_signals", "save_npy", "signal_count", "total_length",
           "write_signals"]

SIGNALS_FILE, LENGTHS_FILE, Y_FILE = "signals.npy", "lengths.npy", "y.npy"


def save_npy(path: Path, arr: np.ndarray) -> None:
    """np.save to ``path`` through a temporary file beside it: a concurrent reader never sees half a file."""
    part = path.parent / f".{path.name}.{os.getpid()}.tmp"
    with open(part, "wb") as fh:
        np.save(fh, arr)
    part.replace(path)


def _stored_dtype(signals: Sequence[np.ndarray]) -> type[np.int16] | type[np.float32]:
    return np.int16 if all(s.dtype == np.int16 for s in signals) else np.float32


def write_signals(directory: Path, signals: Sequence[np.ndarray], y: np.ndarray) -> None:
    """Store ``signals`` (each (length, axes), every one with the same axes) and their classes ``y``."""
    if len(signals) == 0 or len(signals) != len(y):
        raise LocalStudioError(f"{directory}: {len(signals)} signals for {len(y)} labels")
    axes = {s.shape[1] if s.ndim == 2 else -1 for s in signals}
    if len(axes) != 1 or -1 in axes or min(len(s) for s in signals) == 0:
        raise LocalStudioError(f"{directory}: every signal must be a non-empty (length, axes) array with the "
                               f"same axes (got shapes {sorted({s.shape for s in signals})[:4]})")
    dtype = _stored_dtype(signals)
    flat = np.concatenate([np.asarray(s, dtype=dtype) for s in signals])
    save_npy(directory / SIGNALS_FILE, flat)
    save_npy(directory / LENGTHS_FILE, np.asarray([len(s) for s in signals], dtype=np.int64))
    save_npy(directory / Y_FILE, np.asarray(y, dtype=np.int64))


def read_signals(directory: Path) -> tuple[list[np.ndarray], np.ndarray]:
    """Every sample's signal as a float32 (length, axes) array, in sample order, and y (int64 class indices)."""
    try:
        flat = np.load(directory / SIGNALS_FILE, allow_pickle=False)
        lengths = np.load(directory / LENGTHS_FILE, allow_pickle=False)
        y = np.load(directory / Y_FILE, allow_pickle=False).astype(np.int64)
    except (OSError, ValueError) as exc:
        raise LocalStudioError(f"{directory}: cannot read raw signals ({exc})") from exc
    if flat.ndim != 2 or lengths.ndim != 1 or len(lengths) != len(y) or int(lengths.sum()) != len(flat) \
            or (len(lengths) and int(lengths.min()) < 1):
        raise LocalStudioError(f"{directory}: raw signals do not match: {SIGNALS_FILE} {flat.shape}, "
                               f"{LENGTHS_FILE} of {len(lengths)} summing to {int(lengths.sum())}, "
                               f"{Y_FILE} of {len(y)}")
    values = flat.astype(np.float32)
    return list(np.split(values, np.cumsum(lengths)[:-1])), y


def signal_count(directory: Path) -> int:
    """How many samples the project has, read from lengths.npy's header without loading it."""
    try:
        return int(np.load(directory / LENGTHS_FILE, mmap_mode="r", allow_pickle=False).shape[0])
    except (OSError, ValueError) as exc:
        raise LocalStudioError(f"{directory}: cannot read raw signals ({exc})") from exc


def total_length(directory: Path) -> int:
    """The samples' lengths together, in values per axis (lengths.npy summed)."""
    try:
        return int(np.load(directory / LENGTHS_FILE, mmap_mode="r", allow_pickle=False).sum())
    except (OSError, ValueError) as exc:
        raise LocalStudioError(f"{directory}: cannot read raw signals ({exc})") from exc
