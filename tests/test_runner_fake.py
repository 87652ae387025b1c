"""The runner end to end over real HTTP against the scriptable fake Studio on 127.0.0.1."""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path

import pytest
from optuna.trial import TrialState

from sweep.session import records

from fake_studio import FakeStudio, JobScript
from runner_support import BASE_SPACE, load, run_sweep, sweep_env, write_study


@pytest.fixture
def studio():
    with FakeStudio(api_key="ei_secret_fake_key_0123456789") as fake:
        yield fake


def _posts(fake: FakeStudio) -> list[str]:
    return [path for method, path, _ in fake.requests if method == "POST" and "/jobs/train/" in path]


def test_full_sweep_records_params_job_ids_and_metrics(studio: FakeStudio, tmp_path: Path) -> None:
    path = write_study(tmp_path, studio.base_url, trials=5)
    proc = run_sweep("run", str(path), "--no-report", env=sweep_env(studio.api_key), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    study = load(tmp_path)
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 5
    job_ids = [t.user_attrs["job_id"] for t in trials]
    assert len(set(job_ids)) == 5 and set(job_ids) <= set(studio.jobs)
    assert len(_posts(studio)) == 5
    for t in trials:
        m = t.user_attrs["metrics"]
        assert t.values == [m["int8.accuracy"]]
        assert {"float32.accuracy", "int8.loss", "compute_time_s", "wall_time_s"} <= set(m)
        assert any(k.endswith(".latency_ms") for k in m)
        # the request the job got is the request recorded on the trial
        sent = studio.jobs[t.user_attrs["job_id"]].request
        assert sent == t.user_attrs["request"]
        assert sent["learningRate"] == pytest.approx(t.params["learning_rate"])
        assert records.confusion(t)["int8"] and records.class_names(t)
        assert {"curves", "confusion", "class_names"}.isdisjoint(t.user_attrs)  # one "model" attr holds them
    assert "best: trial" in proc.stderr
    # accuracy in %, as `best`, `confirm` and the report show it; never a fraction on one line and % on another
    assert re.search(r"^trial 0: complete int8\.accuracy \d\d(\.\d+)? % \(\d+\.\d s\) \[1/5\]$", proc.stderr, re.M)
    assert re.search(r"^best: trial \d: int8\.accuracy \d\d(\.\d+)? % \(job \d+\)$", proc.stderr, re.M)
    status = run_sweep("status", str(path), env=sweep_env(studio.api_key), cwd=tmp_path)
    assert status.returncode == 0 and "COMPLETE" in status.stdout and "*" in status.stdout
    assert max(len(line) for line in status.stdout.splitlines()) <= 100  # fits a terminal by default
    wide = run_sweep("status", str(path), "--wide", env=sweep_env(studio.api_key), cwd=tmp_path)
    header = next(line for line in wide.stdout.splitlines() if "state" in line)
    assert all(name in header for name in trials[0].params) and "--wide" not in wide.stdout
    hidden = [name for name in trials[0].params if name not in status.stdout.splitlines()[0]]
    assert hidden and "`sweep status --wide` shows all" in " ".join(status.stdout.split())
    best = run_sweep("best", str(path), "--json", env=sweep_env(studio.api_key), cwd=tmp_path)
    (shown,) = json.loads(best.stdout)
    assert shown["request"] == study.best_trial.user_attrs["request"] and shown["trial"] == study.best_trial.number
    assert shown["objectives"] == {"int8.accuracy": study.best_value}
    assert shown["seed"] == study.best_trial.user_attrs["seed"]
    text = run_sweep("best", str(path), env=sweep_env(studio.api_key), cwd=tmp_path).stdout
    assert text.startswith(f"trial {study.best_trial.number} (best): job {shown['job_id']}")
    lr = study.best_trial.user_attrs["request"]["learningRate"]
    assert "int8.accuracy" in text and f'"learningRate": {lr}' in text
    # running the same command again does nothing more: the study already holds 5 trials
    again = run_sweep("run", str(path), "--no-report", env=sweep_env(studio.api_key), cwd=tmp_path)
    assert again.returncode == 0 and len(_posts(studio)) == 5


def test_no_target_kind_with_a_key_runs_on_studio(studio: FakeStudio, tmp_path: Path) -> None:
    """kind left out + EI_API_KEY set = Studio; the project id may come from EI_PROJECT_ID."""
    path = write_study(tmp_path, studio.base_url, trials=2, kind=None, project_id=None)
    env = sweep_env(studio.api_key) | {"EI_PROJECT_ID": "42"}
    proc = run_sweep("run", str(path), "--no-report", env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "on Edge Impulse Studio project 42" in proc.stderr
    assert _posts(studio) == ["/v1/api/42/jobs/train/keras/7"] * 2
    assert load(tmp_path).user_attrs["target"] == "Edge Impulse Studio project 42"
    assert studio.api_key not in proc.stderr + proc.stdout


def test_failed_job_marks_trial_failed_and_sweep_goes_on(studio: FakeStudio, tmp_path: Path) -> None:
    studio.script(JobScript(), JobScript(succeed=False, duration_s=0.4, log_lines=["Epoch 1/5", "ERR: out of memory"]),
                  JobScript())
    path = write_study(tmp_path, studio.base_url, trials=3)
    proc = run_sweep("run", str(path), "--no-report", env=sweep_env(studio.api_key), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    trials = load(tmp_path).get_trials()
    states = [t.state for t in trials]
    assert states.count(TrialState.COMPLETE) == 3 and states.count(TrialState.FAIL) == 1
    failed = next(t for t in trials if t.state == TrialState.FAIL)
    assert "ERR: out of memory" in failed.user_attrs["failure"]
    assert failed.user_attrs["log_tail"][-1] == "ERR: out of memory"
    assert failed.user_attrs["compute_time_s"] == pytest.approx(0.4, abs=0.05)  # the budget counts it
    assert "FAILED" in proc.stderr


def test_consecutive_failures_stop_the_sweep(studio: FakeStudio, tmp_path: Path) -> None:
    studio.script(*[JobScript(succeed=False, log_lines=["boom"]) for _ in range(10)])
    path = write_study(tmp_path, studio.base_url, trials=8)
    proc = run_sweep("run", str(path), "--no-report", env=sweep_env(studio.api_key), cwd=tmp_path)
    assert proc.returncode == 1
    assert "3 consecutive trials failed" in proc.stderr
    assert [t.state for t in load(tmp_path).get_trials()] == [TrialState.FAIL] * 3


def test_stale_metadata_is_rejected(studio: FakeStudio, tmp_path: Path) -> None:
    studio.script(JobScript(), JobScript(stale_metadata=True))
    path = write_study(tmp_path, studio.base_url, trials=2)
    proc = run_sweep("run", str(path), "--no-report", env=sweep_env(studio.api_key), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    trials = load(tmp_path).get_trials()
    stale = [t for t in trials if t.state == TrialState.FAIL]
    assert len(stale) == 1 and "older than this job" in stale[0].user_attrs["failure"]


def test_delayed_profiling_is_awaited_for_device_objectives(studio: FakeStudio, tmp_path: Path) -> None:
    studio.script(JobScript(profiling_delay_s=1.0), JobScript(profiling_delay_s=0.5))
    path = write_study(tmp_path, studio.base_url, trials=2,
                       objectives=(("int8.accuracy", "maximize"), ("cortex-m4f-80mhz.latency_ms", "minimize")))
    proc = run_sweep("run", str(path), "--no-report", env=sweep_env(studio.api_key), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for t in load(tmp_path).get_trials():
        assert t.state == TrialState.COMPLETE
        assert t.values[1] == t.user_attrs["metrics"]["cortex-m4f-80mhz.latency_ms"] > 0


def test_multi_objective_with_constraint(studio: FakeStudio, tmp_path: Path) -> None:
    path = write_study(tmp_path, studio.base_url, trials=6,
                       objectives=(("int8.accuracy", "maximize"), ("default.ram_bytes", "minimize")),
                       constraints=("int8.accuracy_drop <= 0.5", "cortex-m4f-80mhz.latency_ms <= 1000000"))
    proc = run_sweep("run", str(path), "--no-report", env=sweep_env(studio.api_key), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    study = load(tmp_path)
    assert len(study.directions) == 2
    for t in study.get_trials():
        m = t.user_attrs["metrics"]
        assert t.constraints == pytest.approx({
            "int8.accuracy_drop <= 0.5": m["int8.accuracy_drop"] - 0.5,
            "cortex-m4f-80mhz.latency_ms <= 1000000": m["cortex-m4f-80mhz.latency_ms"] - 1e6,
        })
    assert study.best_trials
    best = run_sweep("best", str(path), "--json", env=sweep_env(studio.api_key), cwd=tmp_path)
    shown = json.loads(best.stdout)
    assert best.returncode == 0 and [t["trial"] for t in shown] == sorted(t.number for t in study.best_trials)
    text = run_sweep("best", str(path), env=sweep_env(studio.api_key), cwd=tmp_path).stdout
    headings = [int(line.split()[1]) for line in text.splitlines() if line.startswith("trial ")]
    assert headings == sorted(t.number for t in study.best_trials) and "(Pareto-optimal)" in text


def test_gp_sampler_drives_a_constrained_multi_objective_sweep(studio: FakeStudio, tmp_path: Path) -> None:
    """Optuna's GPSampler (needs torch, from the gp extra) past its random start-up trials."""
    path = write_study(tmp_path, studio.base_url, trials=8, sampler="gp", sampler_options="n_startup_trials = 3",
                       objectives=(("int8.accuracy", "maximize"), ("default.ram_bytes", "minimize")),
                       constraints=("int8.accuracy_drop <= 0.5",))
    proc = run_sweep("run", str(path), "--no-report", env=sweep_env(studio.api_key), cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    study = load(tmp_path)
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 8
    assert len({json.dumps(t.params, sort_keys=True) for t in trials}) == 8
    assert all(set(t.constraints or {}) == {"int8.accuracy_drop <= 0.5"} for t in trials)
    assert study.best_trials


def test_compute_budget_stops_new_jobs_before_the_budget_is_spent(studio: FakeStudio, tmp_path: Path) -> None:
    """Jobs of 0.5 s against a 1.6 s budget: a third job would pass it (1.5 s used + about 0.5 s)."""
    studio.default_script = JobScript(duration_s=0.5)
    path = write_study(tmp_path, studio.base_url, trials=6, extra_top="compute_budget = 1.6")
    proc = run_sweep("run", str(path), "--no-report", env=sweep_env(studio.api_key), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    trials = load(tmp_path).get_trials()
    used = [t.user_attrs["metrics"]["compute_time_s"] for t in trials]
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3 and len(_posts(studio)) == 3
    assert sum(used[:2]) + statistics.median(used[:2]) <= 1.6 < sum(used) + statistics.median(used)
    assert re.search(r"stopping: compute budget: 1\.[0-9] s of 1\.6 s used, and a job takes about 0\.[5-9] s",
                     proc.stderr), proc.stderr
    assert "done: 3 completed, 0 failed" in proc.stderr


def test_the_project_quota_stops_new_jobs_when_one_would_not_fit(studio: FakeStudio, tmp_path: Path) -> None:
    studio.default_script = JobScript(duration_s=0.3)
    studio.quota_left_ms = 200  # less than one job: the first job tells how long a job takes
    path = write_study(tmp_path, studio.base_url, trials=4)
    proc = run_sweep("run", str(path), "--no-report", env=sweep_env(studio.api_key), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert [t.state for t in load(tmp_path).get_trials()] == [TrialState.COMPLETE] and len(_posts(studio)) == 1
    assert re.search(r"stopping: compute quota: 0\.2 s left in this period, and a job takes about 0\.[3-9] s",
                     proc.stderr), proc.stderr


_PRUNER = """
[pruner]
name = "median"
curve = "val_accuracy"
check_every = 0.1
options = { n_startup_trials = 3, n_warmup_steps = 1 }
"""


@pytest.mark.parametrize("objectives", [
    pytest.param((("int8.accuracy", "maximize"),), id="single-objective-optuna-pruner"),
    pytest.param((("int8.accuracy", "maximize"), ("default.ram_bytes", "minimize")), id="multi-objective-median-rule"),
])
def test_a_lagging_curve_is_pruned_and_its_job_cancelled(
    studio: FakeStudio, tmp_path: Path, objectives: tuple[tuple[str, str], ...]
) -> None:
    """Three normal jobs, then one whose val_accuracy crawls (its log shows it epoch by epoch): stopped early."""
    studio.script(*[JobScript(duration_s=0.5)] * 3, JobScript(duration_s=20.0, metrics={"accuracy": 0.05}),
                  JobScript(duration_s=0.5, metrics={"accuracy": 0.99}))
    space = BASE_SPACE.replace("training_cycles = { low = 5, high = 30, step = 5 }", "training_cycles = 10")
    assert "training_cycles = 10" in space  # same epochs for all: their curves compare step by step
    path = write_study(tmp_path, studio.base_url, trials=5, objectives=objectives, space=space + _PRUNER)
    proc = run_sweep("run", str(path), "--no-report", env=sweep_env(studio.api_key), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    trials = load(tmp_path).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3 + [TrialState.PRUNED, TrialState.COMPLETE]
    pruned = trials[3]
    job = studio.jobs[pruned.user_attrs["job_id"]]
    assert job.cancelled is not None and job.cancelled - job.created < 10  # well before its 20 s
    info = pruned.user_attrs["pruned"]
    assert info["curve"] == "val_accuracy" and info["epoch"] >= 2 and info["value"] < 0.05
    assert f"trial 3: pruned at epoch {info['epoch']} (val_accuracy = " in proc.stderr
    # the next trial's job started only once the cancelled one had ended (one job per learn block)
    nxt = studio.jobs[trials[4].user_attrs["job_id"]]
    assert nxt.created >= job.finished_at()
    if len(objectives) == 1:  # Optuna's pruner decided from the epochs reported
        assert len(pruned.intermediate_values) == info["epoch"]
        for t in trials[:3]:  # completed trials carry every epoch (polls that missed some are filled in)
            assert len(t.intermediate_values) == t.user_attrs["request"]["trainingCycles"]
    assert "done: 4 completed, 0 failed, 1 pruned, 0 reused" in proc.stderr


def test_a_pruner_on_logs_without_epoch_lines_says_once_that_it_cannot_prune(studio: FakeStudio, tmp_path: Path
                                                                            ) -> None:
    quiet = JobScript(duration_s=0.4, log_lines=["Scheduling job in cluster...", "Training model...", "Job completed"])
    studio.script(quiet, quiet, quiet)
    path = write_study(tmp_path, studio.base_url, trials=3, space=BASE_SPACE + _PRUNER)
    proc = run_sweep("run", str(path), "--no-report", env=sweep_env(studio.api_key), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    warned = [line for line in proc.stderr.splitlines() if line.startswith("pruning:")]
    first = load(tmp_path).get_trials()[0].user_attrs["job_id"]
    assert warned == [f"pruning: trial 0's job {first} trained to the end, and its log shows no val_accuracy per epoch "
                      "(Keras lines `Epoch i/n` ... `val_accuracy: 0.9`): the median pruner cannot judge such a job, "
                      "nor stop it early (said once)"]
    # jobs whose logs have their epochs: not a word
    again = run_sweep("run", str(path), "--no-report", "--trials", "5", env=sweep_env(studio.api_key), cwd=tmp_path)
    assert again.returncode == 0 and "pruning:" not in again.stderr, again.stderr


def test_identical_configuration_is_not_trained_again(studio: FakeStudio, tmp_path: Path) -> None:
    space = """
[space]
learning_rate = 0.005
batch_size = { choices = [32] }
training_cycles = 10
[[space.layers]]
type = "dense"
neurons = { choices = [16, 32] }
"""
    path = write_study(tmp_path, studio.base_url, trials=6, space=space)
    proc = run_sweep("run", str(path), "--no-report", env=sweep_env(studio.api_key), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    trials = load(tmp_path).get_trials()
    trained = [t for t in trials if "duplicate_of" not in t.user_attrs]
    reused = [t for t in trials if "duplicate_of" in t.user_attrs]
    assert len(trained) == len(_posts(studio)) <= 2 and len(reused) >= 4
    for t in reused:
        twin = trials[t.user_attrs["duplicate_of"]]
        assert t.values == twin.values and t.params == twin.params


def test_wrong_key_stops_at_once_without_showing_it(studio: FakeStudio, tmp_path: Path) -> None:
    path = write_study(tmp_path, studio.base_url, trials=2)
    wrong = "ei_wrong_key_abcdef0123456789"
    proc = run_sweep("run", str(path), "--no-report", env=sweep_env(wrong), cwd=tmp_path)
    assert proc.returncode == 3
    assert "EI_API_KEY" in proc.stderr and wrong not in proc.stderr + proc.stdout
    assert not _posts(studio)


def test_missing_key_is_a_settings_error(studio: FakeStudio, tmp_path: Path) -> None:
    path = write_study(tmp_path, studio.base_url, trials=2)
    env = sweep_env("x")
    env.pop("EI_API_KEY")
    proc = run_sweep("run", str(path), env=env, cwd=tmp_path)
    assert proc.returncode == 2 and "EI_API_KEY" in proc.stderr


def test_unknown_learn_block_names_the_field(studio: FakeStudio, tmp_path: Path) -> None:
    path = write_study(tmp_path, studio.base_url, trials=2, learn_blocks=(999,))
    proc = run_sweep("run", str(path), "--no-report", env=sweep_env(studio.api_key), cwd=tmp_path)
    assert proc.returncode == 2
    assert f"{path}: target.learn_blocks: no learn block with this id" in proc.stderr and "999" in proc.stderr
    assert not _posts(studio)


def test_status_errors_are_retried(studio: FakeStudio, tmp_path: Path) -> None:
    studio.script(JobScript(duration_s=0.3, status_errors=[502, 503, 429]))
    path = write_study(tmp_path, studio.base_url, trials=1)
    proc = run_sweep("run", str(path), "--no-report", env=sweep_env(studio.api_key), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert load(tmp_path).get_trials()[0].state == TrialState.COMPLETE


def test_lost_post_answer_does_not_create_a_second_job(studio: FakeStudio, tmp_path: Path) -> None:
    studio.script(JobScript(drop_post_answer=True), JobScript())
    path = write_study(tmp_path, studio.base_url, trials=2)
    proc = run_sweep("run", str(path), "--no-report", env=sweep_env(studio.api_key), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    trials = load(tmp_path).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    assert len(studio.jobs) == 2
    assert sorted(t.user_attrs["job_id"] for t in trials) == sorted(studio.jobs)


def test_compute_time_is_one_figure_each_job_once_reused_trials_zero(studio: FakeStudio, tmp_path: Path) -> None:
    """One failed job, one trained, five reused: the report, `sweep status` and the budget say the same sum."""
    from sweep.report.frame import summary, trials_frame
    from sweep.session.compute import totals

    studio.script(JobScript(duration_s=0.3, succeed=False, log_lines=["ERROR: boom"]), JobScript(duration_s=0.5))
    space = "\n[space]\nbatch_size = { choices = [32] }\nlearning_rate = 0.01\ntraining_cycles = 5\n"
    path = write_study(tmp_path, studio.base_url, trials=6, space=space)
    env = sweep_env(studio.api_key, reports=str(tmp_path / "reports"))
    proc = run_sweep("run", str(path), env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    study = load(tmp_path)
    trials = study.get_trials()
    assert [t.state for t in trials].count(TrialState.FAIL) == 1
    assert sum("duplicate_of" in t.user_attrs for t in trials) == 5
    jobs = {j.id: j for j in studio.jobs.values()}
    assert len(jobs) == 2
    expected = sum(j.finished_at() - j.created for j in jobs.values())
    assert totals(study).total_s == pytest.approx(expected, abs=0.01)
    assert summary(study, trials_frame(study), []).compute_time_s == pytest.approx(expected, abs=0.01)
    report = (tmp_path / "reports" / "fake" / "report.md").read_text()
    assert f"job compute time {expected:.1f} s over 2 job(s): train {expected:.1f} s (every job" in report
    status = run_sweep("status", str(path), env=env, cwd=tmp_path)
    assert f"job compute {expected:.1f} s over 2 job(s): train {expected:.1f} s (reused trials cost none)" in " ".join(
        status.stdout.split())
    frame = trials_frame(study)
    assert (frame.loc[frame["duplicate_of"].notna(), "compute_time_s"] == 0).all()


def test_named_learn_blocks_are_trained_directly_with_a_warning(studio: FakeStudio, tmp_path: Path) -> None:
    path = write_study(tmp_path, studio.base_url, trials=1)
    proc = run_sweep("run", str(path), "--no-report", env=sweep_env(studio.api_key), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert ("training directly on learn blocks [7]: every trial replaces their model (target.slots trains on "
            "cloned impulses instead, and leaves yours untouched)") in proc.stderr
    assert _posts(studio) == ["/v1/api/42/jobs/train/keras/7"]
    assert not [p for m, p, _ in studio.requests if "/clone/" in p]


def test_each_trial_trains_with_its_recorded_seed_stable_across_reruns(studio: FakeStudio, tmp_path: Path) -> None:
    """Seeds are recorded on the trial and sent with its job (X-Sweep-Seed); without ``training_seed`` each
    trial has its own, derived from the study name and trial number, so a rerun of the study gets the same."""
    from sweep.study.seeds import trial_seed

    first, second = tmp_path / "a", tmp_path / "b"
    seeds = []
    for folder in (first, second):
        folder.mkdir()
        path = write_study(folder, studio.base_url, trials=3)
        proc = run_sweep("run", str(path), "--no-report", env=sweep_env(studio.api_key), cwd=folder)
        assert proc.returncode == 0, proc.stderr
        trials = load(folder).get_trials()
        for t in trials:
            assert studio.jobs[t.user_attrs["job_id"]].seed == str(t.user_attrs["seed"])
        seeds.append([t.user_attrs["seed"] for t in trials])
    assert seeds[0] == seeds[1] == [trial_seed("fake", n) for n in range(3)]
    assert len(set(seeds[0])) == 3

    fixed = tmp_path / "fixed"
    fixed.mkdir()
    path = write_study(fixed, studio.base_url, trials=2, extra_top="training_seed = 1234")
    assert run_sweep("run", str(path), "--no-report", env=sweep_env(studio.api_key), cwd=fixed).returncode == 0
    assert [t.user_attrs["seed"] for t in load(fixed).get_trials()] == [1234, 1234]


NARROW_SPACE = """
[space]
learning_rate = { low = 1e-3, high = 1e-1, log = true }
batch_size = { choices = [16, 32, 64] }
training_cycles = 10
"""


def test_warm_start_queues_an_earlier_studys_best_that_fit_this_space(studio: FakeStudio, tmp_path: Path) -> None:
    first = write_study(tmp_path, studio.base_url, name="first", trials=5)
    assert run_sweep("run", str(first), "--no-report", env=sweep_env(studio.api_key), cwd=tmp_path).returncode == 0
    earlier = load(tmp_path, "first")
    top = sorted((t for t in earlier.get_trials() if t.state == TrialState.COMPLETE),
                 key=lambda t: (-t.values[0], t.number))[:3]
    second = write_study(tmp_path, studio.base_url, name="second", trials=4, space=NARROW_SPACE,
                         extra_top="")
    second.write_text(second.read_text() + '\n[warm_start]\nstudies = ["first.toml"]\ntop = 3\n')
    proc = run_sweep("run", str(second), "--no-report", env=sweep_env(studio.api_key), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    trials = load(tmp_path, "second").get_trials()
    fits = [t for t in top if t.params["learning_rate"] >= 1e-3]
    warm = [t for t in trials if "warm_start" in t.user_attrs]
    assert [t.user_attrs["warm_start"] for t in warm] == [f"first trial {t.number}" for t in fits]
    for new, old in zip(warm, fits, strict=True):  # the params this space tunes too, exactly; the rest left out
        assert new.params == {k: old.params[k] for k in ("learning_rate", "batch_size")}
        assert new.number < min(t.number for t in trials if "warm_start" not in t.user_attrs)
    assert "not tuned here, left out: layers.0.neurons" in proc.stderr
    for t in top:
        if t not in fits:
            assert f"first trial {t.number} skipped: learning_rate" in proc.stderr


def test_a_warm_start_from_a_study_that_never_ran_is_refused_writing_nothing(studio: FakeStudio, tmp_path: Path
                                                                           ) -> None:
    path = write_study(tmp_path, studio.base_url, name="second", trials=2)
    path.write_text(path.read_text() + '\n[warm_start]\nstudies = ["nowhere"]\n')
    proc = run_sweep("run", str(path), env=sweep_env(studio.api_key), cwd=tmp_path)
    assert proc.returncode == 2
    assert "warm_start.studies[0]" in proc.stderr and "'nowhere'" in proc.stderr and str(path) in proc.stderr
    assert not (tmp_path / ".sweep").exists() and not (tmp_path / "reports").exists() and not _posts(studio)


def test_enqueue_says_how_many_it_queued_and_which_were_already_there(studio: FakeStudio, tmp_path: Path) -> None:
    path = write_study(tmp_path, studio.base_url, trials=2, space=NARROW_SPACE)
    given = tmp_path / "mine.toml"
    given.write_text("[[trial]]\nlearning_rate = 0.004\n\n[[trial]]\nlearning_rate = 0.02\n\n"
                     "[[trial]]\nlearning_rate = 0.004\n")
    proc = run_sweep("run", str(path), "--enqueue", str(given), "--no-report", env=sweep_env(studio.api_key),
                     cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (f"enqueued 2 of 3 configuration(s) from {given}; they run first; not queued again: trial[2] is the "
            f"same as {given}[0] (trial 0, queued)") in proc.stderr
    assert [t.params["learning_rate"] for t in load(tmp_path).get_trials()] == [0.004, 0.02]
    # the same command again (a resumed run given the same file): nothing queued twice, and it says so
    again = run_sweep("run", str(path), "--enqueue", str(given), "--trials", "3", "--no-report",
                      env=sweep_env(studio.api_key), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert (f"enqueued 0 of 3 configuration(s) from {given}; not queued again: trial[0] is the same as {given}[0] "
            f"(trial 0, COMPLETE); trial[1] is the same as {given}[1] (trial 1, COMPLETE); trial[2] is the same as "
            f"{given}[0] (trial 0, COMPLETE)") in again.stderr
    assert "enqueued" not in load(tmp_path).get_trials()[2].user_attrs


def test_enqueue_file_runs_hand_written_configurations_first_and_checks_them(studio: FakeStudio, tmp_path: Path
                                                                            ) -> None:
    path = write_study(tmp_path, studio.base_url, trials=3, space=NARROW_SPACE)
    given = tmp_path / "mine.toml"
    given.write_text("[[trial]]\nlearning_rate = 0.004\nbatch_size = 32\n\n[[trial]]\nlearning_rate = 0.02\n")
    proc = run_sweep("run", str(path), "--enqueue", str(given), "--no-report", env=sweep_env(studio.api_key),
                     cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    first, second, third = load(tmp_path).get_trials()
    assert first.params == {"learning_rate": 0.004, "batch_size": 32} and first.user_attrs["enqueued"].endswith("[0]")
    assert second.params["learning_rate"] == 0.02 and second.params["batch_size"] in (16, 32, 64)  # the rest sampled
    assert "enqueued" not in third.user_attrs

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"learning_rate": 0.5}]))
    refused = run_sweep("run", str(path), "--enqueue", str(bad), "--trials", "4", env=sweep_env(studio.api_key),
                        cwd=tmp_path)
    assert refused.returncode == 2 and "trial[0].learning_rate" in refused.stderr and "0.5" in refused.stderr
    assert str(bad) in refused.stderr and len(load(tmp_path).get_trials()) == 3
