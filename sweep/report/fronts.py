"""The study's own front, measured: Pareto masks and ranks, hypervolume, and the frames the front plots draw.

One front everywhere: the study's best trials (``study.best_trials``: the non-dominated feasible trials of
its objectives; the best trial for one objective). Plots mark those trials, never a front of their own.
"""

from __future__ import annotations

import numpy as np
import optuna
import pandas as pd

from sweep.report.frame import COST_FIELDS, Objectives

__all__ = ["device_frame", "hypervolume", "hypervolume_history", "objective_frame", "pareto_mask",
           "pareto_ranks", "study_front"]


def _costs(points: np.ndarray, directions: list[str]) -> np.ndarray:
    signs = np.array([-1.0 if d == "maximize" else 1.0 for d in directions])
    costs: np.ndarray = np.asarray(points, dtype=float).reshape(len(points), len(directions)) * signs
    return costs  # all minimised


def pareto_mask(points: np.ndarray, directions: list[str]) -> np.ndarray:
    """True for the non-dominated rows of ``points`` (n x k) under per-column directions."""
    pts = np.asarray(points, dtype=float)
    if pts.size == 0:
        return np.zeros(len(pts), dtype=bool)
    costs = _costs(pts, directions)
    mask = np.ones(len(costs), dtype=bool)
    for i in range(len(costs)):
        dominated_by = np.all(costs <= costs[i], axis=1) & np.any(costs < costs[i], axis=1)
        mask[i] = not dominated_by.any()
    return mask


def pareto_ranks(points: np.ndarray, directions: list[str]) -> np.ndarray:
    """Non-domination rank of each row: 0 for the front, 1 for the front once it is removed, and so on."""
    ranks = np.full(len(points), -1, dtype=int)
    rank = 0
    while (left := np.flatnonzero(ranks < 0)).size:
        ranks[left[pareto_mask(np.asarray(points)[left], directions)]] = rank
        rank += 1
    return ranks


def study_front(study: optuna.Study) -> set[int]:
    """The numbers of the study's best trials (feasible, non-dominated); empty before any completes."""
    try:
        return {t.number for t in study.best_trials}
    except ValueError:
        return set()


def hypervolume(costs: np.ndarray, reference: np.ndarray) -> float:
    """The volume that the rows of ``costs`` (n x k, all minimised) dominate below ``reference`` (exact,
    by slicing the last objective; fronts of a sweep are small)."""
    pts = np.asarray(costs, dtype=float)
    pts = pts[np.all(pts < reference, axis=1)] if pts.size else pts.reshape(0, len(reference))
    if not len(pts):
        return 0.0
    if pts.shape[1] == 1:
        return float(reference[0] - pts[:, 0].min())
    pts = pts[pareto_mask(pts, ["minimize"] * pts.shape[1])]
    pts = pts[np.argsort(pts[:, -1], kind="stable")]
    volume = 0.0
    for i in range(len(pts)):
        upper = pts[i + 1, -1] if i + 1 < len(pts) else reference[-1]
        if upper > pts[i, -1]:
            volume += (upper - pts[i, -1]) * hypervolume(pts[: i + 1, :-1], reference[:-1])
    return volume


def objective_frame(df: pd.DataFrame, objectives: Objectives, front: set[int]) -> pd.DataFrame:
    """Complete trials with every objective value: number, feasible, the objectives, and ``front`` (a best
    trial of the study)."""
    done = df[(df["state"] == "COMPLETE")].dropna(subset=objectives.names)
    out = done[["number", "feasible", *objectives.names]].copy()
    out["number"] = out["number"].astype(int)
    out["feasible"] = out["feasible"].astype(bool)
    out["front"] = out["number"].isin(front)
    return out.sort_values("number").reset_index(drop=True)


def hypervolume_history(frame: pd.DataFrame, objectives: Objectives, reference: list[float]) -> pd.DataFrame:
    """Per complete trial (``objective_frame``), in trial order: the hypervolume of the feasible trials so
    far, bounded by ``reference`` (as Optuna's hypervolume history counts it)."""
    ref = _costs(np.array([reference]), objectives.directions)[0]
    costs = _costs(frame[objectives.names].to_numpy(), objectives.directions)
    front = np.empty((0, len(ref)))
    value, values = 0.0, []
    for point, feasible in zip(costs, frame["feasible"], strict=True):
        fresh = feasible and bool(np.all(point < ref)) and not bool(np.all(front <= point, axis=1).any())
        if fresh:
            front = np.vstack([front[np.any(front < point, axis=1)], point])
            value = hypervolume(front, ref)
        values.append(value)
    return pd.DataFrame({"number": frame["number"].to_numpy(dtype=int), "hypervolume": values})


def _accuracy_key(df: pd.DataFrame) -> str | None:
    for key in ("int8.accuracy", "float32.accuracy"):
        if key in df.columns and df[key].notna().any():
            return key
    return None


def device_frame(df: pd.DataFrame, device: str | None, front: set[int]) -> pd.DataFrame:
    """Complete trials' accuracy vs the device's latency/RAM/ROM, each flagged ``front`` when it is one of
    the study's best trials (``study_front``).

    Columns: number, feasible, accuracy, latency_ms, ram_bytes, rom_bytes, front. ``accuracy`` is int8
    accuracy when present (the model that runs on the device), else float32; ``attrs["accuracy_key"]`` says
    which. The costs are the totals (DSP + network, ``attrs["total"]``) when the trials have them. Empty
    when the device or accuracy is unknown.
    """
    acc = _accuracy_key(df)
    # a whole-impulse study's cost is the DSP blocks' and the network's together (``{device}.total_*``)
    total = device is not None and any(f"{device}.total_{f}" in df.columns for f in COST_FIELDS)
    cols = {f: f"{device}.total_{f}" if total else f"{device}.{f}" for f in COST_FIELDS}
    if device is None or acc is None or not any(c in df.columns for c in cols.values()):
        return pd.DataFrame(columns=["number", "feasible", "accuracy", *COST_FIELDS, "front"])
    done = df[df["state"] == "COMPLETE"]
    out = pd.DataFrame({"number": done["number"].astype(int), "feasible": done["feasible"].astype(bool),
                        "accuracy": done[acc].astype(float)})
    for f, c in cols.items():
        out[f] = done[c].astype(float) if c in done.columns else np.nan
    out["front"] = out["number"].isin(front)
    out.attrs["accuracy_key"] = acc
    out.attrs["total"] = total
    return out.reset_index(drop=True)
