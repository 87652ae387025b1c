"""write_report / write_comparison on disk: self-contained HTML, Markdown with PNGs beside it, trials.csv."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState, create_trial
from test_report_frame import DEVICE, build_study

from sweep.report import plots, sections
from sweep.report.build import write_comparison, write_report
from sweep.units import metric_text

IMG = re.compile(r'<img alt="([^"]*)" src="([^"]*)"')


def _images(html: str) -> dict[str, bytes]:
    out = {}
    for alt, src in IMG.findall(html):
        assert src.startswith("data:image/png;base64,"), src[:40]
        out[alt] = base64.b64decode(src.split(",", 1)[1])
    return out


def _self_contained(html: str) -> None:
    assert "<script" not in html.lower() and "<link" not in html.lower()
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", html), "page would fetch from the network"


@pytest.fixture(scope="module")
def single_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[optuna.Study, Path]:
    study = build_study(40, name="single")
    out = tmp_path_factory.mktemp("reports") / "single"
    return study, write_report(study, out, study_file="studies/single.toml")


def test_index_is_self_contained_with_every_plot(single_report: tuple[optuna.Study, Path]) -> None:
    _study, index = single_report
    assert index.name == "index.html" and index.parent.name == "single"
    html = index.read_text(encoding="utf-8")
    _self_contained(html)
    images = _images(html)
    assert all(png.startswith(b"\x89PNG") for png in images.values())
    alts = " | ".join(images)
    for wanted in ("Best-so-far", "importance", "Parallel", "latency, RAM and ROM", "Learning curves",
                   "Confusion", "accuracy drop"):
        assert wanted in alts, f"{wanted!r} missing from {alts}"
    assert "Pareto front of the objectives" not in html  # single objective: no objective front
    assert "studies/single.toml" in html and DEVICE in html


def test_summary_shows_best_trial_counts_and_config(single_report: tuple[optuna.Study, Path]) -> None:
    study, index = single_report
    html = index.read_text(encoding="utf-8")
    summary = html.split(">Summary</h2>", 1)[1].split("<h2", 1)[0]
    best = study.best_trial
    assert f"#{best.number}: int8.accuracy = {metric_text('int8.accuracy', best.value)}" in summary
    n = {s: sum(t.state == s for t in study.trials) for s in TrialState}
    assert f"{len(study.trials)} trials ({n[TrialState.COMPLETE]} complete, {n[TrialState.FAIL]} fail" in summary
    for name, _value in best.params.items():
        assert f"parameter {name}</td>" in summary
    metrics = best.user_attrs["metrics"]
    assert f">{metric_text('float32.accuracy', metrics['float32.accuracy'])}</td>" in summary
    assert f">{metrics[DEVICE + '.ram_bytes'] / 1024:.1f} KiB</td>" in summary
    assert f"(job {best.user_attrs['job_id']})" in summary
    assert "Elapsed" in summary and "job compute time" in summary
    ram = metrics["default.ram_bytes"] / 1024
    assert (f"<td class=t>constraint on default.ram_bytes</td><td class=t>{ram:.1f} KiB &lt;= 117.2 KiB (met)</td>"
            in summary)
    assert "Accuracy is in %, its drop in percentage points (pp)" in summary


def test_top_trials_carry_their_exact_request_body(single_report: tuple[optuna.Study, Path]) -> None:
    study, index = single_report
    html = index.read_text(encoding="utf-8")
    import html as htmlmod

    bodies = re.findall(r"<summary>trial (\d+): request body</summary><pre>(.*?)</pre>", html, re.S)
    assert len(bodies) == 5
    assert int(bodies[0][0]) == study.best_trial.number
    for number, text in bodies:
        assert json.loads(htmlmod.unescape(text)) == study.trials[int(number)].user_attrs["request"]


def test_failed_trials_listed_with_reasons(single_report: tuple[optuna.Study, Path]) -> None:
    study, index = single_report
    html = index.read_text(encoding="utf-8")
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    assert f"Failed trials ({len(failed)})" in html
    for t in failed:
        assert t.user_attrs["failure"] in html


def test_markdown_references_png_files_beside_it(single_report: tuple[optuna.Study, Path]) -> None:
    _, index = single_report
    md = (index.parent / "report.md").read_text(encoding="utf-8")
    refs = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert len(refs) >= 7
    for ref in refs:
        assert "/" not in ref and ref.endswith(".png")
        assert (index.parent / ref).read_bytes().startswith(b"\x89PNG")
    assert "```json" in md and "| trial | job | reason |" in md


def test_trials_csv_one_row_per_trial(single_report: tuple[optuna.Study, Path]) -> None:
    study, index = single_report
    df = pd.read_csv(index.parent / "trials.csv")
    assert list(df["number"]) == [t.number for t in study.trials]
    for col in ("state", "params_learning_rate", "params_epochs", "params_dense", "int8.accuracy",
                f"{DEVICE}.ram_bytes", "job_id", "compute_time_s", "wall_time_s", "failure"):
        assert col in df.columns
    t = study.trials[0]
    assert df.loc[0, "int8.accuracy"] == pytest.approx(t.user_attrs["metrics"]["int8.accuracy"])
    assert df.loc[0, "job_id"] == t.user_attrs["job_id"]
    fail = df[df["state"] == "FAIL"]
    assert all(fail["failure"].str.contains("out of memory"))


def test_empty_study_gives_a_valid_page(tmp_path: Path) -> None:
    study = optuna.create_study(study_name="empty", direction="maximize")
    index = write_report(study, tmp_path / "empty")
    html = index.read_text(encoding="utf-8")
    _self_contained(html)
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert "No trial has completed yet" in html and "<img" not in html
    assert pd.read_csv(tmp_path / "empty" / "trials.csv").empty


def test_only_failed_and_running_trials(tmp_path: Path) -> None:
    study = optuna.create_study(direction="minimize")
    study.add_trial(create_trial(state=TrialState.FAIL, user_attrs={"failure": "bad <input> & more", "job_id": 7}))
    study.add_trial(create_trial(state=TrialState.RUNNING))
    html = write_report(study, tmp_path / "r").read_text(encoding="utf-8")
    assert "No trial has completed yet" in html
    assert "bad &lt;input&gt; &amp; more" in html and "bad <input>" not in html  # escaped
    assert "1 fail, 1 running" in html


def test_multi_objective_has_pareto_and_hypervolume(tmp_path: Path) -> None:
    study = build_study(30, multi=True, name="multi")
    html = write_report(study, tmp_path / "multi").read_text(encoding="utf-8")
    alts = set(_images(html))
    assert {"Pareto front", "Hypervolume history", "Best-so-far per objective",
            "Hyperparameter importance per objective"} <= alts
    assert "Pareto-optimal trial (one of several below)" in html


def test_importance_guard_and_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    one = build_study(1, fail_every=0)
    html = write_report(one, tmp_path / "one").read_text(encoding="utf-8")
    assert "Skipped: importance needs at least 2 complete trials" in html
    same = optuna.create_study(direction="maximize")
    for _ in range(3):
        same.add_trial(create_trial(value=0.5, params={"x": 1.0},
                                    distributions={"x": optuna.distributions.FloatDistribution(0, 2)}))
    assert "Skipped: importance" in write_report(same, tmp_path / "same").read_text(encoding="utf-8")
    monkeypatch.setattr(sections, "IMPORTANCE_MAX_TRIALS", 10)
    html = write_report(build_study(30), tmp_path / "capped").read_text(encoding="utf-8")
    assert "newest 10 of 26 complete trials" in html and "Hyperparameter importance" in " ".join(_images(html))


def test_a_failing_plot_becomes_a_note(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("no curves today")

    monkeypatch.setattr(plots, "curves_figure", broken)
    html = write_report(build_study(10), tmp_path / "r").read_text(encoding="utf-8")
    assert "not drawn (RuntimeError: no curves today)" in html
    assert "Confusion matrices of trial" in html  # the rest of the report is still there


def test_device_argument_and_default_device(tmp_path: Path) -> None:
    study = build_study(10)
    html = write_report(study, tmp_path / "a", device="default").read_text(encoding="utf-8")
    assert "Accuracy vs cost on default" in html
    study.set_user_attr("device", None)
    html = write_report(study, tmp_path / "b").read_text(encoding="utf-8")
    assert f"Accuracy vs cost on {DEVICE}" not in html and "on default" in html


def test_comparison_page(tmp_path: Path) -> None:
    a = build_study(20, name="alpha", seed=1)
    b = build_study(15, name="beta", seed=2)
    c = optuna.create_study(study_name="gamma", direction="maximize")  # nothing complete yet
    index = write_comparison([a, b, c], tmp_path / "compare-alpha-beta-gamma")
    html = index.read_text(encoding="utf-8")
    _self_contained(html)
    assert {"Best-so-far per study", "Empirical distribution of the first objective"} <= set(_images(html))
    for s in (a, b):
        assert f">{s.study_name}</th>" in html and f">{metric_text('int8.accuracy', s.best_value)}</td>" in html
    assert ">gamma</th>" in html and (index.parent / "best.csv").exists()
    assert (index.parent / "report.md").exists() and (index.parent / "compare_history.png").exists()


def test_comparison_notes_a_different_objective(tmp_path: Path) -> None:
    a = build_study(10, name="acc")
    b = build_study(10, name="lat", direction="minimize")
    b.set_user_attr("objectives", ["default.latency_ms"])
    html = write_comparison([a, b], tmp_path / "c").read_text(encoding="utf-8")
    assert "optimises default.latency_ms (minimize)" in html


def _section(html: str, title: str) -> str:
    return html.split(f">{title}</h2>", 1)[1].split("<h2", 1)[0]


def test_one_unit_for_accuracy_in_every_table_and_text(single_report: tuple[optuna.Study, Path]) -> None:
    """Accuracy in % and its drop in pp wherever the report writes them; no stored fraction is shown."""
    study, index = single_report
    html = index.read_text(encoding="utf-8")
    top = _section(html, "Top 5 trials")
    table = _table(top)
    for t in build_top(study):
        row = table[str(t.number)]
        assert row["int8.accuracy"] == metric_text("int8.accuracy", t.value) and row["int8.accuracy"].endswith(" %")
        assert row["float32.accuracy"] == metric_text("float32.accuracy", t.user_attrs["metrics"]["float32.accuracy"])
        assert row["int8 drop"].endswith(" pp")
    drop = _section(html, "Quantization (int8 vs float32)")
    assert re.search(r"Median accuracy drop -?\d+(\.\d+)? pp, worst -?\d+(\.\d+)? pp \(trial \d+\)", drop)
    md = (index.parent / "report.md").read_text(encoding="utf-8")
    assert f"int8.accuracy = {metric_text('int8.accuracy', study.best_value)}" in md


def _table(section: str) -> dict[str, dict[str, str]]:
    """The section's first table: trial number -> column title -> cell text."""
    import html as htmlmod

    head = [htmlmod.unescape(h) for h in re.findall(r"<th[^>]*>(.*?)</th>", section.split("</thead>", 1)[0])]
    body = section.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = [[htmlmod.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", r)]
            for r in re.findall(r"<tr>(.*?)</tr>", body)]
    return {r[0]: dict(zip(head, r, strict=True)) for r in rows}


def build_top(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    from sweep.report.frame import top_trials

    return top_trials(study, 5)


def test_layered_study_names_params_by_layer_and_marks_unused(tmp_path: Path) -> None:
    from test_report_params import build_layered_study

    study = build_layered_study(24)
    index = write_report(study, tmp_path / "layered")
    html = index.read_text(encoding="utf-8")
    top = _section(html, "Top 5 trials")
    assert "<th>conv2d.neurons</th>" in top and "<th>conv2d_1.neurons</th>" in top and "layers.0" not in top
    csv = pd.read_csv(tmp_path / "layered" / "trials.csv")
    assert list(csv["params_conv2d.neurons"].isna()) == [t.params["layers.0.repeat"] == 0 for t in study.trials]
    table = _table(top)
    assert len(table) == 5
    for number, row in table.items():
        t = study.trials[int(number)]
        assert (row["conv2d.neurons"] == "unused") == (t.params["layers.0.repeat"] == 0)
        assert row["conv2d.repeat"] == str(t.params["layers.0.repeat"])
        assert (row["spectrogram.freq_masking"] == "unused") == (not t.params["spectrogram.enabled"])
        assert row["conv2d_1.neurons"] == str(t.params["layers.1.neurons"])
    summary = _section(html, "Summary")
    assert f"Constraints: {DEVICE}.ram_bytes &lt;= 32 KiB." in summary


def test_importance_says_when_it_is_unreliable(tmp_path: Path) -> None:
    few = write_report(build_study(30, fail_every=0), tmp_path / "few").read_text(encoding="utf-8")
    note = _section(few, "Hyperparameter importance")
    assert "Unreliable: 30 complete trials, fewer than 50." in note and "at least 5 in that best 10 %" in note
    many = write_report(build_study(sections.IMPORTANCE_RELIABLE_TRIALS, fail_every=0), tmp_path / "many")
    assert "Unreliable" not in _section(many.read_text(encoding="utf-8"), "Hyperparameter importance")
