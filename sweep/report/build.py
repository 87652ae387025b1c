"""Report entry points: a study -> reports/<study>/ and several studies -> a comparison page."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import optuna
import pandas as pd
from matplotlib.figure import Figure
from optuna.trial import FrozenTrial

from sweep.report import frame as fr
from sweep.report import plots
from sweep.report.compare import best_table, history_frames, shared_objective
from sweep.report.page import (
    Code,
    Image,
    Page,
    Section,
    Table,
    Text,
    figure_png,
    write_csv,
    write_html,
    write_markdown,
)
from sweep.units import duration

__all__ = ["IMPORTANCE_MAX_TRIALS", "write_comparison", "write_report"]

IMPORTANCE_MAX_TRIALS = 5000  # guard only: PED-ANOVA took 0.03 s on 1,000 and 0.05 s on 3,000 trials


def _fmt(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _plot(section: Section, name: str, alt: str, draw: Callable[[], Figure]) -> None:
    """Draw one figure into the section; a drawing problem becomes a note instead of losing the report."""
    try:
        png = figure_png(draw())
    except Exception as exc:  # noqa: BLE001 - one plot must not cost the whole report
        section.blocks.append(Text(f"{alt}: not drawn ({type(exc).__name__}: {exc})", "note"))
        return
    section.blocks.append(Image(name, alt, png))


def _key_metrics(device: str | None) -> list[str]:
    costs = [f"{device}.{f}" for f in fr.COST_FIELDS] if device else []
    return ["float32.accuracy", "int8.accuracy", "int8.accuracy_drop", *costs, "compute_time_s", "wall_time_s"]


def _short(key: str, device: str | None) -> str:
    """A compact column title: ``{device}.ram_bytes`` -> ``RAM``, ``compute_time_s`` -> ``compute``."""
    names = {"latency_ms": "latency", "ram_bytes": "RAM", "rom_bytes": "ROM"}
    if device and key.startswith(f"{device}."):
        return names.get(key[len(device) + 1:], key)
    return {"compute_time_s": "compute", "int8.accuracy_drop": "int8 drop"}.get(key, key)


def _metric_text(key: str, value: float) -> str:
    if key.endswith("_bytes"):
        return f"{value / 1024:.1f} KiB"
    if key.endswith("_ms"):
        return f"{value:.4g} ms"
    if key.endswith("_s"):
        return duration(value)
    return f"{value:.4g}"


def _summary_section(study: optuna.Study, df: pd.DataFrame, top: list[FrozenTrial], objectives: fr.Objectives,
                     device: str | None, study_file: str | None) -> Section:
    s = fr.summary(study, df, top)
    sec = Section("Summary")
    counts = ", ".join(f"{n} {state.lower()}" for state, n in s.counts.items() if n)
    trial_time = float(pd.to_numeric(df["wall_time_s"], errors="coerce").sum()) if len(df) else 0.0
    sec.blocks.append(Text(f"{s.total} trials ({counts or 'none yet'}). Elapsed {duration(s.wall_time_s)} "
                           f"(first start to last finish); trial wall time {duration(trial_time)} in total, "
                           f"training compute time {duration(s.compute_time_s)}."))
    goal = ", ".join(f"{n} ({d})" for n, d in zip(objectives.names, objectives.directions, strict=False))
    target = study.user_attrs.get("target")
    sec.blocks.append(Text(f"Objectives: {goal}. Device: {device or 'unknown'}."
                           + (f" Trained on {target}." if target else "")
                           + (f" Study file: {study_file}." if study_file else "")))
    if not s.best:
        sec.blocks.append(Text("No trial has completed yet: there is no best trial and nothing to plot. "
                               "Failed trials, if any, are listed below with their reasons.", "note"))
        return sec
    best = s.best[0]
    values = ", ".join(f"{n} = {_fmt(v)}" for n, v in zip(objectives.names, best.values, strict=False))
    label = "A Pareto-optimal trial (one of several below)" if objectives.multi and len(study.best_trials) > 1 else (
        "The Pareto-optimal trial" if objectives.multi else "Best trial")
    job = best.user_attrs.get("job_id")
    sec.blocks.append(Text(f"{label}: #{best.number}: {values}" + (f" (job {job})." if job is not None else ".")))
    if objectives.multi:
        sec.blocks.append(Text(f"{len(study.best_trials)} feasible trials are on the Pareto front; "
                               "see the top trials and the Pareto front below."))
    if not fr.is_feasible(best):
        sec.blocks.append(Text("No complete trial satisfies every constraint; the best infeasible one is shown.",
                               "note"))
    rows = [{"setting": f"parameter {k}", "value": _fmt(v)} for k, v in sorted(best.params.items())]
    metrics = best.user_attrs.get("metrics") or {}
    rows += [{"setting": k, "value": _metric_text(k, float(metrics[k]))} for k in _key_metrics(device) if k in metrics]
    rows += [{"setting": f"constraint {k}", "value": f"{v:.4g} ({'met' if v <= 0 else 'broken'})"}
             for k, v in sorted(best.constraints.items())]
    if rows:
        sec.blocks.append(Table(pd.DataFrame(rows)))
    return sec


def _importance(study: optuna.Study, df: pd.DataFrame, objectives: fr.Objectives) -> Section:
    sec = Section("Hyperparameter importance")
    done = df[df["state"] == "COMPLETE"]
    params = [c for c in df.columns if c.startswith("params_")]
    varied = [c for c in params if done[c].nunique(dropna=True) > 1]
    values_vary = len(done) and all(done[n].nunique() > 1 for n in objectives.names)
    if len(done) < 2 or not varied or not values_vary:
        sec.blocks.append(Text("Skipped: importance needs at least 2 complete trials whose parameters and "
                               "objective values vary.", "note"))
        return sec
    target = study
    if len(done) > IMPORTANCE_MAX_TRIALS:
        keep = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))]
        keep = keep[-IMPORTANCE_MAX_TRIALS:]
        target = optuna.create_study(directions=study.directions, study_name=study.study_name)
        target.add_trials(keep)
        sec.blocks.append(Text(f"Computed with PED-ANOVA on the newest {IMPORTANCE_MAX_TRIALS} of {len(done)} "
                               "complete trials to keep the report fast.", "note"))
    else:
        sec.blocks.append(Text(f"Computed with PED-ANOVA (Optuna's default) on {len(done)} complete trials."))
    if objectives.multi:
        _plot(sec, "importance.png", "Hyperparameter importance per objective",
              lambda: plots.importance_bars_figure(fr.importances(target, objectives)))
    else:
        _plot(sec, "importance.png", "Hyperparameter importance", lambda: plots.importance_figure(target, objectives))
    return sec


def _reference_point(df: pd.DataFrame, objectives: fr.Objectives) -> list[float]:
    done = df[df["state"] == "COMPLETE"]
    point = []
    for name, direction in zip(objectives.names, objectives.directions, strict=False):
        col = done[name].astype(float)
        span = float(col.max() - col.min()) or 1.0
        point.append(float(col.min() - 0.1 * span) if direction == "maximize" else float(col.max() + 0.1 * span))
    return point


def _request_json(trial: FrozenTrial) -> str:
    body = trial.user_attrs.get("request")
    return json.dumps(body, indent=2, sort_keys=True) if body is not None else "(no request recorded)"


def _top_section(top: list[FrozenTrial], objectives: fr.Objectives, device: str | None) -> Section:
    sec = Section(f"Top {len(top)} trials" if top else "Top trials")
    sec.blocks.append(Text("Feasible trials first, ranked by the first objective"
                           + (" (Pareto-optimal trials first)." if objectives.multi else ".")
                           + (f" Latency, RAM and ROM on {device}." if device else "")))
    if not top:
        sec.blocks.append(Text("No complete trial yet.", "note"))
        return sec
    rows = []
    for t in top:
        row: dict[str, object] = {"trial": t.number, "job": t.user_attrs.get("job_id", "")}
        row.update({n: v for n, v in zip(objectives.names, t.values, strict=False)})
        row["feasible"] = "yes" if fr.is_feasible(t) else "no"
        row.update({k: v for k, v in sorted(t.params.items())})
        metrics = t.user_attrs.get("metrics") or {}
        row.update({_short(k, device): _metric_text(k, float(metrics[k])) for k in _key_metrics(device)
                    if k in metrics and k not in row and k != "wall_time_s"})
        rows.append(row)
    sec.blocks.append(Table(pd.DataFrame(rows)))
    sec.blocks.append(Text("The exact train request body that reproduces each trial "
                           "(POST /v1/api/{projectId}/jobs/train/keras/{learnId}):"))
    sec.blocks += [Code(f"trial {t.number}: request body", _request_json(t)) for t in top]
    return sec


def _page_sections(study: optuna.Study, df: pd.DataFrame, objectives: fr.Objectives, device: str | None,
                   top: list[FrozenTrial]) -> list[Section]:
    done = df[df["state"] == "COMPLETE"]
    sections = [_history_section(study, df, done, objectives), _importance(study, df, objectives)]
    par = Section("Parameters")
    if len(done) and any(c.startswith("params_") for c in df.columns):
        _plot(par, "parallel.png", "Parallel coordinates", lambda: plots.parallel_figure(study, objectives))
    else:
        par.blocks.append(Text("No complete trial with parameters to plot.", "note"))
    sections += [par, _device_section(df, device)]
    if objectives.multi:
        sections.append(_pareto_section(study, df, done, objectives))
    sections += _model_sections(df, top)
    sections.append(_top_section(top, objectives, device))
    failed = fr.failures(df)
    fs = Section(f"Failed trials ({len(failed)})")
    fs.blocks.append(Table(failed.rename(columns={"number": "trial", "job_id": "job", "failure": "reason"}))
                     if len(failed) else Text("No trial failed."))
    sections.append(fs)
    return sections


def _history_section(study: optuna.Study, df: pd.DataFrame, done: pd.DataFrame, objectives: fr.Objectives
                     ) -> Section:
    hist = Section("Optimization history")
    if not len(done):
        hist.blocks.append(Text("No complete trial to plot.", "note"))
    elif objectives.multi:
        frames = {n: fr.best_so_far(df, n, d) for n, d in zip(objectives.names, objectives.directions, strict=True)}
        _plot(hist, "history.png", "Best-so-far per objective", lambda: plots.multi_history_figure(frames, objectives))
    else:
        _plot(hist, "history.png", "Best-so-far history", lambda: plots.history_figure(study, objectives))
    return hist


def _device_section(df: pd.DataFrame, device: str | None) -> Section:
    dev = fr.device_frame(df, device)
    sec = Section(f"Accuracy vs cost on {device or 'the device'}")
    if len(dev) and dev["accuracy"].notna().any():
        sec.blocks.append(Text("Grey points break a constraint; red circles are the Pareto front "
                               "(higher accuracy, lower cost)."))
        _plot(sec, "device.png", f"Accuracy vs latency, RAM and ROM on {device}",
              lambda: plots.device_figure(dev, str(device)))
    else:
        sec.blocks.append(Text("No on-device metrics (latency, RAM, ROM) recorded for the device.", "note"))
    return sec


def _pareto_section(study: optuna.Study, df: pd.DataFrame, done: pd.DataFrame, objectives: fr.Objectives
                    ) -> Section:
    mo = Section("Pareto front of the objectives")
    if len(done) and len(objectives.names) in (2, 3):
        _plot(mo, "pareto.png", "Pareto front", lambda: plots.pareto_figure(study, objectives))
        ref = _reference_point(df, objectives)
        mo.blocks.append(Text(f"Hypervolume reference point: {', '.join(f'{v:.4g}' for v in ref)} "
                              "(10% beyond the worst complete value of each objective)."))
        _plot(mo, "hypervolume.png", "Hypervolume history", lambda: plots.hypervolume_figure(study, ref))
    else:
        mo.blocks.append(Text("Needs complete trials and 2 or 3 objectives.", "note"))
    return mo


def _model_sections(df: pd.DataFrame, top: list[FrozenTrial]) -> list[Section]:
    """Learning curves and confusion matrices of the top trials, and the int8 quantization drop."""
    cur = Section("Learning curves")
    curves = fr.curves_frame(top)
    if curves["series"].isin(["val_accuracy", "val_loss"]).any():
        _plot(cur, "curves.png", "Learning curves of the top trials", lambda: plots.curves_figure(curves))
    else:
        cur.blocks.append(Text("No per-epoch curves recorded for the top trials.", "note"))
    conf = Section("Confusion matrices")
    matrices = fr.confusion_frames(top[0]) if top else {}
    if matrices:
        _plot(conf, "confusion.png", f"Confusion matrices of trial {top[0].number}",
              lambda: plots.confusion_figure(matrices, top[0].number))
    else:
        conf.blocks.append(Text("No confusion matrix recorded for the best trial.", "note"))
    drop = fr.accuracy_drop(df)
    qs = Section("Quantization (int8 vs float32)")
    if len(drop):
        qs.blocks.append(Text(f"Median accuracy drop {100 * drop['drop'].median():.2f} percentage points, "
                              f"worst {100 * drop['drop'].max():.2f} "
                              f"(trial {int(drop.loc[drop['drop'].idxmax(), 'number'])})."))
        _plot(qs, "accuracy_drop.png", "int8 accuracy drop per trial", lambda: plots.accuracy_drop_figure(drop))
    else:
        qs.blocks.append(Text("Needs both float32.accuracy and int8.accuracy.", "note"))
    return [cur, conf, qs]


def write_report(study: optuna.Study, out_dir: Path, *, study_file: str | None = None, device: str | None = None,
                 top_n: int = 5) -> Path:
    """Write ``index.html`` (self-contained), ``report.md`` + PNGs and ``trials.csv``; return index.html."""
    started = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    objectives = fr.objectives_of(study)
    df = fr.trials_frame(study)
    top = fr.top_trials(study, top_n)
    device = fr.resolve_device(study, df, device)
    study_file = study_file or study.user_attrs.get("study_file")
    sections = [_summary_section(study, df, top, objectives, device, study_file)]
    sections += _page_sections(study, df, objectives, device, top)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    page = Page(f"Sweep report: {study.study_name}", f"Generated {stamp}. Every trial: trials.csv.", sections)
    elapsed = time.perf_counter() - started
    page.sections.append(Section("About this report", [Text(f"Built in {elapsed:.1f} s from {len(df)} trials.")]))
    write_csv(df, out_dir / "trials.csv")
    write_markdown(page, out_dir / "report.md")
    return write_html(page, out_dir / "index.html")


def write_comparison(studies: list[optuna.Study], out_dir: Path) -> Path:
    """Best-so-far curves, ECDF of the first objective and the best configuration of each study."""
    if not studies:
        raise ValueError("write_comparison needs at least one study")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    name, direction, notes = shared_objective(studies)
    frames = history_frames(studies)
    sec = Section("Best so far")
    sec.blocks += [Text(n, "note") for n in notes]
    if any(len(f) for f in frames.values()):
        _plot(sec, "compare_history.png", "Best-so-far per study",
              lambda: plots.compare_history_figure(frames, name, direction))
        _plot(sec, "compare_ecdf.png", "Empirical distribution of the first objective",
              lambda: plots.ecdf_figure([s for s in studies if len(frames[s.study_name])], name))
    else:
        sec.blocks.append(Text("No study has a complete trial yet.", "note"))
    best = best_table(studies)
    write_csv(best, out_dir / "best.csv")
    shown = best.astype(object)
    for i, key in enumerate(shown["field"]):
        if any(str(key).endswith(u) for u in ("_bytes", "_ms", "_s")):
            shown.iloc[i, 1:] = [_metric_text(str(key), float(v)) if isinstance(v, (int, float)) and pd.notna(v) else v
                                 for v in shown.iloc[i, 1:]]
    table = Section("Best configuration of each study", [
        Text("Each study's best trial (feasible first, by its first objective); raw values in best.csv."),
        Table(shown)])
    names = ", ".join(s.study_name for s in studies)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    page = Page(f"Sweep comparison: {names}", f"Generated {stamp}. Objective: {name} ({direction}).", [sec, table])
    write_markdown(page, out_dir / "report.md")
    return write_html(page, out_dir / "index.html")


