"""tachikoma-metrics: Prometheus-compatible metrics with no dependencies.

Public API, re-exported from the modules that define it.
"""

from . import names
from ._global import (
    counter,
    export_openmetrics,
    export_prometheus,
    export_protobuf,
    gauge,
    histogram,
    init,
)
from .exposition._escaping import ExpositionError
from .exposition.negotiate import Negotiation, negotiate
from .instruments import (
    DEFAULT_BUCKETS,
    Counter,
    CounterChild,
    Gauge,
    GaugeChild,
    Histogram,
    HistogramChild,
)
from .model import (
    Exemplar,
    HistogramValue,
    LabelSet,
    MetricFamily,
    MetricType,
    NativeBuckets,
    SeriesLabels,
    SummaryValue,
)
from .registry import MetricsRegistry

__all__ = [
    "Counter",
    "CounterChild",
    "DEFAULT_BUCKETS",
    "Exemplar",
    "ExpositionError",
    "Gauge",
    "GaugeChild",
    "Histogram",
    "HistogramChild",
    "HistogramValue",
    "LabelSet",
    "MetricFamily",
    "MetricType",
    "MetricsRegistry",
    "NativeBuckets",
    "Negotiation",
    "SeriesLabels",
    "SummaryValue",
    "counter",
    "export_openmetrics",
    "export_prometheus",
    "export_protobuf",
    "gauge",
    "histogram",
    "init",
    "names",
    "negotiate",
]
