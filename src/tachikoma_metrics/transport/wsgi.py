"""``make_wsgi_app``: ``/metrics`` inside any WSGI application server."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ..registry import MetricsRegistry
from ._core import MetricsEndpoint

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def make_wsgi_app(
    registry: MetricsRegistry | None = None,
    *,
    path: str = "/metrics",
    disable_compression: bool = False,
) -> WSGIApp:
    """A WSGI application serving ``path`` from ``registry`` (the global one if ``None``).

    The answer is gzip-compressed when the request's ``Accept-Encoding`` allows it, unless
    ``disable_compression=True`` (e.g. when a middleware or proxy in front compresses):
    then never, whatever the client asks.

    ``PATH_INFO`` is matched against ``path`` (a ``SCRIPT_NAME`` prefix is ignored, as
    WSGI routing expects). Mounted by a framework (``SCRIPT_NAME`` set, e.g. werkzeug's
    ``DispatcherMiddleware({"/metrics": app})``), the app also answers at its mount point,
    with or without a trailing slash (``PATH_INFO`` ``""`` or ``"/"``); it never redirects.
    """
    endpoint = MetricsEndpoint(
        registry, path=path, transport="make_wsgi_app", disable_compression=disable_compression
    )

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        def header(name: str) -> str | None:
            value = environ.get("HTTP_" + name.upper().replace("-", "_"))
            return value if isinstance(value, str) else None

        response = endpoint.handle(
            environ.get("REQUEST_METHOD", "GET"),
            environ.get("PATH_INFO", ""),
            environ.get("QUERY_STRING", ""),
            header,
            mounted=bool(environ.get("SCRIPT_NAME")),
        )
        start_response(f"{response.status} {response.reason}", response.headers)
        return [response.body]

    return app
