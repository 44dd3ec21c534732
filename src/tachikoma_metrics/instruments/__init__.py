"""Metric families and their children."""

from .counter import Counter, CounterChild
from .gauge import Gauge, GaugeChild
from .histogram import DEFAULT_BUCKETS, Histogram, HistogramChild
from .info import Info, InfoChild
from .stateset import StateSet, StateSetChild
from .summary import Summary, SummaryChild

__all__ = [
    "DEFAULT_BUCKETS",
    "Counter",
    "CounterChild",
    "Gauge",
    "GaugeChild",
    "Histogram",
    "HistogramChild",
    "Info",
    "InfoChild",
    "StateSet",
    "StateSetChild",
    "Summary",
    "SummaryChild",
]
