"""Summaries: count, sum and quantiles computed over a sliding time window.

The quantile sketch, its accuracy guarantee and the memory bound per series are described
in ``tachikoma_metrics.quantiles``.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable
from typing import ClassVar

from ..model import MetricFamily, MetricType, SummaryValue
from ..quantiles import SummaryCell, SummarySpec
from ..values import as_float
from ._family import Child, Family, Registrar, timer_choosing_labels
from ._timing import Timer

DEFAULT_QUANTILES: tuple[float, ...] = ()
"""No quantiles unless asked for, as in prometheus_client and client_golang: a quantile
costs memory per series and cannot be aggregated across series. Such a summary exposes
only ``_sum`` and ``_count``."""

DEFAULT_MAX_AGE = 600.0
"""Seconds an observation counts in the quantiles at most (client_golang's default)."""

DEFAULT_AGE_BUCKETS = 5
"""Parts the window is rotated over (client_golang's default)."""


def check_quantiles(quantiles: Iterable[object]) -> tuple[float, ...]:
    """Quantiles as floats, each strictly between 0 and 1, no two equal; sorted."""
    if isinstance(quantiles, (str, bytes)) or not isinstance(quantiles, Iterable):
        raise TypeError(f"quantiles must be a sequence of numbers, got {quantiles!r}")
    values = tuple(as_float(q, "quantile") for q in quantiles)
    seen: set[float] = set()
    for q in values:
        if not 0.0 < q < 1.0:
            raise ValueError(f"quantiles must be between 0 and 1 (exclusive), got {q!r}")
        if q in seen:
            raise ValueError(f"quantile {q!r} is given twice in {values!r}")
        seen.add(q)
    return tuple(sorted(values))


def check_max_age(max_age: object) -> float:
    """``max_age`` in seconds as a float: finite and > 0."""
    value = as_float(max_age, "max_age")
    if not 0.0 < value < math.inf:
        raise ValueError(f"max_age must be a finite number of seconds > 0, got {max_age!r}")
    return value


def check_age_buckets(age_buckets: object) -> int:
    """``age_buckets`` as an int >= 1 (any integer type but ``bool``)."""
    if isinstance(age_buckets, bool) or not hasattr(age_buckets, "__index__"):
        raise TypeError(f"age_buckets must be an int, got {age_buckets!r}")
    count = operator.index(age_buckets)
    if count < 1:
        raise ValueError(f"age_buckets must be >= 1, got {age_buckets!r}")
    return count


class _SummaryHelpers(SummaryCell):
    """What a summary series offers beyond its cell: ``time``."""

    __slots__ = ()

    def time(self) -> Timer:
        """Context manager and decorator: observe the duration in seconds."""
        return Timer(self._observe_seconds)

    # An indirection, so a timer made before init() records once init() has run.
    def _observe_seconds(self, seconds: float) -> None:
        self.observe(seconds)


class SummaryChild(_SummaryHelpers, Child):
    """One summary series: ``observe``, ``time`` and ``get`` (a ``SummaryValue``)."""

    __slots__ = ()

    def __init__(self, labels: tuple[str, ...], spec: SummarySpec) -> None:
        """``spec``: the family's quantiles and window, shared by its children."""
        Child.__init__(self, labels)
        self._init_cell(spec)


class Summary(Family[SummaryChild], _SummaryHelpers):
    """A summary family: count and sum of all observations, and ``quantiles`` of those
    made in the last ``max_age`` seconds (``quantile`` may not be a label name).

    ``quantiles``: numbers strictly between 0 and 1 (default: none, so only ``_sum`` and
    ``_count`` are exposed). The window is rotated over ``age_buckets`` parts: an
    observation counts for between ``max_age * (1 - 1/age_buckets)`` and ``max_age``
    seconds; a quantile of an empty window is NaN. Each reported quantile is within 1/128
    (0.79%) relative error of the exact nearest-rank quantile of the window (see
    ``tachikoma_metrics.quantiles`` for the guarantee, its range and the memory bound).
    Observations may be any real number but NaN; infinities are counted as they are.

    Unlabelled, the family is its own series, with the methods of ``SummaryChild``.
    """

    __slots__ = ()
    TYPE: ClassVar[MetricType] = MetricType.SUMMARY
    CHILD: ClassVar[type[SummaryChild]] = SummaryChild
    RESERVED_LABELS: ClassVar[tuple[str, ...]] = ("quantile",)

    def __init__(
        self,
        name: str,
        help: str = "",
        labelnames: Iterable[str] = (),
        *,
        unit: str = "",
        quantiles: Iterable[float] = DEFAULT_QUANTILES,
        max_age: float = DEFAULT_MAX_AGE,
        age_buckets: int = DEFAULT_AGE_BUCKETS,
        registry: Registrar | None = None,
    ) -> None:
        # _spec is a cell slot: set here so that _init_cell_for_family finds it.
        self._spec = SummarySpec(
            check_quantiles(quantiles), check_max_age(max_age), check_age_buckets(age_buckets)
        )
        super().__init__(name, help, labelnames, unit=unit, registry=registry)

    def _init_cell_for_family(self) -> None:
        self._init_cell(self._spec)

    def get(self) -> SummaryValue:
        """The snapshot of an unlabelled summary."""
        self._unlabelled("get")
        return super().get()

    # On a labelled family, a with block chooses the child inside: see ``_family``.
    time = timer_choosing_labels(_SummaryHelpers.time, "observe")

    @property
    def quantiles(self) -> tuple[float, ...]:
        """The quantiles reported, in increasing order."""
        return self._spec.quantiles

    @property
    def max_age(self) -> float:
        """Seconds an observation counts in the quantiles at most."""
        return self._spec.max_age

    @property
    def age_buckets(self) -> int:
        """Parts the quantiles' window is rotated over."""
        return self._spec.age_buckets

    def _options(self) -> tuple[tuple[str, object], ...]:
        spec = self._spec
        return (
            ("quantiles", spec.quantiles),
            ("max_age", spec.max_age),
            ("age_buckets", spec.age_buckets),
        )

    def _new_child(self, labels: tuple[str, ...]) -> SummaryChild:
        return self._child_class(labels, self._spec)

    def _snapshot(self) -> MetricFamily:
        return MetricFamily(
            self._name,
            MetricType.SUMMARY,
            self._help,
            self._unit,
            self._labelnames,
            summaries=[(series, series.get()) for series in self._series()],
        )
