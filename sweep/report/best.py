"""What ``sweep best`` prints: each chosen trial in trial order with its objectives, key metrics, seed and exact
request body, for people; or the same as JSON for scripts (``--json``)."""

from __future__ import annotations

import json
from typing import Any

import optuna
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


def _test(study: optuna.Study | None, trial: FrozenTrial) -> dict[str, Any]:
    """``sweep test``'s figures of the trial (``test``: per model type the accuracy, windows, 95 % Wilson interval
    and the validation - test gap), when it was tested."""
    from sweep.report.finals import finals, wilson

    final = next((f for f in finals(study) if f.of == trial.number and f.repeat == 0), None) if study else None
    if final is None:
        return {}
    return {"test": {kind: {"accuracy": fig.accuracy, "windows": fig.n, "interval_95": list(wilson(fig.correct, fig.n)),
                            "validation_test_gap": final.gap(kind), "trained_before_split": final.before_split}
                     for kind, fig in final.test.items()}}


def best_json(spec: StudySpec, trials: list[FrozenTrial], study: optuna.Study | None = None) -> str:
    """A JSON list, in trial order: ``trial``, ``objectives``, ``metrics``, ``seed``, ``job_id``, ``request``
    (and ``impulse``: the DSP parameters and window a whole-impulse trial set first; ``test``: what ``sweep test``
    measured on the testing data, never used to choose)."""
    return json.dumps([{**_one(spec, t), **_test(study, t)} for t in sorted(trials, key=lambda t: t.number)],
                      indent=2, sort_keys=True)


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
