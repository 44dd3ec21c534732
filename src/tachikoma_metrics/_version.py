"""The package version, read by the build (pyproject) and re-exported as ``__version__``."""

__version__ = "0.2.0"
