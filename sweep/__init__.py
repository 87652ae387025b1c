"""sweep: hyperparameter sweeps for Edge Impulse learn blocks, driven by Optuna."""

from sweep.errors import SweepError
from sweep.version import __version__

__all__ = ["SweepError", "__version__"]
