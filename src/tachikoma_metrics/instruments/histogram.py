"""Histograms: classic cumulative buckets, and native (sparse exponential) ones on request."""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable
from itertools import accumulate, islice, pairwise
from typing import Any, ClassVar

from ..model import HistogramValue, MetricFamily, MetricType
from ..native import DEFAULT_MAX_BUCKETS, DEFAULT_ZERO_THRESHOLD
from ..values import HistogramCell, as_float, histogram_cell_for, slot_bounds
from ..values_native import DEFAULT_BUCKET_FACTOR, NativeHistogramCell, NativeSpec
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
        """Cumulative buckets, sum, count and native buckets (if any), read at one instant."""
        counts, total, count, native = self.read_native()
        exemplars = self._exemplars
        return HistogramValue(
            tuple(zip(islice(self._bounds, 2, None), accumulate(counts), strict=True)),
            total,
            count,
            self._created,
            None if exemplars is None else tuple(exemplars),
            native,
        )

    def time(self) -> Timer:
        """Context manager and decorator: observe the duration in seconds."""
        return Timer(self._observe_seconds)

    def _observe_seconds(self, seconds: float) -> None:
        self.observe(seconds)


class HistogramChild(_HistogramHelpers, Child):
    """One histogram series: ``observe``, ``time`` and ``get``."""

    __slots__ = ()

    def __init__(self, labels: tuple[str, ...], bounds: tuple[float, ...], *native: Any) -> None:
        """``bounds`` as ``values.slot_bounds`` makes them, shared by the family's children;
        ``native``: the family's ``NativeSpec`` when it has native buckets."""
        Child.__init__(self, labels)
        self._init_cell(bounds, *native)


class Histogram(Family[HistogramChild], _HistogramHelpers):
    """A histogram family (``le`` may not be a label name).

    Classic buckets: fixed upper bounds (``DEFAULT_BUCKETS`` unless ``buckets=`` is given).
    With ``native=True``, native buckets too, as client_golang records them
    (``native_bucket_factor`` picks the starting schema, ``native_zero_threshold`` bounds
    the zero bucket, ``native_max_buckets`` makes it halve its resolution when more buckets
    are populated); then the classic buckets are only those given (none but ``+Inf`` by
    default: a native-only histogram). Every option is part of the definition.

    Unlabelled, the family is its own series, with the methods of ``HistogramChild``.
    Its cell (and its children's) has ``observe`` compiled for its bounds (see
    ``values.histogram_cell_for``; ``values_native`` for native buckets).
    """

    __slots__ = ("_bounds_given", "_native_spec", "_slot_bounds")
    TYPE: ClassVar[MetricType] = MetricType.HISTOGRAM
    CHILD: ClassVar[type[HistogramChild]] = HistogramChild
    RESERVED_LABELS: ClassVar[tuple[str, ...]] = ("le",)

    def __new__(cls, *args: Any, registry: Registrar | None = None, **options: Any) -> Any:
        buckets = options.get("buckets")
        if buckets is not None and not isinstance(buckets, Collection):
            buckets = tuple(buckets)  # an iterator can be read only once: read it here
        native = options.get("native", False)
        if native.__class__ is not bool:
            raise TypeError(f"native must be True or False, got {native!r}")
        spec = None
        if native:
            spec = NativeSpec.checked(
                options.get("native_bucket_factor", DEFAULT_BUCKET_FACTOR),
                options.get("native_zero_threshold", DEFAULT_ZERO_THRESHOLD),
                options.get("native_max_buckets", DEFAULT_MAX_BUCKETS),
            )
        bounds = check_buckets(
            buckets if buckets is not None else (() if native else DEFAULT_BUCKETS)
        )
        family = super().__new__(
            cls, *args, registry=registry, **{**options, "buckets": bounds, "native": native}
        )
        family._bounds_given = bounds  # __init__ takes these, not its (maybe read) arguments
        family._native_spec = spec
        return family

    @classmethod
    def _default_cell(cls, options: dict[str, Any]) -> type[HistogramCell]:
        if options.get("native", False):
            return NativeHistogramCell  # buffers, then counts classic buckets by bisection
        return histogram_cell_for(options["buckets"])  # checked by __new__

    def __init__(
        self,
        name: str,
        help: str = "",
        labelnames: Iterable[str] = (),
        *,
        unit: str = "",
        buckets: Iterable[float] | None = None,
        native: bool = False,
        native_bucket_factor: float = DEFAULT_BUCKET_FACTOR,
        native_zero_threshold: float = DEFAULT_ZERO_THRESHOLD,
        native_max_buckets: int = DEFAULT_MAX_BUCKETS,
        registry: Registrar | None = None,
    ) -> None:
        # __new__ has checked the buckets and native options (and read an iterator).
        self._slot_bounds = slot_bounds(self._bounds_given)
        super().__init__(name, help, labelnames, unit=unit, registry=registry)

    _bounds_given: tuple[float, ...]
    _native_spec: NativeSpec | None

    def _cell_arguments(self) -> tuple[Any, ...]:
        spec = self._native_spec
        return (self._slot_bounds,) if spec is None else (self._slot_bounds, spec)

    def _init_cell_for_family(self) -> None:
        self._init_cell(*self._cell_arguments())

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

    @property
    def native(self) -> bool:
        """Whether the histogram records native buckets."""
        return self._native_spec is not None

    def _options(self) -> tuple[tuple[str, object], ...]:
        spec = self._native_spec
        if spec is None:
            return (("buckets", self._bounds_given),)
        return (
            ("buckets", self._bounds_given),
            ("native", True),
            ("native_bucket_factor", spec.bucket_factor),
            ("native_zero_threshold", spec.zero_threshold),
            ("native_max_buckets", spec.max_buckets),
        )

    def _new_child(self, labels: tuple[str, ...]) -> HistogramChild:
        return self._child_class(labels, *self._cell_arguments())

    def _snapshot(self) -> MetricFamily:
        return MetricFamily(
            self._name,
            MetricType.HISTOGRAM,
            self._help,
            self._unit,
            self._labelnames,
            histograms=[(series, series.get()) for series in self._series()],
        )
