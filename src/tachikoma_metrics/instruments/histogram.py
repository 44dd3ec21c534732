"""Histograms with classic cumulative buckets."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from itertools import accumulate, islice, pairwise
from typing import Any, ClassVar

from ..model import HistogramValue, MetricFamily, MetricType
from ..values import HistogramCell, as_float, compile_observe, slot_bounds
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

    __slots__ = (
        "_bounds",
        "_counts",
        "_created",
        "_exemplars",
        "_others",
        "_owner",
        "encoded_labels",
        "label_values",
        "rendered_labels",
    )

    def __init__(self, labels: tuple[str, ...], bounds: tuple[float, ...]) -> None:
        """``bounds`` as ``values.slot_bounds`` makes them, shared by the family's children."""
        self._init_cell(bounds)
        self.label_values = labels
        self.rendered_labels: str | None = None
        self.encoded_labels: bytes | None = None


_COMPILED_LOCK = threading.Lock()
_CHILD_CLASSES: dict[tuple[float, ...], type[HistogramChild]] = {}
_FAMILY_CLASSES: dict[tuple[type[Histogram], tuple[float, ...]], type[Histogram]] = {}


def _child_class_for(bounds: tuple[float, ...]) -> type[HistogramChild]:
    """``HistogramChild`` with ``observe`` compiled for these bounds (one class per layout)."""
    with _COMPILED_LOCK:
        cls = _CHILD_CLASSES.get(bounds)
        if cls is None:
            namespace = {"__slots__": (), "observe": compile_observe(bounds)}
            cls = _CHILD_CLASSES[bounds] = type("HistogramChild", (HistogramChild,), namespace)
        return cls


class Histogram(Family[HistogramChild], _HistogramHelpers):
    """A histogram family with fixed bucket upper bounds (``le`` may not be a label name).

    Unlabelled, the family is its own series, with the methods of ``HistogramChild``.
    Constructing one gives an instance of a subclass whose ``observe`` is compiled for
    its bounds (see ``values.compile_observe``).
    """

    TYPE: ClassVar[MetricType] = MetricType.HISTOGRAM
    CHILD: ClassVar[type[HistogramChild]] = HistogramChild
    RESERVED_LABELS: ClassVar[tuple[str, ...]] = ("le",)

    def __new__(
        cls, *args: Any, buckets: Iterable[float] = DEFAULT_BUCKETS, **kwargs: Any
    ) -> Histogram:
        bounds = check_buckets(buckets)
        with _COMPILED_LOCK:
            specialised = _FAMILY_CLASSES.get((cls, bounds))
            if specialised is None:
                namespace = {"observe": compile_observe(bounds), "__module__": cls.__module__}
                specialised = type(cls.__name__, (cls,), namespace)
                _FAMILY_CLASSES[(cls, bounds)] = specialised
        return object.__new__(specialised)

    def __init__(
        self,
        name: str,
        help: str = "",
        *,
        labelnames: Iterable[str] = (),
        unit: str = "",
        buckets: Iterable[float] = DEFAULT_BUCKETS,
        utf8_names: bool = False,
    ) -> None:
        self._bounds_given = check_buckets(buckets)
        self._child_class = _child_class_for(self._bounds_given)
        Family.__init__(self, name, help, labelnames=labelnames, unit=unit, utf8_names=utf8_names)

    def _init_series(self) -> None:
        self._init_cell(slot_bounds(self._bounds_given))

    def get(self) -> HistogramValue:
        """The snapshot of an unlabelled histogram."""
        self._unlabelled("get")
        return _HistogramHelpers.get(self)

    def time(self) -> Timer:
        """Context manager and decorator on an unlabelled histogram."""
        self._unlabelled("time")
        return _HistogramHelpers.time(self)

    @property
    def buckets(self) -> tuple[float, ...]:
        """The bucket upper bounds, ending with ``+Inf``."""
        return self._bounds_given

    def sample_names(self) -> tuple[str, ...]:
        name = self._name
        return (name, name + "_bucket", name + "_sum", name + "_count", name + "_created")

    def definition(self) -> dict[str, object]:
        return {**super().definition(), "buckets": self._bounds_given}

    def _new_child(self, cls: type[HistogramChild], labels: tuple[str, ...]) -> HistogramChild:
        return cls(labels, self._bounds)

    def collect(self) -> MetricFamily:
        return MetricFamily(
            self._name,
            MetricType.HISTOGRAM,
            self._help,
            self._unit,
            self._labelnames,
            histograms=[(series, series.get()) for series in self._series()],
        )
