"""`sweep test` end to end on the real local studio: a small digits study (real Keras training, the baseline, one
confirmation repeat), tested on the project's held-out samples; the split never reaches a train job (asserted on
the sample ids every job used); a resumed test tests nothing twice; a study run before the split is marked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest

from sweep.local import datasets
from sweep.local.embedded import EmbeddedStudio
from sweep.local.inference import probabilities, score
from sweep.session import tested
from sweep.session.artifacts import kept_models, model_bytes
from sweep.session.side import BASELINE, CONFIRM, side_study
from sweep.session.storage import open_storage

pytestmark = pytest.mark.slow
STUDY = """
name = "finals"
trials = 3
baseline = true
device = "cortex-m4f-80mhz"

[target]
kind = "local"
project = "digits"

[sampler]
name = "random"
seed = 3

[[objectives]]
metric = "int8.accuracy"
direction = "maximize"

[space]
learning_rate = { low = 5e-3, high = 3e-2, log = true }
batch_size = 32
training_cycles = 2

[[space.layers]]
type = "dense"
neurons = { choices = [8, 16, 24] }
"""


def _sweep(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EI_", "SWEEP_"))}
    env.update({"SWEEP_DATA_DIR": str(ws / "data"), "SWEEP_REPORTS_DIR": str(ws / "reports"),
                "SWEEP_POLL_INITIAL_S": "0.1", "SWEEP_POLL_MAX_S": "0.5", "SWEEP_LOCAL_LINGER_S": "0.2"})
    return subprocess.run([sys.executable, "-m", "sweep.cli", *args], env=env, cwd=ws, capture_output=True,
                          text=True, timeout=400)


def _study(ws: Path) -> optuna.Study:
    return optuna.load_study(study_name="finals", storage=open_storage(f"journal:{ws / '.sweep' / 'finals.journal'}"))


def _every_job(study: optuna.Study) -> list[int]:
    sides = [side_study(study, BASELINE), side_study(study, CONFIRM)]
    return [int(t.user_attrs["job_id"]) for s in [study, *sides] if s is not None for t in s.get_trials()
            if t.user_attrs.get("job_id") is not None]


def test_sweep_test_scores_the_held_out_samples_no_train_job_ever_saw(tmp_path: Path) -> None:
    (tmp_path / "finals.toml").write_text(STUDY)
    with EmbeddedStudio(tmp_path / "data", concurrency=1):  # one warm server for the commands (they reuse it)
        run = _sweep(tmp_path, "run", "finals.toml", "--no-report")
        assert run.returncode == 0, run.stderr
        confirm = _sweep(tmp_path, "confirm", "finals.toml", "--top", "1", "--repeats", "1", "--no-report")
        assert confirm.returncode == 0, confirm.stderr
        first = _sweep(tmp_path, "test", "finals.toml", "--top", "1", "--no-report")  # the best, baseline, repeats
        assert first.returncode == 0, first.stderr
        before = tested.records(_study(tmp_path))
        # resumed: the finalists tested already are not tested again; the next one is
        second = _sweep(tmp_path, "test", "finals.toml", "--top", "2", "--no-report")
        assert second.returncode == 0, second.stderr
    study = _study(tmp_path)
    project = datasets.get_project(tmp_path / "data", datasets.DIGITS_ID)
    held = project.test_split
    assert held is not None and len(held.samples) == 360

    # no train job of the study (trials, baseline, repeat) read a testing sample, for training or validation
    for job in _every_job(study):
        used = json.loads((tmp_path / "data" / "jobs" / str(job) / "samples.json").read_text())
        seen = set(used["training"]) | set(used["validation"])
        assert seen.isdisjoint(held.samples), f"job {job} saw testing samples"
        assert seen == set(range(1797)) - held.samples, f"job {job} did not see the whole training category"

    # the figures are the kept models' on exactly the held-out samples
    best = study.best_trial
    record = tested.records(study)[best.number]
    x, y = datasets.load_arrays(project, "testing")
    kept = kept_models(best)
    assert kept is not None and record.job_id == kept.job_id and record.samples == 360
    store = tmp_path / ".sweep" / "finals.artifacts"
    for kind in ("int8", "float32"):
        ours = score(probabilities(model_bytes(store, best, kept, kind), x), y, project.labels)
        assert (record.models[kind].correct, record.models[kind].windows) == (ours.correct, 360)
    assert record.before_split is False
    assert list(tested.records(side_study(study, BASELINE))) == [0]
    assert len(tested.records(side_study(study, CONFIRM))) == 2  # the best's repeat and the baseline's
    out = first.stdout
    assert f"trial {best.number}" in out and "baseline" in out and "over 2 tested trainings (mean ± sd)" in out
    assert "of 360" in out and "validation - test gap" in out

    after = tested.records(_study(tmp_path))
    assert list(before) == [best.number] and after[best.number] == before[best.number] and len(after) == 2
    assert second.stderr.count("tested already") == 4  # the best, the baseline, two repeats

    # a study whose jobs ran before the project's split was made is marked as such (the server above has stopped)
    file = project.path / "project.json"
    old = json.loads(file.read_text())
    del old["testSplit"]  # as a project from before test splits: the next local studio gives it one
    file.write_text(json.dumps(old))
    third = _sweep(tmp_path, "test", "finals.toml", "--top", "3", "--no-report")
    assert third.returncode == 0, third.stderr
    upgraded = datasets.get_project(tmp_path / "data", datasets.DIGITS_ID).test_split
    assert upgraded is not None and upgraded.samples == held.samples  # the same split, made again the same way
    newest = [n for n in tested.records(_study(tmp_path)) if n not in after]
    assert len(newest) == 1 and tested.records(_study(tmp_path))[newest[0]].before_split is True
    assert f"trial {newest[0]}*" in third.stdout and "trained before the project's test split" in third.stdout
    assert np.isfinite(tested.records(_study(tmp_path))[newest[0]].models["int8"].accuracy)
