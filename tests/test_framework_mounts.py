"""The apps mounted inside real web frameworks, served by real servers on 127.0.0.1.

Flask with werkzeug's ``DispatcherMiddleware({"/metrics": make_wsgi_app()})`` under
werkzeug's server, Starlette's ``Mount("/metrics", app=make_asgi_app())`` and FastAPI's
``app.mount("/metrics", make_asgi_app())`` under uvicorn. Each must answer at its mount
point, ``/metrics`` and ``/metrics/``: the app itself never redirects, and the only
redirect allowed is the framework's own (Starlette's router sends ``/metrics`` to
``/metrics/``). The body must parse as exposition text with the recorded values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from urllib.parse import urlsplit

import pytest
from fastapi import FastAPI
from flask import Flask
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from app_servers import uvicorn_server, werkzeug_server
from scrape_client import TEXT_004, Reply, Samples, escape_guard, fetch, read_samples
from tachikoma_metrics import MetricsRegistry, make_asgi_app, make_wsgi_app

REDIRECTS = (301, 302, 303, 307, 308)


@pytest.fixture(autouse=True)
def nothing_escapes(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> Iterator[None]:
    """Fail the test if a thread raised, stderr got output or anything (the frameworks and
    servers included) logged a warning or an error."""
    with escape_guard(capfd, caplog):
        yield


def _recorded() -> MetricsRegistry:
    registry = MetricsRegistry()
    registry.counter("mount_hits_total", "Hits.", labelnames=("route",)).labels("/a").inc(3)
    registry.gauge("mount_depth", "Depth.").set(-1.5)
    return registry


EXPECTED: Samples = {
    ("mount_hits_total", (("route", "/a"),)): 3.0,
    ("mount_depth", ()): -1.5,
}


# -- the frameworks -----------------------------------------------------------------------------


def flask_app(registry: MetricsRegistry) -> AbstractContextManager[int]:
    """A Flask app with its own ``/`` route and the WSGI app dispatched at ``/metrics``,
    served by werkzeug."""
    app = Flask("mount_test")

    @app.get("/")
    def home() -> str:
        return "home"

    app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {"/metrics": make_wsgi_app(registry)})
    return werkzeug_server(app)


async def _home(request: Request) -> PlainTextResponse:
    return PlainTextResponse("home")


def starlette_app(registry: MetricsRegistry) -> AbstractContextManager[int]:
    """A Starlette app with its own ``/`` route and the ASGI app mounted at ``/metrics``,
    served by uvicorn."""
    app = Starlette(routes=[Route("/", _home), Mount("/metrics", app=make_asgi_app(registry))])
    return uvicorn_server(app)


def fastapi_app(registry: MetricsRegistry) -> AbstractContextManager[int]:
    """A FastAPI app with its own ``/`` route and ``app.mount("/metrics", ...)``, served by
    uvicorn."""
    app = FastAPI()

    @app.get("/", response_class=PlainTextResponse)
    def home() -> str:
        return "home"

    app.mount("/metrics", make_asgi_app(registry))
    return uvicorn_server(app)


FRAMEWORKS: dict[str, Callable[[MetricsRegistry], AbstractContextManager[int]]] = {
    "flask": flask_app,
    "starlette": starlette_app,
    "fastapi": fastapi_app,
}


@pytest.fixture(scope="module", params=sorted(FRAMEWORKS))
def mounted(request: pytest.FixtureRequest) -> Iterator[tuple[str, int]]:
    """(framework, port): each framework in turn, serving the recorded registry."""
    with FRAMEWORKS[request.param](_recorded()) as port:
        yield request.param, port


def fetch_following_one_redirect(port: int, target: str) -> tuple[list[str], Reply]:
    """GET ``target``; if the answer is a redirect, follow it once (to the same server).
    Returns the paths requested and the final answer, which must not redirect again."""
    reply = fetch(port, target)
    path = [target]
    if reply.status in REDIRECTS:
        location = urlsplit(reply.header("Location") or "")
        assert location.netloc in ("", f"127.0.0.1:{port}"), location
        path.append(location.path + (f"?{location.query}" if location.query else ""))
        reply = fetch(port, path[-1])
        assert reply.status not in REDIRECTS, f"redirected twice: {path} -> {reply.status}"
    return path, reply


# -- the tests ----------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["/metrics", "/metrics/"])
def test_mount_point_serves_the_metrics(mounted: tuple[str, int], target: str) -> None:
    """``/metrics`` and ``/metrics/`` answer 200, text 0.0.4, with exactly the recorded
    samples (parsed by ``prometheus_client``), after at most the framework's own redirect:
    none at all under Flask, and never for ``/metrics/``."""
    framework, port = mounted
    path, reply = fetch_following_one_redirect(port, target)
    assert reply.status == 200, (path, reply.body[:200])
    assert reply.header("Content-Type") == TEXT_004
    assert read_samples(reply.body.decode()) == EXPECTED
    if framework == "flask" or target.endswith("/"):
        assert path == [target]
    else:  # Starlette's router redirects a mount's bare path to the slashed one
        assert path == [target, target + "/"]


def test_query_and_negotiation_reach_the_mounted_app(mounted: tuple[str, int]) -> None:
    """The mounted app still sees the query and the headers: ``?name[]=`` filters and
    ``Accept`` picks OpenMetrics."""
    _, port = mounted
    reply = fetch(port, "/metrics/?name[]=mount_depth")
    assert reply.status == 200
    assert read_samples(reply.body.decode()) == {("mount_depth", ()): -1.5}
    reply = fetch(port, "/metrics/", headers={"Accept": "application/openmetrics-text"})
    assert reply.status == 200
    assert (reply.header("Content-Type") or "").startswith("application/openmetrics-text")
    assert read_samples(reply.body.decode(), openmetrics=True) == EXPECTED


def test_framework_keeps_its_other_routes(mounted: tuple[str, int]) -> None:
    """The framework's own ``/`` is still its own, and a path below the mount point that
    is not the metrics is the app's 404 (no metric in it)."""
    _, port = mounted
    home = fetch(port, "/")
    assert (home.status, home.body) == (200, b"home")
    other = fetch(port, "/metrics/other")
    assert other.status == 404
    assert b"mount_" not in other.body
