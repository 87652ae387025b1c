"""Benchmark: the local studio's training beside a default keras model.fit of the same model, epochs and data, one run.

In process: sweep.local.trainer.train() beside a plain fit (same split, seed, model and optimizer; Keras'
defaults: one step per execution, Keras' own validation), alternating. Then real local studio jobs over
loopback HTTP (EmbeddedStudio + httpx): the server starts, a 1-slot sweep's set-up runs (clone the impulse,
generate its features: the worker imports Keras meanwhile), then the same request with the same X-Sweep-Seed
is trained --jobs times, each job submitted the moment the previous one finished, as a sweep does. Prints each
job's training part (wall minus conversion+evaluation) over the plain fits right before and after the jobs
(target <= 0.6x) and both sides' validation accuracy (equal: same seed). The first job of a cold run beside the
second is measured on the real command by benchmarks/first_job.py (this set-up is shorter than a sweep's).
Usage: .venv/bin/python benchmarks/trainer.py [--epochs 30] [--repeat 2] [--jobs 3] [--conv]
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from sweep.local import datasets
from sweep.local import trainer as local_trainer
from sweep.local.layers import build_model
from sweep.local.validate import plan_layers
from sweep.studio.models import SetKerasParameterRequest

SEED = 1


def plain_fit(project: datasets.LocalProject, request: SetKerasParameterRequest, seed: int) -> tuple[float, float]:
    """(seconds, last val_accuracy) of a default model.fit: train()'s split, seed, model and optimizer."""
    import keras
    from sklearn.model_selection import train_test_split

    x, y = datasets.load_arrays(project)
    x = x.reshape(len(x), math.prod(project.input_shape))
    tr, val = train_test_split(np.arange(len(y)), test_size=request.train_test_split, stratify=y,
                               random_state=project.split_seed)
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    steps = plan_layers(request.visual_layers or [], project.input_shape, len(project.labels))
    model = build_model(steps, x.shape[1], seed)
    model.compile(optimizer=keras.optimizers.Adam(request.learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    t = time.perf_counter()
    hist = model.fit(x[tr], y[tr], validation_data=(x[val], y[val]), epochs=request.training_cycles,
                     batch_size=request.batch_size, verbose=0)
    return time.perf_counter() - t, float(hist.history["val_accuracy"][-1])


def _last_val_accuracy(lines: list[str]) -> float:
    return float([ln for ln in lines if "val_accuracy: " in ln][-1].rsplit("val_accuracy: ", 1)[1])


def local_train(project: datasets.LocalProject, request: SetKerasParameterRequest, seed: int, workdir: Path
                ) -> tuple[float, float, float, float]:
    """(total wall, fit part, conversion + evaluation part, last val_accuracy) of sweep.local.trainer.train()."""
    import keras

    marks: dict[str, float] = {}
    lines: list[str] = []

    def log(line: str) -> None:
        lines.append(line)
        if line.startswith("Epoch 1/") and "fit" not in marks:
            marks["fit"] = time.perf_counter()
        elif line.startswith("Finished training"):
            marks["fit_end"] = time.perf_counter()

    keras.backend.clear_session()
    t = time.perf_counter()
    local_trainer.train(request, project, workdir=workdir, log=log, cancelled=lambda: False, seed=seed)
    end = time.perf_counter()
    return end - t, marks["fit_end"] - marks["fit"], end - marks["fit_end"], _last_val_accuracy(lines)


def _log(client: httpx.Client, job_id: int) -> list[tuple[float, str]]:
    lines = client.get(f"/api/1/jobs/{job_id}/stdout", params={"limit": 1000}).raise_for_status().json()["stdout"]
    return [(datetime.fromisoformat(i["created"]).timestamp(), i["data"].strip()) for i in reversed(lines)]


def _log_times(stamps: list[tuple[float, str]]) -> dict[str, float]:
    """Seconds from the job log: startup gap, fit, conversion+evaluation, completion gap."""
    def at(prefix: str) -> float:
        return next(t for t, line in stamps if line.startswith(prefix))

    started = at("Job started")
    first = stamps[[d for _, d in stamps].index("Job started") + 1][0]
    fit0, fit1 = at("Epoch 1/"), at("Finished training")
    post1, done = at("Converted and evaluated"), at("Job completed")
    return {"startup": first - started, "fit": fit1 - fit0, "post": post1 - fit1, "completion": done - post1}


def _wait(client: httpx.Client, job_id: int, t0: float, timeout: float = 600.0) -> dict[str, Any]:
    while True:
        job: dict[str, Any] = client.get(f"/api/1/jobs/{job_id}/status").raise_for_status().json()["job"]
        if job.get("finished"):
            if not job.get("finishedSuccessful"):
                raise RuntimeError(f"job {job_id} failed: {job}")
            return job
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError(f"job {job_id} did not finish in {timeout} s")
        time.sleep(0.05)


def _seconds(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def _set_up(client: httpx.Client) -> int:
    """What a 1-slot `sweep run` does before its first trial: clone the impulse, generate the clone's features.
    The clone's learn block id."""
    clone = client.post("/api/1/impulse/1/clone/structure", json={"name": "bench:1"}).raise_for_status().json()["id"]
    impulse = client.get("/api/1/impulse", params={"impulseId": clone}).raise_for_status().json()["impulse"]
    t = time.perf_counter()
    job = client.post("/api/1/jobs/generate-features", json={"dspId": impulse["dspBlocks"][0]["id"]})
    _wait(client, job.raise_for_status().json()["id"], t)
    return int(impulse["learnBlocks"][0]["id"])


def http_jobs(data: Path, project: datasets.LocalProject, request: SetKerasParameterRequest, jobs: int
              ) -> tuple[float, list[dict[str, Any]], float]:
    """(set-up seconds, per job {wall, times, val, worker}, a plain fit right after the jobs)."""
    from sweep.local.embedded import EmbeddedStudio

    out = []
    t = time.perf_counter()
    with EmbeddedStudio(data / "studio") as studio:
        headers = {"x-api-key": studio.api_key.get_secret_value()}
        with httpx.Client(base_url=studio.base_url, headers=headers, timeout=30) as client:
            learn_id = _set_up(client)
            setup = time.perf_counter() - t
            for _ in range(jobs):
                t0 = time.perf_counter()
                job_id = client.post(f"/api/1/jobs/train/keras/{learn_id}", json=request.wire(),
                                     headers={"X-Sweep-Seed": str(SEED)}).raise_for_status().json()["id"]
                status = _wait(client, job_id, t0)
                wall = time.perf_counter() - t0
                stamps = _log(client, job_id)
                worker = next(line for _, line in stamps if line.startswith("Worker pid"))
                out.append({"wall": wall, "times": _log_times(stamps), "worker": worker, "queued": _seconds(
                            status["created"], status["started"]), "compute": float(status["computeTime"]),
                            "val": _last_val_accuracy([line for _, line in stamps])})
    return setup, out, plain_fit(project, request, SEED)[0]


def _report_jobs(setup: float, jobs: list[dict[str, Any]], around: tuple[float, float], val: float) -> None:
    plain = sum(around) / 2  # the plain fits right before the studio started and right after the jobs
    print(f"studio started and a 1-slot sweep's set-up done (clone + features) in {setup:.2f} s; plain fits "
          f"around the jobs {around[0]:.2f} and {around[1]:.2f} s")
    for n, job in enumerate(jobs):
        t, wall = job["times"], job["wall"]
        training = wall - t["post"]
        print(f"studio HTTP job {n + 1} (POST -> finished): {wall:.2f} s = startup gap {t['startup']:.2f} s + "
              f"fit {t['fit']:.2f} s + conversion+evaluation {t['post']:.2f} s + completion gap "
              f"{t['completion']:.2f} s | training part {training:.2f} s = {training / plain:.2f}x plain fit "
              f"(target <= 0.6x) | val_accuracy {job['val']:.4f}")
    print(f"  job 1's worker: {jobs[0]['worker']}")
    if len(jobs) > 1:
        first, second = jobs[0]["wall"], jobs[1]["wall"]
        print(f"first job / second job (wall, POST -> finished): {first:.2f} / {second:.2f} s = {first / second:.2f}x "
              "(after this shorter set-up than a sweep's; the target is checked by benchmarks/first_job.py)")
        print(f"  queued (created -> started: waiting for a worker's Keras import) {jobs[0]['queued']:.2f} / "
              f"{jobs[1]['queued']:.2f} s; running (the job's computeTime) {jobs[0]['compute']:.2f} / "
              f"{jobs[1]['compute']:.2f} s = {jobs[0]['compute'] / jobs[1]['compute']:.2f}x")
    vals = [round(job["val"], 4) for job in jobs]
    same = all(v == round(val, 4) for v in vals)
    print(f"val_accuracy: plain fit {val:.4f}, studio jobs {', '.join(f'{v:.4f}' for v in vals)} "
          f"({'equal' if same else 'DIFFERENT'})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--repeat", type=int, default=2, help="in-process train() beside plain fit, this many times")
    ap.add_argument("--jobs", type=int, default=3, help="local studio HTTP jobs of one request and seed (0: none)")
    ap.add_argument("--conv", action="store_true", help="a conv2d model (as in the digits demo) instead of dense")
    args = ap.parse_args()
    data = Path(tempfile.mkdtemp(prefix="sweep-bench-"))
    datasets.ensure_default_projects(data)
    project = datasets.get_project(data, datasets.DIGITS_ID)
    layers = ([{"type": "conv2d", "neurons": 16, "kernelSize": 3}, {"type": "flatten"}] if args.conv else []) + \
        [{"type": "dense", "neurons": 32}]
    request = SetKerasParameterRequest.model_validate(
        {"visualLayers": layers, "trainingCycles": args.epochs, "learningRate": 0.005, "batchSize": 32,
         "trainTestSplit": 0.2})
    plain_fit(project, request, 0)  # warm-up: TF graph tracing and thread pools for both sides
    ratios = []
    for i in range(args.repeat):
        plain, plain_val = plain_fit(project, request, SEED)
        total, fit, post, val = local_train(project, request, SEED, data / f"job{i}")
        ratios.append(fit / plain)
        print(f"in-process run {i}: plain keras fit {plain:.2f} s (val_accuracy {plain_val:.4f}) | train() fit "
              f"{fit:.2f} s (ratio {fit / plain:.2f}x, val_accuracy {val:.4f}) | train() total {total:.2f} s | "
              f"conversion+evaluation {post:.2f} s")
    if ratios:
        print(f"in-process train() fit / plain fit: median {statistics.median(ratios):.2f}x")
    if args.jobs:
        before, plain_val = plain_fit(project, request, SEED)
        setup, jobs, after = http_jobs(data, project, request, args.jobs)
        _report_jobs(setup, jobs, (before, after), plain_val)


if __name__ == "__main__":
    main()
