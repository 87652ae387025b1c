"""The parameters each DSP block of a local project has been given, kept in ``DATA/dsp/<projectId>.json``.

The file (written atomically; absent until a block's parameters first change) maps DSP block ids to the
values set with ``POST /dsp/{dspId}``, as strings, the way Studio takes and shows them::

    {"12": {"num_filters": "32", "frame_length": "0.025"}}

A parameter never set has its block type's default. A clone's DSP blocks start with their source's values
(``clone/structure`` copies configuration, not features). Only raw projects have settable parameters: a
project of imported or shipped features has its features already, and no DSP to run.
"""

from __future__ import annotations

import threading
from pathlib import Path

from sweep.errors import ApiError
from sweep.local.datasets import LocalProject
from sweep.local.store import atomic_write_json, read_json

__all__ = ["DspBook"]


class DspBook:
    """Reads and records the DSP blocks' parameter values of the projects of one data dir."""

    def __init__(self, data_dir: Path) -> None:
        self.dir = Path(data_dir) / "dsp"
        self._lock = threading.Lock()

    def _path(self, project: LocalProject) -> Path:
        return self.dir / f"{project.id}.json"

    def _load(self, project: LocalProject) -> dict[str, dict[str, str]]:
        try:
            data: dict[str, dict[str, str]] = read_json(self._path(project))
            return data
        except FileNotFoundError:
            return {}
        except ValueError as exc:
            raise ApiError(f"{self._path(project)}: unreadable DSP parameters file ({exc})", status_code=500) from None

    def values(self, project: LocalProject, dsp_id: int) -> dict[str, str]:
        """The values set on a block (the rest are its type's defaults)."""
        with self._lock:
            return dict(self._load(project).get(str(dsp_id), {}))

    def update(self, project: LocalProject, dsp_id: int, values: dict[str, str]) -> None:
        """Merge ``values`` into the block's."""
        with self._lock:
            data = self._load(project)
            data[str(dsp_id)] = {**data.get(str(dsp_id), {}), **values}
            self.dir.mkdir(parents=True, exist_ok=True)
            atomic_write_json(self._path(project), data)

    def copy(self, project: LocalProject, pairs: dict[int, int]) -> None:
        """Give each new block (``pairs``: source id -> new id) its source's values."""
        with self._lock:
            data = self._load(project)
            copied = {str(new): dict(data[str(old)]) for old, new in pairs.items() if str(old) in data}
            if copied:
                self.dir.mkdir(parents=True, exist_ok=True)
                atomic_write_json(self._path(project), {**data, **copied})

    def forget(self, project: LocalProject, dsp_ids: list[int]) -> None:
        with self._lock:
            data = self._load(project)
            if any(str(d) in data for d in dsp_ids):
                atomic_write_json(self._path(project), {k: v for k, v in data.items()
                                                        if k not in {str(d) for d in dsp_ids}})
