"""What ``sweep status`` and ``sweep best`` print: the trials table, the best trials, one chosen trial."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any, TextIO

import optuna
from optuna.trial import FrozenTrial, TrialState

from sweep.errors import UsageError
from sweep.session.artifacts import artifact_place, export_models, kept_models
from sweep.session.compute import totals as compute_totals
from sweep.settings import Settings
from sweep.study.spec import StudySpec
from sweep.units import axis_label, unit_of

__all__ = ["best_trials", "chosen_trials", "status_table", "write_models"]


def best_trials(study: optuna.Study) -> list[FrozenTrial]:
    """The best feasible trial (one objective) or the Pareto front (several); empty before any completes."""
    try:
        return [study.best_trial] if len(study.directions) == 1 else list(study.best_trials)
    except ValueError:
        return []


def chosen_trials(study: optuna.Study, spec: StudySpec, number: int | None) -> list[FrozenTrial]:
    """Trial ``number`` (it must have completed), or the best trials; a UsageError when there is none."""
    if number is not None:
        trials = [t for t in study.get_trials(deepcopy=False) if t.number == number]
        if not trials or trials[0].state != TrialState.COMPLETE:
            raise UsageError(f"--trial {number}: no completed trial with that number in study {spec.name!r}")
        return trials
    trials = best_trials(study)
    if not trials:
        raise UsageError(f"study {spec.name!r} has no completed (feasible) trial yet")
    return trials


def _models_note(trial: FrozenTrial) -> str:
    kept = kept_models(trial)
    return f"models not kept: {kept.error}" if kept is not None and kept.error else ""


def status_table(study: optuna.Study, spec: StudySpec, *, wide: bool = False, width: int = 100) -> str:
    """Every trial: state, job, params, objectives, best mark and note; then the counts and compute. Unless
    ``wide``, params that do not fit in ``width`` columns are left out (named below the table) and notes cut."""
    import pandas as pd

    names = [o.metric for o in spec.objectives]
    best = {t.number for t in best_trials(study)}
    trials = study.get_trials(deepcopy=False)
    rows = []
    for t in trials:
        row: dict[str, Any] = {"trial": t.number, "state": t.state.name, "job": t.user_attrs.get("job_id")}
        row.update(t.params)
        for i, n in enumerate(names):  # in the unit people read it in (sweep.units), named in the header
            row[axis_label(n)] = unit_of(n).shown(t.values[i]) if t.values else None
        row["best"] = "*" if t.number in best else ""
        row["note"] = t.user_attrs.get("failure") or (f"= trial {t.user_attrs['duplicate_of']}"
                                                      if "duplicate_of" in t.user_attrs else _models_note(t))
        if "retry_of" in t.user_attrs and not t.user_attrs.get("failure"):
            row["note"] = f"retry of trial {t.user_attrs['retry_of']}" + (f"; {row['note']}" if row["note"] else "")
        rows.append(row)
    if not rows:
        return f"study {spec.name!r}: no trials yet"
    frame = pd.DataFrame(rows).set_index("trial")
    hidden: list[str] = []
    if not wide:
        frame["note"] = frame["note"].map(lambda s: s if len(s) <= 24 else s[:23] + "…")
        params = [c for c in frame.columns if c not in ("state", "job", "best", "note", *map(axis_label, names))]
        while params and _width(frame) > width:
            hidden.insert(0, params.pop())
            frame = frame.drop(columns=hidden[0])
    notes = []
    if not wide and frame["note"].str.endswith("…").any():
        notes.append("(notes cut to fit; `sweep status --wide` shows them whole)")
    if hidden:
        notes.append(f"({len(hidden)} param column(s) not shown: {', '.join(hidden)}; `sweep status --wide` shows all)")
    counts = frame["state"].value_counts().to_dict()
    notes.append(", ".join(f"{n} {s.lower()}" for s, n in counts.items())
                 + f"; job compute {compute_totals(study).text()} (reused trials cost none)")
    fill = (lambda text: text) if wide else (lambda text: textwrap.fill(text, width))
    return _render(frame) + "\n\n" + "\n".join(fill(n) for n in notes)


def _render(frame: Any) -> str:
    import pandas as pd

    with pd.option_context("display.max_columns", None, "display.width", 10_000, "display.max_colwidth", 200):
        return str(frame.to_string(na_rep="-", float_format=lambda v: f"{v:.4g}"))


def _width(frame: Any) -> int:
    return max(len(line) for line in _render(frame).splitlines())


def write_models(spec: StudySpec, storage: str | None, settings: Settings, trials: list[FrozenTrial],
                 out: Path | None, stream: TextIO) -> None:
    """``sweep best --model DIR``: the trials' kept .tflite files written into ``out`` (nothing when it is None),
    each named on ``stream``; a UsageError when none of them kept any."""
    if out is None:
        return
    from sweep.session.stored import storage_url

    place = artifact_place(spec, storage_url(spec, storage, settings), settings)
    written, problems = export_models(place.path, trials, out)
    for number, paths in written.items():
        print(f"trial {number}: wrote " + ", ".join(str(p) for p in paths), file=stream)
    for problem in problems:
        print(f"sweep: warning: {problem}", file=stream)
