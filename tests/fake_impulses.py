"""The fake Studio's impulses: the default one plus clones, block ids unique across the project (state only).

Cloning copies the structure with fresh block ids, not features and not models, as Studio does; a
clone's DSP blocks have features once a generate-features job for them has finished (the fake Studio
decides that from its jobs). Serialisable, so the fake Studio's restarts keep it.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["FakeImpulses"]


class FakeImpulses:
    def __init__(self, default: dict[str, Any]) -> None:
        self.impulses: dict[int, dict[str, Any]] = {int(default["id"]): default}
        self.default_id = int(default["id"])
        self.source_dsp = {int(b["id"]) for b in default["dspBlocks"]}  # their features exist from the start
        self.max_impulses = -1
        self._used = max(int(b["id"]) for key in ("inputBlocks", "dspBlocks", "learnBlocks") for b in default[key])
        self._last_impulse = self.default_id  # ids are never reused, as in Studio

    # ---- reading
    def listing(self) -> list[dict[str, Any]]:
        return [copy.deepcopy(i) for _, i in sorted(self.impulses.items())]

    def get(self, impulse_id: int | None) -> dict[str, Any] | None:
        found = self.impulses.get(self.default_id if impulse_id is None else impulse_id)
        return copy.deepcopy(found) if found is not None else None

    def learn_ids(self) -> set[int]:
        return {int(b["id"]) for i in self.impulses.values() for b in i["learnBlocks"]}

    def dsp_ids(self) -> set[int]:
        return {int(b["id"]) for i in self.impulses.values() for b in i["dspBlocks"]}

    def dsp_of(self, learn_id: int) -> list[int]:
        for impulse in self.impulses.values():
            for block in impulse["learnBlocks"]:
                if int(block["id"]) == learn_id:
                    return [int(d) for d in block.get("dsp", [])]
        return []

    def impulse_of_learn(self, learn_id: int) -> dict[str, Any] | None:
        for impulse in self.impulses.values():
            if any(int(b["id"]) == learn_id for b in impulse["learnBlocks"]):
                return impulse
        return None

    # ---- changing
    def clone(self, source_id: int, name: str) -> int:
        source = self.impulses[source_id]
        next_id = self._used + 1
        remap: dict[int, int] = {}
        clone = copy.deepcopy(source)
        for key in ("inputBlocks", "dspBlocks", "learnBlocks"):
            for block in clone[key]:
                remap[int(block["id"])] = next_id
                block["id"] = next_id
                next_id += 1
        for block in clone["dspBlocks"]:
            if "input" in block and block["input"] in remap:
                block["input"] = remap[block["input"]]
        for block in clone["learnBlocks"]:
            block["dsp"] = [remap.get(int(d), int(d)) for d in block.get("dsp", [])]
        self._used = next_id - 1
        self._last_impulse += 1
        clone["id"] = self._last_impulse
        clone["name"] = name
        self.impulses[clone["id"]] = clone
        return int(clone["id"])

    def delete(self, impulse_id: int) -> None:
        del self.impulses[impulse_id]

    # ---- persistence
    def state(self) -> dict[str, Any]:
        return {"impulses": list(self.impulses.values()), "max": self.max_impulses, "used": self._used,
                "last": self._last_impulse}

    def load(self, state: dict[str, Any]) -> None:
        self.impulses = {int(i["id"]): i for i in state.get("impulses", [])} or self.impulses
        self.max_impulses = int(state.get("max", -1))
        self._used, self._last_impulse = int(state.get("used", self._used)), int(state.get("last", self._last_impulse))
