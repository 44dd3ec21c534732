"""Collectors and the building blocks of custom collectors.

A custom collector is any object whose ``collect()`` returns ``MetricFamily`` snapshots
(see ``registry.Collector``); the builders here make those snapshots the way
``prometheus_client``'s ``metrics_core`` does (``CounterMetricFamily("x", "help",
labels=["a"])`` then ``add_metric(["v"], 1.0)``).
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

__all__ = [
    "CounterMetricFamily",
    "GaugeHistogramMetricFamily",
    "GaugeMetricFamily",
    "HistogramMetricFamily",
    "InfoMetricFamily",
    "StateSetMetricFamily",
    "SummaryMetricFamily",
    "UnknownMetricFamily",
]
