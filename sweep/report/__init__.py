"""Study reports: HTML/Markdown/CSV pages and plots (entry points in ``sweep.report.build``)."""

from __future__ import annotations

__all__ = ["write_comparison", "write_report"]


def __getattr__(name: str) -> object:
    if name in __all__:
        from sweep.report import build

        return getattr(build, name)
    raise AttributeError(name)
