"""Histograms with classic cumulative buckets."""

from __future__ import annotations

import math
from collections.abc import Iterable
from itertools import accumulate, islice, pairwise
from typing import Any, ClassVar

from ..model import HistogramValue, MetricFamily, MetricType
from ..values import HistogramCell, as_float, histogram_cell_for, slot_bounds
from ._family import Child, Family, Registrar, timer_choosing_labels
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


class _HistogramHelpers(HistogramCell):
    """What a histogram series offers beyond its cell: ``get`` and ``time``."""

    __slots__ = ()

    def get(self) -> HistogramValue:
        """Cumulative buckets, sum and count, read at one instant."""
        counts, total, count = self.read()
        exemplars = self._exemplars
        return HistogramValue(
            tuple(zip(islice(self._bounds, 2, None), accumulate(counts), strict=True)),
            total,
            count,
            self._created,
            None if exemplars is None else tuple(exemplars),
        )

    def time(self) -> Timer:
        """Context manager and decorator: observe the duration in seconds."""
        return Timer(self._observe_seconds)

    def _observe_seconds(self, seconds: float) -> None:
        self.observe(seconds)


class HistogramChild(_HistogramHelpers, Child):
    """One histogram series: ``observe``, ``time`` and ``get``."""

    __slots__ = ()

    def __init__(self, labels: tuple[str, ...], bounds: tuple[float, ...]) -> None:
        """``bounds`` as ``values.slot_bounds`` makes them, shared by the family's children."""
        Child.__init__(self, labels)
        self._init_cell(bounds)


class Histogram(Family[HistogramChild], _HistogramHelpers):
    """A histogram family with fixed bucket upper bounds (``le`` may not be a label name).

    Unlabelled, the family is its own series, with the methods of ``HistogramChild``.
    Its cell (and its children's) has ``observe`` compiled for its bounds (see
    ``values.histogram_cell_for``).
    """

    __slots__ = ("_bounds_given", "_slot_bounds")
    TYPE: ClassVar[MetricType] = MetricType.HISTOGRAM
    CHILD: ClassVar[type[HistogramChild]] = HistogramChild
    RESERVED_LABELS: ClassVar[tuple[str, ...]] = ("le",)

    @classmethod
    def _default_cell(cls, options: dict[str, Any]) -> type[HistogramCell]:
        return histogram_cell_for(check_buckets(options.get("buckets", DEFAULT_BUCKETS)))

    def __init__(
        self,
        name: str,
        help: str = "",
        labelnames: Iterable[str] = (),
        *,
        unit: str = "",
        buckets: Iterable[float] = DEFAULT_BUCKETS,
        registry: Registrar | None = None,
    ) -> None:
        self._bounds_given = check_buckets(buckets)
        self._slot_bounds = slot_bounds(self._bounds_given)
        super().__init__(name, help, labelnames, unit=unit, registry=registry)

    def _init_cell_for_family(self) -> None:
        self._init_cell(self._slot_bounds)

    def get(self) -> HistogramValue:
        """The snapshot of an unlabelled histogram."""
        self._unlabelled("get")
        return super().get()

    # On a labelled family, a with block chooses the child inside: see ``_family``.
    time = timer_choosing_labels(_HistogramHelpers.time, "observe")

    @property
    def buckets(self) -> tuple[float, ...]:
        """The bucket upper bounds, ending with ``+Inf``."""
        return self._bounds_given

    def _options(self) -> tuple[tuple[str, object], ...]:
        return (("buckets", self._bounds_given),)

    def _new_child(self, labels: tuple[str, ...]) -> HistogramChild:
        return self._child_class(labels, self._slot_bounds)

    def _snapshot(self) -> MetricFamily:
        return MetricFamily(
            self._name,
            MetricType.HISTOGRAM,
            self._help,
            self._unit,
            self._labelnames,
            histograms=[(series, series.get()) for series in self._series()],
        )
