"""The garbage-collector collector: CPython's per-generation collection statistics
(``gc.get_stats()``), as ``prometheus_client``'s ``GCCollector`` exposes them."""

from __future__ import annotations

import gc
import platform
from typing import TYPE_CHECKING

from ..model import LabelSet, MetricFamily, MetricType

if TYPE_CHECKING:
    from ..registry import MetricsRegistry

# (family name without "_total", the gc.get_stats() key, help) as prometheus_client's.
_FAMILIES = (
    ("python_gc_collections", "collections", "Number of times this generation was collected"),
    ("python_gc_objects_collected", "collected", "Objects collected during gc"),
    ("python_gc_objects_uncollectable", "uncollectable", "Uncollectable objects found during GC"),
)
_LABELS = ("generation",)


class GCCollector:
    """Three counters by ``generation`` (``"0"``, ``"1"``, ``"2"``):
    ``python_gc_collections_total``, ``python_gc_objects_collected_total`` and
    ``python_gc_objects_uncollectable_total``, read from ``gc.get_stats()`` at each
    collection.

    Only on CPython (as ``prometheus_client``): elsewhere ``available`` is false and the
    collector exposes nothing. ``registry``: register there (none by default).
    """

    def __init__(self, *, registry: MetricsRegistry | None = None) -> None:
        self._available = hasattr(gc, "get_stats") and platform.python_implementation() == "CPython"
        if registry is not None:
            registry.register(self)

    @property
    def available(self) -> bool:
        """Whether this interpreter has CPython's ``gc.get_stats()``."""
        return self._available

    def describe(self) -> list[MetricFamily]:
        """The three families without series (none when not ``available``)."""
        if not self._available:
            return []
        return [
            MetricFamily(name, MetricType.COUNTER, text, "", _LABELS) for name, _, text in _FAMILIES
        ]

    def collect(self) -> list[MetricFamily]:
        """The three families, each generation's numbers from one ``gc.get_stats()``."""
        if not self._available:
            return []
        stats = gc.get_stats()
        labels = [LabelSet((str(generation),)) for generation in range(len(stats))]
        return [
            MetricFamily(
                name,
                MetricType.COUNTER,
                text,
                "",
                _LABELS,
                tuple((label, float(stat[key])) for label, stat in zip(labels, stats, strict=True)),
            )
            for name, key, text in _FAMILIES
        ]

    def __repr__(self) -> str:
        return "<GCCollector python_gc_*>"
