"""sweep: hyperparameter sweeps for Edge Impulse learn blocks, driven by Optuna."""

from sweep.errors import SweepError

__all__ = ["SweepError", "__version__"]

__version__ = "0.1.0"
