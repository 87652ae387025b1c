"""What ``sweep best`` prints: each chosen trial in trial order with its objectives, key metrics, seed and exact
request body, for people; or the same as JSON for scripts (``--json``)."""

from __future__ import annotations

import json
from typing import Any

from optuna.trial import FrozenTrial

from sweep.report.versus import quantity
from sweep.study.spec import StudySpec

__all__ = ["best_json", "best_text", "shown_metrics"]


def shown_metrics(spec: StudySpec, trial: FrozenTrial) -> list[str]:
    """The metrics worth a line: the objectives, the constraints' metrics, both accuracies, the device's costs."""
    metrics = trial.user_attrs.get("metrics") or {}
    names = [o.metric for o in spec.objectives] + [c.metric for c in spec.constraints]
    names += ["float32.accuracy", "int8.accuracy"]
    device = spec.device or "default"
    names += [f"{device}.{field}" for field in ("latency_ms", "ram_bytes", "rom_bytes")]
    return [n for i, n in enumerate(names) if n in metrics and n not in names[:i]]


def _one(spec: StudySpec, trial: FrozenTrial) -> dict[str, Any]:
    metrics = trial.user_attrs.get("metrics") or {}
    return {
        "trial": trial.number,
        "objectives": {o.metric: v for o, v in zip(spec.objectives, trial.values or [], strict=False)},
        "metrics": {n: metrics[n] for n in shown_metrics(spec, trial)},
        "seed": trial.user_attrs.get("seed"),
        "job_id": trial.user_attrs.get("job_id"),
        "request": trial.user_attrs.get("request"),
        **({"impulse": trial.user_attrs["impulse"]} if "impulse" in trial.user_attrs else {}),
    }


def best_json(spec: StudySpec, trials: list[FrozenTrial]) -> str:
    """A JSON list, in trial order: ``trial``, ``objectives``, ``metrics``, ``seed``, ``job_id``, ``request``
    (and ``impulse``: the DSP parameters and window a whole-impulse trial set first)."""
    return json.dumps([_one(spec, t) for t in sorted(trials, key=lambda t: t.number)], indent=2, sort_keys=True)


def best_text(spec: StudySpec, trials: list[FrozenTrial]) -> str:
    """Each trial in trial order: a heading, its metrics one per line, then its request body."""
    blocks = []
    what = "Pareto-optimal" if len(spec.objectives) > 1 else "best"
    for t in sorted(trials, key=lambda t: t.number):
        one = _one(spec, t)
        lines = [f"trial {t.number} ({what}): job {one['job_id']}, seed {one['seed']}"]
        lines += [f"  {name:<40} {quantity(name, float(value))}" for name, value in one["metrics"].items()]
        if "impulse" in one:  # what it set on its impulse first: DSP parameters (POST /dsp/{dspId}), the window
            lines.append("  impulse (DSP parameters and window, set before training):")
            lines += ["    " + line for line in json.dumps(one["impulse"], indent=2, sort_keys=True).splitlines()]
        lines.append("  request:")
        lines += ["    " + line for line in json.dumps(one["request"], indent=2, sort_keys=True).splitlines()]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
