"""One warning when a transport exports the global registry before ``init()``.

Before ``init()`` the global registry records nothing, so a server, app, push or textfile
exporting it can only show an empty page. The first such export in the process logs one
warning (logger ``tachikoma_metrics``) saying so and how to fix it; later ones stay quiet,
so a server scraped every few seconds does not flood the log. Exporting a registry passed
in, or the global one after ``init()``, logs nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest

import tachikoma_metrics
from scrape_client import TIMEOUT, fetch
from tachikoma_metrics import (
    MetricsRegistry,
    make_asgi_app,
    make_wsgi_app,
    push_to_gateway,
    start_http_server,
    write_textfile,
)
from tachikoma_metrics.transport import MetricsEndpoint, _core
from uninitialised import uninitialised_warnings, warned_once


@pytest.fixture(autouse=True)
def fresh_warning() -> Iterator[None]:
    """Each test starts as a fresh process does: the warning not yet logged."""
    _core._reset_uninitialised_warning()
    yield
    _core._reset_uninitialised_warning()


# -- a stand-in Pushgateway: accepts every push and keeps its body ------------------------------


@contextlib.contextmanager
def stub_gateway() -> Iterator[tuple[str, list[bytes]]]:
    """An HTTP server on 127.0.0.1 answering every PUT or POST with 202 and recording the
    body; yields its address and the bodies; stopped afterwards."""
    bodies: list[bytes] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            bodies.append(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_POST = do_PUT

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="test-gateway"
    )
    thread.start()
    try:
        yield f"127.0.0.1:{httpd.server_port}", bodies
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(TIMEOUT)


# -- one export through each transport ----------------------------------------------------------


def _wsgi(app: Callable[..., Any]) -> tuple[str, bytes]:
    environ: dict[str, Any] = {}
    setup_testing_defaults(environ)
    environ["PATH_INFO"] = "/metrics"
    status: list[str] = []
    body = b"".join(app(environ, lambda s, headers, exc_info=None: status.append(s)))
    return status[0], body


def _asgi(app: Callable[..., Any]) -> tuple[int, bytes]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/metrics", "headers": []}
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], sent[1]["body"]


@contextlib.contextmanager
def exporters(
    registry: MetricsRegistry | None, tmp_path: Path
) -> Iterator[dict[str, Callable[[], bytes]]]:
    """For each transport, a function doing one export of ``registry`` (``None``: the global
    one) through it and returning what it exported."""
    with start_http_server(0, registry=registry) as server, stub_gateway() as (gateway, pushed):
        wsgi = make_wsgi_app(registry)
        asgi = make_asgi_app(registry)

        def scrape() -> bytes:
            reply = fetch(server.port)
            assert reply.status == 200
            return reply.body

        def call_wsgi() -> bytes:
            status, body = _wsgi(wsgi)
            assert status.startswith("200")
            return body

        def call_asgi() -> bytes:
            status, body = _asgi(asgi)
            assert status == 200
            return body

        def push() -> bytes:
            push_to_gateway(gateway, "job", registry)
            return pushed[-1]

        def textfile() -> bytes:
            target = tmp_path / "app.prom"
            write_textfile(target, registry)
            return target.read_bytes()

        yield {
            "start_http_server": scrape,
            "make_wsgi_app": call_wsgi,
            "make_asgi_app": call_asgi,
            "push_to_gateway": push,
            "write_textfile": textfile,
        }


TRANSPORTS = [
    "start_http_server",
    "make_wsgi_app",
    "make_asgi_app",
    "push_to_gateway",
    "write_textfile",
]


# -- the tests ----------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_each_transport_warns_once(
    transport: str, fresh_facade: None, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """Three exports of the global registry before ``init()`` through one transport export
    nothing and log exactly one warning, naming the transport and both fixes (call
    ``tachikoma_metrics.init()``, or pass ``registry=``)."""
    tachikoma_metrics.counter("app_hits_total", "Hits.").inc()  # paused: records nothing
    with exporters(None, tmp_path) as export, warned_once(caplog, transport):
        for _ in range(3):
            assert export[transport]() == b""


def test_once_per_process_across_transports(
    fresh_facade: None, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """After the first warning, no transport warns again: two rounds of exports through all
    five log exactly one warning in all, naming the first transport to export."""
    with exporters(None, tmp_path) as export, warned_once(caplog, "start_http_server"):
        for _ in range(2):
            for transport in TRANSPORTS:
                assert export[transport]() == b""


def test_concurrent_first_exports_warn_once(
    fresh_facade: None, caplog: pytest.LogCaptureFixture
) -> None:
    """Sixteen threads exporting the global registry at the same moment, before ``init()``,
    log exactly one warning between them."""
    endpoint = MetricsEndpoint(transport="test-endpoint")
    barrier = threading.Barrier(16)
    statuses: list[int] = []

    def scrape() -> None:
        barrier.wait(TIMEOUT)
        statuses.append(endpoint.handle("GET", "/metrics", "", {}.get).status)

    with warned_once(caplog, "test-endpoint"):
        threads = [threading.Thread(target=scrape, name=f"test-scrape-{i}") for i in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(TIMEOUT)
    assert statuses == [200] * 16


def test_no_warning_for_a_registry_passed_in(
    fresh_facade: None, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """Exporting a registry passed as ``registry=`` warns nothing, even before ``init()``,
    and exports its metrics."""
    registry = MetricsRegistry()
    registry.counter("app_hits_total", "Hits.").inc()
    caplog.set_level(logging.DEBUG, logger="tachikoma_metrics")
    with exporters(registry, tmp_path) as export:
        for transport in TRANSPORTS:
            assert b"app_hits_total 1" in export[transport](), transport
    assert uninitialised_warnings(caplog.records) == []
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_no_warning_after_init(
    fresh_facade: None, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """After ``init()`` exporting the global registry warns nothing and exports what was
    recorded, whichever transport is used."""
    tachikoma_metrics.init()
    tachikoma_metrics.counter("app_hits_total", "Hits.").inc()
    with exporters(None, tmp_path) as export:
        for transport in TRANSPORTS:
            assert b"app_hits_total 1" in export[transport](), transport
    assert uninitialised_warnings(caplog.records) == []
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_requests_that_export_nothing_do_not_warn(
    fresh_facade: None, caplog: pytest.LogCaptureFixture
) -> None:
    """A 404 or 405 answer exports no registry, so it does not use up the warning: the
    first real scrape after them still warns."""
    endpoint = MetricsEndpoint(transport="test-endpoint")
    with warned_once(caplog, "test-endpoint"):
        assert endpoint.handle("GET", "/other", "", {}.get).status == 404
        assert endpoint.handle("POST", "/metrics", "", {}.get).status == 405
        assert uninitialised_warnings(caplog.records) == []
        assert endpoint.handle("GET", "/metrics", "", {}.get).status == 200
