"""Collectors and the building blocks of custom collectors.

A custom collector is any object whose ``collect()`` returns ``MetricFamily`` snapshots
(see ``registry.Collector``); the builders here make those snapshots the way
``prometheus_client``'s ``metrics_core`` does (``CounterMetricFamily("x", "help",
labels=["a"])`` then ``add_metric(["v"], 1.0)``). The runtime collectors (process,
platform, GC) live here too; ``enable_runtime_collectors`` registers all three.
"""

from ._families import (
    CounterMetricFamily,
    GaugeHistogramMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    StateSetMetricFamily,
    SummaryMetricFamily,
    UnknownMetricFamily,
)
from .runtime import GCCollector, PlatformCollector, ProcessCollector, enable_runtime_collectors

__all__ = [
    "CounterMetricFamily",
    "GCCollector",
    "GaugeHistogramMetricFamily",
    "GaugeMetricFamily",
    "HistogramMetricFamily",
    "InfoMetricFamily",
    "PlatformCollector",
    "ProcessCollector",
    "StateSetMetricFamily",
    "SummaryMetricFamily",
    "UnknownMetricFamily",
    "enable_runtime_collectors",
]
