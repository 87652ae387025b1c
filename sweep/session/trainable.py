"""What a study's target can train, asked before any job: Studio trains whatever a learn block holds; the local
studio refuses some settings (expert scripts it cannot run, useLearnedOptimizer, customParameters, ...: its own
rules, :func:`sweep.local.validate.refusals`, the ones its trainer fails a job with)."""

from __future__ import annotations

from sweep.studio.models import SetKerasParameterRequest
from sweep.study.spec import StudySpec

__all__ = ["refusals"]


def refusals(spec: StudySpec, request: SetKerasParameterRequest) -> list[str]:
    """Why the study's target cannot train ``request``, one reason each; empty when it can (or cannot tell)."""
    if spec.target.kind != "local":
        return []
    from sweep.local.validate import refusals as local_refusals  # Keras-free: the rules, not the trainer

    # whether the server runs expert scripts is its own setting (sweep serve --allow-user-code): not refused here
    return local_refusals(request, user_code=None)
