"""Commands of the local studio itself: serve it, import a dataset into it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sweep.settings import Settings

if TYPE_CHECKING:
    from sweep.local.datasets import LocalProject
    from sweep.local.rawimport import LabelFrom


__all__ = ["import_features", "import_raw", "serve"]


def serve(settings: Settings, *, host: str, port: int, data_dir: Path | None, concurrency: int,
          allow_user_code: bool) -> int:
    """Serve the local studio until stopped (a standalone server: the runs that find it reuse it)."""
    from sweep.local.serve import serve as serve_forever

    try:
        serve_forever(host, port, data_dir or settings.data_dir, concurrency=concurrency,
                      allow_user_code=allow_user_code)
    except KeyboardInterrupt:  # uvicorn re-raises SIGINT/SIGTERM after a clean shutdown: that is a normal stop
        pass
    return 0


def import_features(settings: Settings, *, name: str, x_path: Path, y_path: Path, labels: list[str] | None,
                    shape: tuple[int, ...] | None, data_dir: Path | None) -> int:
    """Import exported features (X_train_features.npy, y_train.npy) as a local project."""
    from sweep.local.featureimport import import_features as import_project

    project = import_project(data_dir or settings.data_dir, name, x_path, y_path, labels, shape)
    print(f"imported {project.name!r} as local project {project.id} (learn blocks {project.learn_block_ids}); "
          f"{_held_out(project)}")
    return 0


def _held_out(project: LocalProject) -> str:
    split = project.test_split
    count = len(split.samples) if split is not None else 0
    how = "the data's own testing category" if split is not None and split.origin == "imported" else \
        "a stratified 20 % split made now"
    return f"{count} samples held out as its testing category ({how}; never trained on, see `sweep test`)"


def import_raw(settings: Settings, *, name: str, paths: list[Path], label_from: LabelFrom,
               data_dir: Path | None) -> int:
    """Import raw samples (data acquisition JSON, WAV; files or folders) as a local raw project."""
    import numpy as np

    from sweep.local.rawimport import import_raw as import_project

    project, counts = import_project(data_dir or settings.data_dir, name, paths, label_from)
    lengths = np.load(project.path / "lengths.npy") / (project.frequency_hz or 1.0)
    axes = list(project.axes or ())
    print(f"imported {project.name!r} as local project {project.id} (learn blocks {project.learn_block_ids}): "
          f"{sum(counts.values())} raw samples ({', '.join(f'{k} {counts[k]}' for k in project.labels)}), "
          f"{len(axes)} {'axis' if len(axes) == 1 else 'axes'} ({', '.join(axes)}) at {project.frequency_hz:g} Hz, "
          f"{lengths.min():.3g}-{lengths.max():.3g} s each; {_held_out(project)}")
    return 0
