"""sweep: hyperparameter sweeps for Edge Impulse learn blocks, driven by Optuna; its Python API (docs/python-api.md).

``import sweep`` stays light: the API's functions and types are imported on first use (module ``__getattr__``),
so Optuna, pandas and the local studio's Keras load only when a function needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sweep.errors import SweepError
from sweep.version import __version__

if TYPE_CHECKING:
    from sweep.api import (
        best,
        load_study,
        run_batch,
        run_study,
        study_from_dict,
        trials,
        write_comparison,
        write_report,
    )
    from sweep.commands.batch import BatchResult
    from sweep.commands.outcome import RunResult
    from sweep.run.tally import RunSummary
    from sweep.settings import Settings
    from sweep.study.spec import StudySpec

__all__ = [
    "BatchResult",
    "RunResult",
    "RunSummary",
    "Settings",
    "StudySpec",
    "SweepError",
    "__version__",
    "best",
    "load_study",
    "run_batch",
    "run_study",
    "study_from_dict",
    "trials",
    "write_comparison",
    "write_report",
]

# Each lazy name and the module it comes from. (No API name may be a subpackage's: importing sweep.run.x or
# sweep.report.x sets sweep.run / sweep.report to the subpackage, which is why these are run_study and write_report.)
_LAZY = {
    **dict.fromkeys(("best", "load_study", "run_batch", "run_study", "study_from_dict", "trials", "write_comparison",
                     "write_report"), "sweep.api"),
    "BatchResult": "sweep.commands.batch",
    "RunResult": "sweep.commands.outcome",
    "RunSummary": "sweep.run.tally",
    "Settings": "sweep.settings",
    "StudySpec": "sweep.study.spec",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sweep' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
