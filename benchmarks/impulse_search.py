"""Benchmark: whole-impulse search against network-only search on the shipped raw audio project, same trials.

Two studies per sampler seed on the embedded local studio's keywords-raw project (600 synthetic 1 s words
at 8 kHz): the whole impulse (studies/keywords-impulse.toml: the MFE block's parameters and a conv1d network),
and the network alone (the same file without [space.dsp.MFE], so the MFE block keeps its defaults). Both
run the same number of trials with the same TPE seed and the shipped study's two objectives (int8 accuracy,
total latency on the device). Prints each study's best int8 accuracy (and its total latency), the best int8
accuracy within a 20 ms latency budget (DSP + network), and the medians over the seeds. Each run uses its
own data dir, so no features are shared between the two arms.
Usage: .venv/bin/python benchmarks/impulse_search.py [--trials 16] [--seeds 1,2,3]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import optuna

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "studies" / "keywords-impulse.toml"
DEVICE = "cortex-m4f-80mhz"
BUDGET_MS = 20.0  # a latency budget (DSP + network) for the second figure


def _study_text(whole: bool, seed: int, trials: int) -> str:
    text = SOURCE.read_text()
    text = re.sub(r'^name = ".*"$', f'name = "{"whole" if whole else "network"}-{seed}"', text, count=1, flags=re.M)
    text = re.sub(r"^trials = \d+$", f"trials = {trials}", text, flags=re.M)
    text = re.sub(r'^time_limit = ".*"$', 'time_limit = "2h"', text, flags=re.M)
    text = re.sub(r"^seed = \d+$", f"seed = {seed}", text, flags=re.M)
    if not whole:
        text = re.sub(r"\[space\.dsp\.MFE\]\n(?:.+\n)+?\n", "", text)
    tomllib.loads(text)  # a broken rewrite fails here, not in the sweep
    return text


def _run(folder: Path, whole: bool, seed: int, trials: int) -> tuple[float, float, float, float]:
    """(best int8 accuracy, its total latency on the device, the best int8 accuracy within the latency
    budget (nan: none), wall seconds) of one study."""
    path = folder / ("whole.toml" if whole else "network.toml")
    path.write_text(_study_text(whole, seed, trials))
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "sweep.cli", "run", str(path), "--no-report", "--no-baseline",
                           "--quiet"], cwd=folder, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{path}: sweep run exited {done.returncode}:\n{done.stderr[-3000:]}")
    name = tomllib.loads(path.read_text())["name"]
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(folder / ".sweep" / f"{name}.journal")))
    done = [t for t in optuna.load_study(study_name=name, storage=storage).get_trials()
            if t.state == optuna.trial.TrialState.COMPLETE]
    acc = {t.number: float(t.user_attrs["metrics"]["int8.accuracy"]) for t in done}
    lat = {t.number: float(t.user_attrs["metrics"][f"{DEVICE}.total_latency_ms"]) for t in done}
    best = max(acc, key=lambda n: (acc[n], -lat[n]))
    within = [acc[n] for n in acc if lat[n] <= BUDGET_MS]
    return acc[best], lat[best], max(within) if within else float("nan"), wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--trials", type=int, default=16)
    ap.add_argument("--seeds", default="1,2,3")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    results: dict[bool, list[tuple[float, float, float, float]]] = {True: [], False: []}
    for seed in seeds:
        for whole in (False, True):
            with tempfile.TemporaryDirectory(prefix="sweep-impulse-") as tmp:
                got = _run(Path(tmp), whole, seed, args.trials)
            results[whole].append(got)
            print(f"seed {seed} {'whole impulse' if whole else 'network only '}: best int8.accuracy {got[0]:.4f} "
                  f"at {got[1]:.2f} ms total latency; best within {BUDGET_MS:g} ms: {got[2]:.4f}; {got[3]:.0f} s",
                  flush=True)
    for whole in (False, True):
        accs = [r[0] for r in results[whole]]
        lats = [r[1] for r in results[whole]]
        budget = [r[2] for r in results[whole]]
        print(f"{'whole impulse' if whole else 'network only '}: median best int8.accuracy "
              f"{statistics.median(accs):.4f} (seeds: {', '.join(f'{a:.4f}' for a in accs)}), its latency median "
              f"{statistics.median(lats):.2f} ms; within {BUDGET_MS:g} ms: median {statistics.median(budget):.4f} "
              f"(seeds: {', '.join(f'{a:.4f}' for a in budget)}); {args.trials} trials each")


if __name__ == "__main__":
    main()
