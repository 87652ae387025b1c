"""Several studies side by side: best-so-far frames and a table of each study's best trial (pure)."""

from __future__ import annotations

import optuna
import pandas as pd

from sweep.report.frame import best_so_far, objectives_of, top_trials, trials_frame
from sweep.report.params import ParamNames

__all__ = ["best_table", "history_frames", "shared_objective"]

_KEY_METRICS = ("float32.accuracy", "int8.accuracy", "int8.accuracy_drop", "default.latency_ms",
                "default.ram_bytes", "default.rom_bytes", "compute_time_s")


def shared_objective(studies: list[optuna.Study]) -> tuple[str, str, list[str]]:
    """The first objective of the first study, its direction, and notes about studies that differ."""
    first = objectives_of(studies[0])
    name, direction = first.names[0], first.directions[0]
    notes = []
    for s in studies[1:]:
        o = objectives_of(s)
        if o.names[0] != name or o.directions[0] != direction:
            notes.append(f"study {s.study_name!r} optimises {o.names[0]} ({o.directions[0]}), "
                         f"not {name} ({direction}); its curve shows its own first objective")
    return name, direction, notes


def history_frames(studies: list[optuna.Study]) -> dict[str, pd.DataFrame]:
    """Study name -> best-so-far frame of its first objective (each study's own direction)."""
    out = {}
    for s in studies:
        o = objectives_of(s)
        out[s.study_name] = best_so_far(trials_frame(s), o.names[0], o.directions[0])
    return out


def best_table(studies: list[optuna.Study], names: list[ParamNames] | None = None) -> pd.DataFrame:
    """Rows: best trial, objectives, parameters (by ``names``, ``unused`` where the trial did not use one),
    key metrics, counts; one column per study."""
    columns: dict[str, dict[str, object]] = {}
    for s, n in zip(studies, names or [ParamNames()] * len(studies), strict=True):
        df = trials_frame(s)
        o = objectives_of(s)
        col: dict[str, object] = {"trials": len(df), "complete": int((df["state"] == "COMPLETE").sum()),
                                  "failed": int((df["state"] == "FAIL").sum())}
        top = top_trials(s, 1)
        if top:
            t = top[0]
            col["best trial"] = t.number
            for name, direction, value in zip(o.names, o.directions, t.values, strict=False):
                col[f"{name} ({direction})"] = value
            for k, v in n.row(t.params, t.params).items():
                col[f"param {k}"] = v
            metrics = t.user_attrs.get("metrics") or {}
            for k in _KEY_METRICS:
                if k in metrics:
                    col[k] = metrics[k]
        columns[s.study_name] = col
    table = pd.DataFrame(columns)
    table.index.name = "field"
    return table.reset_index()
