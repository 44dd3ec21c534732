"""Starlette and FastAPI apps wrapped in ``asgi_middleware``, with ``/metrics`` served
from the same registry outside the middleware (a scrape is not a request it counts)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Mount, Route

from tachikoma_metrics import MetricsRegistry, make_asgi_app
from tachikoma_metrics.middleware import asgi_middleware

STREAM_PAUSE = 0.2  # before the last chunk of /stream


async def mission(request: Request) -> Response:
    return PlainTextResponse(f"mission {request.path_params['mission_id']}\n")


async def numbered(request: Request) -> Response:
    return PlainTextResponse(f"item {request.path_params['id']}\n")


async def fail(request: Request) -> Response:
    raise RuntimeError("mission failed")


async def stream(request: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"first\n"
        await asyncio.sleep(STREAM_PAUSE)
        yield b"last\n"

    return StreamingResponse(chunks(), media_type="text/plain")


async def slow_stream(request: Request) -> Response:
    """A stream whose last chunk would come after 30 s: a client leaves before it."""

    async def chunks() -> AsyncIterator[bytes]:
        yield b"first\n"
        await asyncio.sleep(30)
        yield b"never\n"

    return StreamingResponse(chunks(), media_type="text/plain")


def _outside(measured: Any, registry: MetricsRegistry) -> Any:
    """``/metrics`` from ``registry``, everything else (lifespan included) through
    ``measured``."""
    metrics_app = make_asgi_app(registry)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/metrics":
            await metrics_app(scope, receive, send)
        else:
            await measured(scope, receive, send)

    return app


def starlette_app(registry: MetricsRegistry, *, routes: int = 0, max_routes: int = 500) -> Any:
    """Missions, a failing route, a stream, a mounted org section, and ``routes`` more
    routes ``/r{n}/{id}`` (a large table) after them."""
    app = Starlette(
        routes=[
            Route("/ping", mission),
            Route("/missions/{mission_id}", mission),
            Route("/fail", fail),
            Route("/stream", stream),
            Route("/slow", slow_stream),
            Mount("/orgs/{org}", routes=[Route("/missions/{mission_id}", mission)]),
            *(Route(f"/r{n}/{{id}}", numbered) for n in range(routes)),
        ]
    )
    return _outside(asgi_middleware(app, registry, max_routes=max_routes), registry)


def fastapi_app(registry: MetricsRegistry) -> Any:
    api = FastAPI()

    @api.get("/missions/{mission_id}")
    def get_mission(mission_id: int) -> dict[str, int]:
        return {"mission": mission_id}

    @api.get("/stream")
    def get_stream() -> StreamingResponse:
        return StreamingResponse(_sync_chunks(), media_type="text/plain")

    return _outside(asgi_middleware(api, registry, prefix="api"), registry)


def _sync_chunks() -> Any:
    import time

    yield b"first\n"
    time.sleep(STREAM_PAUSE)
    yield b"last\n"
