"""Harness overhead per trial: `sweep`'s runner against an instant-finish fake Studio on loopback (in its own
process, as Studio is another machine), beside bare Optuna ask/tell with the same sampler, search space and
storage, in the same run.

Target: at most 10 ms per trial above bare Optuna (a real job lasts minutes), not counting the time the
fake Studio itself spends answering (it times each answer; a real Studio's is its own). The total is
printed too. The two are run in
alternating rounds (fresh storages each round) and the medians compared, so a busy moment of the
machine does not fall on one side only.
Run: python benchmarks/overhead.py [--trials 200] [--rounds 5] (after one warm-up round, not counted)
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
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

from runner_support import write_study

KEY = "bench-key-0123456789"

TARGET_MS = 10.0


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


@contextlib.contextmanager
def fake_process(folder: Path) -> Iterator[str]:
    """The fake Studio in its own process (as Studio is another machine: its work is not the harness's);
    its base URL."""
    port_file = folder / "port"
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "fake_studio.py"), "--port-file", str(port_file),
                             "--api-key", KEY], cwd=ROOT / "tests")
    try:
        deadline = time.monotonic() + 30
        while not port_file.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the fake Studio did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{int(port_file.read_text())}/v1"
    finally:
        proc.terminate()
        proc.wait(10)


def server_busy_s(base_url: str) -> float:
    """How long the fake Studio has spent answering requests so far (its own clock, request by request)."""
    import httpx

    return float(httpx.get(base_url.removesuffix("/v1") + "/_fake/busy").json()["busy_s"])


def harness(spec, base_url: str, folder: Path, n: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(ms per trial, of which the fake Studio spent answering)."""
    storage = open_storage(f"journal:{folder / 'harness.journal'}")
    study = load_or_create(storage, spec.name, spec.directions, make_sampler(spec.sampler, spec))
    from pydantic import SecretStr

    with make_http_client(base_url, SecretStr(KEY)) as http:
        client = StudioClient(http, spec.target.project_id)
        options = RunOptions(target_trials=n, max_consecutive_failures=n, polling=Polling(0.01, 1.5, 0.05))
        runner = Runner(spec, study, client, list(spec.target.learn_blocks), options, progress=Progress(quiet=True))
        busy = server_busy_s(base_url)
        start = time.perf_counter()
        summary = runner.run()
        elapsed = time.perf_counter() - start
        busy = server_busy_s(base_url) - busy
    assert summary.completed + summary.reused == n, summary
    return elapsed / n * 1000, busy / n * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    bares: list[float] = []
    harnesses: list[float] = []
    servers: list[float] = []
    for r in range(args.rounds + 1):  # round 0 warms up (first imports, first connections): not counted
        with tempfile.TemporaryDirectory() as tmp, fake_process(Path(tmp)) as base_url:
            folder = Path(tmp)
            spec = load_study(write_study(folder, base_url, name="bench", trials=args.trials))
            bares.append(bare(spec, folder, args.trials))
            ms, server_ms = harness(spec, base_url, folder, args.trials)
            harnesses.append(ms)
            servers.append(server_ms)
        if r == 0:
            print(f"round 0 (warm-up, not counted): bare {bares.pop():6.2f} ms/trial, harness {harnesses.pop():6.2f}, "
                  f"the fake Studio answering {servers.pop():5.2f}")
            continue
        print(f"round {r}: bare {bares[-1]:6.2f} ms/trial, harness {harnesses[-1]:6.2f} ms/trial "
              f"(the fake Studio answering: {servers[-1]:5.2f}), overhead {harnesses[-1] - bares[-1]:6.2f} ms, "
              f"without the answers {harnesses[-1] - bares[-1] - servers[-1]:6.2f} ms")
    bare_ms, harness_ms, server_ms = (statistics.median(x) for x in (bares, harnesses, servers))
    total = statistics.median(h - b for h, b in zip(harnesses, bares, strict=True))
    diff = statistics.median(h - b - s for h, b, s in zip(harnesses, bares, servers, strict=True))
    print(f"trials:               {args.trials} x {args.rounds} rounds (TPE, journal file storage, same space)")
    print(f"bare Optuna ask/tell: {bare_ms:8.2f} ms/trial (median)")
    print(f"sweep harness:        {harness_ms:8.2f} ms/trial (submit, follow, metadata, attrs, tell over loopback)")
    print(f"  the server's part:  {server_ms:8.2f} ms/trial (the fake Studio answering its 3 requests: Studio's "
          "time, not the harness's)")
    print(f"overhead, all in:     {total:8.2f} ms/trial (median of the rounds)")
    print(f"overhead, harness:    {diff:8.2f} ms/trial (without the server's answers; target <= {TARGET_MS:.0f} ms) "
          f"ratio {(harness_ms - server_ms) / bare_ms:.2f}x")
    print("PASS" if diff <= TARGET_MS else "OVER TARGET")
    return 0 if diff <= TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
