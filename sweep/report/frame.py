"""Study -> pandas DataFrames: the data behind every report table and plot (pure, no I/O)."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.importance import BaseImportanceEvaluator
from optuna.trial import FrozenTrial, TrialState

from sweep.report.params import ParamNames
from sweep.session.compute import ComputeTotals
from sweep.session.compute import totals as compute_totals
from sweep.session.records import class_names, confusion, curves, job_compute_s
from sweep.study.pruner import pruned_reason
from sweep.study.schema import parse_constraint
from sweep.units import metric_text

__all__ = [
    "COST_FIELDS",
    "Objectives",
    "Summary",
    "accuracy_drop",
    "best_so_far",
    "confusion_frames",
    "constraint_text",
    "curves_frame",
    "failures",
    "importances",
    "is_feasible",
    "limit_text",
    "limits",
    "metric_columns",
    "objectives_of",
    "resolve_device",
    "summary",
    "top_trials",
    "trials_frame",
]

COST_FIELDS = ("latency_ms", "ram_bytes", "rom_bytes")
_BASE_COLUMNS = ["number", "state", "feasible"]
_TAIL_COLUMNS = ["job_id", "compute_time_s", "wall_time_s", "duplicate_of", "retry_of", "failure"]


@dataclass(frozen=True)
class Objectives:
    """The study's objective metric names and directions (``maximize``/``minimize``)."""

    names: list[str]
    directions: list[str]

    @property
    def multi(self) -> bool:
        return len(self.names) > 1


def objectives_of(study: optuna.Study) -> Objectives:
    """Objective names from the study attr ``objectives`` (else ``objective N``) and its directions."""
    directions = [d.name.lower() for d in study.directions]
    names = list(study.user_attrs.get("objectives") or [])
    if len(names) != len(directions):
        names = ["objective"] if len(directions) == 1 else [f"objective {i}" for i in range(len(directions))]
    return Objectives(names=[str(n) for n in names], directions=directions)


def is_feasible(trial: FrozenTrial) -> bool:
    """Feasible when every constraint set with ``trial.set_constraint`` is <= 0 (none: feasible)."""
    return all(v <= 0 for v in trial.constraints.values())


def _wall_time(trial: FrozenTrial, metrics: dict[str, Any]) -> float:
    if isinstance(metrics.get("wall_time_s"), (int, float)):
        return float(metrics["wall_time_s"])
    if trial.datetime_start and trial.datetime_complete:
        return (trial.datetime_complete - trial.datetime_start).total_seconds()
    return math.nan


def limits(study: optuna.Study) -> dict[str, float]:
    """Metric -> limit of each constraint the study records (attr ``constraints``), in stored units."""
    out = {}
    for text in study.user_attrs.get("constraints") or []:
        try:
            c = parse_constraint(str(text))
        except ValueError:
            continue
        out[c.metric] = c.bound
    return out


def limit_text(key: str) -> str:
    """A study's constraint in the metric's unit: ``cortex-m4f-80mhz.ram_bytes <= 32 KiB`` (else as it is)."""
    try:
        c = parse_constraint(key)
    except ValueError:
        return key
    return f"{c.metric} {c.op} {metric_text(c.metric, c.bound)}"


def constraint_text(key: str, raw: float, metrics: dict[str, Any]) -> str:
    """A trial's constraint as value, operator and limit in the metric's unit: ``5.9 KiB <= 32 KiB (met)``
    (Optuna keeps only ``value - limit``); a key that is not ``METRIC <= NUMBER`` shows that raw number."""
    verdict = "met" if raw <= 0 else "broken"
    try:
        c = parse_constraint(key)
    except ValueError:
        return f"{raw:.4g} ({verdict}; Optuna's constraint value, <= 0 is met)"
    value = metrics.get(c.metric)
    if not isinstance(value, (int, float)):
        value = raw + c.bound if c.op == "<=" else c.bound - raw
    return f"{metric_text(c.metric, float(value))} {c.op} {metric_text(c.metric, c.bound)} ({verdict})"


def trials_frame(study: optuna.Study, trials: list[FrozenTrial] | None = None,
                 names: ParamNames | None = None) -> pd.DataFrame:
    """One row per trial: number, state, feasible, objective values, ``params_<name>`` (named by ``names``,
    in the study file's order, NaN where the trial did not use it), every flat metric, job id, compute/wall
    time, duplicate_of, retry_of and failure reason."""
    objectives = objectives_of(study)
    names = names or ParamNames()
    trials = study.get_trials(deepcopy=False) if trials is None else trials
    rows: list[dict[str, Any]] = []
    order = [f"params_{names.name(raw)}" for raw in names.order(p for t in trials for p in t.params)]
    for t in trials:
        metrics = t.user_attrs.get("metrics") or {}
        row: dict[str, Any] = {"number": t.number, "state": t.state.name, "feasible": is_feasible(t)}
        for i, name in enumerate(objectives.names):
            if t.values is not None and i < len(t.values):
                row[name] = float(t.values[i])
        skip = names.unused(t.params)
        for raw, value in t.params.items():
            row[f"params_{names.name(raw)}"] = None if raw in skip else value
        for key, value in metrics.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                row.setdefault(key, float(value))
        row["job_id"] = t.user_attrs.get("job_id")
        compute = job_compute_s(t)  # its own job's: 0 for a reused twin, failed and pruned jobs included
        row["compute_time_s"] = compute if compute is not None else math.nan
        row["wall_time_s"] = _wall_time(t, metrics)
        row["duplicate_of"] = t.user_attrs.get("duplicate_of")
        row["retry_of"] = t.user_attrs.get("retry_of")  # the trial whose configuration it tried again
        pruned = t.user_attrs.get("pruned")
        row["failure"] = t.user_attrs.get("failure", "") or (pruned_reason(pruned) if pruned else "")
        rows.append(row)
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=_BASE_COLUMNS + objectives.names + _TAIL_COLUMNS)
    params = [c for c in order if c in df.columns]
    known = set(_BASE_COLUMNS + objectives.names + params + _TAIL_COLUMNS)
    metrics_cols = sorted(c for c in df.columns if c not in known)
    for name in objectives.names:
        if name not in df.columns:
            df[name] = np.nan
    order = _BASE_COLUMNS + objectives.names + params + metrics_cols + _TAIL_COLUMNS
    df = df[order]
    df["job_id"] = df["job_id"].astype("Int64")
    df["duplicate_of"] = df["duplicate_of"].astype("Int64")
    df["retry_of"] = df["retry_of"].astype("Int64")
    for column in params:  # an int param some trial did not use stays an int (8, not 8.0), its gaps <NA>
        if all(_is_int(row.get(column)) for row in rows if row.get(column) is not None):
            df[column] = df[column].astype("Int64")
    return df.reset_index(drop=True)


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def metric_columns(df: pd.DataFrame) -> list[str]:
    """The flat-metric columns of a trials frame (dotted keys)."""
    return [c for c in df.columns if "." in c and not c.startswith("params_")]


def _complete(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["state"] == "COMPLETE"]


def best_so_far(df: pd.DataFrame, objective: str, direction: str) -> pd.DataFrame:
    """Complete trials in trial order: ``value``, ``feasible`` and the running ``best`` over feasible
    trials (honours direction; NaN until the first feasible trial)."""
    done = _complete(df)
    done = done[done[objective].notna()] if objective in done.columns else done.iloc[0:0]
    done = done.sort_values("number")
    out = pd.DataFrame({"number": done["number"].astype(int).to_numpy(),
                        "value": done[objective].astype(float).to_numpy() if len(done) else np.array([], float),
                        "feasible": done["feasible"].astype(bool).to_numpy()})
    counted = out["value"].where(out["feasible"])
    out["best"] = (counted.cummax() if direction == "maximize" else counted.cummin()).ffill()
    return out


def resolve_device(study: optuna.Study, df: pd.DataFrame, device: str | None = None) -> str | None:
    """The device whose costs the report shows: argument, else study attr ``device``, else ``default``."""
    columns = set(df.columns)
    for candidate in (device, study.user_attrs.get("device")):
        if candidate and any(f"{candidate}.{f}" in columns for f in COST_FIELDS):
            return str(candidate)
    if any(f"default.{f}" in columns for f in COST_FIELDS):
        return "default"
    return device or study.user_attrs.get("device") or None


def accuracy_drop(df: pd.DataFrame) -> pd.DataFrame:
    """Per complete trial: float32 and int8 accuracy and the drop (float32 - int8)."""
    done = _complete(df)
    if "float32.accuracy" not in done.columns or "int8.accuracy" not in done.columns:
        return pd.DataFrame(columns=["number", "float32", "int8", "drop"])
    out = pd.DataFrame({"number": done["number"].astype(int), "float32": done["float32.accuracy"].astype(float),
                        "int8": done["int8.accuracy"].astype(float)})
    out["drop"] = out["float32"] - out["int8"]
    return out.dropna().reset_index(drop=True)


def _rank_key(t: FrozenTrial, objectives: Objectives) -> float:
    v = float(t.values[0])
    return -v if objectives.directions[0] == "maximize" else v


def top_trials(study: optuna.Study, n: int = 5) -> list[FrozenTrial]:
    """The best ``n`` complete trials: feasible first, ranked by the first objective; for several
    objectives the study's Pareto front (``study.best_trials``) comes first."""
    objectives = objectives_of(study)
    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.values]
    front = {t.number for t in study.best_trials} if objectives.multi and done else set()
    done.sort(key=lambda t: (not is_feasible(t), t.number not in front if front else False, _rank_key(t, objectives),
                             t.number))
    return done[:n]


def curves_frame(trials: list[FrozenTrial]) -> pd.DataFrame:
    """Long frame (number, series, epoch starting at 1, value) of the trials' per-epoch curves."""
    rows = []
    for t in trials:
        for series, values in curves(t).items():
            for epoch, value in enumerate(values or [], start=1):
                if isinstance(value, (int, float)) and math.isfinite(value):
                    rows.append({"number": t.number, "series": str(series), "epoch": epoch, "value": float(value)})
    return pd.DataFrame(rows, columns=["number", "series", "epoch", "value"])


def confusion_frames(trial: FrozenTrial) -> dict[str, pd.DataFrame]:
    """Model type -> confusion matrix (rows true class, columns predicted), labelled by class."""
    out: dict[str, pd.DataFrame] = {}
    names = class_names(trial)
    matrices = confusion(trial)
    for model_type in sorted(matrices, key=lambda m: (m != "float32", m)):
        matrix = np.asarray(matrices[model_type], dtype=float)
        if matrix.ndim != 2 or matrix.size == 0:
            continue
        labels = names if len(names) == matrix.shape[0] else [str(i) for i in range(matrix.shape[0])]
        cols = labels if matrix.shape[1] == len(labels) else [str(i) for i in range(matrix.shape[1])]
        out[model_type] = pd.DataFrame(matrix, index=labels, columns=cols)
    return out


def importances(study: optuna.Study, objectives: Objectives, evaluator: BaseImportanceEvaluator | None = None,
                names: ParamNames | None = None) -> pd.DataFrame:
    """Long frame (objective, param, importance) per objective via ``optuna.importance``, over the params each
    trial used (named by ``names``; an unused one is an inactive conditional param); each target is signed so
    lower is better, as PED-ANOVA assumes."""
    study = (names or ParamNames()).study_used(study)
    rows = []
    for i, (name, direction) in enumerate(zip(objectives.names, objectives.directions, strict=False)):
        sign = -1.0 if direction == "maximize" else 1.0
        def target(t: FrozenTrial, i: int = i, sign: float = sign) -> float:
            return sign * float(t.values[i])

        with warnings.catch_warnings():  # the sign is handled here; PED-ANOVA warns about any target
            warnings.filterwarnings("ignore", message="PedAnovaImportanceEvaluator computes")
            warnings.filterwarnings("ignore", message="Some regimes for parameter")  # few trials used it: see build
            result = optuna.importance.get_param_importances(study, evaluator=evaluator, target=target)
        rows += [{"objective": name, "param": p, "importance": float(v)} for p, v in result.items()]
    return pd.DataFrame(rows, columns=["objective", "param", "importance"])


def failures(df: pd.DataFrame) -> pd.DataFrame:
    """Failed trials with their job id and reason (``no reason recorded`` when missing)."""
    failed = df[df["state"] == "FAIL"][["number", "job_id", "failure"]].copy()
    failed["failure"] = failed["failure"].fillna("").map(lambda s: s or "no reason recorded")
    return failed.reset_index(drop=True)


@dataclass
class Summary:
    """The headline numbers at the top of a report."""

    counts: dict[str, int]
    total: int
    wall_time_s: float
    compute_time_s: float  # every job the study started, once (:func:`sweep.session.compute.totals`)
    best: list[FrozenTrial] = field(default_factory=list)
    compute: ComputeTotals = field(default_factory=ComputeTotals)  # the same, by kind and by what for


def summary(study: optuna.Study, df: pd.DataFrame, top: list[FrozenTrial]) -> Summary:
    """Trial counts by state, the study's elapsed wall time (first start to last finish) and compute time."""
    shown = (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)
    counts = {s.name: 0 for s in shown}
    for state, n in df["state"].value_counts().items():
        counts[str(state)] = int(n)
    trials = study.get_trials(deepcopy=False)
    starts = [t.datetime_start for t in trials if t.datetime_start]
    ends = [t.datetime_complete for t in trials if t.datetime_complete]
    wall = (max(ends) - min(starts)).total_seconds() if starts and ends else 0.0
    compute = compute_totals(study)
    return Summary(counts=counts, total=len(df), wall_time_s=max(wall, 0.0), compute_time_s=compute.total_s,
                   best=top[:1], compute=compute)
