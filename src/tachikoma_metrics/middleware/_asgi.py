"""``asgi_middleware``: HTTP server metrics around any ASGI 3 application."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

from ._instruments import DEFAULT_MAX_ROUTES, HttpInstruments, method_label
from ._routes import ScopeState, scope_route

if TYPE_CHECKING:
    from ..registry import MetricsRegistry

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def asgi_middleware(
    app: Callable[..., Awaitable[None]],
    registry: MetricsRegistry | None = None,
    *,
    prefix: str = "http",
    buckets: Iterable[float] | None = None,
    size_buckets: Iterable[float] | None = None,
    native: bool = False,
    native_options: Mapping[str, Any] | None = None,
    max_routes: int = DEFAULT_MAX_ROUTES,
) -> ASGIApp:
    """``app`` wrapped so that every HTTP request is measured in ``registry`` (the global
    one if ``None``: paused until ``init()``). See ``docs/middleware.md`` for the metrics.

    The route is read after ``app`` has handled the request (Starlette and FastAPI set
    it while routing); the duration ends when the response's last body message (no
    ``more_body``) has been sent, so a streaming response is timed to its last byte.
    An exception before that counts as status 500 and is re-raised. WebSocket and
    lifespan scopes pass through unmeasured. ``ValueError`` for a bad option.
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
    in_progress = instruments.in_progress

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        method = method_label(scope.get("method"))
        before = ScopeState(scope)
        status = 500
        size = 0
        ended: float | None = None  # perf_counter at the last byte

        async def measured_send(message: Message) -> None:
            nonlocal status, size, ended
            kind = message.get("type")
            if kind == "http.response.start":
                status = message.get("status", 500)
            elif kind == "http.response.body":
                size += len(message.get("body", b""))
                if not message.get("more_body", False):
                    await send(message)
                    ended = time.perf_counter()
                    return
            elif kind == "http.response.pathsend":  # the server sends a file: the end
                await send(message)
                ended = time.perf_counter()
                return
            await send(message)

        gauge = in_progress.labels(method)
        gauge.inc()
        try:
            await app(scope, receive, measured_send)
        except BaseException:
            if ended is None:  # the response never completed: a server error
                status = 500
                ended = time.perf_counter()
            raise
        finally:
            gauge.dec()
            if ended is None:  # the app returned without finishing its response
                ended = time.perf_counter()
            template = scope_route(scope, before, app, status)
            # int(): an HTTPStatus is "200", not "HTTPStatus.OK"; a non-int status is a bad app's.
            code = str(int(status)) if isinstance(status, int) else "500"
            instruments.record(method, template, code, ended - started, size)

    return middleware
