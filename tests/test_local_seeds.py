"""Seeds of local studio train jobs over real HTTP: X-Sweep-Seed, one validation split per project, repeatability."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import httpx
import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from sweep.local import datasets
from sweep.local.embedded import EmbeddedStudio
from sweep.studio.models import GetJobResponse, KerasModelMetadataResponse, LogStdoutResponse, StartJobResponse

from local_fixtures import TINY_TRAIN, local_http, local_studio, wait_for  # noqa: F401

pytestmark = pytest.mark.slow
BODY = {**TINY_TRAIN, "visualLayers": [{"type": "dense", "neurons": 16}, {"type": "dropout", "dropoutRate": 0.2}]}
VALIDATION = re.compile(r"^Validation split: (\d+) samples, split seed (\d+), indices sha256 ([0-9a-f]{16})$")


def _train(http: httpx.Client, learn_id: int, seed: str | None, body: dict[str, Any] | None = None) -> int:
    headers = {} if seed is None else {"X-Sweep-Seed": seed}
    answer = http.post(f"/api/1/jobs/train/keras/{learn_id}", json=body or BODY, headers=headers)
    assert answer.status_code == 200, answer.text
    return StartJobResponse.model_validate(answer.json()).id


def _finished(http: httpx.Client, job_id: int) -> Any:
    def done() -> Any:
        job = GetJobResponse.model_validate(http.get(f"/api/1/jobs/{job_id}/status").json()).job
        return job if job.finished is not None else None
    job = wait_for(done, 120, f"job {job_id}")
    assert job.finished_successful, _log(http, job_id)
    return job


def _log(http: httpx.Client, job_id: int) -> list[str]:
    answer = http.get(f"/api/1/jobs/{job_id}/stdout", params={"limit": 1000})
    return [item.data.rstrip("\n") for item in LogStdoutResponse.model_validate(answer.json()).stdout][::-1]


def _metrics(http: httpx.Client, learn_id: int) -> list[tuple[str, float, float, list[list[float]]]]:
    """(model type, accuracy, loss, confusion matrix) of the learn block's model, float32 then int8."""
    answer = http.get(f"/api/1/training/keras/{learn_id}/metadata")
    md = KerasModelMetadataResponse.model_validate(answer.json())
    return [(m.type.value, m.accuracy, m.loss, m.confusion_matrix) for m in md.model_validation_metrics]


def _validation(lines: list[str]) -> tuple[int, int, str]:
    found = [m for line in lines if (m := VALIDATION.match(line))]
    assert len(found) == 1, lines
    return int(found[0].group(1)), int(found[0].group(2)), found[0].group(3)


def _expected_digest(studio: EmbeddedStudio, split: float, split_seed: int) -> tuple[int, str]:
    """The validation indices a stratified split of the digits labels gives, hashed as the trainer says it."""
    _, y = datasets.load_arrays(datasets.get_project(studio.data_dir, datasets.DIGITS_ID))
    _, val = train_test_split(np.arange(len(y)), test_size=split, stratify=y, random_state=split_seed)
    return len(val), hashlib.sha256(np.sort(val).astype("<i8").tobytes()).hexdigest()[:16]


def test_the_same_seed_gives_the_same_metrics_and_another_seed_the_same_validation_samples(
        local_studio: EmbeddedStudio, local_http: httpx.Client) -> None:
    a, b = _train(local_http, 3, "7"), _train(local_http, 4, "7")  # two workers at once (concurrency 2)
    jobs = {a: _finished(local_http, a), b: _finished(local_http, b)}
    same = _metrics(local_http, 3)
    assert same == _metrics(local_http, 4)  # float32 and int8: accuracy, loss and confusion, exactly
    c = _train(local_http, 3, "8")
    jobs[c] = _finished(local_http, c)
    other = _metrics(local_http, 3)
    d = _train(local_http, 3, None)  # no header: the job id seeds it, as before
    jobs[d] = _finished(local_http, d)

    logs = {job: _log(local_http, job) for job in jobs}
    for job, seed in ((a, 7), (b, 7), (c, 8), (d, d)):
        assert f"Training seed {seed}" in logs[job]
        assert jobs[job].metadata["seed"] == seed
        stored = json.loads((local_studio.data_dir / "jobs" / str(job) / "job.json").read_text())
        assert stored["seed"] == seed
    # another training seed trains another model ...
    assert [m[2] for m in other] != [m[2] for m in same]
    # ... scored on exactly the same validation samples: the project's split, not the job's
    count, split_seed, digest = _validation(logs[a])
    assert {_validation(logs[job]) for job in jobs} == {(count, split_seed, digest)}
    assert split_seed == datasets.DEFAULT_SPLIT_SEED and (count, digest) == _expected_digest(local_studio, 0.2, 0)
    assert _expected_digest(local_studio, 0.2, 1)[1] != digest  # the digest does tell splits apart
    supports = [sum(row) for row in same[0][3]]
    assert [sum(row) for row in other[0][3]] == supports and sum(supports) == count


def test_another_train_test_split_is_another_fixed_validation_set(local_studio: EmbeddedStudio,
                                                                  local_http: httpx.Client) -> None:
    body = {**BODY, "trainTestSplit": 0.3}
    jobs = [_train(local_http, 3, "1", body), _train(local_http, 4, "2", body)]
    for job in jobs:
        _finished(local_http, job)
    count, _, digest = _validation(_log(local_http, jobs[0]))
    assert _validation(_log(local_http, jobs[1])) == (count, 0, digest)
    assert (count, digest) == _expected_digest(local_studio, 0.3, 0)


@pytest.mark.parametrize("value", ["-1", "abc", "1.5", "", "+3", "1e3", "4294967296"])
def test_a_bad_seed_header_is_refused(local_http: httpx.Client, value: str) -> None:
    before = local_http.get("/api/1/jobs/all", params={"limit": 1}).json()["totalJobCount"]
    answer = local_http.post("/api/1/jobs/train/keras/3", json=BODY, headers={"X-Sweep-Seed": value})
    assert answer.status_code == 400, answer.text
    assert answer.json() == {"success": False, "error": f"header X-Sweep-Seed must be an integer from 0 to "
                                                        f"4294967295 (got {value!r})"}
    assert local_http.get("/api/1/jobs/all", params={"limit": 1}).json()["totalJobCount"] == before


def test_a_repeated_seed_header_is_refused(local_http: httpx.Client) -> None:
    answer = local_http.post("/api/1/jobs/train/keras/3", json=BODY,
                             headers=[("X-Sweep-Seed", "1"), ("X-Sweep-Seed", "2")])
    assert answer.status_code == 400, answer.text
    assert "header X-Sweep-Seed given 2 times" in answer.json()["error"]


def test_the_largest_seed_trains(local_http: httpx.Client) -> None:
    job = _train(local_http, 3, "4294967295", {**BODY, "trainingCycles": 1})
    assert _finished(local_http, job).metadata["seed"] == 4294967295
