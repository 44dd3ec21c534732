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
from ._version import __version__ as __version__
from .errors import ExpositionError, RegistrationError
from .exposition import Negotiation, negotiate
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
from .registry import Collector, MetricsRegistry
from .storage import Storage
from .transport import (
    MetricsServer,
    PushError,
    delete_from_gateway,
    make_asgi_app,
    make_wsgi_app,
    push_to_gateway,
    start_http_server,
    write_textfile,
)

__all__ = [
    "Collector",
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
    "MetricsServer",
    "NativeBuckets",
    "Negotiation",
    "PushError",
    "RegistrationError",
    "SeriesLabels",
    "Storage",
    "SummaryValue",
    "counter",
    "delete_from_gateway",
    "export_openmetrics",
    "export_prometheus",
    "export_protobuf",
    "gauge",
    "histogram",
    "init",
    "make_asgi_app",
    "make_wsgi_app",
    "names",
    "negotiate",
    "push_to_gateway",
    "start_http_server",
    "write_textfile",
]
