"""The HTTP server instruments the ASGI and WSGI middlewares share, and the label rules
that keep their cardinality bounded (method set, route cap)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .._locks import new_lock

if TYPE_CHECKING:
    from ..instruments import Counter, Gauge, Histogram
    from ..registry import MetricsRegistry

UNMATCHED = "<unmatched>"
"""The ``route`` of a request no route template matched (a 404 from the router)."""
OTHER_ROUTE = "<other>"
"""The ``route`` of a request whose template came after ``max_routes`` others."""
OTHER_METHOD = "_OTHER"
"""The ``method`` of a request whose method is not a standard one (OpenTelemetry's name)."""

DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)
"""OpenTelemetry's advised boundaries for ``http.server.request.duration``, in seconds."""
SIZE_BUCKETS = (100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000)
"""Response body sizes in bytes: one bucket per power of ten from 100 B to 10 MB."""
DEFAULT_MAX_ROUTES = 500

# RFC 9110 and RFC 5789 methods; anything else is one series, as OpenTelemetry does.
METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")
)
_PREFIX = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_NATIVE_OPTIONS = ("native_bucket_factor", "native_zero_threshold", "native_max_buckets")


class HttpInstruments:
    """The four families for one prefix in one registry (get-or-create: two middlewares
    with the same options share them), and the routes admitted so far (at most
    ``max_routes``; later ones become ``<other>``). Safe from any thread."""

    __slots__ = ("_lock", "_max_routes", "_routes", "duration", "in_progress", "requests", "size")

    def __init__(
        self,
        registry: MetricsRegistry | None,
        *,
        prefix: str,
        buckets: Iterable[float] | None,
        size_buckets: Iterable[float] | None,
        native: bool,
        native_options: Mapping[str, Any] | None,
        max_routes: int,
    ) -> None:
        if prefix.__class__ is not str or not _PREFIX.match(prefix):
            raise ValueError(
                f"prefix must be a metric name prefix such as 'http' (letters, digits, '_',"
                f" ':'; not starting with a digit), got {prefix!r}"
            )
        if max_routes.__class__ is not int or max_routes < 1:
            raise ValueError(f"max_routes must be an int >= 1, got {max_routes!r}")
        options = dict(native_options or {})
        unknown = sorted(set(options) - set(_NATIVE_OPTIONS))
        if unknown:
            raise ValueError(
                f"native_options takes {', '.join(_NATIVE_OPTIONS)}; got unknown {unknown}"
            )
        if native.__class__ is not bool:
            raise TypeError(f"native must be True or False, got {native!r}")
        if options and not native:
            raise ValueError("native_options given without native=True")
        make = _makers(registry)
        self.requests: Counter = make.counter(
            f"{prefix}_requests_total",
            "HTTP server requests by method, route template and status code (an exception: 500).",
            ("method", "route", "status"),
        )
        if native:
            options["native"] = True
            if buckets is not None:
                options["buckets"] = tuple(buckets)
        else:
            options["buckets"] = DURATION_BUCKETS if buckets is None else tuple(buckets)
        self.duration: Histogram = make.histogram(
            f"{prefix}_request_duration_seconds",
            "Time from a request's arrival to its response's last byte, in seconds.",
            ("method", "route"),
            unit="seconds",
            **options,
        )
        self.in_progress: Gauge = make.gauge(
            f"{prefix}_requests_in_progress",
            "HTTP server requests being handled now.",
            ("method",),
            multiprocess_mode="livesum",
        )
        self.size: Histogram = make.histogram(
            f"{prefix}_response_size_bytes",
            "Size of the response bodies the app sent, in bytes.",
            ("method", "route"),
            unit="bytes",
            buckets=SIZE_BUCKETS if size_buckets is None else tuple(size_buckets),
        )
        self._max_routes = max_routes
        self._routes: set[str] = {UNMATCHED}
        self._lock = new_lock()

    def route(self, template: str | None) -> str:
        """The ``route`` label for ``template``: itself if admitted (it was seen before, or
        fewer than ``max_routes`` routes were), ``<unmatched>`` for ``None``, else
        ``<other>``."""
        if template is None:
            return UNMATCHED
        if template in self._routes:
            return template
        with self._lock:
            if len(self._routes) <= self._max_routes:  # <unmatched> does not count
                self._routes.add(template)
                return template
        return OTHER_ROUTE

    def record(
        self, method: str, template: str | None, status: str, duration: float, size: int
    ) -> None:
        """Count one request answered with ``status`` in ``duration`` seconds, with
        ``size`` body bytes."""
        route = self.route(template)
        self.requests.labels(method, route, status).inc()
        self.duration.labels(method, route).observe(duration if duration > 0 else 0.0)
        self.size.labels(method, route).observe(size)

    def __repr__(self) -> str:
        return f"<HttpInstruments {self.requests.name!r} max_routes={self._max_routes}>"


def method_label(method: object) -> str:
    """The request method if it is a standard one, else ``_OTHER``: a client picks the
    method, so a raw one would let it make series at will."""
    return method if method.__class__ is str and method in METHODS else OTHER_METHOD


def _makers(registry: MetricsRegistry | None) -> Any:
    """The get-or-create functions: the registry's, or the facade's (imported here, so
    the global registry is looked up only when a middleware is made)."""
    if registry is not None:
        return registry
    from .. import _global

    return _global
