"""Harness overhead per trial: `sweep`'s runner against an instant-finish fake Studio on loopback,
beside bare Optuna ask/tell with the same sampler, search space and storage, in the same run.

Target: at most 20 ms per trial above bare Optuna (a real job lasts minutes).
Run: python benchmarks/overhead.py [--trials 200]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import optuna

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from sweep.run.follow import Polling
from sweep.run.progress import Progress
from sweep.run.runner import Runner, RunOptions
from sweep.session.storage import load_or_create, open_storage
from sweep.studio.client import StudioClient, make_http_client
from sweep.study.load import load_study
from sweep.study.request import train_request
from sweep.study.sampler import make_sampler
from sweep.study.space import distributions

from fake_studio import FakeStudio
from runner_support import write_study

TARGET_MS = 20.0


def bare(spec, folder: Path, n: int) -> float:  # type: ignore[no-untyped-def]
    storage = open_storage(f"journal:{folder / 'bare.journal'}")
    study = load_or_create(storage, spec.name, spec.directions, make_sampler(spec.sampler, spec))
    space = distributions(spec.space)
    rng = random.Random(0)
    start = time.perf_counter()
    for _ in range(n):
        trial = study.ask(space)
        train_request(spec, trial.params)  # the bare loop also builds the body, to be fair to it
        study.tell(trial, rng.random())
    return (time.perf_counter() - start) / n * 1000


def harness(spec, fake: FakeStudio, folder: Path, n: int) -> float:  # type: ignore[no-untyped-def]
    storage = open_storage(f"journal:{folder / 'harness.journal'}")
    study = load_or_create(storage, spec.name, spec.directions, make_sampler(spec.sampler, spec))
    from pydantic import SecretStr

    with make_http_client(fake.base_url, SecretStr(fake.api_key)) as http:
        client = StudioClient(http, spec.target.project_id)
        options = RunOptions(target_trials=n, max_consecutive_failures=n, polling=Polling(0.01, 1.5, 0.05))
        runner = Runner(spec, study, client, list(spec.target.learn_blocks), options, progress=Progress(quiet=True))
        start = time.perf_counter()
        summary = runner.run()
        elapsed = time.perf_counter() - start
    assert summary.completed + summary.reused == n, summary
    return elapsed / n * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp, FakeStudio(api_key="bench-key-0123456789") as fake:
        folder = Path(tmp)
        spec = load_study(write_study(folder, fake.base_url, name="bench", trials=args.trials))
        bare_ms = bare(spec, folder, args.trials)
        harness_ms = harness(spec, fake, folder, args.trials)
    diff = harness_ms - bare_ms
    print(f"trials:              {args.trials} (TPE, journal file storage, same space)")
    print(f"bare Optuna ask/tell: {bare_ms:8.2f} ms/trial")
    print(f"sweep harness:        {harness_ms:8.2f} ms/trial (submit, follow, metadata, attrs, tell over loopback)")
    print(f"overhead:             {diff:8.2f} ms/trial (target <= {TARGET_MS:.0f} ms) "
          f"ratio {harness_ms / bare_ms:.2f}x")
    print("PASS" if diff <= TARGET_MS else "OVER TARGET")
    return 0 if diff <= TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
