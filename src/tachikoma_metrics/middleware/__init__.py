"""HTTP server metrics for ASGI and WSGI applications (``docs/middleware.md``):
``asgi_middleware`` and ``wsgi_middleware`` record requests, durations, requests in
progress and response sizes by method, route template and status code."""

from ._asgi import asgi_middleware
from ._instruments import (
    DEFAULT_MAX_ROUTES,
    DURATION_BUCKETS,
    OTHER_METHOD,
    OTHER_ROUTE,
    SIZE_BUCKETS,
    UNMATCHED,
)
from ._routes import ROUTE_KEY, DjangoRouteMiddleware
from ._wsgi import wsgi_middleware

__all__ = [
    "DEFAULT_MAX_ROUTES",
    "DURATION_BUCKETS",
    "DjangoRouteMiddleware",
    "OTHER_METHOD",
    "OTHER_ROUTE",
    "ROUTE_KEY",
    "SIZE_BUCKETS",
    "UNMATCHED",
    "asgi_middleware",
    "wsgi_middleware",
]
