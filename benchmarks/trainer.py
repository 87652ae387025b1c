"""Benchmark: local studio train() beside a plain keras model.fit of the same model, epochs and data, one run.

Prints wall times, their ratio (target <= 1.3x) and the TFLite conversion + evaluation time separately.
Usage: /work/venv/bin/python benchmarks/trainer.py [--epochs 30] [--repeat 2]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

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


WARM_WAIT_S = 20.0


def http_job(data: Path, body: dict, timeout: float = 300.0) -> tuple[float, float]:
    """Wall time of the same training as a real local studio job over loopback HTTP (submit -> finished)."""
    import httpx

    from sweep.local.embedded import EmbeddedStudio

    with EmbeddedStudio(data / "studio") as studio:
        headers = {"x-api-key": studio.api_key.get_secret_value()}
        with httpx.Client(base_url=studio.base_url, headers=headers, timeout=30) as client:
            times = []
            for i in range(2):  # the first job may pay the worker's TensorFlow import; the second waits for
                if i:  # the server's spare worker to finish importing, to time a warm job
                    time.sleep(WARM_WAIT_S)
                t = time.perf_counter()
                job_id = client.post("/api/1/jobs/train/keras/3", json=body).raise_for_status().json()["id"]
                while True:
                    job = client.get(f"/api/1/jobs/{job_id}/status").raise_for_status().json()["job"]
                    if job.get("finished"):
                        break
                    if time.perf_counter() - t > timeout:
                        raise TimeoutError(f"job {job_id} did not finish in {timeout} s")
                    time.sleep(0.1)
                times.append(time.perf_counter() - t)
                if not job.get("finishedSuccessful"):
                    raise RuntimeError(f"job {job_id} failed: {job}")
    return times[0], times[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--http", action="store_true", help="also time a real local studio job over HTTP")
    args = ap.parse_args()
    data = Path(tempfile.mkdtemp(prefix="sweep-bench-"))
    datasets.ensure_default_projects(data)
    project = datasets.get_project(data, datasets.DIGITS_ID)
    request = SetKerasParameterRequest.model_validate(
        {"visualLayers": [{"type": "dense", "neurons": 32}], "trainingCycles": args.epochs, "learningRate": 0.005,
         "batchSize": 32, "trainTestSplit": 0.2})
    plain_fit(project, request, 0)  # warm-up: TF graph tracing and thread pools for both sides
    for i in range(args.repeat):
        plain = plain_fit(project, request, i)
        total, fit, post = local_train(project, request, i, data / f"job{i}")
        print(f"run {i}: plain keras fit {plain:.2f} s | train() fit {fit:.2f} s (ratio {fit / plain:.2f}x) | "
              f"train() total {total:.2f} s (ratio {total / plain:.2f}x) | conversion+evaluation {post:.2f} s")
    if args.http:
        cold, warm = http_job(data, request.wire())
        print(f"local studio HTTP job, submit -> finished: first {cold:.2f} s, warm worker {warm:.2f} s "
              f"(ratio {warm / plain:.2f}x of the last plain fit; includes conversion+evaluation)")


if __name__ == "__main__":
    main()
