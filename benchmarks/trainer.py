"""Benchmark: local studio train() beside a plain keras model.fit of the same model, epochs and data, one run.

Also runs real local studio jobs over loopback HTTP (EmbeddedStudio + httpx, POST -> finished), each
submitted right after the previous one finished, as a sweep does. Prints wall times, the studio's
training part (job wall minus conversion+evaluation) over the plain fit (target <= 1.3x), and the
TFLite conversion + evaluation time separately.
Usage: /work/venv/bin/python benchmarks/trainer.py [--epochs 30] [--repeat 2] [--jobs 3] [--conv]
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

from sweep.local import datasets
from sweep.local import trainer as local_trainer
from sweep.local.layers import build_model
from sweep.local.validate import plan_layers
from sweep.studio.models import SetKerasParameterRequest


def plain_fit(project: datasets.LocalProject, request: SetKerasParameterRequest, seed: int) -> float:
    """The same split, model, optimizer and validation as train(), with nothing else around it."""
    import keras
    from sklearn.model_selection import train_test_split

    x, y = datasets.load_arrays(project)
    x = x.reshape(len(x), math.prod(project.input_shape))
    x_tr, x_val, y_tr, y_val = train_test_split(x, y, test_size=request.train_test_split, stratify=y,
                                                random_state=seed)
    keras.utils.set_random_seed(seed)
    steps = plan_layers(request.visual_layers or [], project.input_shape, len(project.labels))
    model = build_model(steps, x.shape[1], seed)
    model.compile(optimizer=keras.optimizers.Adam(request.learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    t = time.perf_counter()
    model.fit(x_tr, y_tr, validation_data=(x_val, y_val), epochs=request.training_cycles,
              batch_size=request.batch_size, verbose=0)
    return time.perf_counter() - t


def local_train(project: datasets.LocalProject, request: SetKerasParameterRequest, seed: int, workdir: Path
                ) -> tuple[float, float, float]:
    """(total wall, fit part, conversion + evaluation part) of sweep.local.trainer.train()."""
    marks: dict[str, float] = {}

    def log(line: str) -> None:
        if line.startswith("Epoch 1/") and "fit" not in marks:
            marks["fit"] = time.perf_counter()
        elif line.startswith("Finished training"):
            marks["fit_end"] = time.perf_counter()

    t = time.perf_counter()
    local_trainer.train(request, project, workdir=workdir, log=log, cancelled=lambda: False, seed=seed)
    end = time.perf_counter()
    return end - t, marks["fit_end"] - marks["fit"], end - marks["fit_end"]


def _log_times(client: Any, job_id: int) -> dict[str, float]:
    """Seconds from the job log: startup gap, fit, conversion+evaluation, completion gap."""
    lines = client.get(f"/api/1/jobs/{job_id}/stdout", params={"limit": 1000}).raise_for_status().json()["stdout"]
    stamps = [(datetime.fromisoformat(i["created"]).timestamp(), i["data"].strip()) for i in reversed(lines)]

    def at(prefix: str, last: bool = False) -> float:
        found = [t for t, line in stamps if line.startswith(prefix)]
        return found[-1] if last else found[0]

    started, first = at("Job started"), stamps[[d for _, d in stamps].index("Job started") + 1][0]
    fit0, fit1 = at("Epoch 1/"), at("Finished training")
    post1, done = at("Converted and evaluated"), at("Job completed")
    return {"startup": first - started, "fit": fit1 - fit0, "post": post1 - fit1, "completion": done - post1}


def http_jobs(data: Path, body: dict[str, Any], jobs: int, timeout: float = 600.0) -> list[tuple[float, dict]]:
    """Real local studio jobs over loopback HTTP, each submitted the moment the previous one finished
    (as the sweep runner does): (submit -> finished wall time, log breakdown) per job."""
    import httpx

    from sweep.local.embedded import EmbeddedStudio

    out = []
    with EmbeddedStudio(data / "studio") as studio:
        headers = {"x-api-key": studio.api_key.get_secret_value()}
        with httpx.Client(base_url=studio.base_url, headers=headers, timeout=30) as client:
            for _ in range(jobs):
                t = time.perf_counter()
                job_id = client.post("/api/1/jobs/train/keras/3", json=body).raise_for_status().json()["id"]
                while True:
                    job = client.get(f"/api/1/jobs/{job_id}/status").raise_for_status().json()["job"]
                    if job.get("finished"):
                        break
                    if time.perf_counter() - t > timeout:
                        raise TimeoutError(f"job {job_id} did not finish in {timeout} s")
                    time.sleep(0.05)
                wall = time.perf_counter() - t
                if not job.get("finishedSuccessful"):
                    raise RuntimeError(f"job {job_id} failed: {job}")
                out.append((wall, _log_times(client, job_id)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--repeat", type=int, default=2, help="in-process train() beside plain fit, this many times")
    ap.add_argument("--jobs", type=int, default=3, help="back-to-back local studio HTTP jobs (0: none)")
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
    plains = []
    for i in range(args.repeat):
        plains.append(plain_fit(project, request, i))
        total, fit, post = local_train(project, request, i, data / f"job{i}")
        print(f"in-process run {i}: plain keras fit {plains[-1]:.2f} s | train() fit {fit:.2f} s "
              f"(ratio {fit / plains[-1]:.2f}x) | train() total {total:.2f} s | conversion+evaluation {post:.2f} s")
    jobs = http_jobs(data, request.wire(), args.jobs) if args.jobs else []  # the studio is stopped after
    plains.append(plain_fit(project, request, args.repeat))  # brackets the jobs: the machine's load drifts
    plain = statistics.median(plains)
    print(f"plain keras model.fit, same model/epochs/data: {plain:.2f} s (median of {len(plains)}: "
          f"{', '.join(f'{p:.2f}' for p in plains)})")
    for n, (wall, t) in enumerate(jobs):
        training = wall - t["post"]
        print(f"studio HTTP job {n + 1} (POST -> finished): {wall:.2f} s = startup gap {t['startup']:.2f} s + "
              f"fit {t['fit']:.2f} s + conversion+evaluation {t['post']:.2f} s + completion gap "
              f"{t['completion']:.2f} s | training part {training:.2f} s = {training / plain:.2f}x plain fit "
              f"(target <= 1.3x){'' if n else '  [first job: may include the worker import]'}")


if __name__ == "__main__":
    main()
