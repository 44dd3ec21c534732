"""tachikoma-metrics: Prometheus-compatible metrics with no dependencies.

Public API, re-exported from the modules that define it.
"""

from . import names
from ._global import counter, export_prometheus, gauge, histogram, init
from .instruments import (
    DEFAULT_BUCKETS,
    Counter,
    CounterChild,
    Gauge,
    GaugeChild,
    Histogram,
    HistogramChild,
)
from .model import HistogramValue, LabelSet, MetricFamily, MetricType, SeriesLabels
from .registry import MetricsRegistry

__all__ = [
    "Counter",
    "CounterChild",
    "DEFAULT_BUCKETS",
    "Gauge",
    "GaugeChild",
    "Histogram",
    "HistogramChild",
    "HistogramValue",
    "LabelSet",
    "MetricFamily",
    "MetricType",
    "MetricsRegistry",
    "SeriesLabels",
    "counter",
    "export_prometheus",
    "gauge",
    "histogram",
    "init",
    "names",
]
