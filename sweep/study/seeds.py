"""Training seeds: one per trial, derived from the study and the trial number unless the study fixes one."""

from __future__ import annotations

import hashlib

__all__ = ["trial_seed"]


def trial_seed(study: str, number: int, fixed: int | None = None, repeat: int = 0) -> int:
    """``fixed`` when the study sets ``training_seed``; else a stable hash of (study, trial number, repeat),
    so a rerun of the study under the same name trains every trial with the same seed again."""
    if fixed is not None and repeat == 0:
        return fixed
    text = f"{study}:{number}:{repeat}:{fixed}" if repeat else f"{study}:{number}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") & 0x7FFFFFFF
