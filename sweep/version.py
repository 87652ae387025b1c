"""The version of sweep, in one place (read by the package metadata, ``sweep --version`` and the user agent)."""

__version__ = "0.1.0"
