"""Metric families and their children."""

from .counter import Counter, CounterChild
from .gauge import Gauge, GaugeChild
from .histogram import DEFAULT_BUCKETS, Histogram, HistogramChild

__all__ = [
    "DEFAULT_BUCKETS",
    "Counter",
    "CounterChild",
    "Gauge",
    "GaugeChild",
    "Histogram",
    "HistogramChild",
]
