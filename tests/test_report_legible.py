"""What a reader sees in the report's figures and tables, checked on the drawn artists: legends off the data, log
axes labelled where the data lies, whole histogram bins without error-bar caps, trial numbers that do not collide,
and tables that lead with the study's own objectives and constraints."""

from __future__ import annotations

import itertools

import numpy as np
import optuna
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox
from optuna.trial import TrialState, create_trial
from test_report_frame import DEVICE, build_study, make_metrics
from test_report_plots import _every_figure

from sweep.report import frame as fr
from sweep.report import fronts, plots, sections
from sweep.report.labels import LABEL_GAP_PT
from sweep.report.params import param_names
from sweep.report.sections import Report

FRONT_MS = (0.27, 0.29)  # where the digits study's front lay, under a log axis labelled from 0.5 ms only


def _boxes(fig: Figure) -> dict[str, Bbox]:
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    return {f"{i}:{ax.get_label()}": ax.get_window_extent(renderer) for i, ax in enumerate(fig.axes) if ax.has_data()}


def test_no_legend_sits_on_the_data() -> None:
    """Every legend of every figure lies outside every panel that draws data (it can hide no point)."""
    figures = _every_figure(build_study(30), build_study(30, multi=True))
    for name, fig in figures.items():
        panels = _boxes(fig)
        legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend() is not None)]
        for legend, (label, box) in itertools.product(legends, panels.items()):
            assert not legend.get_window_extent().overlaps(box), (name, label, [t.get_text() for t in legend.texts])


def _labelled(ax: Axes, which: str) -> list[float]:
    """The values at which the axis writes a label, within its view."""
    axis = ax.xaxis if which == "x" else ax.yaxis
    low, high = sorted(ax.get_xlim() if which == "x" else ax.get_ylim())
    ticks = axis.get_major_ticks()
    return [float(v) for v, t in zip(axis.get_majorticklocs(), ticks, strict=True)
            if t.label1.get_text() and low <= v <= high]


def _assert_labels_the_span(ax: Axes, which: str, values: np.ndarray) -> None:
    assert (ax.get_xscale() if which == "x" else ax.get_yscale()) == "log"
    ax.figure.canvas.draw()
    labelled = _labelled(ax, which)
    low, high = float(values.min()), float(values.max())
    inside = [v for v in labelled if low <= v <= high]
    assert len(inside) >= 3, (labelled, low, high)
    for end in (low, high):  # nothing of the data lies far from a label: the front at 0.27 ms is read at a 0.3
        assert min(max(v / end, end / v) for v in labelled) <= 1.5, (labelled, end)


def _front_at_a_third_of_a_ms(multi: optuna.Study) -> pd.DataFrame:
    dev = fronts.device_frame(fr.trials_frame(multi), DEVICE, fronts.study_front(multi))
    rest = np.linspace(0.31, 9.1, len(dev))
    return dev.assign(latency_ms=np.where(dev["front"], np.linspace(*FRONT_MS, len(dev)), rest))


def test_log_axes_label_the_range_where_the_data_lies() -> None:
    multi = build_study(30, multi=True)
    dev = _front_at_a_third_of_a_ms(multi)
    _assert_labels_the_span(plots.device_figure(dev, DEVICE, "front").axes[0], "x", dev["latency_ms"].to_numpy())
    o = fr.objectives_of(multi)
    latency = f"{DEVICE}.latency_ms"
    objective = fronts.objective_frame(fr.trials_frame(multi), o, fronts.study_front(multi))
    objective[latency] = np.where(objective["front"], np.linspace(*FRONT_MS, len(objective)),
                                  np.linspace(0.31, 9.1, len(objective)))
    _assert_labels_the_span(plots.pareto_figure(objective, o).axes[0], "y", objective[latency].to_numpy())
    frames = {n: fr.best_so_far(fr.trials_frame(multi), n, d) for n, d in zip(o.names, o.directions, strict=True)}
    values = np.linspace(9.1, FRONT_MS[0], len(frames[latency]))
    frames[latency] = frames[latency].assign(value=values, best=np.minimum.accumulate(values))
    history = plots.history_figure(frames, o)
    _assert_labels_the_span(history.axes[o.names.index(latency)], "y", values)


@pytest.mark.parametrize("low", [0.011, 0.1, 0.12, 0.27, 0.33, 0.45, 0.64, 0.95, 1.3, 2.2, 3.4, 7.7])
@pytest.mark.parametrize("factor", [10.5, 14, 33, 120, 900, 5e4])
def test_log_ticks_label_each_end_of_any_span(low: float, factor: float) -> None:
    from sweep.report.scales import NEAR, log_ticks

    high = low * factor
    ticks = log_ticks(low, high)
    margin = 10 ** (0.05 * np.log10(factor))
    assert all(low / margin <= t <= high * margin for t in ticks)  # within the view matplotlib gives the data
    assert sum(low <= t <= high for t in ticks) >= 3
    for end in (low, high):
        assert min(max(t / end, end / t) for t in ticks) <= NEAR
    assert len(ticks) <= 12  # no crowd of labels


def _dot_drops() -> pd.DataFrame:
    """The digits study's drops: one validation sample of 360 is 0.28 pp; most trials lose nothing."""
    step = 1 / 360
    drops = [0, step, 0, step, 0, 0, 0, 0, step, -step, -step, 3 * step]
    return pd.DataFrame({"number": range(len(drops)), "drop": drops})


def test_accuracy_drop_histogram_bins_whole_edged_and_no_caps() -> None:
    drop = _dot_drops()
    points = drop["drop"] * 100
    fig = plots.accuracy_drop_figure(drop)
    per_trial, hist = fig.axes
    bins = [p for p in hist.patches if p.get_width() > 0]
    assert sum(p.get_width() for p in bins) == len(drop)
    assert min(p.get_y() for p in bins) < points.min() and max(p.get_y() + p.get_height() for p in bins) > points.max()
    width = bins[0].get_height()
    low, high = hist.get_ylim()
    edges = min(p.get_y() for p in hist.patches), max(p.get_y() + p.get_height() for p in hist.patches)
    assert low <= edges[0] - width / 4 and high >= edges[1] + width / 4  # the outermost bins clear of the frame
    for p in bins:  # two neighbouring bins read as two, not one wide bar
        assert p.get_linewidth() > 0 and to_rgba(p.get_edgecolor()) != to_rgba(p.get_facecolor())
    assert all(float(t).is_integer() for t in hist.get_xticks())  # counts of trials
    caps = [line for line in per_trial.get_lines() if line.get_marker() not in (None, "None", "", " ")]
    assert caps == []  # a mark on top of each bar reads as an error bar
    dots = np.concatenate([c.get_offsets() for c in per_trial.collections if isinstance(c, PathCollection)])
    assert sorted(dots[:, 0]) == list(drop.loc[drop["drop"] == 0, "number"]) and (dots[:, 1] == 0).all()


def _crowded() -> pd.DataFrame:
    """Trials as the keywords study drew them, and more: close pairs, a cluster, twins on one spot."""
    rows = [(0, 70.0, 6.64, True), (1, 65.0, 26.2, False), (2, 70.0, 20.03, False), (3, 84.17, 19.75, False),
            (4, 69.17, 8.98, False), (5, 65.0, 19.75, False), (6, 86.67, 13.72, True), (7, 64.17, 11.64, False),
            (8, 64.17, 19.70, False), (9, 84.17, 21.14, False), (10, 64.17, 19.70, False), (11, 65.0, 19.9, False),
            (12, 64.6, 19.8, False), (13, 70.0, 6.70, False), (14, 86.67, 13.80, False)]
    dev = pd.DataFrame([{"number": n, "feasible": True, "accuracy": a / 100, "latency_ms": ms,
                         "ram_bytes": 10_000 + 500 * n, "rom_bytes": 60_000.0, "front": f} for n, a, ms, f in rows])
    dev.attrs["accuracy_key"] = "int8.accuracy"
    return dev


def test_device_numbers_do_not_collide() -> None:
    dev = _crowded()
    fig = plots.device_figure(dev, DEVICE, "front")
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    for ax in fig.axes:
        boxes = [t.get_window_extent(renderer) for t in ax.texts]
        assert boxes
        gap = LABEL_GAP_PT * fig.dpi / 72 * 0.9  # clear of each other: "21" flush against "4, 17" reads as 214
        for a, b in itertools.combinations(boxes, 2):
            assert not a.padded(gap).overlaps(b), [t.get_text() for t in ax.texts]
        frame = ax.get_window_extent(renderer)
        assert all(frame.x0 <= b.x0 and b.x1 <= frame.x1 and frame.y0 <= b.y0 and b.y1 <= frame.y1 for b in boxes)
        named = {int(n) for t in ax.texts for n in t.get_text().split(", ")}
        assert {0, 6} <= named  # the front always carries its numbers
    latency = [t.get_text() for t in fig.axes[0].texts]
    assert "8, 10" in latency  # twins on one spot share one label


def _impulse_study() -> optuna.Study:
    """A whole-impulse study: objectives int8 accuracy and total latency, a constraint on network RAM."""
    study = optuna.create_study(directions=["maximize", "minimize"], study_name="impulse")
    objectives = ["int8.accuracy", f"{DEVICE}.total_latency_ms"]
    study.set_user_attr("objectives", objectives)
    study.set_user_attr("device", DEVICE)
    study.set_user_attr("constraints", [f"{DEVICE}.ram_bytes <= 32768"])
    dist = {"learning_rate": optuna.distributions.FloatDistribution(1e-3, 1e-2, log=True)}
    ram = f"{DEVICE}.ram_bytes"
    for i in range(6):
        metrics = make_metrics(0.8 + 0.02 * i, 0.79 + 0.02 * i, 0.7 + 0.1 * i, 6000.0 + 100 * i, 60_000.0, 3.0)
        metrics.update({f"{DEVICE}.total_latency_ms": 13.0 + i, f"{DEVICE}.total_ram_bytes": 18_000.0,
                        f"{DEVICE}.total_rom_bytes": 60_000.0, f"{DEVICE}.dsp.latency_ms": 12.3 + i})
        study.add_trial(create_trial(state=TrialState.COMPLETE, values=[metrics[o] for o in objectives],
                                     params={"learning_rate": 1e-3 * (1 + i)}, distributions=dist,
                                     user_attrs={"metrics": metrics, "job_id": 10 + i},
                                     constraints={f"{ram} <= 32768": metrics[ram] - 32768}))
    return study


def _report(study: optuna.Study) -> Report:
    names = param_names(study)
    df = fr.trials_frame(study, names=names)
    return Report(study, df, fr.objectives_of(study), names, fr.resolve_device(study, df), fr.top_trials(study, 10))


def test_tables_lead_with_the_studys_objectives_and_constraints() -> None:
    r = _report(_impulse_study())
    summary = next(b for b in sections.summary_section(r, None).blocks if isinstance(b, sections.Table))
    settings = list(summary.frame["setting"])
    assert settings[:3] == ["objective int8.accuracy (maximize)", f"objective {DEVICE}.total_latency_ms (minimize)",
                            f"constraint on {DEVICE}.ram_bytes"]
    values = dict(zip(summary.frame["setting"], summary.frame["value"], strict=True))
    assert values[f"objective {DEVICE}.total_latency_ms (minimize)"] == "18 ms"  # the objective, not the network's
    top = next(b for b in sections.top_section(r).blocks if isinstance(b, sections.Table)).frame
    columns = list(top.columns)
    assert columns[:6] == ["trial", "job", "int8.accuracy", f"{DEVICE}.total_latency_ms", f"{DEVICE}.ram_bytes",
                           "feasible"]
    assert "latency" not in columns and "network latency" in columns  # never a bare name for the network's part


@pytest.mark.parametrize("multi", [False, True])
def test_the_reports_best_never_breaks_a_constraint(multi: bool) -> None:
    """optuna-dashboard 0.21's "Best Trial" picks a trial that breaks a constraint; the report never does: a
    trial better in every objective but infeasible is not its best, its front, nor first in its tables."""
    study = _impulse_study() if multi else optuna.create_study(direction="maximize", study_name="single")
    objectives = ["int8.accuracy", f"{DEVICE}.total_latency_ms"] if multi else ["int8.accuracy"]
    if not multi:
        study.set_user_attr("objectives", objectives)
        study.set_user_attr("device", DEVICE)
        study.set_user_attr("constraints", [f"{DEVICE}.ram_bytes <= 32768"])
        for i in range(4):
            metrics = make_metrics(0.8 + 0.01 * i, 0.8 + 0.01 * i, 1.0, 8000.0, 60_000.0, 3.0)
            study.add_trial(create_trial(value=metrics["int8.accuracy"], user_attrs={"metrics": metrics},
                                         constraints={f"{DEVICE}.ram_bytes <= 32768": 8000.0 - 32768}))
    metrics = make_metrics(0.99, 0.99, 0.1, 40_000.0, 60_000.0, 3.0)
    metrics.update({f"{DEVICE}.total_latency_ms": 1.0, f"{DEVICE}.total_ram_bytes": 40_000.0})
    study.add_trial(create_trial(values=[metrics[o] for o in objectives], user_attrs={"metrics": metrics},
                                 constraints={f"{DEVICE}.ram_bytes <= 32768": 40_000.0 - 32768}))
    broken = study.trials[-1].number
    r = _report(study)
    assert broken not in fronts.study_front(study) and r.top[0].number != broken
    texts = [b.text for b in sections.summary_section(r, None).blocks if isinstance(b, sections.Text)]
    headline = next(t for t in texts if t.startswith(("A Pareto-optimal trial", "The Pareto-optimal", "Best trial")))
    assert f"#{broken}:" not in headline and "No complete trial satisfies" not in " ".join(texts)
    top = next(b for b in sections.top_section(r).blocks if isinstance(b, sections.Table)).frame
    assert top.iloc[0]["feasible"] == "yes" and top.set_index("trial").loc[broken, "feasible"] == "no"
    dev = fronts.device_frame(r.df, DEVICE, fronts.study_front(study))
    assert not dev.set_index("number").loc[broken, "front"]
