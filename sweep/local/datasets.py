"""Local studio projects on disk: the shipped digits/keywords(-raw) datasets, imported features and raw data."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from sweep.errors import LocalStudioError
from sweep.local import keywords_raw, rawdata
from sweep.local.test_split import HeldOut, make_split, next_job_id

__all__ = [
    "DEFAULT_SPLIT_SEED",
    "DIGITS_ID",
    "KEYWORDS_ID",
    "KEYWORDS_RAW_ID",
    "Category",
    "LocalProject",
    "Rows",
    "check_new_name",
    "default_projects",
    "ensure_default_projects",
    "ensure_test_splits",
    "find_project",
    "get_project",
    "keywords_arrays",
    "list_projects",
    "load_arrays",
    "load_rows",
    "load_signals",
    "new_project",
    "peek_project",
    "sample_count",
    "stored_at",
    "total_length_ms",
    "write_arrays",
    "write_project_file",
]

Kind = Literal["image", "spectrogram", "features", "raw"]
Category = Literal["training", "testing"]  # a project's samples: the testing ones no train job reads (test_split.py)
DIGITS_ID, KEYWORDS_ID, KEYWORDS_RAW_ID = 1, 2, 3
_FIRST_FREE_BLOCK = 7  # learn blocks 3, 4 (digits), 5 (keywords) and 6 (keywords-raw) are the shipped ones
KEYWORDS_SEED = 20240611
KEYWORDS_LABELS = ["noise", "rise", "fall", "tone"]
KEYWORDS_SHAPE = (32, 16, 1)  # time x frequency x 1
KEYWORDS_PER_CLASS = 150
# The validation split's seed when project.json names none (projects made before it was stored): the
# split belongs to the project, so every job of it is scored on the same samples (see trainer._split).
DEFAULT_SPLIT_SEED = 0
_PROJECT_FILE = "project.json"


@dataclass(frozen=True)
class LocalProject:
    """One local project: its identity, the feature shape, labels and where its arrays live."""

    id: int
    name: str
    kind: Kind
    input_shape: tuple[int, ...]
    labels: list[str]
    impulse_id: int
    learn_block_ids: list[int]
    path: Path
    split_seed: int = DEFAULT_SPLIT_SEED  # seeds the validation split, the same for every job of the project
    # A raw project's signals (kind "raw" only; see rawdata.py): samples per second and the axes' names.
    # Its input_shape is (the longest sample's length, axes): the features' shape comes from its DSP block.
    frequency_hz: float | None = None
    axes: tuple[str, ...] | None = None
    test_split: HeldOut | None = None  # its testing category (None: a project made before test splits)

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "name": self.name, "kind": self.kind, "inputShape": list(self.input_shape),
                             "labels": list(self.labels), "impulseId": self.impulse_id,
                             "learnBlockIds": list(self.learn_block_ids), "splitSeed": self.split_seed}
        if self.kind == "raw":
            d.update(frequencyHz=self.frequency_hz, axes=list(self.axes or ()))
        if self.test_split is not None:
            d["testSplit"] = self.test_split.to_json()
        return d


def _projects_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "projects"


def _read(path: Path) -> LocalProject:
    file = path / _PROJECT_FILE
    try:
        d = json.loads(file.read_text())
        return LocalProject(id=int(d["id"]), name=str(d["name"]), kind=d["kind"],
                            input_shape=tuple(int(v) for v in d["inputShape"]),
                            labels=[str(v) for v in d["labels"]], impulse_id=int(d["impulseId"]),
                            learn_block_ids=[int(v) for v in d["learnBlockIds"]], path=path,
                            split_seed=int(d.get("splitSeed", DEFAULT_SPLIT_SEED)),
                            frequency_hz=float(d["frequencyHz"]) if d["kind"] == "raw" else None,
                            axes=tuple(str(v) for v in d["axes"]) if d["kind"] == "raw" else None,
                            test_split=HeldOut.from_json(d["testSplit"]) if "testSplit" in d else None)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise LocalStudioError(f"{file}: unreadable project file ({exc})") from exc


def write_arrays(project: LocalProject, x: np.ndarray, y: np.ndarray) -> LocalProject:
    """Store a project of features with its test split (made now); the project as written."""
    project.path.mkdir(parents=True, exist_ok=True)
    for name, arr in (("X.npy", x.astype(np.float32)), ("y.npy", y.astype(np.int64))):
        rawdata.save_npy(project.path / name, arr)
    project = dataclasses.replace(project, test_split=make_split(y, next_job_id(project.path.parent.parent)))
    write_project_file(project)
    return project


def write_project_file(project: LocalProject) -> None:
    """project.json, atomically, after the arrays: its presence means the project is complete."""
    tmp = project.path / f".{_PROJECT_FILE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(project.to_json(), indent=2))
    tmp.replace(project.path / _PROJECT_FILE)


def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.data.astype(np.float32) / 16.0).reshape(-1, 8, 8, 1)
    return x, d.target.astype(np.int64)


def keywords_arrays(seed: int = KEYWORDS_SEED, per_class: int = KEYWORDS_PER_CLASS) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic synthetic spectrograms (time x freq): noise, rising chirp, falling chirp, steady tone."""
    rng = np.random.default_rng(seed)
    t_len, f_len, _ = KEYWORDS_SHAPE
    t = np.arange(t_len)[:, None]
    f = np.arange(f_len)[None, :]
    xs, ys = [], []
    for cls in range(len(KEYWORDS_LABELS)):
        for _ in range(per_class):
            start, width = rng.uniform(2, 6), rng.uniform(0.8, 1.6)
            onset, length = int(rng.integers(0, 8)), int(rng.integers(18, 25))
            slope = rng.uniform(0.25, 0.4)
            if cls == 0:
                ridge = None
            elif cls == 1:
                ridge = start + slope * (t - onset)
            elif cls == 2:
                ridge = (f_len - 1 - start) - slope * (t - onset)
            else:
                ridge = np.full_like(t, rng.uniform(3, 12), dtype=float)
            img = rng.normal(0.15, 0.08, (t_len, f_len))
            if ridge is not None:
                active = (t >= onset) & (t < onset + length)
                img += 0.8 * np.exp(-((f - ridge) ** 2) / (2 * width**2)) * active
            xs.append(np.clip(img, 0.0, 1.0))
            ys.append(cls)
    x = np.asarray(xs, dtype=np.float32)[..., None]
    order = rng.permutation(len(ys))
    return x[order], np.asarray(ys, dtype=np.int64)[order]


def default_projects(data_dir: Path, *, raw: bool = True) -> list[LocalProject]:
    """The shipped projects digits (id 1) and keywords (id 2), and with ``raw`` keywords-raw (id 3: raw audio,
    see keywords_raw.py), as they are (or will be) stored; writes nothing."""
    root = _projects_dir(data_dir)
    shipped = [
        LocalProject(DIGITS_ID, "digits", "image", (8, 8, 1), [str(i) for i in range(10)], 1, [3, 4],
                     root / str(DIGITS_ID)),
        LocalProject(KEYWORDS_ID, "keywords", "spectrogram", KEYWORDS_SHAPE, list(KEYWORDS_LABELS), 1, [5],
                     root / str(KEYWORDS_ID)),
    ]
    if raw:
        shipped.append(LocalProject(KEYWORDS_RAW_ID, "keywords-raw", "raw", (keywords_raw.KEYWORDS_RAW_LENGTH, 1),
                                    list(keywords_raw.KEYWORDS_RAW_LABELS), 1, [6], root / str(KEYWORDS_RAW_ID),
                                    frequency_hz=float(keywords_raw.KEYWORDS_RAW_HZ), axes=("audio",)))
    return shipped


def ensure_default_projects(data_dir: Path, *, raw: bool = True) -> None:
    """Create the shipped projects if missing (keywords-raw only with ``raw``); idempotent. A shipped project
    whose id an imported project already holds is not created."""
    arrays = {"digits": _digits_arrays, "keywords": keywords_arrays}
    for project in default_projects(data_dir, raw=raw):
        if (project.path / _PROJECT_FILE).exists():
            continue
        if project.kind == "raw":
            project.path.mkdir(parents=True, exist_ok=True)
            signals, y = keywords_raw.keywords_raw()
            rawdata.write_signals(project.path, signals, y)
            write_project_file(dataclasses.replace(project, test_split=make_split(y, next_job_id(data_dir))))
        else:
            write_arrays(project, *arrays[project.name]())


def ensure_test_splits(data_dir: Path) -> list[LocalProject]:
    """Give every project of ``data_dir`` made before test splits existed its split (recorded with the first job id
    run with it in place); the projects that got one. Run by the local studio as it starts, before any job."""
    upgraded = []
    for project in list_projects(data_dir):
        if project.test_split is None:
            y = rawdata.read_signals(project.path)[1] if project.kind == "raw" else load_rows(project, None).y
            project = dataclasses.replace(project, test_split=make_split(y, next_job_id(data_dir)))
            write_project_file(project)
            upgraded.append(project)
    return upgraded


def peek_project(data_dir: Path, name: str) -> LocalProject:
    """The project named ``name`` as the local studio at ``data_dir`` will serve it: stored there, or a
    shipped one its server creates at start; reads only, so a refused command writes no data dir."""
    stored = list_projects(data_dir)
    for p in stored:
        if p.name == name:
            return p
    taken = {p.id for p in stored}
    shipped = [p for p in default_projects(data_dir) if p.id not in taken]
    for p in shipped:
        if p.name == name:
            return p
    names = sorted({p.name for p in stored} | {p.name for p in shipped})
    raise LocalStudioError(f"no local project named {name!r} under {_projects_dir(data_dir)} "
                           f"(projects: {', '.join(names)}; `sweep import` adds one)")


def list_projects(data_dir: Path) -> list[LocalProject]:
    root = _projects_dir(data_dir)
    if not root.is_dir():
        return []
    found = [_read(p) for p in root.iterdir() if p.is_dir() and (p / _PROJECT_FILE).exists()]
    return sorted(found, key=lambda p: p.id)


def get_project(data_dir: Path, project_id: int) -> LocalProject:
    path = _projects_dir(data_dir) / str(int(project_id))
    if not (path / _PROJECT_FILE).exists():
        raise LocalStudioError(f"no local project with id {project_id} under {_projects_dir(data_dir)}")
    return _read(path)


def find_project(data_dir: Path, name: str) -> LocalProject:
    for p in list_projects(data_dir):
        if p.name == name:
            return p
    raise LocalStudioError(f"no local project named {name!r} under {_projects_dir(data_dir)}")


@dataclass(frozen=True)
class Rows:
    """Feature rows of one category: x (float32, (N, *input_shape)), y (int64 class indices), each row's sample id,
    and whether rows are windows (several of a sample: a raw project's features)."""

    x: np.ndarray
    y: np.ndarray
    samples: np.ndarray
    windows: bool


def load_rows(project: LocalProject, category: Category | None = "training") -> Rows:
    """The rows of the project's ``category`` (None: every row), in stored order. The one reader of feature rows:
    a train job reads the training category, so no testing sample ever reaches it."""
    if project.kind == "raw":
        raise LocalStudioError(f"{project.path}: project {project.name!r} holds raw signals, not features "
                               "(load_signals reads them; its DSP block makes the features)")
    try:
        x = np.load(project.path / "X.npy", allow_pickle=False).astype(np.float32)
        y = np.load(project.path / "y.npy", allow_pickle=False).astype(np.int64)
        windows = (project.path / "groups.npy").exists()  # a raw project's windows: each row's sample
        samples = np.load(project.path / "groups.npy", allow_pickle=False).astype(np.int64) if windows \
            else np.arange(len(y), dtype=np.int64)
    except (OSError, ValueError) as exc:
        raise LocalStudioError(f"{project.path}: cannot read dataset arrays ({exc})") from exc
    x = x.reshape((len(x), *project.input_shape))
    if category is not None:
        testing = project.test_split.mask(samples) if project.test_split is not None else np.zeros(len(y), bool)
        keep = testing if category == "testing" else ~testing
        x, y, samples = x[keep], y[keep], samples[keep]
    return Rows(x, y, samples, windows)


def load_arrays(project: LocalProject, category: Category | None = "training") -> tuple[np.ndarray, np.ndarray]:
    """X as float32 (N, *input_shape) and y as int64 class indices (0-based) of the category (see load_rows)."""
    rows = load_rows(project, category)
    return rows.x, rows.y


def load_signals(project: LocalProject) -> tuple[list[np.ndarray], np.ndarray]:
    """A raw project's signals, one float32 (length, axes) array per sample (a sample's id is its index), and y as
    int64 class indices: every sample, of both categories (its DSP block windows them all; the windows' rows are
    then read by category, see load_rows)."""
    if project.kind != "raw":
        raise LocalStudioError(f"{project.path}: project {project.name!r} holds {project.kind} features, "
                               "not raw signals")
    return rawdata.read_signals(project.path)


def sample_count(project: LocalProject) -> int:
    """How many samples (feature vectors; a raw project's signals) the project has, read from the arrays' headers."""
    if project.kind == "raw":
        return rawdata.signal_count(project.path)
    try:
        return int(np.load(project.path / "X.npy", mmap_mode="r", allow_pickle=False).shape[0])
    except (OSError, ValueError) as exc:
        raise LocalStudioError(f"{project.path}: cannot read dataset arrays ({exc})") from exc


def total_length_ms(project: LocalProject) -> float:
    """How long the project's samples are together, in ms: a raw project's signals at its frequency; 0 for
    features (an image or an exported feature vector has no duration)."""
    if project.kind != "raw" or not project.frequency_hz:
        return 0.0
    return rawdata.total_length(project.path) * 1000.0 / project.frequency_hz


def stored_at(project: LocalProject) -> datetime:
    """When the project's samples were stored (its arrays' modification time): shipped features when the server
    first made them, imported ones at the import."""
    arrays = project.path / (rawdata.SIGNALS_FILE if project.kind == "raw" else "X.npy")
    try:
        return datetime.fromtimestamp(arrays.stat().st_mtime, UTC)
    except OSError as exc:
        raise LocalStudioError(f"{project.path}: cannot read dataset arrays ({exc})") from exc


def check_new_name(data_dir: Path, name: str) -> None:
    """LocalStudioError unless ``name`` is a valid name no local project has yet."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name):
        raise LocalStudioError(f"project name {name!r}: use 1-64 letters, digits, '_', '.' or '-'")
    if any(p.name == name for p in list_projects(data_dir)):
        raise LocalStudioError(f"project name {name!r}: a local project with that name exists")


def new_project(data_dir: Path, name: str, kind: Kind, shape: tuple[int, ...], labels: list[str], *,
                frequency_hz: float | None = None, axes: tuple[str, ...] | None = None) -> LocalProject:
    """The record of a new imported project: the next id and learn block id past every shipped and stored one."""
    existing = list_projects(data_dir)
    new_id = max([p.id for p in existing] + [KEYWORDS_RAW_ID]) + 1
    block = max([b for p in existing for b in p.learn_block_ids] + [_FIRST_FREE_BLOCK - 1]) + 1
    return LocalProject(new_id, name, kind, shape, labels, 1, [block], _projects_dir(data_dir) / str(new_id),
                        frequency_hz=frequency_hz, axes=axes)
