"""A fresh worker's warm-up (sweep/local/warmup.py): its stages, where it stops, and that it changes no job."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from sweep.local import datasets, trainer, warmup
from sweep.studio.models import SetKerasParameterRequest

pytestmark = pytest.mark.slow


def test_the_warm_up_runs_its_stages_in_order_and_stops_before_the_next_when_a_job_waits() -> None:
    full = warmup.warm_up(lambda: False)
    assert full.done == list(warmup.STAGES) == ["fit", "convert"] and full.complete
    assert re.fullmatch(r"warmed up in \d+\.\d s", full.describe()), full.describe()

    calls: list[int] = []

    def after_the_first_stage() -> bool:
        calls.append(1)
        return len(calls) > 1

    part = warmup.warm_up(after_the_first_stage)
    assert part.done == ["fit"] and not part.complete and len(calls) == 2
    assert re.fullmatch(r"warm-up stopped before its convert stage after \d+\.\d s: a job was waiting",
                        part.describe()), part.describe()
    assert warmup.warm_up(lambda: True).done == []


def test_a_job_trains_the_same_model_after_a_warm_up_as_before_it(tmp_path: Path) -> None:
    datasets.ensure_default_projects(tmp_path / "data")
    project = datasets.get_project(tmp_path / "data", datasets.DIGITS_ID)
    request = SetKerasParameterRequest.model_validate(
        {"trainingCycles": 3, "learningRate": 0.01, "batchSize": 32,
         "visualLayers": [{"type": "dense", "neurons": 16}, {"type": "dropout", "dropoutRate": 0.2}]})

    def job(name: str) -> tuple[list[tuple[float, float, list[list[float]]]], bytes]:
        meta = trainer.train(request, project, workdir=tmp_path / name, log=lambda _line: None,
                             cancelled=lambda: False, seed=5)
        metrics = [(m.accuracy, m.loss, m.confusion_matrix) for m in meta.model_validation_metrics]
        return metrics, (tmp_path / name / "model_int8.tflite").read_bytes()

    before = job("before")
    assert warmup.warm_up(lambda: False).complete
    assert job("after") == before  # float32 and int8 metrics and the int8 model itself, exactly


_START = """
import multiprocessing
from sweep.local import worker

parent, child = multiprocessing.Pipe()
parent.send({"a": "job"})  # handed over before the import ends: no warm-up
error, how = worker._start(child)
print(repr(error), parent.recv() + how())
child.recv()
error, how = worker._start(child)  # nothing waiting: the whole warm-up
print(repr(error), parent.recv() + how())
"""


def test_a_fresh_worker_warms_up_only_while_no_job_waits_and_its_first_job_says_so() -> None:
    done = subprocess.run([sys.executable, "-c", _START], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    waited, idle = done.stdout.splitlines()[-2:]
    assert re.fullmatch(r"None ready \(trainer imported in \d+\.\d s; the job was waiting for it\)", waited), waited
    assert re.fullmatch(r"None ready \(trainer imported in \d+\.\d s, warmed up in \d+\.\d s, then idle \d+\.\d s\)",
                        idle), idle


def test_a_failing_warm_up_leaves_the_worker_able_to_take_its_first_job(monkeypatch: pytest.MonkeyPatch) -> None:
    import multiprocessing

    from sweep.local import worker

    def broken(job_waiting: object) -> warmup.WarmUp:
        raise RuntimeError("no room for the tiny model")

    monkeypatch.setattr(warmup, "warm_up", broken)
    parent, child = multiprocessing.Pipe()
    try:
        said, complete = worker._warm_up(child)
    finally:
        parent.close()
        child.close()
    assert (said, complete) == ("warm-up failed (RuntimeError: no room for the tiny model)", False)
