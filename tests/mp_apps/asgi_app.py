"""An ASGI app for uvicorn (``--workers``: each spawned worker imports this module, which
calls ``init`` with the shared directory): the same routes as ``wsgi_app``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import tachikoma_metrics as metrics

from ._shared import pid_body, record_request

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_metrics_app = metrics.make_asgi_app()


async def app(scope: Message, receive: Receive, send: Send) -> None:
    if scope["type"] != "http" or scope["path"] == "/metrics":
        await _metrics_app(scope, receive, send)  # lifespan too: it acknowledges it
        return
    path = scope["path"]
    if path == "/work":
        body = record_request()
        status = 200
    elif path in ("/pid", "/ping"):
        body = pid_body()
        status = 200
    else:
        body = b"not found\n"
        status = 404
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(body))],
        }
    )
    await send({"type": "http.response.body", "body": body})
