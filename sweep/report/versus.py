"""Lines people read about confirmed and baseline results: the best against the baseline, mean ± sd per repeat set."""

from __future__ import annotations

import optuna
from optuna.trial import FrozenTrial

from sweep.report.confirmed import Confirmed, baseline_trial, confirmations, one_sample, verdict
from sweep.units import PERCENT, POINTS, Unit, metric_text, unit_of

__all__ = ["change", "confirmed_lines", "quantity", "versus_baseline"]

def quantity(metric: str, value: float) -> str:
    """A metric's value as people read it (sweep.units: accuracy in %, sizes in KiB, latency in ms)."""
    return metric_text(metric, value)


def _difference_unit(metric: str) -> Unit:
    """A difference of two shares is in percentage points, of anything else in the metric's own unit."""
    unit = unit_of(metric)
    return POINTS if unit in (PERCENT, POINTS) else unit


def change(metric: str, delta: float) -> str:
    """A difference of one metric: ``+1.94 pp int8.accuracy``, ``-0.4 ms cortex-m4f-80mhz.latency_ms``."""
    text = _difference_unit(metric).text(delta)
    return f"{'+' if delta >= 0 and not text.startswith('-') else ''}{text} {metric}"


def _spread_of(metric: str, sd: float) -> str:
    return _difference_unit(metric).text(sd)


def versus_baseline(study: optuna.Study, best: FrozenTrial, metrics: list[str], device: str | None) -> str | None:
    """``best`` against the study's baseline on ``metrics`` (and the device's latency), or None without one."""
    base = baseline_trial(study)
    if base is None:
        return None
    ours, theirs = best.user_attrs.get("metrics") or {}, base.user_attrs.get("metrics") or {}
    shown = list(metrics)
    if device and f"{device}.latency_ms" not in shown:
        shown.append(f"{device}.latency_ms")
    parts = [change(m, float(ours[m]) - float(theirs[m])) for m in shown if m in ours and m in theirs]
    return f"trial {best.number} against the baseline: " + ", ".join(parts) if parts else None


def _spread(c: Confirmed, names: list[str]) -> str:
    return ", ".join(f"{n} {quantity(n, c.mean(i))} ± {_spread_of(n, c.sd(i))}" for i, n in enumerate(names))


def confirmed_lines(study: optuna.Study, names: list[str]) -> list[str]:
    """What ``sweep confirm``, ``sweep best`` and the report say about the confirmed configurations."""
    ranked = confirmations(study)
    if not ranked:
        return []
    lines = [f"{c.label}: {_spread(c, names)} over {c.n} trainings" for c in ranked]
    judged = verdict(ranked)
    if judged is not None:
        gap = change(names[0], judged.difference)
        said = ("distinguishable" if judged.distinguishable else "NOT distinguishable from the runner-up: the gap "
                "is within what seeds alone change")
        lines.append(f"leader {judged.leader.label} against {judged.runner_up.label}: {gap} (Welch t = "
                     f"{judged.t:.2f}, 5 % critical {judged.critical:.2f}): {said}")
    base = next((c for c in ranked if c.of is None), None)
    lead = next((c for c in ranked if c.of is not None), None)
    if base is not None and lead is not None:
        lines.append(f"{lead.label} against the baseline, means of {lead.n} and {base.n} trainings: "
                     + ", ".join(change(n, lead.mean(i) - base.mean(i)) for i, n in enumerate(names)))
    original = {t.number: t for t in study.get_trials(deepcopy=False)}.get(ranked[0].of) if ranked[0].of is not None \
        else baseline_trial(study)
    size = one_sample(original) if original is not None else None
    if size and unit_of(names[0]) is PERCENT:
        lines.append(f"validation set: {size} samples; one sample is 1 of {size} = {POINTS.text(1 / size)}")
    return lines
