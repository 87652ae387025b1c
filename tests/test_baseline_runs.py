"""The baseline of a real run: the fake Studio gets the source block's whole saved configuration (an expert-mode
block's script without zeroed settings), and on the local studio a baseline it cannot train is skipped, with
the reason, before any job."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from sweep.session.storage import open_storage

from fake_studio import FakeStudio, JobScript
from local_fixtures import http_client, start_studio
from runner_support import journal, run_sweep, sweep_env, write_study

KEY = "ei_secret_baseline_key_0123456789"
SOURCE_LEARN = 7
SPACE = """
[space]
learning_rate = { choices = [0.001, 0.01] }
training_cycles = 5
"""
# What a source block may hold beyond the 13 fields the baseline once copied (wire names, as saved).
BEYOND = {"useLearnedOptimizer": True, "customParameters": {"dropout": "0.1"},
          "blockParameters": {"backbone": "mobilenet", "numLayers": 2},
          "akidaEdgeLearningConfig": {"enabled": False, "additionalClasses": 2, "neuronsPerClass": 3},
          "customValidationMetadataKey": "speaker", "anomalyCapacity": "medium",
          "kFoldsValidationConfig": {"numFolds": 5, "includeFinalTrainingRun": True}}
VISUAL_ONLY = ("visualLayers", "trainingCycles", "learningRate", "batchSize")


@pytest.fixture
def studio() -> Iterator[FakeStudio]:
    with FakeStudio(api_key=KEY, default_script=JobScript(duration_s=0.1)) as fake:
        yield fake


def _baseline(folder: Path, name: str = "fake") -> optuna.trial.FrozenTrial:
    (base,) = optuna.load_study(study_name=f"{name}:baseline", storage=open_storage(journal(folder, name))).get_trials()
    return base


def test_the_baseline_job_gets_the_whole_saved_configuration(studio: FakeStudio, tmp_path: Path) -> None:
    studio.configs[SOURCE_LEARN].update({**BEYOND, "trainingCycles": 17, "minimumConfidenceRating": 0.7})
    path = write_study(tmp_path, studio.base_url, trials=1, slots=1, space=SPACE, baseline=True)
    done = run_sweep("run", str(path), "--no-report", env=sweep_env(KEY), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    body = _baseline(tmp_path).user_attrs["request"]
    assert {k: body.get(k) for k in BEYOND} == BEYOND
    assert (body["trainingCycles"], body["minimumConfidenceRating"]) == (17, 0.7)
    trains = [b for m, p, b in studio.requests if m == "POST" and "/jobs/train/keras/" in p]
    assert trains[0] == body  # sent as recorded, first


def test_an_expert_blocks_baseline_sends_its_script_and_no_zeroed_settings(studio: FakeStudio, tmp_path: Path
                                                                         ) -> None:
    """Studio answers an expert-mode block's trainingCycles and learningRate as 0 and its layers as []."""
    script = "import tensorflow as tf\nEPOCHS = args.epochs or 30\n"
    studio.configs[SOURCE_LEARN].update({"mode": "expert", "script": script, "trainingCycles": 12})
    path = write_study(tmp_path, studio.base_url, trials=1, slots=1, space=SPACE, baseline=True)
    done = run_sweep("run", str(path), "--no-report", env=sweep_env(KEY), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    body = _baseline(tmp_path).user_attrs["request"]
    assert body["mode"] == "expert" and body["script"] == script
    assert not set(VISUAL_ONLY) & set(body), body


def test_a_baseline_the_local_studio_cannot_train_is_skipped_before_any_job(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with start_studio(data) as local, http_client(local) as http:
        digits = local.project("digits")
        answer = http.post(f"/api/{digits.id}/training/keras/{digits.learn_block_ids[0]}",
                           json={"useLearnedOptimizer": True, "trainingCycles": 2})
        assert answer.json()["success"], answer.text
    path = tmp_path / "velo.toml"
    path.write_text("""
name = "velo"
trials = 1
baseline = true

[target]
kind = "local"
project = "digits"
slots = 1

[[objectives]]
metric = "int8.accuracy"
direction = "maximize"

[space]
learning_rate = { choices = [0.005, 0.01] }
training_cycles = 2

[fixed]
useLearnedOptimizer = false
""")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EI_", "SWEEP_"))}
    env.update({"SWEEP_DATA_DIR": str(data), "SWEEP_POLL_INITIAL_S": "0.1", "SWEEP_POLL_MAX_S": "0.5"})
    done = subprocess.run([sys.executable, "-m", "sweep.cli", "run", str(path), "--no-report"], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    said = done.stderr
    assert "baseline skipped" in said and "useLearnedOptimizer (VeLO) is not available" in said, said
    first_job = min(i for i in (said.find("generating the features"), said.find(": job ")) if i >= 0)
    assert said.index("baseline skipped") < first_job, said
    names = {s.study_name for s in optuna.get_all_study_summaries(open_storage(journal(tmp_path, "velo")))}
    assert names == {"velo"}  # no baseline side study
    jobs: list[dict[str, Any]] = [json.loads((j / "job.json").read_text()) for j in (data / "jobs").iterdir()]
    trains = [j["request"] for j in jobs if j["kind"] == "train"]
    assert len(trains) == 1 and trains[0]["useLearnedOptimizer"] is False, jobs  # the trial's, and no other
    (trial,) = optuna.load_study(study_name="velo", storage=open_storage(journal(tmp_path, "velo"))).get_trials()
    assert trial.state == TrialState.COMPLETE, trial.user_attrs
