"""The study's cloned impulses as it records them: which slot is which impulse, read and written in one place.

A slot is one clone of the source impulse, named ``sweep:<study>:<k>``; its learn block runs one job
at a time. The record lives in the study's user attr ``slots``, so every worker of the study (on
this machine or, on PostgreSQL, another) and every resumed run finds the same clones.
"""

from __future__ import annotations

from typing import Any

import optuna
from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = ["SLOTS_ATTR", "SlotRecord", "SlotsRecord", "forget_slots", "read_slots", "slot_name", "write_slots"]

SLOTS_ATTR = "slots"


def slot_name(study_name: str, number: int) -> str:
    """The clone's impulse name: how a lost answer or another worker's clone is found again."""
    return f"sweep:{study_name}:{number}"


class SlotRecord(BaseModel):
    """One slot: its clone and the clone's learn block (and the DSP blocks it depends on)."""

    model_config = ConfigDict(frozen=True)

    number: int
    impulse_id: int
    learn_id: int
    dsp_ids: list[int] = Field(default_factory=list)
    name: str


class SlotsRecord(BaseModel):
    """The source impulse and learn block the clones come from, and the clones by slot number."""

    source_impulse_id: int
    source_learn_id: int
    clones: dict[int, SlotRecord] = Field(default_factory=dict)


def read_slots(study: optuna.Study) -> SlotsRecord | None:
    """The study's slots record, None when it has none (or one this version cannot read)."""
    raw: Any = study.user_attrs.get(SLOTS_ATTR)
    if raw is None:
        return None
    try:
        return SlotsRecord.model_validate(raw)
    except ValidationError:
        return None


def write_slots(study: optuna.Study, record: SlotsRecord) -> None:
    """Record the slots, merged with what other workers recorded meanwhile (a clone recorded by either stays)."""
    current = read_slots(study)
    merged = dict(record.clones)
    if current is not None and (current.source_impulse_id, current.source_learn_id) == (
            record.source_impulse_id, record.source_learn_id):
        for number, clone in current.clones.items():
            merged.setdefault(number, clone)
    update = record.model_copy(update={"clones": dict(sorted(merged.items()))})
    study.set_user_attr(SLOTS_ATTR, update.model_dump(mode="json"))


def forget_slots(study: optuna.Study, numbers: set[int]) -> None:
    """Drop the record of these slots (their clones were deleted on purpose)."""
    current = read_slots(study)
    if current is None:
        return
    kept = {n: c for n, c in current.clones.items() if n not in numbers}
    study.set_user_attr(SLOTS_ATTR, current.model_copy(update={"clones": kept}).model_dump(mode="json"))
