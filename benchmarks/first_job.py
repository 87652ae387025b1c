"""Benchmark: a cold `sweep run`'s first job beside its second and third, on the embedded local studio, several runs.

Each run is the real command in a fresh directory (no server running, nothing cached: a new data dir):
`sweep run first_job.toml --no-baseline --no-report`, a study of --trials trials of the digits demo's kind of
model (conv2d 16, dense 32) whose configurations differ only in the ninth digit of the learning rate (so none
is a twin of another) and train with one seed. The local studio's training jobs are then read from the data
dir: each job's wall time (created -> finished, as the server stamped them) and, from its log, the phases
where a fresh worker's first-use costs fall (job start -> epoch 1, epoch 1 itself, conversion + evaluation).
Printed per run: the worker's own line (its import, its warm-up, how long it then waited), first / second and,
as a control, third / second (two warm jobs: what noise alone gives); then the medians over the runs, and the
first job's phases minus the second's. Target: first / second no more than third / second, the phases equal.
With --slots K the study has K slots (K x --trials trials) and each slot's jobs are compared among themselves.
Usage: .venv/bin/python benchmarks/first_job.py [--runs 6] [--trials 3] [--epochs 30] [--slots 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

STUDY = """name = "first-job"
trials = {trials}
training_seed = 1

[target]
kind = "local"
project = "digits"
slots = {slots}

[[objectives]]
metric = "int8.accuracy"
direction = "maximize"

[space]
learning_rate = {{ low = 0.005, high = 0.0050001 }}
batch_size = {{ choices = [32] }}
training_cycles = {{ choices = [{epochs}] }}

[[space.layers]]
type = "conv2d"
neurons = 16
kernel_size = 3

[[space.layers]]
type = "flatten"

[[space.layers]]
type = "dense"
neurons = 32
"""


def _time(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def _job(job_dir: Path, record: dict[str, str]) -> dict[str, float | str]:
    """A finished training job (``record``: its job.json): wall and queued seconds, its phases from the log, the
    worker's line."""
    lines = [line.split("\t", 1) for line in (job_dir / "log").read_text(encoding="utf-8").splitlines()]

    def at(prefix: str) -> float:
        return next(_time(stamp) for stamp, text in lines if text.startswith(prefix))

    started = _time(record["started"])
    return {"wall": _time(record["finished"]) - _time(record["created"]), "queued": started - _time(record["created"]),
            "before epoch 1": at("Epoch 1/") - started, "epoch 1": at("Epoch 2/") - at("Epoch 1/"),
            "conversion": at("Converted and evaluated") - at("Finished training"),
            "worker": next(text for _, text in lines if text.startswith("Worker pid"))}


def one_run(trials: int, epochs: int, slots: int) -> list[list[dict[str, float | str]]]:
    """Run the study once in a fresh directory; each slot's training jobs in order."""
    sweep = Path(sys.executable).with_name("sweep")
    with tempfile.TemporaryDirectory(prefix="sweep-first-job-") as tmp:
        work = Path(tmp)
        (work / "first_job.toml").write_text(STUDY.format(trials=trials * slots, epochs=epochs, slots=slots),
                                             encoding="utf-8")
        done = subprocess.run([str(sweep), "run", "first_job.toml", "--no-baseline", "--no-report"], cwd=work,
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"sweep run failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        jobs = sorted((p.parent for p in (work / ".sweep" / "studio" / "jobs").glob("*/job.json")),
                      key=lambda p: int(p.name))
        by_slot: dict[int, list[dict[str, float | str]]] = {}
        for d in jobs:
            record = json.loads((d / "job.json").read_text(encoding="utf-8"))
            if record["kind"] == "train":
                by_slot.setdefault(int(record["learnId"]), []).append(_job(d, record))
        return [by_slot[learn_id] for learn_id in sorted(by_slot)]


PHASES = ("queued", "before epoch 1", "epoch 1", "conversion")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=6)
    ap.add_argument("--trials", type=int, default=3, help="at least 3: the third job is the control")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--slots", type=int, default=1, help="the study's slots (jobs at once); each slot compared apart")
    args = ap.parse_args()
    firsts, controls = [], []
    deltas: dict[str, list[float]] = {k: [] for k in PHASES}
    for n in range(args.runs):
        for slot, jobs in enumerate(one_run(max(3, args.trials), args.epochs, args.slots), start=1):
            walls = [float(j["wall"]) for j in jobs]
            first, control = walls[0] / walls[1], walls[2] / walls[1]
            firsts.append(first)
            controls.append(control)
            for k in PHASES:
                deltas[k].append(float(jobs[0][k]) - float(jobs[1][k]))
            print(f"run {n + 1}{f', slot {slot}' if args.slots > 1 else ''}: {jobs[0]['worker']}")
            print(f"  jobs {' / '.join(f'{w:.2f}' for w in walls)} s: first / second {first:.2f}x, third / second "
                  f"{control:.2f}x (control) | first minus second: "
                  + ", ".join(f"{k} {float(jobs[0][k]) - float(jobs[1][k]):+.3f} s" for k in PHASES))
    print(f"median over {len(firsts)} first jobs ({args.runs} runs x {args.slots} slot(s)): first / second "
          f"{statistics.median(firsts):.2f}x (range {min(firsts):.2f}-{max(firsts):.2f}), third / second "
          f"{statistics.median(controls):.2f}x (range {min(controls):.2f}-{max(controls):.2f}); target: first / "
          "second no more than the control")
    print("median first minus second: " + ", ".join(f"{k} {statistics.median(v):+.3f} s" for k, v in deltas.items()))


if __name__ == "__main__":
    main()
