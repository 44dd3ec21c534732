"""The platform collector: ``python_info``, the running Python's implementation and
version, as ``prometheus_client``'s ``PlatformCollector`` exposes it."""

from __future__ import annotations

import platform as _platform_module
from typing import TYPE_CHECKING, Any

from .._names import check_text
from ..model import LabelSet, MetricFamily, MetricType

if TYPE_CHECKING:
    from ..registry import MetricsRegistry

NAME = "python_info"
HELP = "Python platform information"
LABELS = ("implementation", "major", "minor", "patchlevel", "version")


class PlatformCollector:
    """``python_info{implementation,major,minor,patchlevel,version} 1``, a gauge (as in
    ``prometheus_client``), read once when the collector is made: the interpreter does not
    change while it runs.

    ``platform``: an object with ``python_implementation()``, ``python_version()`` and
    ``python_version_tuple()`` (the ``platform`` module by default; another in tests).
    ``registry``: register there (none by default).
    """

    def __init__(self, *, platform: Any = None, registry: MetricsRegistry | None = None) -> None:
        source = _platform_module if platform is None else platform
        major, minor, patchlevel = source.python_version_tuple()
        values = (
            source.python_implementation(),
            major,
            minor,
            patchlevel,
            source.python_version(),
        )
        checked = tuple(
            check_text(f"python_info label {name!r}", value)
            for name, value in zip(LABELS, values, strict=True)
        )
        self._family = MetricFamily(
            NAME, MetricType.GAUGE, HELP, "", LABELS, ((LabelSet(checked), 1.0),)
        )
        if registry is not None:
            registry.register(self)

    @property
    def available(self) -> bool:
        """Always true: every Python can say what it is."""
        return True

    def describe(self) -> list[MetricFamily]:
        """``python_info`` without its series."""
        return [MetricFamily(NAME, MetricType.GAUGE, HELP, "", LABELS)]

    def collect(self) -> list[MetricFamily]:
        """``python_info``: the same snapshot every time."""
        return [self._family]

    def __repr__(self) -> str:
        return "<PlatformCollector python_info>"
