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

# The times (Unix seconds) every format can write, protobuf's Timestamp being the narrowest:
# 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z. Created times and sample timestamps of a
# snapshot lie within them.
MIN_TIME = -62_135_596_800
MAX_TIME = 253_402_300_799


class MetricType(enum.Enum):
    """The type of a metric family, named as the exposition formats name it."""

    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"
    SUMMARY = "summary"
    UNKNOWN = "unknown"
    INFO = "info"
    STATESET = "stateset"
    GAUGE_HISTOGRAM = "gaugehistogram"


class SeriesLabels:
    """What encoders know of a series' labels.

    ``label_values`` are in the family's declared label-name order and never change.
    ``rendered_labels`` is a memo owned by the text encoders (label pairs, escaped, sorted
    by name, without braces): filled on first use, it never alters what is encoded.
    Instrument children are ``SeriesLabels`` themselves, so a series costs no extra object;
    ``LabelSet`` is the plain kind, for snapshots built by hand. ``encoded_labels`` is the
    same kind of memo for the protobuf encoder (the encoded ``Metric.label`` fields).
    """

    __slots__ = ()
    label_values: tuple[str, ...]
    rendered_labels: str | None
    encoded_labels: bytes | None


class LabelSet(SeriesLabels):
    """A plain ``SeriesLabels``."""

    __slots__ = ("encoded_labels", "label_values", "rendered_labels")

    def __init__(self, values: tuple[str, ...]) -> None:
        self.label_values = values
        self.rendered_labels = None
        self.encoded_labels = None

    def __repr__(self) -> str:
        return f"LabelSet({self.label_values!r})"


@dataclass(frozen=True, slots=True)
class Exemplar:
    """One traced observation: its labels (names and values, in the order given), its
    value and when it was recorded (Unix seconds)."""

    labels: tuple[tuple[str, str], ...]
    value: float
    timestamp: float | None = None


@dataclass(frozen=True, slots=True)
class NativeBuckets:
    """The sparse exponential buckets of a native histogram, as the protobuf format has them.

    Spans are ``(offset, length)`` pairs; deltas are the differences between consecutive
    bucket counts, the first taken against 0 (see the native-histogram spec).
    """

    schema: int
    zero_threshold: float
    zero_count: int
    positive_spans: tuple[tuple[int, int], ...] = ()
    positive_deltas: tuple[int, ...] = ()
    negative_spans: tuple[tuple[int, int], ...] = ()
    negative_deltas: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class HistogramValue:
    """A histogram series read at one instant.

    ``buckets`` are ``(upper_bound, cumulative_count)`` pairs in increasing bound order,
    ending with ``(inf, count)``. ``exemplars``, when given, has one entry per bucket
    (``None`` where a bucket has none). ``created`` is when the series started (Unix
    seconds). ``native`` carries native buckets where the histogram has them.
    """

    buckets: tuple[tuple[float, int], ...]
    sum: float
    count: int
    created: float | None = None
    exemplars: tuple[Exemplar | None, ...] | None = None
    native: NativeBuckets | None = None


@dataclass(frozen=True, slots=True)
class SummaryValue:
    """A summary series read at one instant: ``(quantile, value)`` pairs, sum and count."""

    quantiles: tuple[tuple[float, float], ...]
    sum: float
    count: int
    created: float | None = None


# The sample names each type adds to its family name (a counter ``x`` writes ``x_total``).
SAMPLE_SUFFIXES: dict[MetricType, tuple[str, ...]] = {
    MetricType.COUNTER: ("_total", "_created"),
    MetricType.GAUGE: (),
    MetricType.HISTOGRAM: ("_bucket", "_sum", "_count", "_created"),
    MetricType.SUMMARY: ("_sum", "_count", "_created"),
    MetricType.UNKNOWN: (),
    MetricType.INFO: ("_info",),
    MetricType.STATESET: (),
    MetricType.GAUGE_HISTOGRAM: ("_bucket", "_gcount", "_gsum"),
}


def exposed_names(name: str, kind: MetricType) -> tuple[str, ...]:
    """Every name a family called ``name`` of type ``kind`` can be exposed under, in any
    format: the family name and each of its sample names."""
    return (name, *(name + suffix for suffix in SAMPLE_SUFFIXES[kind]))


@dataclass(frozen=True, slots=True)
class MetricFamily:
    """One family as the encoders see it.

    ``name`` is the family name as OpenMetrics defines it: for counters, without the
    ``_total`` suffix their samples carry; for info families, without ``_info``.
    ``samples`` holds the series of counters, gauges, unknown-typed, info and stateset
    families, ``histograms`` those of histograms and gauge histograms, ``summaries`` those
    of summaries; all are sorted by label values. ``labelnames`` and names may be any
    UTF-8 (encoders quote or escape what the legacy charset does not allow).

    Per type: an info family's samples are all 1 and its ``labelnames`` include the info
    keys (a series without one of them has ``""`` there: Prometheus reads an empty label as
    no label); a stateset has one sample per state, 1 or 0, and its last label name is the
    family name, holding the state; a gauge histogram's ``sum`` and ``count`` are exposed as
    ``_gsum`` and ``_gcount``.

    ``timestamps``, when not empty, is parallel to the family's series (``samples``,
    ``histograms`` or ``summaries``): each series' sample time in Unix seconds, or ``None``
    for "now" (custom collectors set them; instruments never do).
    """

    name: str
    type: MetricType
    help: str
    unit: str
    labelnames: tuple[str, ...]
    samples: Sequence[tuple[SeriesLabels, float]] = ()
    histograms: Sequence[tuple[SeriesLabels, HistogramValue]] = ()
    summaries: Sequence[tuple[SeriesLabels, SummaryValue]] = ()
    # For counters, parallel to ``samples`` (empty when not known): when each series
    # started (Unix seconds), and its latest exemplar.
    created: Sequence[float] = ()
    exemplars: Sequence[Exemplar | None] = ()
    timestamps: Sequence[float | None] = ()
