"""The Python API (``import sweep``): load, run, read and report studies from a script or a notebook.

The same functions the CLI's commands call (docs/python-api.md). Each takes a study file's path or a
:class:`StudySpec`; ``settings`` defaults to the environment (``EI_API_KEY``, ``SWEEP_*``), read once per
call. Errors are :class:`sweep.SweepError` subclasses, each with the exit code the CLI would give.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sweep.settings import Settings, load_settings

if TYPE_CHECKING:
    import pandas as pd

    from sweep.commands.batch import BatchResult
    from sweep.commands.outcome import RunResult
    from sweep.commands.running import RunFlags
    from sweep.study.spec import StudySpec

__all__ = ["best", "load_study", "run_batch", "run_study", "study_from_dict", "trials", "write_comparison",
           "write_report"]

EventSink = Callable[[dict[str, Any]], None]


def _settings(settings: Settings | None) -> Settings:
    return settings if settings is not None else load_settings()


def _study(study: str | os.PathLike[str] | StudySpec) -> Path | StudySpec:
    from sweep.study.spec import StudySpec

    return study if isinstance(study, StudySpec) else Path(study)


def load_study(path: str | os.PathLike[str], *, settings: Settings | None = None) -> StudySpec:
    """Read and validate a study file (docs/study-file.md); raises StudyFileError naming file, field and value."""
    from sweep.study.load import load_study as load

    return load(Path(path), _settings(settings))


def study_from_dict(data: Mapping[str, Any], *, path: str | os.PathLike[str],
                    settings: Settings | None = None) -> StudySpec:
    """A study from a dict shaped like a study file (``tomllib.load`` of one, changed or built in Python),
    validated as a file is. ``path`` stands for its file: errors name it, and the default storage
    (``.sweep/<name>.journal``) and relative paths are beside it; nothing is written there."""
    from sweep.study.load import study_from_data

    return study_from_data(data, Path(path), _settings(settings))


def _flags(*, trials: int | None, storage: str | None, slots: Sequence[int] | None,
           learn_blocks: Sequence[int] | None, enqueue: str | os.PathLike[str] | None, stale_after: str | None,
           baseline: bool, report: bool, quiet: bool, on_stop: Literal["cancel", "leave"]) -> RunFlags:
    from sweep.commands.running import RunFlags

    return RunFlags(trials=trials, storage=storage, learn_blocks=list(learn_blocks) if learn_blocks else None,
                    slots=list(slots) if slots else None, stale_after=stale_after, write_report=report, quiet=quiet,
                    baseline=baseline, enqueue=Path(enqueue) if enqueue is not None else None, on_stop=on_stop,
                    live=False)


def run_study(study: str | os.PathLike[str] | StudySpec, *, trials: int | None = None, storage: str | None = None,
        slots: Sequence[int] | None = None, learn_blocks: Sequence[int] | None = None,
        enqueue: str | os.PathLike[str] | None = None, stale_after: str | None = None, baseline: bool = True,
        report: bool = True, quiet: bool = False, on_stop: Literal["cancel", "leave"] = "cancel",
        events: EventSink | None = None, check: bool = True, settings: Settings | None = None) -> RunResult:
    """Run or resume a study, as ``sweep run`` does (the same keyword names as its flags); progress lines go
    to stderr (``quiet``: failures and the summary only), each event (docs/events.md) to ``events`` as a dict.

    Returns a :class:`RunResult` (exit code, one-line outcome, this run's counts, the best trials, the report).
    ``check`` (default): an error raises its SweepError (Ctrl-C: Interrupted, exit code 130); ``check=False``
    returns it as the result's ``exit_code`` and ``outcome`` instead."""
    from sweep.commands.running import run_study as run
    from sweep.run.events import Events

    flags = _flags(trials=trials, storage=storage, slots=slots, learn_blocks=learn_blocks, enqueue=enqueue,
                   stale_after=stale_after, baseline=baseline, report=report, quiet=quiet, on_stop=on_stop)
    return run(_study(study), _settings(settings), flags, events=Events(events), check=check)


def run_batch(studies: Sequence[str | os.PathLike[str]], *, parallel: bool = False, compare: bool = False,
              trials: int | None = None, storage: str | None = None, stale_after: str | None = None,
              baseline: bool = True, report: bool = True, quiet: bool = False,
              on_stop: Literal["cancel", "leave"] = "cancel", events: EventSink | None = None,
              settings: Settings | None = None) -> BatchResult:
    """Several study files, as ``sweep run A B ...`` runs them (``parallel``: side by side, each its own
    process); one failing does not stop the others, an interrupt starts no more. ``.results``: a RunResult per
    study in the order given; ``.exit_code``: the worst; ``.lines()``: the closing lines the CLI prints."""
    from sweep.commands.batch import run_batch as batch

    flags = _flags(trials=trials, storage=storage, slots=None, learn_blocks=None, enqueue=None,
                   stale_after=stale_after, baseline=baseline, report=report, quiet=quiet, on_stop=on_stop)
    return batch([Path(s) for s in studies], _settings(settings), flags, parallel=parallel, compare=compare,
                 sink=events)


def trials(study: str | os.PathLike[str] | StudySpec, *, storage: str | None = None,
           settings: Settings | None = None) -> pd.DataFrame:
    """The study's trials as the report's DataFrame (trials.csv's rows): number, state, feasible, objectives,
    ``params_<name>``, every flat metric, job id, compute and wall time, duplicate_of, failure."""
    from sweep.commands.reading import trials_table

    return trials_table(_study(study), _settings(settings), storage=storage)


def best(study: str | os.PathLike[str] | StudySpec, *, trial: int | None = None, storage: str | None = None,
         settings: Settings | None = None) -> list[dict[str, Any]]:
    """The best trial (the Pareto front, in trial order), as ``sweep best --json`` gives it: trial, objectives,
    metrics, seed, job_id and the exact train request; ``trial``: that trial instead."""
    from sweep.commands.reading import best_records

    return best_records(_study(study), _settings(settings), storage=storage, trial=trial)


def write_report(study: str | os.PathLike[str] | StudySpec, out: str | os.PathLike[str] | None = None, *,
           storage: str | None = None, settings: Settings | None = None) -> Path:
    """Write the study's report (index.html, report.md, trials.csv, plots; default ``reports/<study>/``); its
    index.html."""
    from sweep.commands.reading import report_study

    return report_study(_study(study), _settings(settings), storage=storage,
                        out=Path(out) if out is not None else None)


def write_comparison(studies: Sequence[str | os.PathLike[str] | StudySpec],
                     out: str | os.PathLike[str] | None = None, *, storage: str | None = None,
                     settings: Settings | None = None) -> Path:
    """Write a comparison of several studies (default ``reports/compare-<names>/``); its index.html."""
    from sweep.commands.reading import compare_studies

    return compare_studies([_study(s) for s in studies], _settings(settings), storage=storage,
                           out=Path(out) if out is not None else None)
