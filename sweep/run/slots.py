"""A run's slots: the study's cloned impulses, found or made once, their features generated before the first trial.

With ``target.slots = K`` a sweep never trains on the user's own impulse: it clones the source
impulse (the project's default, or ``target.impulse_id``) K times as ``sweep:<study>:<k>``, records
each clone on the study before using it, generates its features (in a whole-impulse study each job
generates its own instead) and trains on its learn block.
Workers and resumed runs reuse the recorded clones (or find one by its name after a lost answer or
a race); a clone deleted behind the study's back is noticed and made again. The project's impulse
limit is checked before anything is cloned.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import optuna

from sweep.errors import SettingsError, StudyFileError, SweepAborted
from sweep.run.follow import Follower
from sweep.run.progress import Progress
from sweep.session.clones import SlotRecord, SlotsRecord, read_slots, slot_name, write_slots
from sweep.studio.backend import Backend
from sweep.studio.impulse_models import GetAllImpulsesResponse, Impulse, ImpulseLearnBlock
from sweep.study.spec import StudySpec

__all__ = ["SlotPlan", "Slots"]

log = logging.getLogger("sweep.run.slots")


@dataclass(frozen=True)
class SlotPlan:
    """What a run will use, known before anything is created: the source, the clones found, those to make."""

    source: Impulse
    source_learn: ImpulseLearnBlock
    found: dict[int, SlotRecord]
    missing: list[int]


class Slots:
    """Finds, makes and readies the slots (cloned impulses) of one study for this worker."""

    def __init__(self, spec: StudySpec, backend: Backend, progress: Progress) -> None:
        self.spec, self.backend, self.progress = spec, backend, progress

    # ---- before anything is created ---------------------------------------------------------------

    def plan(self, numbers: Sequence[int], recorded: SlotsRecord | None) -> SlotPlan:
        """The source impulse and learn block, the recorded clones that still exist, and those to make;
        refuses (nothing created) when the project's impulse limit leaves no room for them."""
        source = self.backend.impulse(self.spec.target.impulse_id)
        source_learn = self._source_learn_block(source)
        listing = self.backend.impulses()
        found: dict[int, SlotRecord] = {}
        for number in numbers:
            clone = self._existing(number, recorded, listing, source_learn)
            if clone is not None:
                found[number] = clone
        missing = [n for n in numbers if n not in found]
        limit = listing.max_impulse_count
        if missing and limit != -1 and len(listing.impulses) + len(missing) > limit:
            raise SettingsError(
                "target.slots", f"the project has {len(listing.impulses)} of at most {limit} impulses: no room for "
                f"{len(missing)} more clone(s) (slots {', '.join(map(str, missing))}); delete impulses in Studio, "
                f"run `sweep cleanup` for old studies, or ask for fewer slots (nothing was created)")
        return SlotPlan(source, source_learn, found, missing)

    def _source_learn_block(self, source: Impulse) -> ImpulseLearnBlock:
        keras = [b for b in source.learn_blocks if b.is_keras]
        wanted = self.spec.target.learn_block
        file = str(self.spec.path)
        if wanted is not None:
            block = next((b for b in source.learn_blocks if b.id == wanted), None)
            if block is None or not block.is_keras:
                kind = f"a {block.type} block, which trains on another route" if block else "not in that impulse"
                raise StudyFileError(file, "target.learn_block", wanted,
                                     f"{kind}; impulse {source.id}'s Keras learn blocks: {[b.id for b in keras]}")
            return block
        if not keras:
            others = ", ".join(f"{b.id} ({b.type})" for b in source.learn_blocks) or "none"
            raise StudyFileError(file, "target.impulse_id" if self.spec.target.impulse_id else "target", source.id,
                                 f"impulse {source.id} ({source.name!r}) has no Keras learn block (sweep trains Keras "
                                 f"blocks; anomaly blocks train on another route); its learn blocks: {others}")
        if len(keras) > 1:
            self.progress.info(f"impulse {source.id} has {len(keras)} Keras learn blocks "
                               f"({', '.join(str(b.id) for b in keras)}): tuning the first, {keras[0].id} "
                               f"({keras[0].name!r}); name another with target.learn_block")
        return keras[0]

    def _existing(self, number: int, recorded: SlotsRecord | None, listing: GetAllImpulsesResponse,
                  source_learn: ImpulseLearnBlock) -> SlotRecord | None:
        """The slot's clone if it still exists: the recorded one, else one with its name (lowest id)."""
        name = slot_name(self.spec.name, number)
        by_id = {i.id: i for i in listing.impulses}
        rec = recorded.clones.get(number) if recorded is not None else None
        if rec is not None and rec.impulse_id in by_id:
            return self._record(number, by_id[rec.impulse_id], source_learn)
        if rec is not None:
            self.progress.warn(f"slot {number}: its clone, impulse {rec.impulse_id} ({rec.name!r}), was deleted "
                               "outside this study; making it again")
        named = sorted((i for i in listing.impulses if i.name == name), key=lambda i: i.id)
        return self._record(number, named[0], source_learn) if named else None

    def _record(self, number: int, impulse: Impulse, source_learn: ImpulseLearnBlock) -> SlotRecord:
        """The clone's learn block that copies the source's (same name and type, else the same place)."""
        matches = [b for b in impulse.learn_blocks if (b.name, b.type) == (source_learn.name, source_learn.type)]
        block = matches[0] if matches else next((b for b in impulse.learn_blocks if b.is_keras), None)
        if block is None:
            raise SweepAborted(f"slot {number}: impulse {impulse.id} ({impulse.name!r}) has no Keras learn block")
        return SlotRecord(number=number, impulse_id=impulse.id, learn_id=block.id, dsp_ids=list(block.dsp),
                          name=impulse.name)

    # ---- making and readying ------------------------------------------------------------------

    def make(self, plan: SlotPlan, study: optuna.Study, follower: Follower) -> list[SlotRecord]:
        """Clone what is missing (each recorded on the study at once), then generate features where needed."""
        record = SlotsRecord(source_impulse_id=plan.source.id, source_learn_id=plan.source_learn.id,
                             clones=dict(plan.found))
        write_slots(study, record)
        for number in plan.missing:
            name = slot_name(self.spec.name, number)
            impulse_id = self.backend.clone_impulse(plan.source.id, name)
            clone = self._record(number, self.backend.impulse(impulse_id), plan.source_learn)
            record.clones[number] = clone
            write_slots(study, record)  # before use: a crash right after leaves it recorded
            self.progress.info(f"slot {number}: cloned impulse {plan.source.id} as impulse {impulse_id} "
                               f"({name!r}), learn block {clone.learn_id}")
        if plan.missing:
            self._settle_races(plan, record, study)
        slots = [record.clones[n] for n in sorted({*plan.found, *plan.missing})]
        self._features(slots, follower)
        return slots

    def _settle_races(self, plan: SlotPlan, record: SlotsRecord, study: optuna.Study) -> None:
        """Another worker starting at the same moment may have cloned the same slot: the lowest id wins,
        the other clone is deleted, so the project keeps one clone per slot."""
        listing = self.backend.impulses().impulses
        for number in plan.missing:
            ours = record.clones[number]
            named = sorted((i for i in listing if i.name == ours.name), key=lambda i: i.id)
            if named and named[0].id != ours.impulse_id:
                self.backend.delete_impulse(ours.impulse_id)
                record.clones[number] = self._record(number, named[0], plan.source_learn)
                self.progress.info(f"slot {number}: another worker cloned it first (impulse {named[0].id}); "
                                   f"using that one and deleting impulse {ours.impulse_id}")
        write_slots(study, record)

    def _features(self, slots: list[SlotRecord], follower: Follower) -> None:
        """Generate each clone's features (all jobs at once), unless its DSP blocks already have them, or the
        study tunes the impulse: then every job on a slot (the baseline's too, on the source's values) sets its
        DSP values and window first and generates what they need, so features made here would go unused."""
        if self.spec.space.tunes_impulse:
            if slots:
                self.progress.info(f"slot{'s' if len(slots) > 1 else ''} {', '.join(str(s.number) for s in slots)}: "
                                   "features are generated by each job for its own DSP values and window")
            return
        jobs: list[tuple[SlotRecord, int, int]] = []
        for slot in slots:
            for dsp_id in slot.dsp_ids:
                if not self.backend.dsp(dsp_id).features.generated:
                    jobs.append((slot, dsp_id, self.backend.generate_features(dsp_id)))
                    self.progress.info(f"slot {slot.number}: generating the features of DSP block {dsp_id} "
                                       f"(job {jobs[-1][2]})")
        for slot, dsp_id, job_id in jobs:
            job = follower.wait(job_id, kind="features")
            if not job.finished_successful:
                why, _ = follower.reason(job)
                raise SweepAborted(f"slot {slot.number}: generating the features of DSP block {dsp_id} failed "
                                   f"(job {job_id}): {why}")


def recorded_learn_ids(study: optuna.Study | None, numbers: Sequence[int]) -> dict[int, int]:
    """Slot number -> learn block, of the given slots as the study recorded them (checks before connecting)."""
    record = read_slots(study) if study is not None else None
    if record is None:
        return {}
    return {n: record.clones[n].learn_id for n in numbers if n in record.clones}
