"""``make_asgi_app``: ``/metrics`` inside any ASGI application server."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ..registry import MetricsRegistry
from ._core import MetricsEndpoint

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def make_asgi_app(
    registry: MetricsRegistry | None = None,
    *,
    path: str = "/metrics",
    disable_compression: bool = False,
) -> ASGIApp:
    """An ASGI 3 application serving ``path`` from ``registry`` (the global one if ``None``).

    The answer is gzip-compressed when the request's ``Accept-Encoding`` allows it, unless
    ``disable_compression=True`` (e.g. when a middleware or proxy in front compresses):
    then never, whatever the client asks.

    The snapshot and its encoding run in a worker thread (``asyncio.to_thread``), so a
    large registry never blocks the event loop for the length of an export. Lifespan
    events are acknowledged, so the app can also be served on its own.

    ``root_path`` (ASGI's ``SCRIPT_NAME``) is stripped from ``path`` before matching.
    Mounted by a framework (``root_path`` set, e.g. Starlette's
    ``Mount("/metrics", app=app)``), the app also answers at its mount point, with or
    without a trailing slash; it never redirects.
    """
    endpoint = MetricsEndpoint(
        registry, path=path, transport="make_asgi_app", disable_compression=disable_compression
    )

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            raise ValueError(f"make_asgi_app serves HTTP only, not {scope['type']!r}")
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope.get("headers", ()):
            headers[raw_name.decode("latin-1").lower()] = raw_value.decode("latin-1")
        query = scope.get("query_string", b"").decode("latin-1")
        request_path = scope.get("path", "/")
        root = scope.get("root_path", "")
        # Servers and routers that follow the spec put root_path in front of path; older
        # ones leave path relative to it: either way what remains is the path below it.
        if root and request_path.startswith(root):
            request_path = request_path[len(root) :]
        response = await asyncio.to_thread(
            endpoint.handle,
            scope.get("method", "GET"),
            request_path,
            query,
            lambda name: headers.get(name.lower()),
            mounted=bool(root),
        )
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": [(n.lower().encode(), v.encode()) for n, v in response.headers],
            }
        )
        await send({"type": "http.response.body", "body": response.body})

    return app
