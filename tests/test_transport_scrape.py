"""A real Prometheus scrapes our three servers: start_http_server, the WSGI app under
wsgiref, and the ASGI app under uvicorn; it stores exactly what was recorded."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
import uvicorn

from prometheus_harness import PrometheusServer, free_port
from tachikoma_metrics import (
    MetricsRegistry,
    MetricsServer,
    make_asgi_app,
    make_wsgi_app,
    start_http_server,
)

LABEL_VALUES = ("ok", 'dé/jà "vu"')


def _registry() -> MetricsRegistry:
    registry = MetricsRegistry()
    calls = registry.counter("app_calls_total", "Calls.", labelnames=("status",))
    calls.labels(LABEL_VALUES[0]).inc(7)
    calls.labels(LABEL_VALUES[1]).inc(2.5)
    registry.gauge("app_queue_depth", "Queue depth.").set(-3.25)
    latency = registry.histogram("app_latency_seconds", "Latency.", buckets=(0.1, 1.0))
    for value in (0.05, 0.5, 5):
        latency.observe(value)
    return registry


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def _wsgi_server(registry: MetricsRegistry) -> Iterator[str]:
    server: WSGIServer = make_server(
        "127.0.0.1", 0, make_wsgi_app(registry), handler_class=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, name="test-wsgi", daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@contextmanager
def _asgi_server(registry: MetricsRegistry) -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(
        make_asgi_app(registry), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="test-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise AssertionError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)


@dataclass
class Scraped:
    prometheus: PrometheusServer
    builtin: MetricsServer


@pytest.fixture(scope="module")
def scraped_servers() -> Iterator[Scraped]:
    """One Prometheus scraping the three servers, each serving the same registry."""
    registry = _registry()
    with ExitStack() as stack:
        builtin = stack.enter_context(start_http_server(0, registry=registry))
        targets = [
            ("builtin", f"127.0.0.1:{builtin.port}"),
            ("wsgi", stack.enter_context(_wsgi_server(registry))),
            ("asgi", stack.enter_context(_asgi_server(registry))),
        ]
        yield Scraped(stack.enter_context(PrometheusServer(targets)), builtin)


@pytest.fixture(scope="module")
def scraped(scraped_servers: Scraped) -> PrometheusServer:
    """The Prometheus scraping the three servers."""
    return scraped_servers.prometheus


@pytest.mark.parametrize("job", ["builtin", "wsgi", "asgi"])
def test_prometheus_stores_what_each_server_serves(scraped: PrometheusServer, job: str) -> None:
    """up == 1 for the target, and the counter (per label value), gauge and histogram
    series hold exactly the recorded values."""
    scraped.wait_for(f'up{{job="{job}"}}', lambda r: len(r) == 1 and r[0]["value"][1] == "1")

    calls = scraped.wait_for(
        f'app_calls_total{{job="{job}"}}', lambda r: len(r) == len(LABEL_VALUES)
    )
    assert {s["metric"]["status"]: float(s["value"][1]) for s in calls} == {
        LABEL_VALUES[0]: 7.0,
        LABEL_VALUES[1]: 2.5,
    }
    depth = scraped.wait_for(f'app_queue_depth{{job="{job}"}}', lambda r: len(r) == 1)
    assert float(depth[0]["value"][1]) == -3.25
    buckets = scraped.wait_for(f'app_latency_seconds_bucket{{job="{job}"}}', lambda r: len(r) == 3)
    assert {s["metric"]["le"]: float(s["value"][1]) for s in buckets} == {
        "0.1": 1.0,
        "1.0": 2.0,
        "+Inf": 3.0,
    }
    total = scraped.wait_for(f'app_latency_seconds_sum{{job="{job}"}}', lambda r: len(r) == 1)
    assert float(total[0]["value"][1]) == 5.55
    count = scraped.wait_for(f'app_latency_seconds_count{{job="{job}"}}', lambda r: len(r) == 1)
    assert float(count[0]["value"][1]) == 3.0


def test_prometheus_reuses_its_connection_to_the_builtin_server(scraped_servers: Scraped) -> None:
    """Prometheus keeps its connection to ``start_http_server`` alive between scrapes (one
    a second here): by the fourth scrape the server has still accepted one connection."""
    server = scraped_servers.builtin._server
    deadline = time.monotonic() + 30
    while server.requests_started < 4:
        assert time.monotonic() < deadline, (
            f"{server.requests_started} scrapes in 30 s\n"
            + scraped_servers.prometheus.describe_targets()
        )
        time.sleep(0.1)
    assert server.connections_accepted == 1
