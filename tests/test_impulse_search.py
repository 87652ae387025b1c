"""Whole-impulse trials over real HTTP against the fake Studio: DSP parameters and window set on the slot's
clone before each job, in order, features skipped for a configuration already there, a failing feature job,
the parameters checked against the live block description, DSP and total device metrics."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from optuna.trial import TrialState

from fake_studio import FakeStudio, JobScript
from runner_support import load, run_sweep, sweep_env, write_study

KEY = "ei_secret_impulse_key_0123456789"
SOURCE_DSP = 2  # the fake project's MFE block (views.block_ids: input 1, DSP 2)
SPACE = """
[space]
learning_rate = 0.005
training_cycles = 5

[space.dsp.MFE]
num_filters = { choices = [20, 32] }
frame_stride = 0.02

[space.window]
window_size_ms = { choices = [500, 1000] }

[[space.layers]]
type = "reshape"

[[space.layers]]
type = "conv1d"
neurons = 8
"""


@pytest.fixture
def studio() -> Iterator[FakeStudio]:
    with FakeStudio(api_key=KEY, default_script=JobScript(duration_s=0.1)) as fake:
        fake.features_duration_s = 0.05
        yield fake


def _calls(studio: FakeStudio, start: int = 0) -> list[tuple[str, str, Any]]:
    """The requests that change something or start a job, in order, with the project prefix cut."""
    prefix = f"/v1/api/{studio.project_id}"
    out = []
    for method, path, body in studio.requests[start:]:
        rest = path[len(prefix):]
        if method == "POST" and (rest.startswith(("/dsp/", "/impulse", "/jobs/")) and "/cancel" not in rest):
            out.append((method, rest, body))
    return out


def _study(tmp_path: Path, studio: FakeStudio, *, space: str = SPACE, trials: int = 4,
           objectives: tuple[tuple[str, str], ...] = (("int8.accuracy", "maximize"),)) -> Path:
    return write_study(tmp_path, studio.base_url, name="whole", trials=trials, slots=1, space=space,
                       objectives=objectives, sampler="grid")


def test_each_trial_sets_dsp_then_window_then_features_then_trains(studio: FakeStudio, tmp_path: Path) -> None:
    path = _study(tmp_path, studio)
    done = run_sweep("run", str(path), "--no-report", env=sweep_env(KEY), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    study = load(tmp_path, "whole")
    trials = sorted(study.get_trials(), key=lambda t: t.number)
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4, [t.user_attrs.get("failure") for t in trials]
    clone = next(i for i in studio.imp.listing() if i["name"] == "sweep:whole:1")
    dsp_id, learn_id = clone["dspBlocks"][0]["id"], clone["learnBlocks"][0]["id"]
    calls = _calls(studio)
    trains = [i for i, (_, rest, _) in enumerate(calls) if rest.startswith("/jobs/train/keras/")]
    assert len(trains) == 4
    for t, at in zip(trials, trains, strict=True):
        setting = t.user_attrs["impulse"]
        assert setting == {"dsp": {"MFE": {"num_filters": str(t.params["dsp.MFE.num_filters"]),
                                           "frame_stride": "0.02"}},
                           "window": {"windowSizeMs": t.params["window.window_size_ms"]}}
        before = [rest for _, rest, _ in calls[:at]]
        # the last DSP write, window write and feature job before this train POST, in that order
        last_dsp = max(i for i, r in enumerate(before) if r == f"/dsp/{dsp_id}")
        last_features = max(i for i, r in enumerate(before) if r == "/jobs/generate-features")
        assert last_dsp < last_features
        if any(r.startswith("/impulse?") or r == "/impulse" for r in before[last_dsp:]):
            last_window = max(i for i, r in enumerate(before) if r.startswith("/impulse"))
            assert last_dsp < last_window < last_features
        assert calls[at][1] == f"/jobs/train/keras/{learn_id}"
        sent = calls[at][2]
        assert sent["visualLayers"][0] == {"type": "reshape", "columns": t.params["dsp.MFE.num_filters"]}
        assert t.user_attrs["request"]["visualLayers"][0]["columns"] == t.params["dsp.MFE.num_filters"]
        metrics = t.user_attrs["metrics"]
        filters = t.params["dsp.MFE.num_filters"]
        assert metrics["cortex-m4f-80mhz.dsp.ram_bytes"] == 2048 + 64 * filters
        assert metrics["cortex-m4f-80mhz.total_latency_ms"] == pytest.approx(
            metrics["cortex-m4f-80mhz.dsp.latency_ms"] + metrics["cortex-m4f-80mhz.latency_ms"])
        assert metrics["cortex-m4f-80mhz.total_ram_bytes"] == pytest.approx(
            metrics["cortex-m4f-80mhz.dsp.ram_bytes"] + metrics["cortex-m4f-80mhz.ram_bytes"])
    # the user's own DSP block and window were never written
    assert not [rest for _, rest, _ in calls if rest == f"/dsp/{SOURCE_DSP}"]
    assert not [c for c in calls if c[1].startswith("/impulse") and "clone" not in c[1]
                and c[2] and c[2].get("id") == studio.imp.default_id]
    assert studio.imp.get(None)["dspBlocks"][0]["id"] == SOURCE_DSP
    assert studio.dsp.config(SOURCE_DSP)["num_filters"] == "40"


def test_a_configuration_already_there_generates_no_features(studio: FakeStudio, tmp_path: Path) -> None:
    space = SPACE.replace("num_filters = { choices = [20, 32] }", "num_filters = 32").replace(
        "window_size_ms = { choices = [500, 1000] }", "window_size_ms = 1000")
    space = space.replace("learning_rate = 0.005", "learning_rate = { choices = [0.005, 0.01, 0.02] }")
    path = _study(tmp_path, studio, space=space, trials=3)
    done = run_sweep("run", str(path), "--no-report", env=sweep_env(KEY), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    features = [c for c in _calls(studio) if c[1] == "/jobs/generate-features"]
    # one for the trials' configuration, made by the first trial (none at the slot's set-up), then none
    assert len(features) == 1, features
    assert done.stderr.count("features of this DSP and window configuration are there already") == 2
    assert [t.state for t in load(tmp_path, "whole").get_trials()] == [TrialState.COMPLETE] * 3


def test_a_failing_feature_job_fails_its_trial_with_the_reason(studio: FakeStudio, tmp_path: Path) -> None:
    path = _study(tmp_path, studio, trials=2)
    first = run_sweep("run", str(path), "--no-report", "--trials", "1", env=sweep_env(KEY), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    studio.dsp.fail_next = ["the window is shorter than one frame"]
    second = run_sweep("run", str(path), "--no-report", env=sweep_env(KEY), cwd=tmp_path)
    trials = sorted(load(tmp_path, "whole").get_trials(), key=lambda t: t.number)
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert len(failed) == 1, (second.stderr, [t.user_attrs for t in trials])
    assert "generating the features of DSP block" in failed[0].user_attrs["failure"]
    assert "the window is shorter than one frame" in failed[0].user_attrs["failure"]
    assert "job_id" not in failed[0].user_attrs  # no train job was started for it


@pytest.mark.parametrize(("block", "line", "field", "says"), [
    ("MFE", "num_fliters = 20", "space.dsp.MFE.num_fliters", "no parameter 'num_fliters'"),
    ("MFE", "num_filters = { low = 1, high = 40 }", "space.dsp.MFE.num_filters", "at least 2"),
    ("MFE", "fft_length = { choices = [256, 300] }", "space.dsp.MFE.fft_length", "must be one of"),
    ("MFE", "frame_stride = \"fast\"", "space.dsp.MFE.frame_stride", "is a number"),
    ("MFE", "implementation_version = 3", "space.dsp.MFE.implementation_version", "read-only"),
    ("Spectral", "fft_length = 128", "space.dsp.Spectral", "no DSP block"),
])
def test_dsp_parameters_are_checked_against_the_live_block(studio: FakeStudio, tmp_path: Path, block: str,
                                                           line: str, field: str, says: str) -> None:
    space = f"[space]\nlearning_rate = {{ choices = [0.005, 0.01] }}\n\n[space.dsp.{block}]\n{line}\n"
    path = _study(tmp_path, studio, space=space, trials=1)
    refused = run_sweep("run", str(path), "--no-report", env=sweep_env(KEY), cwd=tmp_path)
    assert refused.returncode == 2, refused.stderr
    assert str(path) in refused.stderr and field in refused.stderr and says in refused.stderr, refused.stderr
    assert not (tmp_path / ".sweep").exists()  # nothing stored: no data dir, no journal
    assert not [c for c in _calls(studio) if "clone" in c[1] or c[1].startswith(("/dsp/", "/jobs/"))]


def test_a_window_field_of_another_input_kind_is_refused(studio: FakeStudio, tmp_path: Path) -> None:
    space = "[space]\nlearning_rate = { choices = [0.005, 0.01] }\n\n[space.window]\nimage_width = 96\n"
    path = _study(tmp_path, studio, space=space)
    refused = run_sweep("run", str(path), "--no-report", env=sweep_env(KEY), cwd=tmp_path)
    assert refused.returncode == 2 and "space.window.image_width" in refused.stderr, refused.stderr
    assert "time-series input" in refused.stderr


def test_total_device_cost_can_be_an_objective(studio: FakeStudio, tmp_path: Path) -> None:
    path = _study(tmp_path, studio, trials=4, objectives=(("int8.accuracy", "maximize"),
                                                          ("cortex-m4f-80mhz.total_latency_ms", "minimize")))
    done = run_sweep("run", str(path), "--no-report", env=sweep_env(KEY), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    trials = load(tmp_path, "whole").get_trials()
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert all(t.values[1] == t.user_attrs["metrics"]["cortex-m4f-80mhz.total_latency_ms"] for t in trials)
    assert json.dumps(trials[0].user_attrs["impulse"])  # recorded as JSON


def test_apply_with_train_sets_the_best_impulse_on_yours_then_trains_it(studio: FakeStudio, tmp_path: Path) -> None:
    path = _study(tmp_path, studio)
    assert run_sweep("run", str(path), "--no-report", env=sweep_env(KEY), cwd=tmp_path).returncode == 0
    best = load(tmp_path, "whole").best_trial
    start = len(studio.requests)
    applied = run_sweep("best", str(path), "--apply", "--train", env=sweep_env(KEY), cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    calls = [rest for _, rest, _ in _calls(studio, start)]
    filters, window = best.params["dsp.MFE.num_filters"], best.params["window.window_size_ms"]
    assert studio.dsp.config(SOURCE_DSP)["num_filters"] == str(filters)
    assert studio.imp.get(None)["inputBlocks"][0]["windowSizeMs"] == window
    assert calls.index(f"/dsp/{SOURCE_DSP}") < calls.index("/jobs/generate-features") < calls.index(
        "/jobs/train/keras/7")
    trained = [b for m, p, b in studio.requests[start:] if m == "POST" and p.endswith("/jobs/train/keras/7")]
    assert trained[0]["visualLayers"][0] == {"type": "reshape", "columns": filters}
    assert studio.configs[7]["visualLayers"][0]["columns"] == filters  # the saved config too


def test_two_slots_each_set_their_own_clone(studio: FakeStudio, tmp_path: Path) -> None:
    path = write_study(tmp_path, studio.base_url, name="whole", trials=4, slots=2, space=SPACE, sampler="grid")
    done = run_sweep("run", str(path), "--no-report", env=sweep_env(KEY), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    clones = {i["name"]: i for i in studio.imp.listing() if i["name"].startswith("sweep:whole:")}
    assert sorted(clones) == ["sweep:whole:1", "sweep:whole:2"]
    learn_ids = {c["learnBlocks"][0]["id"] for c in clones.values()}
    trained = {j.id: j.learn_id for j in studio.jobs.values() if j.kind == "train"}
    for t in load(tmp_path, "whole").get_trials():
        assert t.state == TrialState.COMPLETE, t.user_attrs.get("failure")
        assert trained[t.user_attrs["job_id"]] in learn_ids
        # the columns come from the features its own slot's DSP block made with its own filters (the fake Studio
        # fails a train job whose block's features do not match that block's present configuration)
        assert t.user_attrs["request"]["visualLayers"][0]["columns"] == t.params["dsp.MFE.num_filters"]
    assert len({trained[t.user_attrs["job_id"]] for t in load(tmp_path, "whole").get_trials()}) == 2  # both slots
    assert not [p for m, p, _ in studio.requests if m == "POST" and p.endswith(f"/dsp/{SOURCE_DSP}")]


def test_every_feature_job_of_a_whole_impulse_run_is_trained_on(studio: FakeStudio, tmp_path: Path) -> None:
    """Slot set-up makes no features the first job would replace: with the baseline and two slots, each feature
    job's features are those some train job then trained on (the baseline's slot makes the source's itself)."""
    path = write_study(tmp_path, studio.base_url, name="whole", trials=4, slots=2, space=SPACE, sampler="grid",
                       baseline=True)
    done = run_sweep("run", str(path), "--no-report", env=sweep_env(KEY), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    made = sorted(j.id for j in studio.jobs.values() if j.kind == "features")
    used = {job for j in studio.jobs.values() if j.kind == "train" for job in j.features_job.values()}
    assert [j for j in made if j not in used] == [], f"feature jobs {made}, trained on {sorted(used)}"
    # the baseline (the source's 40 filters, 1000 ms) and four other configurations: five, one each
    assert len(made) == 5, made
