"""Histograms with classic cumulative buckets."""

from __future__ import annotations

import math
from collections.abc import Iterable
from itertools import accumulate, pairwise
from typing import ClassVar

from ..model import HistogramValue, MetricFamily, MetricType
from ..values import HistogramCell, as_float
from ._family import Child, Family
from ._timing import Timer

INF = math.inf
DEFAULT_BUCKETS: tuple[float, ...] = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
    INF,
)


def check_buckets(buckets: Iterable[object]) -> tuple[float, ...]:
    """Bucket upper bounds as floats, sorted and unique, ending with ``+Inf``."""
    if isinstance(buckets, (str, bytes)):
        raise TypeError(f"buckets must be a sequence of numbers, got {buckets!r}")
    bounds = tuple(as_float(b, "bucket bound") for b in buckets)
    for bound in bounds:
        if bound != bound:
            raise ValueError(f"bucket bounds must not be NaN: {bounds!r}")
    for low, high in pairwise(bounds):
        if not low < high:
            raise ValueError(f"bucket bounds must be sorted and unique: {low!r} then {high!r}")
    if not bounds or bounds[-1] != INF:
        bounds += (INF,)
    return bounds


class HistogramChild(HistogramCell, Child):
    """One histogram series: ``observe``, ``time`` and ``get``."""

    __slots__ = ("label_values", "rendered_labels")
    RECORDING_METHODS: ClassVar[tuple[str, ...]] = ("observe",)

    def __init__(self, labels: tuple[str, ...], bounds: tuple[float, ...]) -> None:
        HistogramCell.__init__(self, bounds)
        self.label_values = labels
        self.rendered_labels: str | None = None

    def get(self) -> HistogramValue:
        """Cumulative buckets, sum and count, read at one instant."""
        counts, total, count = self.read()
        return HistogramValue(
            tuple(zip(self._bounds[2:], accumulate(counts), strict=True)), total, count
        )

    def time(self) -> Timer:
        """Context manager and decorator: observe the duration in seconds."""
        return Timer(self._observe_seconds)

    def _observe_seconds(self, seconds: float) -> None:
        self.observe(seconds)


class Histogram(Family[HistogramChild]):
    """A histogram family with fixed bucket upper bounds (``le`` may not be a label name)."""

    TYPE: ClassVar[MetricType] = MetricType.HISTOGRAM
    CHILD: ClassVar[type[HistogramChild]] = HistogramChild
    CHILD_METHODS: ClassVar[tuple[str, ...]] = ("observe", "get")
    RESERVED_LABELS: ClassVar[tuple[str, ...]] = ("le",)

    def __init__(
        self,
        name: str,
        help: str = "",
        *,
        labelnames: Iterable[str] = (),
        unit: str = "",
        buckets: Iterable[float] = DEFAULT_BUCKETS,
    ) -> None:
        self._bounds = check_buckets(buckets)
        super().__init__(name, help, labelnames=labelnames, unit=unit)

    @property
    def buckets(self) -> tuple[float, ...]:
        """The bucket upper bounds, ending with ``+Inf``."""
        return self._bounds

    def sample_names(self) -> tuple[str, ...]:
        name = self._name
        return (name, name + "_bucket", name + "_sum", name + "_count", name + "_created")

    def definition(self) -> dict[str, object]:
        return {**super().definition(), "buckets": self._bounds}

    def _new_child(self, cls: type[HistogramChild], labels: tuple[str, ...]) -> HistogramChild:
        return cls(labels, self._bounds)

    def observe(self, value: float) -> None:
        """Record one observation on an unlabelled histogram."""
        raise self._no_labels_given("observe")

    def get(self) -> HistogramValue:
        """The snapshot of an unlabelled histogram."""
        raise self._no_labels_given("get")

    def time(self) -> Timer:
        """Context manager and decorator on an unlabelled histogram."""
        if self._labelnames:
            raise self._no_labels_given("time")
        return Timer(self._observe_seconds)

    def _observe_seconds(self, seconds: float) -> None:
        self.observe(seconds)

    def collect(self) -> MetricFamily:
        return MetricFamily(
            self._name,
            MetricType.HISTOGRAM,
            self._help,
            self._unit,
            self._labelnames,
            histograms=[(child, child.get()) for child in self._sorted_children()],
        )
