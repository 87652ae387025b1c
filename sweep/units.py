"""How sweep writes quantities for people: one way to show a duration, everywhere."""

from __future__ import annotations

__all__ = ["duration"]


def duration(seconds: float) -> str:
    """``42.0 s`` below 90 s, ``12.5 min`` below 2 h, else ``3.1 h``."""
    seconds = float(seconds)
    if seconds < 90:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
