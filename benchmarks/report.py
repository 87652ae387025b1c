"""Benchmark: write_report on a 1,000-trial in-memory study (single- and multi-objective) vs the 15 s budget."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import optuna

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from test_report_frame import build_study

from sweep.report import frame as fr
from sweep.report.build import write_report

BUDGET_S = 15.0
TRIALS = 1000


def _time(label: str, fn: object) -> float:
    started = time.perf_counter()
    fn()  # type: ignore[operator]
    elapsed = time.perf_counter() - started
    print(f"  {label:<42} {elapsed:7.2f} s")
    return elapsed


def main() -> int:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    worst = 0.0
    for multi in (False, True):
        kind = "multi-objective" if multi else "single-objective"
        study = build_study(TRIALS, multi=multi, epochs_max=30, name=f"bench-{'multi' if multi else 'single'}")
        print(f"{kind}: {len(study.trials)} trials")
        objectives = fr.objectives_of(study)
        with tempfile.TemporaryDirectory() as tmp:  # first: a cold process, as `sweep report` runs it
            elapsed = _time("write_report (everything)", lambda s=study: write_report(s, Path(tmp)))
            size = sum(p.stat().st_size for p in Path(tmp).iterdir())
        _time("  of which PED-ANOVA importance (warm)", lambda s=study, o=objectives: fr.importances(s, o))
        print(f"  output {size / 1e6:.1f} MB; write_report {elapsed:.2f} s = {elapsed / BUDGET_S:.2f} x "
              f"the {BUDGET_S:.0f} s budget")
        worst = max(worst, elapsed)
    verdict = "OK" if worst <= BUDGET_S else "OVER BUDGET"
    print(f"worst write_report: {worst:.2f} s, ratio to budget {worst / BUDGET_S:.2f} ({verdict})")
    return 0 if worst <= BUDGET_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
