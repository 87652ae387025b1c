"""`sweep test` against the fake Studio over real HTTP: the finalists' kept (real) .tflite models scored on the
testing windows of the study's slot (GET /dsp-data/{dspId}/x|y/testing), a whole-impulse finalist's DSP values set
on the slot and its features generated first (their compute recorded and held to compute_budget), resumed without
testing anything twice."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from optuna.trial import TrialState

from sweep.session import tested
from sweep.session.compute import totals
from sweep.session.side import BASELINE, side_study

from fake_studio import FakeStudio, JobScript
from runner_support import load, run_sweep, sweep_env, write_study
from tflite_models import argmax_models

KEY = "ei_secret_finals_key_0123456789"
NETWORK = """
[space]
learning_rate = { low = 1e-3, high = 1e-1, log = true }
training_cycles = 5

[[space.layers]]
type = "dense"
neurons = { choices = [8, 16] }
"""
WHOLE = """
[space]
learning_rate = 0.005
training_cycles = 5

[space.dsp.MFE]
num_filters = { choices = [20, 32] }

[[space.layers]]
type = "dense"
neurons = 8
"""


@pytest.fixture
def studio() -> Iterator[FakeStudio]:
    with FakeStudio(api_key=KEY, default_script=JobScript(duration_s=0.1)) as fake:
        fake.features_duration_s = 0.05
        fake.tflite = dict(zip(("float32", "int8"), argmax_models(8, 3), strict=True))
        yield fake


def top_trial(study: Any) -> int:
    return int(study.best_trial.number)


def _slot(studio: FakeStudio, name: str) -> tuple[int, int]:
    clone = next(i for i in studio.imp.listing() if i["name"] == f"sweep:{name}:1")
    return int(clone["dspBlocks"][0]["id"]), int(clone["learnBlocks"][0]["id"])


def test_the_finalists_are_scored_on_the_slots_testing_windows(studio: FakeStudio, tmp_path: Path) -> None:
    path = write_study(tmp_path, studio.base_url, name="net", trials=3, slots=1, space=NETWORK, baseline=True)
    env = sweep_env(KEY)
    assert run_sweep("run", str(path), "--no-report", env=env, cwd=tmp_path).returncode == 0
    done = run_sweep("test", str(path), "--top", "2", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    study = load(tmp_path, "net")
    records = tested.records(study)
    top = sorted(records)
    assert len(top) == 2
    dsp_id, _ = _slot(studio, "net")
    for number in top:
        got = records[number]
        # 9 of the 12 testing windows are the one-hot of their class: the argmax models get exactly those
        assert {k: (m.correct, m.windows) for k, m in got.models.items()} == {"int8": (9, 12), "float32": (9, 12)}
        assert got.dsp_id == dsp_id and got.samples == 12 and got.before_split is None and got.feature_jobs == []
    base = tested.records(side_study(study, BASELINE))
    assert list(base) == [0] and base[0].models["int8"].accuracy == 0.75
    assert {d for d, _, _ in studio.dsp_downloads} == {dsp_id}
    assert len(studio.dsp_downloads) == 2, "one configuration: its testing windows downloaded once"
    out = done.stdout
    assert "75 % [46.8, 91.1] of 12" in out  # Wilson's 95 % interval of 9 of 12
    assert "validation - test gap" in out and "accuracy_drop" in out
    assert f"The winner (trial {top_trial(study)}) and the other finalists were chosen on validation" in out
    assert "baseline" in out and all(len(line) <= 100 for line in out.splitlines()), out

    report = (tmp_path / "reports" / "net" / "report.md").read_text()  # sweep test refreshed the report
    assert "## Finals: validation beside test" in report and "75 % [46.8, 91.1] of 12" in report
    assert "validation - test gap" in report and "were chosen on validation" in report
    best = run_sweep("best", str(path), env=env, cwd=tmp_path)
    assert best.returncode == 0 and "validation - test gap" in best.stdout and "of 12" in best.stdout, best.stderr
    as_json = json.loads(run_sweep("best", str(path), "--json", env=env, cwd=tmp_path).stdout)
    shown = as_json[0]["test"]["int8"]
    assert (shown["accuracy"], shown["windows"]) == (0.75, 12) and shown["interval_95"][0] == pytest.approx(0.468, 1e-3)
    assert shown["validation_test_gap"] == pytest.approx(as_json[0]["metrics"]["int8.accuracy"] - 0.75, abs=0.006)

    again = run_sweep("test", str(path), "--top", "2", env=env, cwd=tmp_path)  # resumed: nothing tested twice
    assert again.returncode == 0, again.stderr
    assert "tested already" in again.stderr and len(studio.dsp_downloads) == 2
    assert tested.records(load(tmp_path, "net")) == records


def test_a_whole_impulse_finalist_is_tested_on_its_own_dsp_values_within_the_budget(studio: FakeStudio,
                                                                                    tmp_path: Path) -> None:
    path = write_study(tmp_path, studio.base_url, name="whole", trials=2, slots=1, space=WHOLE, sampler="grid")
    env = sweep_env(KEY)
    assert run_sweep("run", str(path), "--no-report", env=env, cwd=tmp_path).returncode == 0
    trials = {t.number: t for t in load(tmp_path, "whole").get_trials(states=(TrialState.COMPLETE,))}
    last = max(trials)  # the slot holds its DSP values: testing it needs no feature job

    # 1. a spent compute_budget: no feature job starts (and the slot is left as it was); what needs none is tested
    plain = path.read_text()
    path.write_text(plain.replace("trials = 2", 'trials = 2\ncompute_budget = "0.1s"'))
    jobs_before = len(studio.jobs)
    capped = run_sweep("test", str(path), "--top", "2", "--no-report", env=env, cwd=tmp_path)
    assert capped.returncode == 1, capped.stderr
    assert "compute budget spent" in capped.stderr and "no feature job is started" in capped.stderr
    assert len(studio.jobs) == jobs_before, "no feature job was started past the budget"
    assert list(tested.records(load(tmp_path, "whole"))) == [last] and f"trial {last}" in capped.stdout

    # 2. within the budget: the other finalist's DSP values set on the slot, its features generated, then tested;
    # the one tested before is not tested again (an interrupted sweep test resumes)
    path.write_text(plain)
    done = run_sweep("test", str(path), "--top", "2", "--no-report", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "tested already" in done.stderr
    records = tested.records(load(tmp_path, "whole"))
    assert sorted(records) == sorted(trials)
    downloads = {config.get("num_filters") for _, _, config in studio.dsp_downloads}
    assert downloads == {trials[n].user_attrs["impulse"]["dsp"]["MFE"]["num_filters"] for n in trials}
    made = [job for r in records.values() for job in r.feature_jobs]
    assert len(made) == 1 and made[0].compute_s is not None and made[0].compute_s >= 0
    assert records[last].feature_jobs == [] and len(studio.jobs) == jobs_before + 1
    # charged to the study once, as "test", and so counted against its compute_budget
    assert totals(load(tmp_path, "whole")).by_purpose["test"] == pytest.approx(made[0].compute_s, abs=0.002)
