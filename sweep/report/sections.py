"""The sections of a study's report: the headline numbers and tables, each plot with the text that reads it.

Values are written in their units (``sweep.units``), params by the names ``params`` gives them, with
``unused`` where a trial did not use one, and constraints as value, operator and limit.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna
import pandas as pd
from matplotlib.figure import Figure
from optuna.trial import FrozenTrial, TrialState

from sweep.report import frame as fr
from sweep.report import fronts, parallel, plots
from sweep.report.confirmed import one_sample
from sweep.report.page import Code, Image, Section, Table, Text, figure_png
from sweep.report.params import ParamNames
from sweep.report.versus import confirmed_lines, versus_baseline
from sweep.units import POINTS, duration, metric_text

__all__ = ["IMPORTANCE_MAX_TRIALS", "IMPORTANCE_RELIABLE_TRIALS", "Report", "failed_section", "finals_section",
           "front_sections",
           "history_section", "importance_section", "model_sections", "parameters_section", "summary_section",
           "top_section"]

IMPORTANCE_MAX_TRIALS = 5000  # guard only: PED-ANOVA took 0.03 s on 1,000 and 0.05 s on 3,000 trials
# PED-ANOVA compares the best 10 % of the complete trials with all of them, and Optuna's documentation of
# PedAnovaImportanceEvaluator asks for at least 5 trials in that best 10 %: 50 complete trials.
IMPORTANCE_RELIABLE_TRIALS = 50


@dataclass(frozen=True)
class Report:
    """What every section reads: the study, its trials frame, objectives, param names, device, top trials."""

    study: optuna.Study
    df: pd.DataFrame
    objectives: fr.Objectives
    names: ParamNames
    device: str | None
    top: list[FrozenTrial]

    @property
    def done(self) -> pd.DataFrame:
        return self.df[self.df["state"] == "COMPLETE"]

    def params_row(self, trial: FrozenTrial) -> dict[str, Any]:
        """The trial's params by shown name, ``unused`` where it did not use one."""
        raw = {p for t in self.study.get_trials(deepcopy=False) for p in t.params}
        return self.names.row(trial.params, raw)

    def values_text(self, trial: FrozenTrial) -> dict[str, str]:
        return {n: metric_text(n, v) for n, v in zip(self.objectives.names, trial.values or [], strict=False)}


def plot(section: Section, name: str, alt: str, draw: Callable[[], Figure]) -> None:
    """Draw one figure into the section; a drawing problem becomes a note instead of losing the report."""
    try:
        png = figure_png(draw())
    except Exception as exc:  # noqa: BLE001 - one plot must not cost the whole report
        section.blocks.append(Text(f"{alt}: not drawn ({type(exc).__name__}: {exc})", "note"))
        return
    section.blocks.append(Image(name, alt, png))


def _study_metrics(r: Report) -> list[str]:
    """The metrics the study is about, whatever they are: its objectives, then those its constraints name."""
    return [*r.objectives.names, *(m for m in fr.limits(r.study) if m not in r.objectives.names)]


def _key_metrics(device: str | None) -> list[str]:
    """The metrics every table shows after the study's own: accuracies, the device's costs (DSP + network
    first on a whole-impulse study), compute."""
    totals = [f"{device}.total_{f}" for f in fr.COST_FIELDS] if device else []
    costs = [f"{device}.{f}" for f in fr.COST_FIELDS] if device else []
    return ["float32.accuracy", "int8.accuracy", "int8.accuracy_drop", *totals, *costs, "compute_time_s",
            "wall_time_s"]


def _short(key: str, device: str | None, total: bool) -> str:
    """A compact column title: ``{device}.ram_bytes`` -> ``RAM`` (``network RAM`` beside the DSP + network
    totals), ``{device}.total_ram_bytes`` -> ``total RAM``, ``compute_time_s`` -> ``compute``."""
    names = {"latency_ms": "latency", "ram_bytes": "RAM", "rom_bytes": "ROM"}
    field = key[len(device) + 1:] if device and key.startswith(f"{device}.") else ""
    if field.startswith("total_") and field[6:] in names:
        return f"total {names[field[6:]]}"
    if field in names:
        return f"network {names[field]}" if total else names[field]
    return {"compute_time_s": "compute", "int8.accuracy_drop": "int8 drop"}.get(key, key)


def _limits(study: optuna.Study) -> str:
    texts = [fr.limit_text(str(c)) for c in study.user_attrs.get("constraints") or []]
    return f" Constraints: {', '.join(texts)}." if texts else ""


def summary_section(r: Report, study_file: str | None) -> Section:
    s = fr.summary(r.study, r.df, r.top)
    sec = Section("Summary")
    counts = ", ".join(f"{n} {state.lower()}" for state, n in s.counts.items() if n)
    trial_time = float(pd.to_numeric(r.df["wall_time_s"], errors="coerce").sum()) if len(r.df) else 0.0
    sec.blocks.append(Text(f"{s.total} trials ({counts or 'none yet'}). Elapsed {duration(s.wall_time_s)} "
                           f"(first start to last finish); trial wall time {duration(trial_time)} in total, "
                           f"job compute time {s.compute.text()} (every job the study started: its trials, "
                           "baseline and confirmation repeats, with their feature and profiling jobs)."))
    goal = ", ".join(f"{n} ({d})" for n, d in zip(r.objectives.names, r.objectives.directions, strict=False))
    target = r.study.user_attrs.get("target")
    sec.blocks.append(Text(f"Objectives: {goal}.{_limits(r.study)} Device: {r.device or 'unknown'}."
                           + (f" Trained on {target}." if target else "")
                           + (f" Study file: {study_file}." if study_file else "")
                           + " Accuracy is in %, its drop in percentage points (pp), sizes in KiB (1024 bytes)."))
    if not s.best:
        sec.blocks.append(Text("No trial has completed yet: there is no best trial and nothing to plot. "
                               "Failed trials, if any, are listed below with their reasons.", "note"))
        return sec
    best = s.best[0]
    multi = r.objectives.multi
    front = fronts.study_front(r.study)
    values = ", ".join(f"{n} = {v}" for n, v in r.values_text(best).items())
    label = "A Pareto-optimal trial (one of several below)" if multi and len(front) > 1 else (
        "The Pareto-optimal trial" if multi else "Best trial")
    job = best.user_attrs.get("job_id")
    sec.blocks.append(Text(f"{label}: #{best.number}: {values}" + (f" (job {job})." if job is not None else ".")))
    against = versus_baseline(r.study, best, r.objectives.names, r.device)
    if against:  # the report leads with it
        sec.blocks.insert(0, Text(f"Best against the baseline (your learn block's own configuration): {against}."))
    size = one_sample(best)
    if size:
        sec.blocks.append(Text(f"Validation set: {size} samples, so one sample is 1 of {size} = "
                               f"{POINTS.text(1 / size)} of accuracy; a gap of a few samples is within what seeds "
                               "alone change (`sweep confirm` measures it)."))
    if multi:
        sec.blocks.append(Text(f"{len(front)} feasible trials are on the Pareto front; "
                               "see the top trials and the Pareto front below."))
    if not fr.is_feasible(best):
        sec.blocks.append(Text("No complete trial satisfies every constraint; the best infeasible one is shown.",
                               "note"))
    sec.blocks.append(Table(pd.DataFrame(_best_rows(r, best))))
    return sec


def confirmed_section(r: Report) -> Section | None:
    """The confirmation repeats (``sweep confirm``): each configuration as mean ± sd, and the verdict."""
    lines = confirmed_lines(r.study, r.objectives.names)
    if not lines:
        return None
    sec = Section("Confirmed", [Text("Each configuration retrained with other seeds (its original training "
                                     "first): mean ± standard deviation over its trainings.")])
    sec.blocks.extend(Text(line) for line in lines)
    return sec


def finals_section(r: Report) -> Section | None:
    """``sweep test``: each tested finalist's validation beside its test accuracy, and what the gap means."""
    from sweep.report.finals import GAP_MEANS, KINDS, chosen_on_validation, finals, repeat_lines

    tested = [f for f in finals(r.study) if f.repeat == 0]
    if not tested:
        return None
    rows = []
    for final in tested:
        for kind in (k for k in KINDS if k in final.test):
            validation, gap = final.validation.get(kind), final.gap(kind)
            rows.append({"finalist": final.label + (" *" if final.before_split else ""), "model": kind,
                         "validation": validation.text() if validation else "-", "test": final.test[kind].text(),
                         "validation - test gap": "-" if gap is None else POINTS.text(gap)})
    record = tested[0].record
    sec = Section("Finals: validation beside test", [
        Text("Each finalist's kept models on the project's testing data (`sweep test`), held out of every train job: "
             "accuracy (argmax per window, as validation), with its 95 % Wilson interval and the number of windows. "
             f"{chosen_on_validation(r.study)}"),
        Table(pd.DataFrame(rows)),
        Text(f"{GAP_MEANS} Testing data: DSP block {record.dsp_id}"
             + (f", {record.samples} samples." if record.samples is not None else "."))])
    sec.blocks += [Text(line) for line in repeat_lines(r.study)]
    if any(f.before_split for f in finals(r.study)):
        sec.blocks.append(Text("* trained before the project's test split was made: it may have trained on what is "
                               "now the testing data, so its test figure is not a held-out one.", "note"))
    return sec


def _best_rows(r: Report, best: FrozenTrial) -> list[dict[str, str]]:
    """The study's objectives and constraints first, then the params, then the other key metrics."""
    metrics = best.user_attrs.get("metrics") or {}
    directions = dict(zip(r.objectives.names, r.objectives.directions, strict=False))
    rows = [{"setting": f"objective {k} ({directions[k]})", "value": v} for k, v in r.values_text(best).items()]
    rows += [{"setting": f"constraint on {k.rsplit(' ', 2)[0]}", "value": fr.constraint_text(k, v, metrics)}
             for k, v in sorted(best.constraints.items())]
    rows += [{"setting": f"parameter {k}", "value": plain(v)} for k, v in r.params_row(best).items()]
    shown = {*r.objectives.names, *(k.rsplit(" ", 2)[0] for k in best.constraints)}
    rows += [{"setting": k, "value": metric_text(k, float(metrics[k]))} for k in _key_metrics(r.device)
             if k in metrics and k not in shown]
    return rows


def plain(value: object) -> str:
    return "" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)


def history_section(r: Report) -> Section:
    hist = Section("Optimization history")
    if not len(r.done):
        hist.blocks.append(Text("No complete trial to plot.", "note"))
        return hist
    frames = {n: fr.best_so_far(r.df, n, d) for n, d in zip(r.objectives.names, r.objectives.directions, strict=True)}
    alt = "Best-so-far per objective" if r.objectives.multi else "Best-so-far history"
    hist.blocks.append(Text("Each complete trial's value and the best feasible one so far; a value axis spanning "
                            "more than 10x is logarithmic."))
    plot(hist, "history.png", alt, lambda: plots.history_figure(frames, r.objectives))
    return hist


def importance_section(r: Report) -> Section:
    sec = Section("Hyperparameter importance")
    done = r.done
    varied = [c for c in done.columns if c.startswith("params_") and done[c].nunique(dropna=True) > 1]
    values_vary = len(done) and all(done[n].nunique() > 1 for n in r.objectives.names)
    if len(done) < 2 or not varied or not values_vary:
        sec.blocks.append(Text("Skipped: importance needs at least 2 complete trials whose parameters and "
                               "objective values vary.", "note"))
        return sec
    target = r.study
    if len(done) > IMPORTANCE_MAX_TRIALS:
        keep = r.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))[-IMPORTANCE_MAX_TRIALS:]
        target = optuna.create_study(directions=r.study.directions, study_name=r.study.study_name)
        target.add_trials(keep)
        sec.blocks.append(Text(f"Computed with PED-ANOVA on the newest {IMPORTANCE_MAX_TRIALS} of {len(done)} "
                               "complete trials to keep the report fast.", "note"))
    else:
        sec.blocks.append(Text(f"Computed with PED-ANOVA (Optuna's default) on {len(done)} complete trials; a "
                               "param counts only in the trials that used it."))
    warning = None
    if len(done) < IMPORTANCE_RELIABLE_TRIALS:
        warning = (f"Unreliable: {len(done)} complete trials, fewer than {IMPORTANCE_RELIABLE_TRIALS}. "
                   f"PED-ANOVA compares the best 10 % of trials with all of them and needs at least 5 in that "
                   f"best 10 %; below {IMPORTANCE_RELIABLE_TRIALS} trials these shares are mostly noise.")
        sec.blocks.append(Text(warning, "note"))
    short = (f"Unreliable: {len(done)} complete trials, fewer than {IMPORTANCE_RELIABLE_TRIALS} (see the text)"
             if warning else None)
    plot(sec, "importance.png", "Hyperparameter importance" + (" per objective" if r.objectives.multi else ""),
         lambda: plots.importance_figure(fr.importances(target, r.objectives, names=r.names), short))
    return sec


def parameters_section(r: Report) -> Section:
    par = Section("Parameters")
    if not len(r.done) or not any(c.startswith("params_") for c in r.df.columns):
        par.blocks.append(Text("No complete trial with parameters to plot.", "note"))
        return par
    how = ("its Pareto rank among feasible trials (0 = the study's front)" if r.objectives.multi else
           f"{r.objectives.names[0]} ({r.objectives.directions[0]})")
    par.blocks.append(Text(f"One line per complete trial, coloured by {how}: the darker, the better; the best "
                           "are drawn on top. Grey dotted lines break a constraint. Each axis spans the range the "
                           "search space allowed; 'unused' marks a param the trial's model did not use (a layer "
                           "block repeated 0 times, spectrogram options with augmentation off)."))
    data = parallel.parallel_data(r.study, r.df, r.objectives, r.names)
    plot(par, "parallel.png", "Parallel coordinates", lambda: parallel.parallel_figure(
        data, f"Parameters of the complete trials, coloured by {'Pareto rank' if r.objectives.multi else how}"))
    return par


def device_section(r: Report) -> Section:
    front = fronts.study_front(r.study)
    dev = fronts.device_frame(r.df, r.device, front)
    sec = Section(f"Accuracy vs cost on {r.device or 'the device'}")
    if not len(dev) or not dev["accuracy"].notna().any():
        sec.blocks.append(Text("No on-device metrics (latency, RAM, ROM) recorded for the device.", "note"))
        return sec
    objectives = ", ".join(r.objectives.names)
    best = "the best trial" if len(front) == 1 else f"the {len(front)} best trials (tied)"
    label = f"the study's Pareto front ({objectives})" if r.objectives.multi else f"{best} ({objectives})"
    numbered = ("points carry their trial numbers where the numbers fit, the circled ones always" if
                len(dev) <= plots.LABEL_ALL_UP_TO else
                f"above {plots.LABEL_ALL_UP_TO} trials only the circled points carry their trial number")
    sec.blocks.append(Text(f"Grey points break a constraint (a dashed line marks a limit on a drawn metric); "
                           f"red circles are {label}, the same trials in every panel; {numbered}. A cost axis "
                           "spanning more than 10x is logarithmic."))
    plot(sec, "device.png", f"Accuracy vs latency, RAM and ROM on {r.device}",
         lambda: plots.device_figure(dev, str(r.device), label, fr.limits(r.study)))
    return sec


def _reference_point(done: pd.DataFrame, objectives: fr.Objectives) -> list[float]:
    point = []
    for name, direction in zip(objectives.names, objectives.directions, strict=False):
        col = done[name].astype(float)
        span = float(col.max() - col.min()) or 1.0
        point.append(float(col.min() - 0.1 * span) if direction == "maximize" else float(col.max() + 0.1 * span))
    return point


def front_sections(r: Report) -> list[Section]:
    """The device trade-offs, and for several objectives their Pareto front and hypervolume."""
    sections = [device_section(r)]
    if not r.objectives.multi:
        return sections
    mo = Section("Pareto front of the objectives")
    sections.append(mo)
    if not len(r.done) or len(r.objectives.names) not in (2, 3):
        mo.blocks.append(Text("Needs complete trials and 2 or 3 objectives.", "note"))
        return sections
    frame = fronts.objective_frame(r.df, r.objectives, fronts.study_front(r.study))
    plot(mo, "pareto.png", "Pareto front", lambda: plots.pareto_figure(frame, r.objectives))
    ref = _reference_point(frame, r.objectives)
    shown = ", ".join(metric_text(n, v) for n, v in zip(r.objectives.names, ref, strict=True))
    mo.blocks.append(Text(f"Hypervolume of the feasible trials so far, from the reference point {shown} (10% "
                          "beyond the worst complete value of each objective)."))
    history = fronts.hypervolume_history(frame, r.objectives, ref)
    plot(mo, "hypervolume.png", "Hypervolume history", lambda: plots.hypervolume_figure(history, r.objectives))
    return sections


def model_sections(r: Report) -> list[Section]:
    """Learning curves and confusion matrices of the top trials, and the int8 quantization drop."""
    cur = Section("Learning curves")
    curves = fr.curves_frame(r.top)
    if curves["series"].isin(["val_accuracy", "val_loss"]).any():
        plot(cur, "curves.png", "Learning curves of the top trials", lambda: plots.curves_figure(curves))
    else:
        cur.blocks.append(Text("No per-epoch curves recorded for the top trials.", "note"))
    conf = Section("Confusion matrices")
    matrices = fr.confusion_frames(r.top[0]) if r.top else {}
    if matrices:
        plot(conf, "confusion.png", f"Confusion matrices of trial {r.top[0].number}",
             lambda: plots.confusion_figure(matrices, r.top[0].number))
    else:
        conf.blocks.append(Text("No confusion matrix recorded for the best trial.", "note"))
    drop = fr.accuracy_drop(r.df)
    qs = Section("Quantization (int8 vs float32)")
    if len(drop):
        worst = int(drop.loc[drop["drop"].idxmax(), "number"])
        qs.blocks.append(Text(f"Median accuracy drop {metric_text('int8.accuracy_drop', drop['drop'].median())}, "
                              f"worst {metric_text('int8.accuracy_drop', drop['drop'].max())} (trial {worst})."))
        plot(qs, "accuracy_drop.png", "int8 accuracy drop per trial", lambda: plots.accuracy_drop_figure(drop))
    else:
        qs.blocks.append(Text("Needs both float32.accuracy and int8.accuracy.", "note"))
    return [cur, conf, qs]


def _request_json(trial: FrozenTrial) -> str:
    body = trial.user_attrs.get("request")
    return json.dumps(body, indent=2, sort_keys=True) if body is not None else "(no request recorded)"


def top_section(r: Report) -> Section:
    sec = Section(f"Top {len(r.top)} trials" if r.top else "Top trials")
    sec.blocks.append(Text("Feasible trials first, ranked by the first objective"
                           + (" (the study's Pareto front first)." if r.objectives.multi else ".")
                           + (f" Latency, RAM and ROM on {r.device}." if r.device else "")))
    if not r.top:
        sec.blocks.append(Text("No complete trial yet.", "note"))
        return sec
    rows = []
    own = _study_metrics(r)  # the objectives and the constraints' metrics, first, under their own names
    total = any(f"{r.device}.total_{f}" in r.df.columns for f in fr.COST_FIELDS)
    for t in r.top:
        row: dict[str, object] = {"trial": t.number, "job": t.user_attrs.get("job_id", "")}
        metrics = t.user_attrs.get("metrics") or {}
        row.update(r.values_text(t))
        row.update({k: metric_text(k, float(metrics[k])) for k in own if k not in row and k in metrics})
        row["feasible"] = "yes" if fr.is_feasible(t) else "no"
        row.update({k: plain(v) for k, v in r.params_row(t).items()})
        row.update({_short(k, r.device, total): metric_text(k, float(metrics[k])) for k in _key_metrics(r.device)
                    if k in metrics and k not in own and k != "wall_time_s"})
        rows.append(row)
    sec.blocks.append(Table(pd.DataFrame(rows)))
    sec.blocks.append(Text("The exact train request body that reproduces each trial "
                           "(POST /v1/api/{projectId}/jobs/train/keras/{learnId}):"))
    for t in r.top:
        if "impulse" in t.user_attrs:  # a whole-impulse trial: what it set on its impulse before training
            sec.blocks.append(Code(f"trial {t.number}: impulse settings (POST /dsp/{{dspId}} config, the input "
                                   "block's window)", json.dumps(t.user_attrs["impulse"], indent=2, sort_keys=True)))
        sec.blocks.append(Code(f"trial {t.number}: request body", _request_json(t)))
    return sec


def failed_section(r: Report) -> Section:
    failed = fr.failures(r.df)
    fs = Section(f"Failed trials ({len(failed)})")
    fs.blocks.append(Table(failed.rename(columns={"number": "trial", "job_id": "job", "failure": "reason"}))
                     if len(failed) else Text("No trial failed."))
    return fs
