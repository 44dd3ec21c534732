"""``wsgi_middleware``: HTTP server metrics around any WSGI application."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ._instruments import DEFAULT_MAX_ROUTES, HttpInstruments, method_label
from ._routes import environ_route, flask_app, hook_flask

if TYPE_CHECKING:
    from ..instruments import GaugeChild
    from ..registry import MetricsRegistry

Environ = dict[str, Any]
StartResponse = Callable[..., Callable[[bytes], object]]
# start_response as Any: a framework types it its own way (typeshed's StartResponse for Flask).
WSGIApp = Callable[[Environ, Any], Iterable[bytes]]


def wsgi_middleware(
    app: Callable[..., Iterable[bytes]],
    registry: MetricsRegistry | None = None,
    *,
    prefix: str = "http",
    buckets: Iterable[float] | None = None,
    size_buckets: Iterable[float] | None = None,
    native: bool = False,
    native_options: Mapping[str, Any] | None = None,
    max_routes: int = DEFAULT_MAX_ROUTES,
) -> WSGIApp:
    """``app`` wrapped so that every request is measured in ``registry`` (the global one
    if ``None``: paused until ``init()``). See ``docs/middleware.md`` for the metrics.

    ``app`` may be a Flask application or its ``wsgi_app`` method (both
    ``wsgi_middleware(flask_app)`` and ``flask_app.wsgi_app =
    wsgi_middleware(flask_app.wsgi_app)`` work): a teardown hook then gives the route
    template (``url_rule``). Other apps give it through ``environ[ROUTE_KEY]``
    (``DjangoRouteMiddleware`` does for Django).

    The duration ends when the server closes the response iterable (after its last
    byte), so a streaming response is timed to its end. An exception from the app or
    while iterating counts as status 500 and is re-raised. ``ValueError`` for a bad
    option.
    """
    instruments = HttpInstruments(
        registry,
        prefix=prefix,
        buckets=buckets,
        size_buckets=size_buckets,
        native=native,
        native_options=native_options,
        max_routes=max_routes,
    )
    flask = flask_app(app)
    if flask is not None:
        hook_flask(flask)
    in_progress = instruments.in_progress

    def middleware(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        method = method_label(environ.get("REQUEST_METHOD"))
        gauge = in_progress.labels(method)
        gauge.inc()
        response = _Response(instruments, environ, method, started, gauge)

        def measured_start(status: str, headers: Any, exc_info: Any = None) -> Any:
            response.status = status
            write = (
                start_response(status, headers, exc_info)
                if exc_info
                else start_response(status, headers)
            )

            def measured_write(data: bytes) -> object:
                response.size += len(data)
                return write(data)

            return measured_write

        try:
            response.body = app(environ, measured_start)
        except BaseException:
            response.finish(failed=True)
            raise
        return response

    return middleware


class _Response:
    """The app's response iterable, counting its bytes; the request is recorded once,
    when the server closes it (or the app or the iteration fails)."""

    __slots__ = ("body", "environ", "gauge", "instruments", "method", "size", "started", "status")

    def __init__(
        self,
        instruments: HttpInstruments,
        environ: Environ,
        method: str,
        started: float,
        gauge: GaugeChild,
    ) -> None:
        self.instruments: HttpInstruments | None = instruments
        self.environ = environ
        self.method = method
        self.started = started
        self.gauge = gauge
        self.status = ""
        self.size = 0
        self.body: Iterable[bytes] = ()

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in self.body:
                self.size += len(chunk)
                yield chunk
        except BaseException as error:
            if not isinstance(error, GeneratorExit):  # GeneratorExit: the server stopped early
                self.finish(failed=True)
            raise

    def close(self) -> None:
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        except BaseException:
            self.finish(failed=True)
            raise
        self.finish(failed=False)

    def finish(self, *, failed: bool) -> None:
        """Record the request (the first call only)."""
        instruments = self.instruments
        if instruments is None:
            return
        self.instruments = None
        duration = time.perf_counter() - self.started
        self.gauge.dec()
        code = self.status[:3] if self.status.__class__ is str else ""
        status = "500" if failed or not (code.isascii() and code.isdigit()) else code
        instruments.record(self.method, environ_route(self.environ), status, duration, self.size)
