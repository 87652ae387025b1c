"""A raw project's features for one window and DSP configuration: windows cut, the DSP block run, kept on disk.

Each sample is cut into windows of ``windowSizeMs`` every ``windowIncreaseMs`` (a sample shorter than the
window is zero-padded when ``padZeros``, else left out), as Studio slices its samples; each window becomes
one feature vector, labelled with its sample's class, and remembers its sample (``groups.npy``) so that the
validation split keeps a sample's windows together. The result lives in
``<project>/features/<key>/`` (``X.npy``, ``y.npy``, ``groups.npy``, ``meta.json``), ``key`` a hash of
everything it depends on: the same configuration is computed once (a generate-features job then only
points at it), and a training job reads it as an ordinary project of precomputed features.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sweep.errors import LocalStudioError
from sweep.local import rawdata
from sweep.local.datasets import LocalProject, load_signals

__all__ = ["FeatureSet", "compute_features", "feature_key", "feature_project", "training_project", "window_samples"]

_VERSION = 1  # of this module's windowing: part of every key


@dataclass(frozen=True)
class FeatureSet:
    """One computed configuration: where it is, its key, the shape of one window's features, how many windows."""

    path: Path
    key: str
    shape: tuple[int, ...]
    count: int
    kind: str  # "spectrogram" (frames x columns) or "features" (flat)


def window_samples(window: dict[str, Any], frequency_hz: float) -> tuple[int, int]:
    """(values per window, values between window starts) at the project's frequency."""
    size = round(float(window.get("windowSizeMs") or 1000) * frequency_hz / 1000.0)
    step = round(float(window.get("windowIncreaseMs") or window.get("windowSizeMs") or 1000)
                     * frequency_hz / 1000.0)
    if size < 1 or step < 1:
        raise LocalStudioError(f"a window of {window.get('windowSizeMs')} ms every {window.get('windowIncreaseMs')} ms "
                               f"holds no sample at {frequency_hz:g} Hz")
    return size, step


def feature_key(project: LocalProject, dsp_type: str, values: dict[str, str], window: dict[str, Any]) -> str:
    """What the features depend on, hashed: the project, the window, the DSP block's type and full configuration."""
    text = json.dumps({"project": project.id, "frequency": project.frequency_hz, "version": _VERSION,
                       "window": {k: window.get(k) for k in ("windowSizeMs", "windowIncreaseMs", "padZeros")},
                       "dsp": dsp_type, "config": dict(sorted(values.items()))}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _windows(signal: np.ndarray, size: int, step: int, pad: bool) -> list[np.ndarray]:
    if len(signal) < size:
        return [np.pad(signal, ((0, size - len(signal)), (0, 0)))] if pad else []
    return [signal[start:start + size] for start in range(0, len(signal) - size + 1, step)]


def compute_features(project: LocalProject, dsp_type: str, values: dict[str, str],
                     window: dict[str, Any]) -> FeatureSet:
    """The features of every window of every sample (computed now, or found from an earlier job)."""
    from sweep.local import dsp as blocks  # numpy and scipy: only a raw project's feature job needs them

    if project.kind != "raw" or project.frequency_hz is None:
        raise LocalStudioError(f"project {project.name!r} holds features, not raw data: it has no DSP to run")
    key = feature_key(project, dsp_type, values, window)
    where = project.path / "features" / key
    if (where / "meta.json").exists():
        return _read(where, key)
    size, step = window_samples(window, project.frequency_hz)
    signals, y = load_signals(project)
    xs: list[np.ndarray] = []
    ys: list[int] = []
    groups: list[int] = []
    for index, (signal, label) in enumerate(zip(signals, y, strict=True)):
        for piece in _windows(signal, size, step, bool(window.get("padZeros", True))):
            xs.append(blocks.features(dsp_type, values, piece, project.frequency_hz).ravel())
            ys.append(int(label))
            groups.append(index)
    if not xs:
        raise LocalStudioError(f"no sample of {project.name!r} is as long as a {window.get('windowSizeMs')} ms window "
                               "(and padZeros is off)")
    shape = tuple(int(v) for v in blocks.output_shape(dsp_type, values, size, len(project.axes or ()),
                                                   project.frequency_hz))
    if math.prod(shape) != xs[0].size:
        raise LocalStudioError(f"the {dsp_type} block gave {xs[0].size} features a window, not {shape}")
    where.mkdir(parents=True, exist_ok=True)
    rawdata.save_npy(where / "X.npy", np.stack(xs).astype(np.float32))
    rawdata.save_npy(where / "y.npy", np.asarray(ys, dtype=np.int64))
    rawdata.save_npy(where / "groups.npy", np.asarray(groups, dtype=np.int64))
    kind = "spectrogram" if len(shape) == 2 else "features"
    meta = {"shape": list(shape), "count": len(xs), "kind": kind, "dsp": dsp_type, "config": values, "window": window}
    part = where / ".meta.json.tmp"
    part.write_text(json.dumps(meta))
    part.replace(where / "meta.json")  # last: its presence means the set is complete
    return FeatureSet(where, key, shape, len(xs), kind)


def _read(where: Path, key: str) -> FeatureSet:
    meta = json.loads((where / "meta.json").read_text())
    return FeatureSet(where, key, tuple(int(v) for v in meta["shape"]), int(meta["count"]), str(meta["kind"]))


def feature_project(project: LocalProject, key: str) -> LocalProject:
    """The raw project seen through one computed configuration: an ordinary project of precomputed features
    (what the trainer reads), its windows' ``groups.npy`` beside them."""
    where = project.path / "features" / key
    if not (where / "meta.json").exists():
        raise LocalStudioError(f"the features {key} of project {project.name!r} are gone: generate them again")
    found = _read(where, key)
    shape = found.shape if found.kind == "features" else (*found.shape, 1)
    return dataclasses.replace(project, kind="spectrogram" if found.kind == "spectrogram" else "features",
                               input_shape=shape, path=where)


def training_project(data_dir: Path, project: LocalProject, learn_id: int) -> LocalProject:
    """What a train job on ``learn_id`` reads: the project itself, or for a raw project the features its learn
    block's DSP block was last generated with (the server refuses a job whose features are missing or stale)."""
    if project.kind != "raw":
        return project
    from sweep.local.features import FeatureBook
    from sweep.local.impulses import ImpulseBook

    found = ImpulseBook(data_dir).learn_block(project, learn_id)
    dsp_ids = list(found[1].get("dsp") or []) if found is not None else []
    entry = FeatureBook(data_dir).entry(project, dsp_ids[0]) if dsp_ids else None
    if entry is None or "key" not in entry:
        raise LocalStudioError(f"learn block {learn_id} of {project.name!r} has no generated features")
    return feature_project(project, str(entry["key"]))
