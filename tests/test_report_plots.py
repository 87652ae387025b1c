"""Every report figure: a matplotlib Figure drawing its frame's data (checked on the artists), in one style and
one unit per metric; no pyplot state or rcParams leak."""

from __future__ import annotations

import re

import matplotlib
import numpy as np
import optuna
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from optuna.distributions import CategoricalDistribution, IntDistribution
from optuna.trial import create_trial
from test_report_frame import DEVICE, build_study
from test_report_params import build_layered_study

from sweep.report import frame as fr
from sweep.report import fronts, plots, style
from sweep.report.page import figure_png
from sweep.report.parallel import UNUSED_AT, parallel_data, parallel_figure
from sweep.report.params import param_names


@pytest.fixture(scope="module")
def single() -> optuna.Study:
    return build_study(30)


@pytest.fixture(scope="module")
def multi() -> optuna.Study:
    return build_study(30, multi=True)


@pytest.fixture(autouse=True)
def _no_pyplot_or_style_leak() -> object:
    from matplotlib import pyplot as plt

    rc = dict(matplotlib.rcParams)
    yield
    assert plt.get_fignums() == [], "a figure was left in pyplot's registry"
    assert dict(matplotlib.rcParams) == rc, "a plot changed global rcParams (e.g. optuna's ggplot style)"


def _check(fig: Figure) -> Figure:
    assert isinstance(fig, Figure)
    assert fig.axes and any(ax.has_data() for ax in fig.axes)
    png = figure_png(fig)
    assert png.startswith(b"\x89PNG") and len(png) > 5000
    return fig


def _offsets(ax: Axes, label: str) -> np.ndarray:
    found = [c for c in ax.collections if isinstance(c, PathCollection) and c.get_label() == label]
    return np.concatenate([c.get_offsets() for c in found]) if found else np.empty((0, 2))


def _same_points(drawn: np.ndarray, x: pd.Series, y: pd.Series) -> bool:
    want = np.column_stack([np.asarray(x, dtype=float), np.asarray(y, dtype=float)])
    order = lambda a: a[np.lexsort((a[:, 1], a[:, 0]))]  # noqa: E731
    return drawn.shape == want.shape and bool(np.allclose(order(drawn), order(want)))


def test_backend_is_agg() -> None:
    assert matplotlib.get_backend().lower() == "agg"


def _frames(study: optuna.Study) -> dict[str, pd.DataFrame]:
    o = fr.objectives_of(study)
    return {n: fr.best_so_far(fr.trials_frame(study), n, d) for n, d in zip(o.names, o.directions, strict=True)}


@pytest.mark.parametrize("kind", ["single", "multi"])
def test_history_draws_best_so_far_in_percent(kind: str, request: pytest.FixtureRequest) -> None:
    study = request.getfixturevalue(kind)
    o = fr.objectives_of(study)
    frames = _frames(study)
    fig = _check(plots.history_figure(frames, o))
    assert len(fig.axes) == len(o.names)
    for ax, name in zip(fig.axes, o.names, strict=True):
        scale = 100 if name == "int8.accuracy" else 1
        assert np.allclose(ax.get_lines()[0].get_ydata(), frames[name]["best"] * scale, equal_nan=True)
        shown = np.concatenate([_offsets(ax, "feasible trial"), _offsets(ax, "infeasible trial")])
        assert sorted(shown[:, 1]) == pytest.approx(sorted(frames[name]["value"] * scale))
    assert fig.axes[0].get_ylabel() == "int8.accuracy (%)"


def test_history_uses_a_log_value_axis_over_a_10x_span(multi: optuna.Study) -> None:
    o = fr.objectives_of(multi)
    frames = _frames(multi)
    latency = next(n for n in o.names if n.endswith("latency_ms"))
    data = frames[latency]
    span = np.linspace(0, 1, len(data))
    values = 0.25 * 40 ** span  # 0.25 to 10 ms: a 40x span
    wide = {**frames, latency: data.assign(value=values, best=np.minimum.accumulate(values[::-1]))}
    fig = _check(plots.history_figure(wide, o))
    scales = {name: ax.get_yscale() for ax, name in zip(fig.axes, o.names, strict=True)}
    assert scales[latency] == "log" and all(v == "linear" for n, v in scales.items() if n != latency)
    ax = fig.axes[o.names.index(latency)]
    shown = _offsets(ax, "feasible trial")
    assert sorted(shown[:, 1]) == pytest.approx(sorted(wide[latency].loc[wide[latency]["feasible"].astype(bool),
                                                                          "value"]))
    narrow = {**frames, latency: data.assign(value=2 + 10 * span)}  # 2 to 12 ms: a 6x span stays linear
    assert plots.history_figure(narrow, o).axes[o.names.index(latency)].get_yscale() == "linear"


def test_importance_per_objective_and_its_warning(multi: optuna.Study) -> None:
    o = fr.objectives_of(multi)
    imp = fr.importances(multi, o)
    assert set(imp["objective"]) == set(o.names)
    assert set(imp["param"]) == {"learning_rate", "epochs", "dense"}
    for _, g in imp.groupby("objective"):
        assert g["importance"].sum() == pytest.approx(1.0)
    fig = _check(plots.importance_figure(imp))
    assert len(fig.axes[0].patches) == len(imp)
    assert sorted(p.get_width() for p in fig.axes[0].patches) == pytest.approx(sorted(imp["importance"]))
    assert fig.axes[0].get_title(loc="left") == ""
    warned = _check(plots.importance_figure(imp, "Unreliable: 26 complete trials, fewer than 50"))
    assert "fewer than 50" in warned.axes[0].get_title(loc="left")


def test_importance_respects_maximize_sign(single: optuna.Study) -> None:
    """For a maximised objective the per-objective importances equal Optuna's own (direction-aware) ones."""
    o = fr.objectives_of(single)
    ours = fr.importances(single, o).set_index("param")["importance"]
    theirs = optuna.importance.get_param_importances(single)
    assert {k: pytest.approx(v) for k, v in theirs.items()} == ours.to_dict()


def _lines(fig: Figure) -> tuple[LineCollection, LineCollection | None]:
    """The feasible trials' lines (coloured) and the infeasible ones' (grey, dotted), if any."""
    collections = [c for c in fig.axes[0].collections if isinstance(c, LineCollection)]
    coloured = [c for c in collections if c.get_array() is not None]
    grey = [c for c in collections if c.get_array() is None]
    return coloured[0], grey[0] if grey else None


def _luminance(rgba: np.ndarray) -> np.ndarray:
    return 0.2126 * rgba[:, 0] + 0.7152 * rgba[:, 1] + 0.0722 * rgba[:, 2]


def _drawn(fig: Figure) -> tuple[np.ndarray, np.ndarray]:
    """The y values of each coloured line (in drawing order) and its colour's luminance."""
    lines, _ = _lines(fig)
    lines.update_scalarmappable()
    return np.array([s[:, 1] for s in lines.get_segments()]), _luminance(lines.get_colors())


def _row_of(data: object, drawn: np.ndarray, number: int) -> int:
    """Which drawn line is trial ``number``'s (matched by its positions)."""
    row = list(data.numbers).index(number)  # type: ignore[attr-defined]
    return int(np.flatnonzero(np.all(np.isclose(drawn, data.positions[row]), axis=1))[0])  # type: ignore[attr-defined]


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_parallel_best_trial_is_darkest_in_the_studys_direction(direction: str) -> None:
    study = build_layered_study(24, direction=direction)
    names = param_names(study)
    o = fr.objectives_of(study)
    data = parallel_data(study, fr.trials_frame(study, names=names), o, names)
    fig = _check(parallel_figure(data, "t"))
    drawn, light = _drawn(fig)
    best = _row_of(data, drawn, study.best_trial.number)  # the best feasible trial, in the study's direction
    worst_value = min if direction == "maximize" else max
    feasible = [t for t in study.trials if all(v <= 0 for v in t.constraints.values())]
    worst = _row_of(data, drawn, worst_value(feasible, key=lambda t: t.value).number)
    assert light[best] == light.min() < light[worst] == light.max()
    assert best == len(drawn) - 1  # drawn last, on top


def test_parallel_multi_objective_front_is_darkest() -> None:
    study = build_layered_study(30, multi=True)
    names = param_names(study)
    data = parallel_data(study, fr.trials_frame(study, names=names), fr.objectives_of(study), names)
    assert {int(n) for n, c in zip(data.numbers, data.colour, strict=True) if c == 0} == fronts.study_front(study)
    drawn, light = _drawn(_check(parallel_figure(data, "t")))
    front = [_row_of(data, drawn, n) for n in fronts.study_front(study)]
    rest = sorted(set(range(len(drawn))) - set(front))
    assert light[front].max() < light[rest].min()


def _axes_by_name(fig: Figure) -> dict[str, Axes]:
    return {ax.get_label(): ax for ax in fig.axes[1:] if ax.get_label() and not ax.get_label().startswith("<")}


def test_parallel_axes_full_names_integer_ticks_and_unused_marks() -> None:
    study = build_layered_study(24)
    names = param_names(study)
    df = fr.trials_frame(study, names=names)
    data = parallel_data(study, df, fr.objectives_of(study), names)
    fig = _check(parallel_figure(data, "t"))
    expected = ["int8.accuracy (%)", "learning_rate", "batch_size", "training_cycles", "spectrogram.enabled",
                "spectrogram.freq_masking", "conv2d.neurons", "conv2d.repeat", "conv2d_1.neurons", "dense.neurons"]
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == expected  # full names, nothing cut
    axes = _axes_by_name(fig)
    assert list(axes) == expected
    for name, low, high in (("training_cycles", 10, 30), ("conv2d.neurons", 8, 32), ("conv2d.repeat", 0, 2),
                            ("dense.neurons", 16, 64)):
        ticks = [(p, t.get_text()) for p, t in zip(axes[name].get_yticks(), axes[name].get_yticklabels(),
                                                   strict=True) if t.get_text() != "unused"]
        assert all(label.isdigit() for _, label in ticks), (name, ticks)  # no 0.25 of a repeat
        assert [float(p) for p, _ in ticks] == pytest.approx([(int(t) - low) / (high - low) for _, t in ticks])
    assert [t.get_text() for t in axes["conv2d.repeat"].get_yticklabels()] == ["0", "1", "2"]
    assert [t.get_text() for t in axes["batch_size"].get_yticklabels()] == ["16", "32", "64"]
    # a conv2d block repeated 0 times: its neurons are on the "unused" mark, not on a value
    column = expected.index("conv2d.neurons")
    for number, row in zip(data.numbers, data.positions, strict=True):
        repeat = study.trials[number].params["layers.0.repeat"]
        assert (row[column] == UNUSED_AT) == (repeat == 0)
        assert 0 <= row[expected.index("conv2d.repeat")] <= 1
    assert "unused" in [t.get_text() for t in axes["conv2d.neurons"].get_yticklabels()]
    assert "unused" not in [t.get_text() for t in axes["conv2d.repeat"].get_yticklabels()]
    drawn = np.concatenate([np.array([s[:, 1] for s in c.get_segments()]) for c in fig.axes[0].collections
                            if isinstance(c, LineCollection)])
    assert sorted(map(tuple, drawn)) == sorted(map(tuple, data.positions))  # every trial, as positioned


def test_parallel_legend_only_when_something_is_infeasible() -> None:
    for infeasible in (False, True):
        study = build_layered_study(18, infeasible=infeasible)
        names = param_names(study)
        data = parallel_data(study, fr.trials_frame(study, names=names), fr.objectives_of(study), names)
        fig = _check(parallel_figure(data, "t"))
        legend = fig.axes[0].get_legend()
        _, grey = _lines(fig)
        assert data.feasible.all() != infeasible
        if infeasible:
            assert [t.get_text() for t in legend.get_texts()] == ["infeasible trial"]
            assert grey is not None and len(grey.get_segments()) == (~data.feasible).sum()
        else:
            assert legend is None and grey is None


@pytest.mark.parametrize("kind", ["single", "multi"])
def test_device_figure_marks_the_studys_front_numbers_points_log_latency(kind: str,
                                                                         request: pytest.FixtureRequest) -> None:
    study = request.getfixturevalue(kind)
    dev = fronts.device_frame(fr.trials_frame(study), DEVICE, fronts.study_front(study))
    fig = _check(plots.device_figure(dev, DEVICE, "front"))
    assert len(fig.axes) == 3
    front = dev[dev["front"]]
    for ax, cost, scale in zip(fig.axes, ("latency_ms", "ram_bytes", "rom_bytes"), (1, 1 / 1024, 1 / 1024),
                               strict=True):
        circled = _offsets(ax, "front")
        assert _same_points(circled, front[cost] * scale, front["accuracy"] * 100)
        named = sorted(int(n) for t in ax.texts for n in t.get_text().split(", "))
        assert set(front["number"]) <= set(named) and set(named) <= set(dev["number"])  # the front always
        assert ax.get_ylabel() == "int8.accuracy (%)"
    assert "(ms)" in fig.axes[0].get_xlabel() and "(KiB)" in fig.axes[1].get_xlabel()
    span = np.linspace(0, 1, len(dev))
    wide = dev.assign(latency_ms=0.3 * 100 ** span)  # 0.3 to 30 ms: a 100x span
    fig = plots.device_figure(wide, DEVICE, "front")
    assert fig.axes[0].get_xscale() == "log" and fig.axes[1].get_xscale() == "linear"
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels() if t.get_text()]
    assert labels and all(re.fullmatch(r"\d+(\.\d+)?", text) for text in labels)  # plain numbers, not 10^x
    narrow = dev.assign(latency_ms=5 + 35 * span)  # 5 to 40 ms: an 8x span stays linear
    assert plots.device_figure(narrow, DEVICE, "front").axes[0].get_xscale() == "linear"


def test_device_figure_draws_a_constraints_limit_near_the_points() -> None:
    study = build_layered_study(24)
    limits = fr.limits(study)
    assert limits == {f"{DEVICE}.ram_bytes": 32768.0}
    dev = fronts.device_frame(fr.trials_frame(study), DEVICE, fronts.study_front(study))
    fig = plots.device_figure(dev, DEVICE, "front", limits)
    ram = fig.axes[1]
    dashed = [line for line in ram.get_lines() if line.get_label() == "constraint limit"]
    assert len(dashed) == 1 and np.allclose(dashed[0].get_xdata(), 32.0)  # 32768 bytes = 32 KiB
    assert not [line for line in fig.axes[0].get_lines() if line.get_label() == "constraint limit"]
    far = plots.device_figure(dev, DEVICE, "front", {f"{DEVICE}.ram_bytes": 10 * 2 ** 20})  # 10 MiB: off the chart
    assert not [line for line in far.axes[1].get_lines() if line.get_label() == "constraint limit"]


def test_device_figure_numbers_only_the_front_when_crowded() -> None:
    study = build_study(120, fail_every=0)
    dev = fronts.device_frame(fr.trials_frame(study), DEVICE, fronts.study_front(study))
    assert len(dev) > plots.LABEL_ALL_UP_TO
    fig = plots.device_figure(dev, DEVICE, "front")
    assert sorted(int(t.get_text()) for t in fig.axes[0].texts) == sorted(fronts.study_front(study))


def test_pareto_and_hypervolume_figures_draw_the_studys_front(multi: optuna.Study) -> None:
    o = fr.objectives_of(multi)
    frame = fronts.objective_frame(fr.trials_frame(multi), o, fronts.study_front(multi))
    fig = _check(plots.pareto_figure(frame, o))
    ax = fig.axes[0]
    front = frame[frame["front"]]
    assert set(front["number"]) == {t.number for t in multi.best_trials}
    red = _offsets(ax, "the study's Pareto front")
    assert _same_points(red, front["int8.accuracy"] * 100, front[f"{DEVICE}.latency_ms"])
    assert sorted(int(t.get_text()) for t in ax.texts) == sorted(front["number"])
    assert ax.get_xlabel() == "int8.accuracy (%), maximize"
    history = fronts.hypervolume_history(frame, o, [0.5, 200.0])
    fig = _check(plots.hypervolume_figure(history, o))
    assert np.allclose(fig.axes[0].get_lines()[0].get_ydata(), history["hypervolume"] * 100)
    assert fig.axes[0].get_ylabel() == "hypervolume (% x ms)"


def test_curves_confusion_drop(single: optuna.Study) -> None:
    top = fr.top_trials(single, 3)
    curves = fr.curves_frame(top)
    fig = _check(plots.curves_figure(curves))
    assert len(fig.axes[0].get_lines()) == 3 and len(fig.axes[1].get_lines()) == 3
    first = curves[(curves["number"] == top[0].number) & (curves["series"] == "val_accuracy")]
    assert np.allclose(fig.axes[0].get_lines()[0].get_ydata(), first["value"] * 100)  # in %
    assert fig.axes[0].get_ylabel() == "validation accuracy (%)"
    long = pd.DataFrame([{"number": n, "series": series, "epoch": e, "value": 0.5}
                         for n, last in ((1, 20), (2, 10)) for series in ("val_accuracy", "val_loss")
                         for e in range(1, last + 1)])
    for ax in plots.curves_figure(long).axes:  # 1..20 epochs: matplotlib alone ticks 2.5, 7.5, ...
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks)  # epochs are whole
    fig = _check(plots.confusion_figure(fr.confusion_frames(top[0]), top[0].number))
    assert [ax.get_title() for ax in fig.axes] == ["float32", "int8"]
    drop = fr.accuracy_drop(fr.trials_frame(single))
    fig = _check(plots.accuracy_drop_figure(drop))
    assert np.allclose([p.get_height() for p in fig.axes[0].patches], drop["drop"] * 100)
    assert fig.axes[0].get_ylabel() == "accuracy drop (pp)"
    assert sum(p.get_width() for p in fig.axes[1].patches) == len(drop)  # histogram counts every trial
    zero = drop.assign(drop=np.where(np.arange(len(drop)) % 2 == 0, 0.0, drop["drop"]))  # half lose nothing
    fig = plots.accuracy_drop_figure(zero)
    bins = {round(p.get_y() + p.get_height() / 2, 9): p for p in fig.axes[1].patches}
    centre = bins[0.0]  # trials that lose nothing sit in a bin around 0, not one leaning to a gain or a loss
    half = centre.get_height() / 2
    assert centre.get_width() == ((zero["drop"] * 100).abs() < half).sum() >= (zero["drop"] == 0).sum()
    dots = fig.axes[0].collections[0].get_offsets()
    assert list(dots[:, 0]) == list(zero.loc[zero["drop"] == 0, "number"]) and (dots[:, 1] == 0).all()  # 0 pp shows
    many = fr.accuracy_drop(fr.trials_frame(build_study(120, fail_every=0)))
    fig = _check(plots.accuracy_drop_figure(many))  # large studies: points instead of bars
    assert np.allclose(fig.axes[0].collections[0].get_offsets()[:, 1], many["drop"] * 100)


def test_compare_figures(single: optuna.Study) -> None:
    other = build_study(20, seed=5, name="other")
    frames = {s.study_name: fr.best_so_far(fr.trials_frame(s), "int8.accuracy", "maximize") for s in (single, other)}
    fig = _check(plots.compare_history_figure(frames, "int8.accuracy", "maximize"))
    assert len(fig.axes[0].get_lines()) == 2
    assert np.allclose(fig.axes[0].get_lines()[0].get_ydata(), frames["synthetic"]["best"] * 100, equal_nan=True)
    fig = _check(plots.ecdf_figure(frames, "int8.accuracy"))
    line = fig.axes[0].get_lines()[1]
    assert np.allclose(line.get_xdata(), np.sort(frames["other"]["value"]) * 100)
    assert np.allclose(line.get_ydata(), np.arange(1, len(frames["other"]) + 1) / len(frames["other"]))


def _every_figure(single: optuna.Study, multi: optuna.Study) -> dict[str, Figure]:
    o, om = fr.objectives_of(single), fr.objectives_of(multi)
    df, dm = fr.trials_frame(single), fr.trials_frame(multi)
    frame = fronts.objective_frame(dm, om, fronts.study_front(multi))
    top = fr.top_trials(single, 3)
    layered = build_layered_study(12)
    names = param_names(layered)
    return {
        "history": plots.history_figure(_frames(single), o),
        "importance": plots.importance_figure(fr.importances(single, o), "warning"),
        "parallel": parallel_figure(parallel_data(layered, fr.trials_frame(layered, names=names),
                                                  fr.objectives_of(layered), names), "t"),
        "device": plots.device_figure(fronts.device_frame(df, DEVICE, fronts.study_front(single)), DEVICE, "f"),
        "pareto": plots.pareto_figure(frame, om),
        "hypervolume": plots.hypervolume_figure(fronts.hypervolume_history(frame, om, [0.5, 200.0]), om),
        "curves": plots.curves_figure(fr.curves_frame(top)),
        "confusion": plots.confusion_figure(fr.confusion_frames(top[0]), top[0].number),
        "drop": plots.accuracy_drop_figure(fr.accuracy_drop(df)),
        "compare": plots.compare_history_figure(_frames(single), "int8.accuracy", "maximize"),
        "ecdf": plots.ecdf_figure(_frames(single), "int8.accuracy"),
    }


def test_every_figure_shares_one_style(single: optuna.Study, multi: optuna.Study) -> None:
    """Same background, grid colour, fonts and sizes everywhere; none in Optuna's grey ggplot style."""
    rc = style.RC
    for name, fig in _every_figure(single, multi).items():
        fig.canvas.draw()
        assert to_rgba(fig.get_facecolor()) == to_rgba(rc["figure.facecolor"]), name
        if fig.get_suptitle():
            assert fig._suptitle.get_fontsize() == rc["figure.titlesize"], name  # type: ignore[union-attr]
            assert fig._suptitle.get_fontfamily() == [rc["font.family"]], name  # type: ignore[union-attr]
        for ax in fig.axes:
            assert to_rgba(ax.get_facecolor()) == to_rgba(rc["axes.facecolor"]), (name, ax.get_label())
            for tick in ax.get_xticklabels() + ax.get_yticklabels():
                if tick.get_text():
                    assert tick.get_fontsize() == rc["xtick.labelsize"], (name, tick.get_text())
                    assert tick.get_fontfamily() == [rc["font.family"]], name
            for line in ax.get_xgridlines() + ax.get_ygridlines():
                if line.get_visible():
                    assert to_rgba(line.get_color()) == to_rgba(rc["grid.color"]), name
            if ax.get_title():
                assert ax.title.get_fontsize() == rc["axes.titlesize"], name
            if ax.get_xlabel():
                assert ax.xaxis.label.get_fontsize() == rc["axes.labelsize"], name


def test_parallel_axes_take_values_an_older_space_allowed() -> None:
    """A study whose file changed: an old trial's value beyond today's range or choices stays on its axis."""
    study = build_layered_study(6, infeasible=False)
    old = study.trials[0]
    wider = {**old.params, "batch_size": 128, "training_cycles": 50}
    dists = {**old.distributions, "batch_size": CategoricalDistribution([16, 32, 64, 128]),
             "training_cycles": IntDistribution(10, 50, step=10)}
    study.add_trial(create_trial(values=old.values, params=wider, distributions=dists,
                                 user_attrs=old.user_attrs, constraints=old.constraints))
    study.add_trial(create_trial(values=old.values, params=old.params, distributions=old.distributions,
                                 user_attrs=old.user_attrs, constraints=old.constraints))  # newest: today's space
    names = param_names(study)
    data = parallel_data(study, fr.trials_frame(study, names=names), fr.objectives_of(study), names)
    axes = {a.name: a for a in data.axes}
    assert axes["batch_size"].choices == (16, 32, 64, 128) and axes["training_cycles"].high == 50
    assert ((data.positions >= 0) | (data.positions == UNUSED_AT)).all() and (data.positions <= 1).all()
    _check(parallel_figure(data, "t"))


def test_accuracy_drop_bins_one_per_validation_sample_each_centred_and_whole() -> None:
    step = 100 / 360  # one validation sample of 360, in pp
    drops = pd.Series([0, 0, 0, 0, 0, 0, step, step, step, 2 * step, -step, -step])
    edges = plots.centred_bins(drops, 5)
    assert np.allclose(np.diff(edges), step)  # one bin per sample's worth
    centres = (edges[:-1] + edges[1:]) / 2
    counts, _ = np.histogram(drops, bins=edges)
    assert dict(zip(np.round(centres / step).astype(int), counts, strict=True)) == {-1: 2, 0: 6, 1: 3, 2: 1}
    assert plots.lattice_step(pd.Series([0.1, 0.25, 0.4])) is None  # no common step: equal bins as before
    fig = plots.accuracy_drop_figure(pd.DataFrame({"number": range(len(drops)), "drop": drops / 100}))
    low, high = fig.axes[0].get_ylim()
    assert low <= edges[0] + 1e-9 and high >= edges[-1] - 1e-9  # the outermost bins are not cut off
