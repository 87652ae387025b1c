"""An input block's whole window is applied: an image study trains each trial on its own image size, on the fake
Studio (its features follow every field of the input block, as Studio's do), and so does ``sweep best --apply``;
the local studio, which cannot resize images, refuses such a study before anything is started or written."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from optuna.trial import TrialState

from fake_studio import FakeStudio, JobScript
from runner_support import load, run_sweep, sweep_env, write_study

KEY = "ei_secret_windows_key_0123456789"
SOURCE_LEARN = 7
IMAGE_SPACE = """
[space]
learning_rate = 0.005
training_cycles = 5

[space.window]
image_width = { choices = [32, 64] }
image_height = { choices = [32, 96] }
"""


@pytest.fixture
def studio() -> Iterator[FakeStudio]:
    with FakeStudio(api_key=KEY, default_script=JobScript(duration_s=0.05), kind="image") as fake:
        fake.features_duration_s = 0.05
        yield fake


def _size(window: dict[str, int]) -> tuple[int, int]:
    return window["imageWidth"], window["imageHeight"]


def test_each_trial_trains_on_its_own_image_size(studio: FakeStudio, tmp_path: Path) -> None:
    path = write_study(tmp_path, studio.base_url, name="img", trials=4, slots=1, space=IMAGE_SPACE, sampler="grid")
    done = run_sweep("run", str(path), "--no-report", env=sweep_env(KEY), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    trials = load(tmp_path, "img").get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4, [t.user_attrs.get("failure") for t in trials]
    for t in trials:
        wanted = (t.params["window.image_width"], t.params["window.image_height"])
        assert t.user_attrs["impulse"]["window"] == {"imageWidth": wanted[0], "imageHeight": wanted[1]}
        job = studio.jobs[t.user_attrs["job_id"]]
        (window,) = job.features.values()
        assert _size(window) == wanted, f"trial {t.number} wants {wanted}, trained on features of {_size(window)}"
    assert _size(studio.imp.get(None)["inputBlocks"][0]) == (96, 96)  # the user's impulse untouched


def test_best_apply_sets_the_image_size_on_yours_and_trains_on_it(studio: FakeStudio, tmp_path: Path) -> None:
    path = write_study(tmp_path, studio.base_url, name="img", trials=4, slots=1, space=IMAGE_SPACE, sampler="grid")
    assert run_sweep("run", str(path), "--no-report", env=sweep_env(KEY), cwd=tmp_path).returncode == 0
    best = load(tmp_path, "img").best_trial
    wanted = (best.params["window.image_width"], best.params["window.image_height"])
    applied = run_sweep("best", str(path), "--apply", "--train", env=sweep_env(KEY), cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    assert _size(studio.imp.get(None)["inputBlocks"][0]) == wanted
    job = max((j for j in studio.jobs.values() if j.kind == "train" and j.learn_id == SOURCE_LEARN),
              key=lambda j: j.id)
    (window,) = job.features.values()
    assert _size(window) == wanted, f"applied {wanted}, trained on features of {_size(window)}"


def test_an_unchanged_image_size_generates_no_features_again(studio: FakeStudio, tmp_path: Path) -> None:
    """The whole-window check still skips what is there: one size, three trials, features made once for it."""
    space = IMAGE_SPACE.replace("{ choices = [32, 64] }", "48").replace("{ choices = [32, 96] }", "48").replace(
        "learning_rate = 0.005", "learning_rate = { choices = [0.005, 0.01, 0.02] }")
    path = write_study(tmp_path, studio.base_url, name="img", trials=3, slots=1, space=space, sampler="grid")
    done = run_sweep("run", str(path), "--no-report", env=sweep_env(KEY), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    trials = load(tmp_path, "img").get_trials()
    assert {_size(next(iter(studio.jobs[t.user_attrs["job_id"]].features.values()))) for t in trials} == {(48, 48)}
    assert done.stderr.count("features of this DSP and window configuration are there already") == 2


def test_the_local_studio_refuses_an_image_window_before_anything(tmp_path: Path) -> None:
    path = tmp_path / "digits-size.toml"
    path.write_text("""
name = "digits-size"
trials = 1

[target]
kind = "local"
project = "digits"

[[objectives]]
metric = "int8.accuracy"
direction = "maximize"

[space]
training_cycles = 1

[space.window]
image_width = { choices = [8, 16] }
""")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EI_", "SWEEP_"))}
    env["SWEEP_DATA_DIR"] = str(tmp_path / "data")
    refused = subprocess.run([sys.executable, "-m", "sweep.cli", "run", str(path), "--no-report"], env=env,
                             cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2, refused.stderr
    said = refused.stderr
    assert str(path) in said and "space.window.image_width" in said and "cannot resize images" in said, said
    assert "[8, 16]" in said, said  # the value
    assert not (tmp_path / "data").exists() and not (tmp_path / ".sweep").exists()  # nothing started or written
