"""Several slots in one process against the fake Studio: counters stay exact, and a twin is never trained twice."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState
from pydantic import SecretStr

from sweep.run.follow import Polling
from sweep.run.progress import Progress
from sweep.run.runner import Runner, RunOptions
from sweep.run.tally import RunSummary
from sweep.session.storage import open_storage
from sweep.studio.client import StudioClient, make_http_client
from sweep.study.load import load_study

from fake_studio import FakeStudio, JobScript
from runner_support import write_study

BLOCKS = (7, 8, 9, 10)
TWO_CONFIGS = """
[space]
batch_size = { choices = [16, 32] }
learning_rate = 0.01
training_cycles = 5
"""


@pytest.fixture
def studio() -> Iterator[FakeStudio]:
    with FakeStudio(learn_block_ids=list(BLOCKS)) as fake:
        yield fake


@pytest.fixture
def fast_switching() -> Iterator[None]:
    """Switch threads as often as CPython allows, so an unlocked ``+=`` loses updates."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


class _LockedSummary(RunSummary):
    """A RunSummary that fails the test when a counter changes while the run's tally lock is free."""

    runner: Runner | None = None

    def __setattr__(self, name: str, value: Any) -> None:
        runner = type(self).runner
        if runner is not None and name in ("completed", "failed", "reused", "reattached", "pruned"):
            assert runner.tally._lock.locked(), f"RunSummary.{name} changed without the tally's lock"
        super().__setattr__(name, value)


def _runner(studio: FakeStudio, tmp_path: Path, *, trials: int, space: str, sampler: str = "random"
            ) -> tuple[Runner, optuna.Study, Any]:
    spec = load_study(write_study(tmp_path, studio.base_url, trials=trials, learn_blocks=BLOCKS, space=space,
                                  sampler=sampler))
    storage = open_storage(f"journal:{tmp_path / 'slots.journal'}")
    study = optuna.create_study(storage=storage, study_name="fake", direction="maximize",
                                sampler=optuna.samplers.RandomSampler(seed=3))
    http = make_http_client(studio.base_url, SecretStr(studio.api_key))
    options = RunOptions(target_trials=trials, polling=Polling(0.01, 1.5, 0.05), max_consecutive_failures=50)
    runner = Runner(spec, study, StudioClient(http, 42), list(BLOCKS), options, progress=Progress(quiet=True))
    return runner, study, http


def _train_posts(studio: FakeStudio) -> list[dict[str, Any]]:
    return [body or {} for method, path, body in studio.requests if method == "POST" and "/jobs/train/" in path]


def test_counters_are_exact_with_four_slots(studio: FakeStudio, tmp_path: Path, fast_switching: None) -> None:
    scripts = [JobScript(duration_s=0.02 * (i % 3), succeed=i % 4 != 3) for i in range(40)]
    studio.script(*scripts)
    space = "\n[space]\nlearning_rate = { low = 1e-4, high = 1e-1, log = true }\nbatch_size = { choices = [16, 32] }\n"
    runner, study, http = _runner(studio, tmp_path, trials=24, space=space)
    summary = _LockedSummary()
    _LockedSummary.runner = runner
    runner.tally.summary = summary
    try:
        with http:
            runner.run()
    finally:
        _LockedSummary.runner = None
    states = [t.state for t in study.get_trials()]
    assert states.count(TrialState.COMPLETE) == 24
    assert summary.completed + summary.reused == 24
    assert summary.failed == states.count(TrialState.FAIL) > 0
    assert summary.completed == len(_train_posts(studio)) - summary.failed


def test_a_twin_waits_for_the_running_trial_instead_of_training_again(studio: FakeStudio, tmp_path: Path) -> None:
    """Two configurations, four slots asking at once: exactly one job per configuration, the rest reuse."""
    studio.script(*[JobScript(duration_s=0.6) for _ in range(20)])
    runner, study, http = _runner(studio, tmp_path, trials=8, space=TWO_CONFIGS)
    with http:
        summary = runner.run()
    trials = study.get_trials()
    assert [t.state for t in trials].count(TrialState.COMPLETE) == 8
    posts = _train_posts(studio)
    sizes = sorted(int(p["batchSize"]) for p in posts)
    assert sizes == sorted({int(t.params["batch_size"]) for t in trials})  # each configuration trained once
    assert summary.completed == len(posts) and summary.reused == 8 - len(posts)
    for t in trials:
        if "duplicate_of" in t.user_attrs:
            source = trials[t.user_attrs["duplicate_of"]]
            assert source.params == t.params and source.values == t.values and "duplicate_of" not in source.user_attrs


def test_a_twin_of_a_failed_trial_trains_itself(studio: FakeStudio, tmp_path: Path) -> None:
    studio.script(JobScript(duration_s=0.6, succeed=False, log_lines=["ERROR: disk full"]),
                  *[JobScript(duration_s=0.1) for _ in range(20)])
    runner, study, http = _runner(studio, tmp_path, trials=4, space=TWO_CONFIGS)
    with http:
        runner.run()
    trials = study.get_trials()
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert len(failed) == 1 and failed[0].user_attrs["failure"].endswith("failed: ERROR: disk full")
    # the failed configuration was trained again by a twin (no result to reuse), once
    again = [t for t in trials if t.params == failed[0].params and t.state == TrialState.COMPLETE]
    assert again and all("duplicate_of" not in t.user_attrs for t in again[:1])
