"""`sweep report` and `sweep compare` through the CLI, on studies run quickly against the fake Studio."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from optuna.trial import TrialState

from fake_studio import FakeStudio, JobScript
from runner_support import load, run_sweep, sweep_env, write_study

KEY = "ei_report_cli_secret_0123456789abcdef"
NETWORK = re.compile(
    r"""(?:\b(?:src|action|srcset|poster|data)\s*=\s*["']?\s*(?:https?:|ftp:|wss?:)?//)"""
    r"""|(?:url\(\s*["']?\s*(?:https?:)?//)|(?:@import\b)|(?:<script[^>]*\bsrc\s*=)"""
    r"""|(?:<link[^>]*\bhref\s*=\s*["']?(?!data:))"""
    r"""|(?:<iframe\b)|(?:\bfetch\s*\()|(?:XMLHttpRequest)""",
    re.IGNORECASE,
)


@pytest.fixture(scope="module")
def studio():
    with FakeStudio(api_key=KEY, class_names=["left", "right", "idle"]) as fake:
        yield fake


@pytest.fixture(scope="module")
def two_studies(studio: FakeStudio, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """Two finished studies A (4 trials, one failed) and B (3 trials) in one folder; --no-report, so no report yet."""
    folder = tmp_path_factory.mktemp("report-cli")
    studio.script(JobScript(), JobScript(succeed=False, log_lines=["Epoch 1/5", "ERR: boom"]))
    a = write_study(folder, studio.base_url, name="alpha", trials=4, seed=1,
                    constraints=("cortex-m4f-80mhz.ram_bytes <= 10000000",), extra_top='device = "cortex-m4f-80mhz"')
    b = write_study(folder, studio.base_url, name="beta", trials=3, seed=2)
    for path in (a, b):
        proc = run_sweep("run", str(path), "--no-report", env=sweep_env(KEY), cwd=folder)
        assert proc.returncode == 0, proc.stderr
    assert not (folder / "reports").exists()
    return folder, a, b


def _assert_offline(page: str) -> None:
    hits = NETWORK.findall(page)
    assert hits == [], f"index.html references network resources: {hits[:5]}"


def _assert_no_key(folder: Path) -> None:
    for file in folder.rglob("*"):
        if file.is_file() and file.suffix in {".html", ".md", ".csv"}:
            assert KEY not in file.read_text(errors="replace"), file


def test_report_writes_a_self_contained_page_markdown_csv_and_plots(two_studies: tuple[Path, Path, Path]) -> None:
    folder, a, _ = two_studies
    proc = run_sweep("report", str(a), env=sweep_env(KEY), cwd=folder)
    assert proc.returncode == 0, proc.stderr
    out = folder / "reports" / "alpha"
    assert (folder / proc.stdout.strip()).resolve() == (out / "index.html").resolve()
    page = (out / "index.html").read_text()
    assert "alpha" in page
    _assert_offline(page)
    assert re.search(r'<img [^>]*src="data:image/png;base64,', page)
    # the Markdown report's images are files beside it
    md = (out / "report.md").read_text()
    images = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", md)
    assert images and all((out / name).stat().st_size > 0 for name in images)
    # trials.csv: one row per trial, states and objective values as in the storage
    study = load(folder, "alpha")
    csv = pd.read_csv(out / "trials.csv")
    assert sorted(csv["number"]) == [t.number for t in study.get_trials()]
    states = dict(zip(csv["number"], csv["state"], strict=False))
    assert sorted(states.values()).count("FAIL") == 1 and list(states.values()).count("COMPLETE") == 4
    for t in study.get_trials():
        assert states[t.number] == t.state.name
        if t.state == TrialState.COMPLETE:
            row = csv[csv["number"] == t.number].iloc[0]
            assert row["int8.accuracy"] == pytest.approx(t.values[0])
        else:
            assert "ERR: boom" in str(csv[csv["number"] == t.number].iloc[0]["failure"])
    _assert_no_key(out)


def test_a_run_records_its_space_outline_and_the_report_names_params_by_layer(
        two_studies: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """`sweep run` records the layer types; a study without them (run before) is named from its file."""
    folder, a, _ = two_studies
    study = load(folder, "alpha")
    assert study.user_attrs["space_outline"] == {"layers": [{"type": "dense"}, {"type": "dropout"}]}
    expected = ["params_learning_rate", "params_batch_size", "params_training_cycles", "params_dense.neurons",
                "params_dense.repeat", "params_dropout.dropout_rate"]
    proc = run_sweep("report", str(a), "--out", str(tmp_path / "new"), env=sweep_env(KEY), cwd=folder)
    assert proc.returncode == 0, proc.stderr
    csv = pd.read_csv(tmp_path / "new" / "trials.csv")
    assert [c for c in csv.columns if c.startswith("params_")] == expected
    done = [t for t in study.get_trials() if t.state == TrialState.COMPLETE]
    assert list(csv.loc[csv["state"] == "COMPLETE", "params_dense.neurons"]) == [t.params["layers.0.neurons"]
                                                                               for t in done]
    study.set_user_attr("space_outline", None)  # as a study run before outlines were recorded
    proc = run_sweep("report", str(a), "--out", str(tmp_path / "old"), env=sweep_env(KEY), cwd=folder)
    assert proc.returncode == 0, proc.stderr
    assert [c for c in pd.read_csv(tmp_path / "old" / "trials.csv").columns if c.startswith("params_")] == expected
    assert "<th>dense.neurons</th>" in (tmp_path / "old" / "index.html").read_text()


def test_report_out_flag_writes_where_asked(two_studies: tuple[Path, Path, Path], tmp_path: Path) -> None:
    folder, _, b = two_studies
    proc = run_sweep("report", str(b), "--out", str(tmp_path / "elsewhere"), env=sweep_env(KEY), cwd=folder)
    assert proc.returncode == 0, proc.stderr
    assert {"index.html", "report.md", "trials.csv"} <= {p.name for p in (tmp_path / "elsewhere").iterdir()}
    assert len(pd.read_csv(tmp_path / "elsewhere" / "trials.csv")) == 3


def test_compare_writes_compare_dir_named_after_the_studies(two_studies: tuple[Path, Path, Path]) -> None:
    folder, a, b = two_studies
    proc = run_sweep("compare", str(a), str(b), env=sweep_env(KEY), cwd=folder)
    assert proc.returncode == 0, proc.stderr
    out = folder / "reports" / "compare-alpha-beta"
    assert (folder / proc.stdout.strip()).resolve() == (out / "index.html").resolve()
    page = (out / "index.html").read_text()
    assert "alpha" in page and "beta" in page
    _assert_offline(page)
    assert re.search(r'<img [^>]*src="data:image/png;base64,', page)
    assert (out / "report.md").stat().st_size > 0
    best = pd.read_csv(out / "best.csv")
    assert {"alpha", "beta"} <= set(best.columns)
    values = dict(zip(best["field"], best["alpha"], strict=False))
    top = load(folder, "alpha").best_trial
    assert float(values["int8.accuracy"]) == pytest.approx(top.values[0])
    _assert_no_key(out)
    # the order of the arguments names the folder
    again = run_sweep("compare", str(b), str(a), env=sweep_env(KEY), cwd=folder)
    assert again.returncode == 0, again.stderr
    assert (folder / "reports" / "compare-beta-alpha" / "index.html").exists()


def test_report_of_a_study_never_run_exits_2(studio: FakeStudio, tmp_path: Path) -> None:
    path = write_study(tmp_path, studio.base_url, name="never")
    proc = run_sweep("report", str(path), env=sweep_env(KEY), cwd=tmp_path)
    assert proc.returncode == 2
    assert "no study named 'never'" in proc.stderr and "sweep run" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "reports").exists()


def test_compare_with_a_study_never_run_exits_2(two_studies: tuple[Path, Path, Path], studio: FakeStudio,
                                                tmp_path: Path) -> None:
    folder, a, _ = two_studies
    never = write_study(folder, studio.base_url, name="never2")
    proc = run_sweep("compare", str(a), str(never), env=sweep_env(KEY), cwd=folder)
    assert proc.returncode == 2
    assert "no study named 'never2'" in proc.stderr
    assert not (folder / "reports" / "compare-alpha-never2").exists()
