"""``sweep import NAME --raw PATH...``: Edge Impulse data acquisition JSON files and WAV files as a raw project.

JSON: the data acquisition format Studio exports and the ingestion API takes, ``{"protected": {...},
"signature": ..., "payload": {"device_type", "interval_ms", "sensors": [{"name", "units"}], "values"}}``:
``values`` has one row per interval with one number per sensor (a flat list when there is one sensor), the
rate is 1000 / ``interval_ms`` Hz and the axes are the sensors' names. The signature is not checked (the HMAC
key is the project's). WAV: PCM of 8, 16, 24 or 32 bits or IEEE float, plain or WAVE_FORMAT_EXTENSIBLE, any
number of channels; the axes are ``audio`` (mono) or ``audio1``..``audioN``, and values are kept in int16 units
(full scale 32768) whatever the bit depth, as Studio shows audio.

Categories: a file is in the testing category when Studio's ``info.labels`` says so (its ``category``), or else
when a folder between it and the folder given is named ``testing`` (Studio's export: ``training/`` and
``testing/``); the project's test split is then those files (see test_split.py), else one is made.

Labels: an ``info.labels`` file (Studio's exporter format) in a file's folder, or above it up to the folder
given, names the label of each file it lists; otherwise ``label_from``: ``name`` takes the file name up to its
first dot (Studio exports ``label.xxxx.json``), ``folder`` the folder the file is in, ``auto`` (the default) the
name when it has the ``label.xxxx.ext`` form and the folder otherwise. Every file must have the same rate and
axes. Everything is read and checked before anything is written: a refused import leaves no project directory.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import struct
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from sweep.errors import LocalStudioError
from sweep.local import datasets, rawdata
from sweep.local.test_split import make_split, next_job_id

__all__ = ["LabelFrom", "import_raw"]

LabelFrom = Literal["auto", "name", "folder"]
_SUFFIXES = (".json", ".wav")
_PCM, _FLOAT, _EXTENSIBLE = 1, 3, 0xFFFE


@dataclass(frozen=True)
class _Signal:
    """One file's samples: (length, axes) values (int16 or float32), its rate and axes."""

    values: np.ndarray
    hz: float
    axes: tuple[str, ...]


def _bad(file: Path, field: str, reason: str, *value: Any) -> LocalStudioError:
    """The error for a bad file: the file, the field, why, and the value found (if given; cut at 80 characters)."""
    shown = repr(value[0]) if value else ""
    got = f" (got {shown[:80] + '...' if len(shown) > 80 else shown})" if value else ""
    return LocalStudioError(f"{file}: {field}: {reason}{got}")


def _as_stored(values: np.ndarray) -> np.ndarray:
    """int16 when every value is an int16, else float32."""
    if values.size and np.all(values == np.round(values)) and values.min() >= -32768 and values.max() <= 32767:
        return values.astype(np.int16)
    return values.astype(np.float32)


def _json_values(file: Path, values: Any, n_axes: int) -> np.ndarray:
    if not isinstance(values, list) or not values:
        raise _bad(file, "payload.values", "must be a non-empty list of rows, one number per sensor", values)
    if n_axes == 1 and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        values = [[v] for v in values]  # one sensor: a flat list of numbers
    for i, row in enumerate(values):
        if not (isinstance(row, list) and len(row) == n_axes
                and all(isinstance(v, int | float) and not isinstance(v, bool) for v in row)):
            raise _bad(file, f"payload.values[{i}]", f"must be a list of {n_axes} numbers, one per sensor", row)
    arr = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        row = int(np.argwhere(~np.isfinite(arr))[0][0])
        raise _bad(file, f"payload.values[{row}]", "values must be finite numbers", values[row])
    return _as_stored(arr)


def _read_json(file: Path) -> _Signal:
    try:
        doc = json.loads(file.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise LocalStudioError(f"{file}: not a readable JSON file ({exc})") from exc
    payload = doc.get("payload") if isinstance(doc, dict) else None
    if not isinstance(payload, dict):
        raise _bad(file, "payload", "a data acquisition file has a payload object", payload)
    interval = payload.get("interval_ms")
    if isinstance(interval, bool) or not isinstance(interval, int | float) or not 0 < interval < math.inf:
        raise _bad(file, "payload.interval_ms", "must be a positive number of milliseconds", interval)
    sensors = payload.get("sensors")
    if not isinstance(sensors, list) or not sensors:
        raise _bad(file, "payload.sensors", "must be a non-empty list of {name, units}", sensors)
    names = [s.get("name") if isinstance(s, dict) else None for s in sensors]
    for i, name in enumerate(names):
        if not isinstance(name, str) or not name or names.index(name) != i:
            raise _bad(file, f"payload.sensors[{i}].name", "must be a distinct non-empty string", name)
    values = _json_values(file, payload.get("values"), len(names))
    return _Signal(values, 1000.0 / float(interval), tuple(str(n) for n in names))


def _chunks(file: Path, data: bytes) -> dict[bytes, bytes]:
    """The chunks of a RIFF/WAVE file (the first of each id), each checked to be whole."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise _bad(file, "header", "not a WAV file: it must start with RIFF....WAVE", data[:12])
    found: dict[bytes, bytes] = {}
    pos = 12
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        if pos + 8 + size > len(data):
            raise _bad(file, f"{cid.decode('latin-1')!r} chunk", f"truncated: {len(data) - pos - 8} of its "
                       f"{size} bytes are in the file")
        found.setdefault(cid, data[pos + 8:pos + 8 + size])
        pos += 8 + size + (size & 1)
    for need in (b"fmt ", b"data"):
        if need not in found:
            raise _bad(file, f"{need.decode()!r} chunk", "missing", sorted(c.decode("latin-1") for c in found))
    return found


def _pcm(file: Path, raw: bytes, tag: int, bits: int) -> np.ndarray:
    """The sample values of one data chunk, flat, in int16 units (int16 for 8/16 bits, else float32)."""
    if tag == _FLOAT and bits in (32, 64):
        return (np.frombuffer(raw, dtype=f"<f{bits // 8}") * 32768.0).astype(np.float32)
    if tag != _PCM or bits not in (8, 16, 24, 32):
        raise _bad(file, "fmt", "only PCM of 8, 16, 24 or 32 bits and IEEE float of 32 or 64 bits are read",
                   {"format": tag, "bits": bits})
    if bits == 8:
        return ((np.frombuffer(raw, dtype=np.uint8).astype(np.int16) - 128) * 256).astype(np.int16)
    if bits == 16:
        return np.frombuffer(raw, dtype="<i2").astype(np.int16)
    if bits == 24:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        return (np.where(v >= 1 << 23, v - (1 << 24), v) / 256.0).astype(np.float32)
    return (np.frombuffer(raw, dtype="<i4") / 65536.0).astype(np.float32)


def _read_wav(file: Path) -> _Signal:
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise LocalStudioError(f"{file}: cannot read ({exc})") from exc
    chunks = _chunks(file, data)
    fmt = chunks[b"fmt "]
    if len(fmt) < 16:
        raise _bad(file, "fmt", f"chunk of {len(fmt)} bytes, shorter than 16")
    tag, channels, rate, _, block, bits = struct.unpack_from("<HHIIHH", fmt)
    if tag == _EXTENSIBLE and len(fmt) >= 26:
        tag = struct.unpack_from("<H", fmt, 24)[0]  # the first two bytes of the sub-format GUID
    if channels < 1 or rate < 1 or block != channels * ((bits + 7) // 8):
        raise _bad(file, "fmt", "needs channels >= 1, a rate and block align = channels x bytes per value",
                   {"channels": channels, "rate": rate, "block_align": block, "bits": bits})
    raw = chunks[b"data"]
    if len(raw) == 0 or len(raw) % block:
        raise _bad(file, "data", f"must hold whole frames of {block} bytes", len(raw))
    values = _pcm(file, raw, tag, bits).reshape(-1, channels)
    axes = ("audio",) if channels == 1 else tuple(f"audio{i + 1}" for i in range(channels))
    return _Signal(values, float(rate), axes)


def _files(paths: Sequence[Path]) -> dict[Path, Path]:
    """Every .json/.wav file given or under a folder given (hidden ones skipped), each once, in path order, with
    the folder it was found under (a file given by name: its own folder); paths resolved."""
    found: dict[Path, Path] = {}
    for path in paths:
        if path.is_dir():
            under = [p for p in sorted(path.rglob("*")) if p.is_file() and p.suffix.lower() in _SUFFIXES
                     and not any(part.startswith(".") for part in p.relative_to(path).parts)]
            if not under:
                raise LocalStudioError(f"{path}: no .json or .wav files in this folder")
            for file in under:
                found.setdefault(file.resolve(), path.resolve())
        elif path.is_file():
            if path.suffix.lower() not in _SUFFIXES:
                raise LocalStudioError(f"{path}: not a .json (data acquisition) or .wav file")
            found.setdefault(path.resolve(), path.resolve().parent)
        else:
            raise LocalStudioError(f"{path}: no such file or folder")
    return found


def _info_labels(files: dict[Path, Path]) -> tuple[dict[Path, str], dict[Path, str]]:
    """The labels and categories Studio's ``info.labels`` files give the files, from the files' folders up to the
    folder given."""
    folders = {d for file, root in files.items() for d in (file.parent, *file.parent.parents)
               if d == root or root in d.parents}
    labels: dict[Path, str] = {}
    categories: dict[Path, str] = {}
    for info in sorted(d / "info.labels" for d in folders if (d / "info.labels").is_file()):
        try:
            entries = json.loads(info.read_text(encoding="utf-8"))["files"]
            for i, entry in enumerate(entries):
                target = (info.parent / entry["path"]).resolve()
                label = entry.get("label") or {}
                if target not in files or target in labels:
                    continue
                if label.get("type") != "label" or not isinstance(label.get("label"), str):
                    raise _bad(info, f"files[{i}].label", "only single-label samples can be imported", label)
                labels[target] = label["label"]
                if entry.get("category") is not None:
                    categories[target] = str(entry["category"])
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise LocalStudioError(f"{info}: not a readable info.labels file ({exc!r})") from exc
    return labels, categories


def _category(file: Path, root: Path, given: dict[Path, str]) -> str:
    """``testing`` or ``training``: as info.labels says, else by a ``testing`` folder under the folder given."""
    if file in given:
        return "testing" if given[file] == "testing" else "training"
    inside = file.parent.relative_to(root).parts if root in file.parents else ()
    return "testing" if "testing" in inside else "training"


def _label(file: Path, label_from: LabelFrom, given: dict[Path, str]) -> str:
    if file in given:
        return given[file]
    by_name = label_from == "name" or (label_from == "auto" and len(file.name.split(".")) >= 3)
    label = file.name.split(".")[0] if by_name else file.parent.name
    if not by_name and label in ("training", "testing"):
        raise _bad(file, "label", f"its folder {label!r} is a category, not a label: name the file "
                   f"<label>.<anything>{file.suffix} or put it in {label}/<label>/")
    if not label.strip():
        raise _bad(file, "label", f"the file's {'name' if by_name else 'folder'} gives no label", label)
    return label


def _check_alike(file: Path, signal: _Signal, first_file: Path, first: _Signal) -> None:
    if not math.isclose(signal.hz, first.hz, rel_tol=1e-6):
        raise _bad(file, "rate", f"{signal.hz:g} Hz, but {first_file} has {first.hz:g} Hz: every file of a raw "
                   "project must have the same rate (resample them first)")
    if signal.axes != first.axes:
        raise _bad(file, "axes", f"{list(signal.axes)}, but {first_file} has {list(first.axes)}: every file "
                   "must have the same axes")


def read_samples(paths: Sequence[Path], label_from: LabelFrom = "auto"
                 ) -> tuple[list[_Signal], list[str], list[str]]:
    """Every file's signal, label and category, checked alike; LocalStudioError naming the first bad file."""
    found = _files(paths)
    given, categories = _info_labels(found)
    files = list(found)
    signals: list[_Signal] = []
    labels: list[str] = []
    for file in files:
        signal = _read_json(file) if file.suffix.lower() == ".json" else _read_wav(file)
        if signals:
            _check_alike(file, signal, files[0], signals[0])
        signals.append(signal)
        labels.append(_label(file, label_from, given))
    if len(set(labels)) < 2:
        raise LocalStudioError(f"{len(files)} files with the one label {labels[0]!r}: a classifier needs at "
                               "least two (see --label-from)")
    return signals, labels, [_category(file, found[file], categories) for file in files]


def import_raw(data_dir: Path, name: str, paths: Sequence[Path],
               label_from: LabelFrom = "auto") -> tuple[datasets.LocalProject, Counter[str]]:
    """Import the files as the new raw project ``name``; returns it and how many samples each label has."""
    datasets.check_new_name(data_dir, name)
    signals, labels, categories = read_samples(paths, label_from)
    names = sorted(set(labels))  # Studio orders classes alphabetically
    y = np.asarray([names.index(label) for label in labels], dtype=np.int64)
    first = signals[0]
    project = datasets.new_project(data_dir, name, "raw", (max(len(s.values) for s in signals), len(first.axes)),
                                   names, frequency_hz=first.hz, axes=first.axes)
    testing = np.asarray([c == "testing" for c in categories])
    project = dataclasses.replace(project, test_split=make_split(y, next_job_id(data_dir),
                                                                 testing if testing.any() else None))
    created = not project.path.exists()
    try:
        project.path.mkdir(parents=True, exist_ok=True)
        rawdata.write_signals(project.path, [s.values for s in signals], y)
        datasets.write_project_file(project)
    except BaseException:
        if created:
            shutil.rmtree(project.path, ignore_errors=True)
        raise
    return project, Counter(labels)
