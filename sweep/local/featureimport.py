"""Edge Impulse's exported features (``X_train_features.npy``, ``y_train.npy``) -> a new local project."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from sweep.errors import LocalStudioError
from sweep.local import datasets

__all__ = ["import_features"]


def _labels_from_file(y_path: Path) -> list[str] | None:
    for name in ("labels.txt", "labels.json"):
        file = y_path.parent / name
        if file.exists():
            text = file.read_text()
            if name.endswith(".json"):
                return [str(v) for v in json.loads(text)]
            return [ln.strip() for ln in text.splitlines() if ln.strip()]
    return None


def _decode_labels(y: np.ndarray, n_labels: int | None, y_path: Path) -> np.ndarray:
    """One-hot (N, C) -> argmax; 1-D ints are 1-based as Edge Impulse exports them, unless a 0 occurs."""
    if y.ndim == 2 and y.shape[1] > 1:
        if not np.allclose(y.sum(axis=1), 1.0):
            raise LocalStudioError(f"{y_path}: 2-D labels must be one-hot rows (got row sums != 1)")
        decoded: np.ndarray = y.argmax(axis=1).astype(np.int64)
        return decoded
    y = y.reshape(-1)
    if not np.issubdtype(y.dtype, np.number) or not np.all(np.equal(np.mod(y, 1), 0)):
        raise LocalStudioError(f"{y_path}: labels must be integers or one-hot rows (got dtype {y.dtype})")
    y = y.astype(np.int64)
    if y.min() < 0:
        raise LocalStudioError(f"{y_path}: negative label {int(y.min())}")
    if y.min() >= 1:  # Edge Impulse exports 1-based class numbers
        y = y - 1
    if n_labels is not None and y.max() >= n_labels:
        raise LocalStudioError(f"{y_path}: label {int(y.max()) + 1} but only {n_labels} label names")
    return y


def import_features(data_dir: Path, name: str, x_path: Path, y_path: Path, labels: list[str] | None,
                    input_shape: tuple[int, ...] | None) -> datasets.LocalProject:
    """Import an Edge Impulse dashboard export (X_train_features.npy, y_train.npy) as a new local project.

    y: one-hot rows, or 1-based class numbers as Edge Impulse exports them (0-based if any 0
    occurs). labels: the given list, else labels.txt (one per line) / labels.json beside y_path,
    else "1".."C" (the exported class numbers). input_shape: default (F,) -> kind "features";
    a 3-D shape makes an "image" project.
    """
    datasets.check_new_name(data_dir, name)
    try:
        x = np.load(x_path, allow_pickle=False)
        y_raw = np.load(y_path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise LocalStudioError(f"cannot read {x_path} / {y_path}: {exc}") from exc
    if x.ndim < 2 or len(x) == 0:
        raise LocalStudioError(f"{x_path}: expected (N, F) features, got shape {x.shape}")
    x = x.reshape(len(x), -1).astype(np.float32)
    if len(y_raw) != len(x):
        raise LocalStudioError(f"{y_path}: {len(y_raw)} labels for {len(x)} samples in {x_path}")
    if labels is None:
        labels = _labels_from_file(Path(y_path))
    y = _decode_labels(y_raw, len(labels) if labels else None, Path(y_path))
    if labels is None:
        n = int(y_raw.shape[1]) if y_raw.ndim == 2 and y_raw.shape[1] > 1 else int(y.max()) + 1
        labels = [str(i + 1) for i in range(n)]
    shape = tuple(int(v) for v in input_shape) if input_shape else (x.shape[1],)
    if math.prod(shape) != x.shape[1]:
        raise LocalStudioError(f"input_shape {shape} has {math.prod(shape)} values, features have {x.shape[1]}")
    project = datasets.new_project(data_dir, name, "image" if len(shape) == 3 else "features", shape, list(labels))
    return datasets.write_arrays(project, x.reshape((len(x), *shape)), y)
