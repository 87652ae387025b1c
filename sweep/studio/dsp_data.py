"""A DSP block's output downloaded for one category (``GET /dsp-data/{dspId}/x|y/{category}``), read and checked.

The official client (``DSPApi.download_dsp_data`` / ``download_dsp_labels``) asks for ``application/octet-stream``
and describes the answer as the DSP block's output "over all data in the selected category, already sliced in
windows. In Numpy binary format". What the labels hold is not in the spec; Edge Impulse's own training code
(``ei_tensorflow``) reads a labels file in one of two forms, and so does this module:

- NumPy, 2-D: one row per window, column 0 the class as a 1-based index into the learn block's classes, column 1
  the window's sample id (further columns are ignored); 1-D: the 1-based class alone (no sample ids);
- JSON starting with ``{`` (``{"version": 1, "samples": [...]}``, "structured" labels of object detection and label
  maps): refused, as is anything else, with what was found, never guessed at.

The features are NumPy too: one row per window (a multi-dimensional row is flattened). Every mismatch (another
format, a row count that differs, a class outside the block's) is a :class:`ProtocolError` naming the route.
The local studio adds a header, ``X-Sweep-Test-Split`` (JSON), describing its project's test split
(see ``sweep/local/test_split.py``); Studio sends none: its testing data is apart from the start.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from sweep.errors import ProtocolError

__all__ = ["TEST_SPLIT_HEADER", "WindowData", "read_features", "read_labels", "window_data"]

TEST_SPLIT_HEADER = "X-Sweep-Test-Split"
_NPY_MAGIC = b"\x93NUMPY"


@dataclass(frozen=True)
class WindowData:
    """One category's windows: features (float32, (N, F)), classes (0-based), each window's sample id (None when
    the labels name none), and the local studio's test split header (None on Studio)."""

    x: np.ndarray
    y: np.ndarray
    samples: np.ndarray | None
    split: dict[str, Any] | None

    @property
    def digest(self) -> str:
        """A short hash of the windows (features and classes): equal digests, the same testing data."""
        import hashlib

        h = hashlib.sha256(np.ascontiguousarray(self.x, dtype="<f4").tobytes())
        h.update(np.ascontiguousarray(self.y, dtype="<i8").tobytes())
        return h.hexdigest()[:16]


def _load(data: bytes, route: str, what: str) -> np.ndarray:
    if not data.startswith(_NPY_MAGIC):
        structured = " (structured JSON labels, as object detection and label maps have)" \
            if data[:1] == b"{" else ""
        raise ProtocolError(f"the {what} are not in NumPy's format{structured}: the answer starts with "
                            f"{data[:16]!r}; sweep test reads a classifier's NumPy {what}", method="GET", route=route)
    try:
        return np.asarray(np.load(io.BytesIO(data), allow_pickle=False))
    except (ValueError, OSError, EOFError) as exc:
        raise ProtocolError(f"the {what} cannot be read as a NumPy array: {exc}", method="GET", route=route) from None


def read_features(data: bytes, route: str) -> np.ndarray:
    """The features, one float32 row per window."""
    x = _load(data, route, "features")
    if x.ndim < 2 or not np.issubdtype(x.dtype, np.number):
        raise ProtocolError(f"the features are a {x.dtype} array of shape {x.shape}, not one row of numbers per "
                            "window", method="GET", route=route)
    return x.reshape(len(x), -1).astype(np.float32)


def read_labels(data: bytes, route: str) -> tuple[np.ndarray, np.ndarray | None]:
    """The classes as 1-based indices (int64) and each window's sample id (None when not given)."""
    y = _load(data, route, "labels")
    if y.ndim not in (1, 2) or (y.ndim == 2 and y.shape[1] < 1) or not np.issubdtype(y.dtype, np.number):
        raise ProtocolError(f"the labels are a {y.dtype} array of shape {y.shape}, not one class (and sample id) "
                            "per window", method="GET", route=route)
    classes = y if y.ndim == 1 else y[:, 0]
    if len(classes) and not np.all(np.equal(np.mod(classes, 1), 0)):
        raise ProtocolError(f"the labels' classes are not whole numbers (first: {classes[:3].tolist()})",
                            method="GET", route=route)
    samples = y[:, 1].astype(np.int64) if y.ndim == 2 and y.shape[1] >= 2 else None
    return classes.astype(np.int64), samples


def window_data(x_bytes: bytes, y_bytes: bytes, split: str | None, route: str, n_classes: int) -> WindowData:
    """Features and labels of the same windows, checked against each other and the block's ``n_classes``."""
    x = read_features(x_bytes, route)
    classes, samples = read_labels(y_bytes, route)
    if len(classes) != len(x):
        raise ProtocolError(f"{len(x)} windows of features but {len(classes)} labels", method="GET", route=route)
    if len(classes) and (classes.min() < 1 or classes.max() > n_classes):
        bad = int(classes.min() if classes.min() < 1 else classes.max())
        raise ProtocolError(f"a window's class is {bad}, outside the learn block's {n_classes} classes (1 to "
                            f"{n_classes}): are the labels indexed by another list of classes?", method="GET",
                            route=route)
    header: dict[str, Any] | None = None
    if split:
        try:
            header = dict(json.loads(split))
        except (ValueError, TypeError):
            raise ProtocolError(f"header {TEST_SPLIT_HEADER} is not a JSON object: {split[:80]!r}", method="GET",
                                route=route) from None
    return WindowData(x, classes - 1, samples, header)
