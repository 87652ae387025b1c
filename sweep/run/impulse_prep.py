"""Before a whole-impulse trial trains: its DSP parameters and window set on its slot's impulse, features made.

In order, on the clone that holds the trial's learn block: ``POST /dsp/{dspId}`` (the parameters the trial
sets, as strings), ``POST /impulse?impulseId=`` (the input block's window, when it changes), one
generate-features job per DSP block feeding the learn block (waited for: a failed one fails the trial
with its reason), then the train job. A slot skips all of it when its features already come from exactly
this configuration: the input block holds the trial's window (every field it names, time series or image:
:func:`~sweep.studio.impulse_models.window_differences`), and each DSP block's features
(``GET /dsp/{dspId}/metadata``) are generated, from the trial's parameters (``dspConfig``) and from the input
block's whole window as the metadata tells it (``windowSizeMs``, ``windowIncreaseMs``, ``padZeros``, an image
output's size). ``sweep best --apply`` takes the same path on the user's own impulse. A reshape layer that
names no ``columns`` gets the columns of a frame of the features (``outputConfig``: ``height`` of a
spectrogram-like output; ``width`` counts its frames).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sweep.errors import JobFailed, SweepAborted
from sweep.run.follow import Follower
from sweep.run.impulse_check import dsp_positions
from sweep.run.progress import Progress
from sweep.run.work import TrialRun
from sweep.studio.backend import Backend
from sweep.studio.impulse_models import DspMetadataResponse, Impulse, window_differences
from sweep.studio.metrics import dsp_metrics
from sweep.study.request import TrainRequest
from sweep.study.space import WINDOW_WIRE, window_fields
from sweep.study.spec import StudySpec

__all__ = ["ImpulsePrep", "source_settings"]

def _columns(metadata: DspMetadataResponse | None) -> int | None:
    """What a reshape layer's ``columns`` follow: a spectrogram-like output's columns a frame (Studio's
    ``outputConfig`` counts frames in ``width`` and the columns in ``height``, as its DSP blocks' dsp.py do)."""
    if metadata is None or metadata.output_config is None or metadata.output_config.type != "spectrogram":
        return None
    return metadata.output_config.shape.height


def _same(have: str | None, want: str) -> bool:
    """Two DSP parameter strings name the same value (``"0.02"`` and ``"0.020"``, ``"True"`` and ``"true"``)."""
    if have is None:
        return False
    try:
        return float(have) == float(want)
    except ValueError:
        return have.strip().lower() == want.strip().lower()


def source_settings(spec: StudySpec, backend: Backend) -> dict[str, Any]:
    """The source impulse's own values of what the study tunes (the baseline trains on these), as
    :func:`~sweep.study.request.impulse_settings` writes a trial's."""
    source = backend.impulse(spec.target.impulse_id)
    dsp: dict[str, dict[str, str]] = {}
    for ref, place in dsp_positions(spec, source).items():
        described = backend.dsp_config(source.dsp_blocks[place].id).parameters()
        dsp[ref] = {name: described[name].value or described[name].default_value
                    for name in (spec.space.dsp or {})[ref] if name in described}
    window: dict[str, int] = {}
    for name in window_fields(spec.space):
        wire = WINDOW_WIRE[name]
        value = next((b.get(wire) for b in source.input_blocks if b.get(wire) is not None), None)
        if value is not None:
            window[wire] = int(value)
    return {"dsp": dsp, "window": window}


def _input_of(impulse: Impulse, dsp_id: int) -> dict[str, Any]:
    """The input block feeding a DSP block (its ``input``; else the impulse's first), or {} if none."""
    block = next((b for b in impulse.dsp_blocks if b.id == dsp_id), None)
    inputs = {int(b.get("id", 0)): b for b in impulse.input_blocks}
    found = inputs.get(block.input) if block is not None and block.input is not None else None
    return found if found is not None else next(iter(inputs.values()), {})


class ImpulsePrep:
    """Sets each trial's impulse settings on its slot's clone; shared by the slots' threads."""

    def __init__(self, spec: StudySpec, backend: Backend, follower: Follower, progress: Progress) -> None:
        self.spec, self.backend, self.follower, self.progress = spec, backend, follower, progress
        self._lock = threading.Lock()
        self._positions: dict[str, int] | None = None
        self._impulse_of: dict[int, int] = {}  # learn block -> the impulse that holds it
        self._dsp_of: dict[int, list[int]] = {}  # learn block -> the DSP blocks feeding it (from prepare)
        self.started: list[int] = []  # the generate-features jobs it started, in order (their compute is counted)
        self.before_job: Callable[[], None] | None = None  # called before the slot is changed for new features
        # (may refuse by raising: then nothing was changed)

    def prepare(self, work: TrialRun) -> TrainRequest:
        """Make the slot's impulse and features match the trial's settings; the request to send (columns set)."""
        return self.prepare_block(work.learn_id, work.request, work.label)

    def prepare_block(self, learn_id: int, request: TrainRequest, label: str) -> TrainRequest:
        """Make the impulse holding ``learn_id`` and its features match ``request.impulse``; the request to send."""
        settings = request.impulse or {"dsp": {}, "window": {}}
        impulse = self._impulse(learn_id)
        learn = next(b for b in impulse.learn_blocks if b.id == learn_id)
        with self._lock:
            self._dsp_of[learn_id] = list(learn.dsp)
        wanted = {impulse.dsp_blocks[self._place(ref)].id: config for ref, config in settings["dsp"].items()}
        window: dict[str, int] = dict(settings["window"])
        metadata = {d: self.backend.dsp_metadata(d) for d in learn.dsp}
        if all(self._fits(metadata[d], wanted.get(d, {}), _input_of(impulse, d), window) for d in learn.dsp):
            self.progress.info(f"{label}: features of this DSP and window configuration are there already")
        else:
            self._apply(label, impulse, wanted, window, learn.dsp)
            metadata = {d: self.backend.dsp_metadata(d) for d in learn.dsp}
        first = metadata[learn.dsp[0]] if learn.dsp else None
        columns = _columns(first)
        return request.with_columns(columns) if columns else request

    def device_metrics(self, learn_id: int, metrics: dict[str, float]) -> dict[str, float]:
        """The DSP blocks' device cost and the totals with the network's (see :func:`dsp_metrics`)."""
        with self._lock:
            dsp_ids = self._dsp_of.get(learn_id)
        if dsp_ids is None:  # a re-attached trial: not prepared in this run
            impulse = self._impulse(learn_id)
            dsp_ids = next(list(b.dsp) for b in impulse.learn_blocks if b.id == learn_id)
        return dsp_metrics([self.backend.dsp_performance(d) for d in dsp_ids], metrics)

    # ---- internals ----------------------------------------------------------------------------

    def _place(self, ref: str) -> int:
        with self._lock:
            if self._positions is None:
                self._positions = dsp_positions(self.spec, self.backend.impulse(self.spec.target.impulse_id))
            return self._positions[ref]

    def _impulse(self, learn_id: int) -> Impulse:
        with self._lock:
            known = self._impulse_of.get(learn_id)
        if known is not None:
            return self.backend.impulse(known)
        for impulse in self.backend.impulses().impulses:
            if any(b.id == learn_id for b in impulse.learn_blocks):
                with self._lock:
                    self._impulse_of[learn_id] = impulse.id
                return self.backend.impulse(impulse.id)
        raise SweepAborted(f"no impulse of the project holds learn block {learn_id} any more")

    @staticmethod
    def _fits(metadata: DspMetadataResponse, config: dict[str, str], block: dict[str, Any],
              window: dict[str, int]) -> bool:
        """Whether a DSP block's features are those of ``config`` on the input ``block`` set to ``window``."""
        if not metadata.generated or window_differences(block, window):
            return False
        if not all(_same(metadata.dsp_config.get(k), v) for k, v in config.items()):
            return False
        made_from = {k: v for k, v in metadata.window().items() if k in block}
        return not window_differences(block, made_from)

    def _apply(self, label: str, impulse: Impulse, wanted: dict[int, dict[str, str]], window: dict[str, int],
               dsp_ids: list[int]) -> None:
        if self.before_job is not None:  # before anything changes: a refusal leaves the slot as it was
            self.before_job()
        for dsp_id, config in wanted.items():
            self.backend.set_dsp_config(dsp_id, config)
        if window and self._set_window(impulse, window):
            self.backend.update_impulse(impulse)
        shown = ", ".join(f"{k}={v}" for c in wanted.values() for k, v in c.items())
        self.progress.info(f"{label}: impulse {impulse.id} set ({shown}{', ' if shown and window else ''}"
                           + ", ".join(f"{k}={v}" for k, v in window.items()) + "); generating its features")
        for dsp_id in dsp_ids:
            job_id = self.backend.generate_features(dsp_id)
            with self._lock:
                self.started.append(job_id)
            job = self.follower.wait(job_id, kind="features")
            if not job.finished_successful:
                why, tail = self.follower.reason(job)
                raise JobFailed(f"generating the features of DSP block {dsp_id} failed (job {job_id}): {why}",
                                job_id=job_id, log_tail=tail, compute_time_s=None, transient=job.stopped_by_server)

    @staticmethod
    def _set_window(impulse: Impulse, window: dict[str, int]) -> bool:
        """Write ``window`` into the impulse's input blocks; whether anything changed."""
        changed = False
        for block in impulse.input_blocks:
            for key, value in window.items():
                current: Any = block.get(key)
                if current != value:
                    block[key] = value
                    changed = True
        return changed
