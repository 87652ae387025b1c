"""Slots from cloned impulses, over real HTTP against the fake Studio: made once, used, reused, never the user's own.

Counted at the server: which learn blocks got train jobs and configuration writes, which impulses
were cloned and deleted, which DSP blocks had their features generated.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import optuna
import pytest
from optuna.trial import TrialState

from sweep.session.storage import open_storage

from fake_studio import FakeStudio, JobScript
from runner_support import journal, load, run_sweep, sweep_cmd, sweep_env, write_study

KEY = "ei_secret_slots_key_0123456789"
SOURCE_LEARN = 7
SPACE = """
[space]
learning_rate = { low = 1e-4, high = 1e-1, log = true }
batch_size = { choices = [16, 32, 64] }
training_cycles = { low = 5, high = 30, step = 5 }
"""


@pytest.fixture
def studio() -> Iterator[FakeStudio]:
    with FakeStudio(api_key=KEY, default_script=JobScript(duration_s=0.3)) as fake:
        yield fake


def _posts(studio: FakeStudio, route: str) -> list[str]:
    return [path for method, path, _ in studio.requests if method == "POST" and route in path]


def _trained_blocks(studio: FakeStudio) -> set[int]:
    return {int(p.rsplit("/", 1)[1]) for p in _posts(studio, "/jobs/train/keras/")}


def _clones(studio: FakeStudio) -> dict[str, dict[str, Any]]:
    return {i["name"]: i for i in studio.imp.listing() if i["id"] != studio.imp.default_id}


def _source_untouched(studio: FakeStudio) -> None:
    """No train job and no configuration write on the user's own learn block, no clone deleted but ours."""
    assert SOURCE_LEARN not in _trained_blocks(studio)
    assert not [p for p in _posts(studio, f"/training/keras/{SOURCE_LEARN}") if p.endswith(f"/{SOURCE_LEARN}")]
    assert studio.imp.get(None) is not None and studio.imp.get(None)["learnBlocks"][0]["id"] == SOURCE_LEARN


def _study(tmp_path: Path, studio: FakeStudio, *, slots: int, trials: int, name: str = "fake") -> Path:
    return write_study(tmp_path, studio.base_url, name=name, trials=trials, slots=slots, space=SPACE)


def test_slots_are_cloned_once_used_and_reused_on_resume(studio: FakeStudio, tmp_path: Path) -> None:
    path = _study(tmp_path, studio, slots=2, trials=4)
    first = run_sweep("run", str(path), "--no-report", env=sweep_env(KEY), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    clones = _clones(studio)
    assert sorted(clones) == ["sweep:fake:1", "sweep:fake:2"]
    learn = {name: c["learnBlocks"][0]["id"] for name, c in clones.items()}
    assert _trained_blocks(studio) == set(learn.values())  # trials trained on the clones only
    feature_jobs = [j for j in studio.jobs.values() if j.kind == "features"]
    assert sorted(j.learn_id for j in feature_jobs) == sorted(c["dspBlocks"][0]["id"] for c in clones.values())
    recorded = load(tmp_path).user_attrs["slots"]
    assert recorded["source_learn_id"] == SOURCE_LEARN
    assert {c["name"]: c["learn_id"] for c in recorded["clones"].values()} == learn
    assert "cloned impulse 1 as impulse" in first.stderr and "training directly" not in first.stderr

    again = run_sweep("run", str(path), "--no-report", "--trials", "6", env=sweep_env(KEY), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert len(_posts(studio, "/clone/structure")) == 2  # never cloned twice
    assert len([j for j in studio.jobs.values() if j.kind == "features"]) == 2  # features kept
    assert [t.state for t in load(tmp_path).get_trials()].count(TrialState.COMPLETE) == 6
    _source_untouched(studio)


def test_two_workers_share_the_clones_each_its_own_slot(studio: FakeStudio, tmp_path: Path) -> None:
    studio.default_script = JobScript(duration_s=0.6)
    path = _study(tmp_path, studio, slots=2, trials=6)
    make = run_sweep("run", str(path), "--no-report", "--trials", "1", "--slots", "1,2", env=sweep_env(KEY),
                     cwd=tmp_path)
    assert make.returncode == 0, make.stderr
    args = ["run", str(path), "--no-report", "--storage", journal(tmp_path)]
    workers = [subprocess.Popen(sweep_cmd(*args, "--slots", n), env=sweep_env(KEY), cwd=tmp_path,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for n in ("1", "2")]
    for proc in workers:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    assert len(_posts(studio, "/clone/structure")) == 2
    trials = load(tmp_path).get_trials()
    assert [t.state for t in trials].count(TrialState.COMPLETE) == 6
    by_worker = {t.user_attrs["worker"]["pid"]: t.user_attrs["worker"]["learn_id"] for t in trials[1:]}
    assert sorted(set(by_worker.values())) == sorted(c["learnBlocks"][0]["id"] for c in _clones(studio).values())
    _source_untouched(studio)


def test_a_worker_on_a_busy_slot_is_refused(studio: FakeStudio, tmp_path: Path) -> None:
    studio.default_script = JobScript(duration_s=0.2)
    path = _study(tmp_path, studio, slots=1, trials=2)
    assert run_sweep("run", str(path), "--no-report", "--trials", "1", env=sweep_env(KEY), cwd=tmp_path).returncode == 0
    studio.script(JobScript(duration_s=120))
    first = subprocess.Popen(sweep_cmd("run", str(path), "--no-report"), env=sweep_env(KEY), cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(
                t.state == TrialState.RUNNING and "job_id" in t.user_attrs for t in load(tmp_path).get_trials()):
            time.sleep(0.1)
        second = run_sweep("run", str(path), "--no-report", env=sweep_env(KEY), cwd=tmp_path)
        assert second.returncode == 2
        learn = _clones(studio)["sweep:fake:1"]["learnBlocks"][0]["id"]
        assert f"--slots: slot 1 (learn block {learn}) is in use by another live worker" in second.stderr
        # the study has no other slot: nothing like "--slots 1,2" (refused as no slot 2), but what would help
        assert second.stderr.endswith("a slot runs one job at a time: its only slot is taken (target.slots = 1): "
                                      "wait for that worker to end, or raise target.slots for another worker (each "
                                      "slot is a clone of your impulse)\n"), second.stderr
        path.write_text(path.read_text().replace("slots = 1", "slots = 3"))
        third = run_sweep("run", str(path), "--no-report", env=sweep_env(KEY), cwd=tmp_path)
        assert third.returncode == 2 and third.stderr.endswith(
            "a slot runs one job at a time: give this worker a free one, --slots 2,3\n"), third.stderr
    finally:
        first.kill()
        first.communicate(timeout=10)


def test_the_impulse_limit_is_checked_before_anything_is_cloned(studio: FakeStudio, tmp_path: Path) -> None:
    studio.imp.max_impulses = 2
    path = _study(tmp_path, studio, slots=2, trials=2)
    proc = run_sweep("run", str(path), "--no-report", env=sweep_env(KEY), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert ("target.slots: the project has 1 of at most 2 impulses: no room for 2 more clone(s) (slots 1, 2); "
            "delete impulses in Studio, run `sweep cleanup` for old studies, or ask for fewer slots (nothing was "
            "created)") in proc.stderr
    assert _posts(studio, "/clone/structure") == [] and not (tmp_path / ".sweep").exists()


def test_a_clone_deleted_behind_the_studys_back_is_made_again(studio: FakeStudio, tmp_path: Path) -> None:
    path = _study(tmp_path, studio, slots=1, trials=1)
    assert run_sweep("run", str(path), "--no-report", env=sweep_env(KEY), cwd=tmp_path).returncode == 0
    old = _clones(studio)["sweep:fake:1"]["id"]
    studio.imp.delete(old)
    again = run_sweep("run", str(path), "--no-report", "--trials", "2", env=sweep_env(KEY), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert (f"slot 1: its clone, impulse {old} ('sweep:fake:1'), was deleted outside this study; making it again"
            in again.stderr)
    new = _clones(studio)["sweep:fake:1"]
    assert new["id"] != old and load(tmp_path).user_attrs["slots"]["clones"]["1"]["impulse_id"] == new["id"]


def test_apply_with_train_ends_with_the_best_model_on_the_users_block(studio: FakeStudio, tmp_path: Path) -> None:
    path = _study(tmp_path, studio, slots=1, trials=2)
    assert run_sweep("run", str(path), "--no-report", env=sweep_env(KEY), cwd=tmp_path).returncode == 0
    _source_untouched(studio)
    best = load(tmp_path).best_trial
    proc = run_sweep("best", str(path), "--apply", "--train", env=sweep_env(KEY), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"applied trial {best.number}'s configuration to learn block {SOURCE_LEARN}" in proc.stderr
    assert "trained it there: job" in proc.stderr
    assert studio.configs[SOURCE_LEARN] == best.user_attrs["request"]  # saved, then trained with that body
    source_jobs = [j for j in studio.jobs.values() if j.kind == "train" and j.learn_id == SOURCE_LEARN]
    assert len(source_jobs) == 1 and source_jobs[0].request == best.user_attrs["request"]
    assert _posts(studio, "/jobs/train/keras/")[-1].endswith(f"/{SOURCE_LEARN}")


def test_cleanup_deletes_exactly_the_studys_clones(studio: FakeStudio, tmp_path: Path) -> None:
    path = _study(tmp_path, studio, slots=2, trials=2)
    assert run_sweep("run", str(path), "--no-report", env=sweep_env(KEY), cwd=tmp_path).returncode == 0
    mine = studio.imp.clone(studio.imp.default_id, "my own experiment")  # the user's: not the study's
    other = studio.imp.clone(studio.imp.default_id, "sweep:another-study:1")
    ours = {c["id"]: name for name, c in _clones(studio).items() if name.startswith("sweep:fake:")}
    dry = run_sweep("cleanup", str(path), "--dry-run", env=sweep_env(KEY), cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert sorted(dry.stdout.splitlines()) == sorted(f"would delete impulse {i} {n!r}" for i, n in ours.items())
    assert set(ours) <= {i["id"] for i in studio.imp.listing()}
    done = run_sweep("cleanup", str(path), env=sweep_env(KEY), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    left = {i["id"] for i in studio.imp.listing()}
    assert left == {studio.imp.default_id, mine, other}
    deleted = [path for method, path, _ in studio.requests if method == "DELETE"]
    assert len(deleted) == 2
    assert load(tmp_path).user_attrs["slots"]["clones"] == {}


def test_a_non_keras_source_block_is_refused_clearly(studio: FakeStudio, tmp_path: Path) -> None:
    studio.imp.impulses[studio.imp.default_id]["learnBlocks"][0]["type"] = "anomaly"
    path = _study(tmp_path, studio, slots=1, trials=1)
    proc = run_sweep("run", str(path), "--no-report", env=sweep_env(KEY), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert ("impulse 1 ('Impulse #1') has no Keras learn block (sweep trains Keras blocks; anomaly blocks train "
            "on another route)") in proc.stderr
    assert _posts(studio, "/clone/structure") == []


def test_a_clone_without_features_fails_its_job_clearly(studio: FakeStudio) -> None:
    """At the server: a train job on a fresh clone is accepted, then fails naming the missing features."""
    headers = {"x-api-key": KEY}
    clone = httpx.post(f"{studio.base_url}/api/42/impulse/1/clone/structure", json={"name": "c"}, headers=headers)
    impulse = httpx.get(f"{studio.base_url}/api/42/impulse", params={"impulseId": clone.json()["id"]},
                        headers=headers).json()["impulse"]
    learn, dsp = impulse["learnBlocks"][0]["id"], impulse["dspBlocks"][0]["id"]
    job = httpx.post(f"{studio.base_url}/api/42/jobs/train/keras/{learn}", json={}, headers=headers).json()["id"]
    time.sleep(0.2)
    status = httpx.get(f"{studio.base_url}/api/42/jobs/{job}/status", headers=headers).json()["job"]
    assert status["finishedSuccessful"] is False
    log = httpx.get(f"{studio.base_url}/api/42/jobs/{job}/stdout", headers=headers).json()["stdout"]
    assert f"features of DSP block {dsp} are not generated" in log[0]["data"]


def test_two_workers_cloning_one_slot_at_once_keep_one_clone(tmp_path: Path) -> None:
    """The race made certain at the backend seam: another worker's clone appears between plan and make."""
    import threading

    from sweep.run.follow import Follower, Polling
    from sweep.run.progress import Progress
    from sweep.run.slots import Slots
    from sweep.study.load import load_study

    from fake_backend import FakeBackend

    backend = FakeBackend(learn_ids=(7,))
    spec = load_study(write_study(tmp_path, "http://unused", name="race", trials=1, slots=1, space=SPACE))
    study = optuna.create_study(storage=optuna.storages.InMemoryStorage(), direction="maximize")
    slots = Slots(spec, backend, Progress(quiet=True))
    plan = slots.plan([1], None)
    theirs = backend.clone_impulse(backend.impulse().id, "sweep:race:1")  # the other worker, a moment earlier
    made = slots.make(plan, study, Follower(backend, polling=Polling(0.0, 1.0, 0.0), stop=threading.Event()))
    assert [s.impulse_id for s in made] == [theirs]
    assert [i.name for i in backend.impulses().impulses].count("sweep:race:1") == 1
    assert len(backend.deleted) == 1 and backend.deleted[0] != theirs
    assert study.user_attrs["slots"]["clones"]["1"]["impulse_id"] == theirs


def test_the_baseline_is_the_source_configuration_trained_first_on_a_clone(studio: FakeStudio, tmp_path: Path
                                                                           ) -> None:
    """A new study first trains the source learn block's saved configuration, on a slot, once; it is kept in
    the side study ``<name>:baseline`` (no params: the sampler never sees it), and the source stays untouched."""
    studio.configs[SOURCE_LEARN].update({"trainingCycles": 17, "learningRate": 0.0042, "batchSize": 24})
    path = write_study(tmp_path, studio.base_url, trials=2, slots=1, space=SPACE, baseline=True)
    first = run_sweep("run", str(path), "--no-report", env=sweep_env(KEY), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    storage = open_storage(journal(tmp_path))
    (base,) = optuna.load_study(study_name="fake:baseline", storage=storage).get_trials()
    assert base.state == TrialState.COMPLETE and base.params == {} and base.distributions == {}
    body = base.user_attrs["request"]
    assert (body["trainingCycles"], body["learningRate"], body["batchSize"]) == (17, 0.0042, 24)
    job = studio.jobs[base.user_attrs["job_id"]]
    assert job.request == body and job.seed == str(base.user_attrs["seed"])
    trials = load(tmp_path).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2  # the study's own trials are its sweep
    assert min(t.user_attrs["job_id"] for t in trials) > base.user_attrs["job_id"]  # the baseline went first
    _source_untouched(studio)

    again = run_sweep("run", str(path), "--no-report", "--trials", "3", env=sweep_env(KEY), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert len(optuna.load_study(study_name="fake:baseline", storage=open_storage(journal(tmp_path))).trials) == 1
    assert len(_posts(studio, "/jobs/train/keras/")) == 4  # baseline once, three trials


def test_no_baseline_flag_and_older_studies_train_none(studio: FakeStudio, tmp_path: Path) -> None:
    path = write_study(tmp_path, studio.base_url, trials=1, slots=1, space=SPACE, baseline=True)
    proc = run_sweep("run", str(path), "--no-report", "--no-baseline", env=sweep_env(KEY), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    # the study now has a trial and no baseline: a later run does not add one (the source may have changed)
    again = run_sweep("run", str(path), "--no-report", "--trials", "2", env=sweep_env(KEY), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    names = {s.study_name for s in optuna.get_all_study_summaries(open_storage(journal(tmp_path)))}
    assert names == {"fake"} and len(_posts(studio, "/jobs/train/keras/")) == 2


def test_confirm_retrains_the_top_trials_and_the_baseline_with_other_seeds(studio: FakeStudio, tmp_path: Path
                                                                           ) -> None:
    path = write_study(tmp_path, studio.base_url, trials=4, slots=2, space=SPACE, baseline=True)
    assert run_sweep("run", str(path), "--no-report", env=sweep_env(KEY), cwd=tmp_path).returncode == 0
    study = load(tmp_path)
    best_two = sorted((t for t in study.get_trials() if t.state == TrialState.COMPLETE),
                      key=lambda t: (-t.values[0], t.number))[:2]
    posts_before = len(_posts(studio, "/jobs/train/keras/"))
    proc = run_sweep("confirm", str(path), "--top", "2", "--repeats", "2", "--no-report", env=sweep_env(KEY),
                     cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    storage = open_storage(journal(tmp_path))
    repeats = optuna.load_study(study_name="fake:confirm", storage=storage).get_trials()
    assert [t.state for t in repeats] == [TrialState.COMPLETE] * 6  # (2 trials + the baseline) x 2
    assert len(_posts(studio, "/jobs/train/keras/")) == posts_before + 6
    by_origin: dict[Any, list[Any]] = {}
    for t in repeats:
        by_origin.setdefault(t.user_attrs["of"], []).append(t)
        assert studio.jobs[t.user_attrs["job_id"]].seed == str(t.user_attrs["seed"])  # each trained with its seed
    assert set(by_origin) == {best_two[0].number, best_two[1].number, None}
    originals = {t.number: t for t in study.get_trials()}
    for of, group in by_origin.items():
        if of is not None:
            assert all(t.user_attrs["request"] == originals[of].user_attrs["request"] for t in group)
            seeds = {t.user_attrs["seed"] for t in group} | {originals[of].user_attrs["seed"]}
            assert len(seeds) == 3  # other seeds than the original's, and than each other's
        assert sorted(t.user_attrs["repeat"] for t in group) == [1, 2]
    assert "over 3 trainings" in proc.stderr and re.search(r"leader trial \d+ against trial \d+", proc.stderr)
    assert "validation set:" in proc.stderr or "int8.accuracy" in proc.stderr

    again = run_sweep("confirm", str(path), "--top", "2", "--repeats", "2", "--no-report", env=sweep_env(KEY),
                      cwd=tmp_path)
    assert again.returncode == 0 and len(_posts(studio, "/jobs/train/keras/")) == posts_before + 6  # all done
    best = run_sweep("best", str(path), env=sweep_env(KEY), cwd=tmp_path)
    assert "confirmed: trial" in best.stdout and "against the baseline" in best.stdout
    # `best` ends with the best against the baseline (after the trials' blocks), as the README says it does
    assert best.stdout.index("against the baseline") > best.stdout.rindex("  request:")
    readme = " ".join((Path(__file__).parent.parent / "README.md").read_text().split())
    assert "`sweep run`, `sweep status` and `sweep best` then end with the best against it" in readme
    status = run_sweep("status", str(path), env=sweep_env(KEY), cwd=tmp_path)
    lines = status.stdout.splitlines()
    assert max(len(line) for line in lines) <= 100, max(lines, key=len)  # the summary lines too, as promised
    assert any(line.startswith("confirmed: leader trial") for line in lines)
    # accuracy in %, as `best` and `confirm` show it: the table's header says so, the best line too
    assert "int8.accuracy (%)" in lines[0] and re.search(r"^best: trial \d+: int8.accuracy \d+(\.\d+)? %",
                                                          status.stdout, re.M)
    accuracy = lines[0].index("int8.accuracy (%)")
    shown = {line.split()[0]: line[accuracy:].split()[0] for line in lines[1:] if "COMPLETE" in line}
    assert all(float(v) > 1 for v in shown.values()), shown  # 93.93, never 0.9393
    (shown,) = json.loads(run_sweep("best", str(path), "--json", env=sweep_env(KEY), cwd=tmp_path).stdout)
    assert shown["request"] == study.best_trial.user_attrs["request"]
    assert run_sweep("report", str(path), env=sweep_env(KEY), cwd=tmp_path).returncode == 0
    page = (tmp_path / "reports" / "fake" / "report.md").read_text()
    summary = page.split("## Summary", 1)[1].lstrip()
    assert summary.startswith("Best against the baseline (your learn block's own configuration): trial ")
    assert "## Confirmed" in page and page.count("over 3 trainings") == 3 and "Welch t =" in page
    assert "Validation set: " in page and "one sample is 1 of" in page
