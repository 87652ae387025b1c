"""The study file's [sampler] -> a seeded Optuna sampler; bad names/options are StudyFileErrors."""

from __future__ import annotations

import importlib.util
import inspect
import warnings
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import optuna
from optuna.samplers import BaseSampler, GridSampler

from sweep.errors import StudyFileError, install_hint
from sweep.study.space import grid

if TYPE_CHECKING:
    from optuna.study import Study
    from optuna.trial import FrozenTrial, TrialState

    from sweep.study.schema import SamplerSpec
    from sweep.study.spec import StudySpec

__all__ = ["SAMPLERS", "AskTellGridSampler", "make_sampler"]


class AskTellGridSampler(GridSampler):
    """GridSampler for an ask/tell loop: it never calls ``study.stop()`` (which raises outside
    ``optimize``); the runner asks ``is_exhausted(study)`` instead."""

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState, values: Any) -> None:
        return None


SAMPLERS: dict[str, type[BaseSampler]] = {
    "tpe": optuna.samplers.TPESampler,
    "random": optuna.samplers.RandomSampler,
    "grid": AskTellGridSampler,
    "cmaes": optuna.samplers.CmaEsSampler,
    "gp": optuna.samplers.GPSampler,
    "nsga2": optuna.samplers.NSGAIISampler,
    "qmc": optuna.samplers.QMCSampler,
}
# Python packages a sampler needs at sampling time: Optuna imports them lazily, i.e. mid-sweep,
# so they are checked when the study file loads (an extra of ours installs each).
_NEEDS: dict[str, tuple[tuple[str, str], ...]] = {
    "cmaes": (("cmaes", ""),),
    "qmc": (("scipy", "qmc"),),
    "gp": (("torch", "gp"), ("scipy", "gp")),
}
# Set by sweep itself, never through options.
_RESERVED = {
    "seed": "use sampler.seed",
    "search_space": "the grid comes from [space]",
    "constraints_func": "write constraints = [...] at the top of the study file",
    "independent_sampler": "not settable from a study file",
}


def make_sampler(sampler_spec: SamplerSpec, spec: StudySpec, *, n_existing_trials: int = 0,
                 worker: str = "") -> BaseSampler:
    """Build the sampler; ``n_existing_trials`` shifts the seed so a resumed study does not replay
    the random draws of its first run (0 = the seed as written)."""
    file, name = str(spec.path), sampler_spec.name
    cls = SAMPLERS[name]
    if name == "cmaes" and len(spec.objectives) > 1:
        raise StudyFileError(file, "sampler.name", name, "CMA-ES handles a single objective only; "
                             "use tpe, nsga2, gp, random or qmc for several objectives")
    for package, extra in _NEEDS.get(name, ()):
        if importlib.util.find_spec(package) is None:
            how = f" (install the {extra} extra: {install_hint(extra)})" if extra else ""
            raise StudyFileError(file, "sampler.name", name,
                                 f"the {name} sampler needs the Python package {package}, which is not installed{how}")
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    options = dict(sampler_spec.options)
    for key in options:
        if key in _RESERVED:
            raise StudyFileError(file, f"sampler.options.{key}", options[key], f"not an option here: {_RESERVED[key]}")
        if key not in accepted:
            allowed = ", ".join(p for p in accepted if p not in _RESERVED)
            raise StudyFileError(file, f"sampler.options.{key}", options[key],
                                 f"unknown option of the {name} sampler (it takes: {allowed})")
    seed = sampler_spec.seed
    if seed is not None and n_existing_trials:
        seed = (seed * 1_000_003 + n_existing_trials) % 2**32
    if seed is not None and worker:
        # Workers started together see the same trial count: without this they would all draw the
        # same configurations and train each one once per worker.
        seed = (seed * 1_000_003 + zlib.crc32(worker.encode())) % 2**32
    if name == "grid":
        options["search_space"] = grid(spec.space, file)
    if "warn_independent_sampling" in accepted and name != "tpe":
        # Categorical params are always sampled independently by CMA-ES/GP/QMC: one log line per
        # param per trial would bury the sweep's own progress.
        options.setdefault("warn_independent_sampling", False)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            factory: Callable[..., BaseSampler] = cls
            return factory(seed=seed, **options)
    except (TypeError, ValueError) as exc:
        raise StudyFileError(file, "sampler.options", sampler_spec.options,
                             f"the {name} sampler refused these options: {exc}") from None
