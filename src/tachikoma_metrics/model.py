"""Snapshot types: the plain data a registry hands to encoders.

A snapshot is taken family by family. Within one series every number was read at one
instant: a histogram's count always equals its ``+Inf`` bucket, its buckets are cumulative
and its sum belongs to the same observations. Across series and across reads, counts never
go down (unless a series is removed and created again).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass


class MetricType(enum.Enum):
    """The type of a metric family, named as the exposition formats name it."""

    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"


class LabelSet:
    """The label values of one series, in the family's declared label-name order.

    ``values`` never changes. ``rendered`` is a memo owned by the text encoders (label
    pairs, escaped, sorted by name, without braces); it is filled on first use and never
    alters what is encoded.
    """

    __slots__ = ("rendered", "values")

    def __init__(self, values: tuple[str, ...]) -> None:
        self.values = values
        self.rendered: str | None = None

    def __repr__(self) -> str:
        return f"LabelSet({self.values!r})"


@dataclass(frozen=True, slots=True)
class HistogramValue:
    """A histogram series read at one instant.

    ``buckets`` are ``(upper_bound, cumulative_count)`` pairs in increasing bound order,
    ending with ``(inf, count)``.
    """

    buckets: tuple[tuple[float, int], ...]
    sum: float
    count: int


@dataclass(frozen=True, slots=True)
class MetricFamily:
    """One family as the encoders see it.

    ``name`` is the family name as OpenMetrics defines it: for counters, without the
    ``_total`` suffix their samples carry. ``samples`` holds the series of counters and
    gauges, ``histograms`` the series of histograms; both are sorted by label values.
    """

    name: str
    type: MetricType
    help: str
    unit: str
    labelnames: tuple[str, ...]
    samples: Sequence[tuple[LabelSet, float]] = ()
    histograms: Sequence[tuple[LabelSet, HistogramValue]] = ()
