"""Helpers for testing code that records metrics.

``sample_value(registry, "jobs_total", {"queue": "fast"})`` reads one sample as the exports
name it (``prometheus_client``'s ``get_sample_value`` habit), straight from the registry's
snapshot: no text is written or parsed. ``isolated()`` runs a block against a fresh facade
registry and puts the previous one back afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from numbers import Real

from ._global import isolated
from .collectors._families import parse_bound
from .model import MetricFamily, MetricType, SeriesLabels
from .registry import Collector, MetricsRegistry

__all__ = ["isolated", "sample_value"]

# Sample labels whose values are numbers: a query may spell them "0.5", 0.5 or "+Inf".
_NUMERIC_LABELS = ("le", "quantile")

# (sample name, labels, (numeric label, its value) or None, value)
_Sample = tuple[str, dict[str, str], "tuple[str, float] | None", float]


def sample_value(
    registry: MetricsRegistry | Collector,
    name: str,
    labels: Mapping[str, str | float] | None = None,
) -> float | None:
    """The value of one sample as exported, or ``None`` when there is no such sample.

    ``name`` is a sample name as OpenMetrics writes it: ``x_total`` and ``x_created`` for a
    counter ``x``; ``x_bucket``, ``x_sum``, ``x_count``, ``x_created`` for a histogram;
    ``x`` (with ``quantile``), ``x_sum``, ``x_count``, ``x_created`` for a summary;
    ``x_info`` for an info family; ``x`` (labelled ``x="state"``) for a stateset;
    ``x_bucket``, ``x_gcount``, ``x_gsum`` for a gauge histogram; ``x`` for gauges and
    unknown-typed families. ``_created`` samples are there when the registry writes them
    (``created_series``); a histogram's ``_sum`` and ``_count`` always are (OpenMetrics
    leaves them out where a bucket bound or the sum is negative; Prometheus text does not).

    ``labels`` must equal the sample's labels exactly (``None``: no labels). ``le`` and
    ``quantile`` may be given as text (``"0.5"``, ``"+Inf"``) or as numbers and are
    compared as numbers. An info series' labels leave out the info keys it lacks (written
    ``""``, which Prometheus reads as no label). Works on any collector too, e.g. a custom
    collector under test. ``TypeError`` for label names or values of the wrong type.
    """
    wanted = _checked_query(labels)
    if isinstance(registry, MetricsRegistry):
        families = registry.collect([name])
        created = registry.created_series
    else:
        families = list(registry.collect())
        created = True
    numbers: dict[str, float] = {}
    for family in families:
        for sample_name, sample_labels, numeric, value in _samples(family, created):
            if sample_name != name:
                continue
            if numeric is None:
                if sample_labels == wanted:
                    return float(value)
                continue
            key, number = numeric
            given = wanted.get(key)
            if given is None or len(wanted) != len(sample_labels) + 1:
                continue
            if key not in numbers:
                numbers[key] = parse_bound(given, f"{key} label")
            if numbers[key] == number and all(wanted.get(k) == v for k, v in sample_labels.items()):
                return float(value)
    return None


def _checked_query(labels: Mapping[str, str | float] | None) -> dict[str, str | float]:
    if labels is None:
        return {}
    if not isinstance(labels, Mapping):
        raise TypeError(f"labels must be a mapping of label names to values, got {labels!r}")
    for key, value in labels.items():
        if not isinstance(key, str):
            raise TypeError(f"label name must be a str, got {key!r}")
        numeric = key in _NUMERIC_LABELS and isinstance(value, Real) and not isinstance(value, bool)
        if not isinstance(value, str) and not numeric:
            raise TypeError(
                f"label {key!r} value must be a str (le and quantile may be numbers), got {value!r}"
            )
    return dict(labels)


def _samples(family: MetricFamily, created: bool) -> Iterator[_Sample]:
    """Every sample ``family`` exports, as OpenMetrics names them."""
    name, kind, names = family.name, family.type, family.labelnames

    def labels_of(series: SeriesLabels) -> dict[str, str]:
        return dict(zip(names, series.label_values, strict=True))

    if kind is MetricType.COUNTER:
        starts = family.created if created else ()
        for i, (series, value) in enumerate(family.samples):
            labels = labels_of(series)
            yield name + "_total", labels, None, value
            start = starts[i] if i < len(starts) else None
            if start is not None:
                yield name + "_created", labels, None, start
    elif kind is MetricType.INFO:
        for series, value in family.samples:
            labels = {k: v for k, v in labels_of(series).items() if v != ""}
            yield name + "_info", labels, None, value
    elif kind is MetricType.HISTOGRAM or kind is MetricType.GAUGE_HISTOGRAM:
        gauge = kind is MetricType.GAUGE_HISTOGRAM
        for series, histogram in family.histograms:
            labels = labels_of(series)
            for bound, count in histogram.buckets:
                yield name + "_bucket", labels, ("le", bound), count
            if gauge:
                yield name + "_gcount", labels, None, histogram.count
                yield name + "_gsum", labels, None, histogram.sum
                continue
            yield name + "_sum", labels, None, histogram.sum
            yield name + "_count", labels, None, histogram.count
            if created and histogram.created is not None:
                yield name + "_created", labels, None, histogram.created
    elif kind is MetricType.SUMMARY:
        for series, summary in family.summaries:
            labels = labels_of(series)
            for quantile, estimate in summary.quantiles:
                yield name, labels, ("quantile", quantile), estimate
            yield name + "_sum", labels, None, summary.sum
            yield name + "_count", labels, None, summary.count
            if created and summary.created is not None:
                yield name + "_created", labels, None, summary.created
    else:  # gauges, unknown-typed families, statesets (the state is a label)
        for series, value in family.samples:
            yield name, labels_of(series), None, value
