"""``make_wsgi_app`` under ``wsgiref`` and ``make_asgi_app`` under a real uvicorn server.

Both apps run behind real servers on 127.0.0.1 and are spoken to over sockets; the WSGI app
is also wrapped in ``wsgiref.validate.validator``, which checks every WSGI rule it can. The
ASGI app must not block the event loop during a large export: a task in the server's own
loop ticks every 10 ms and the longest gap between ticks is compared with the export's cost
(and, as a control, the same measurement catches an app that does block the loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import gzip
import itertools
import time
from collections.abc import Callable, Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server
from wsgiref.util import setup_testing_defaults, shift_path_info
from wsgiref.validate import validator

import pytest
from prometheus_client.parser import text_string_to_metric_families

import tachikoma_metrics
from app_servers import serving_from_thread, uvicorn_server
from scrape_client import (
    ACCEPT_OM,
    ACCEPT_PROTOBUF,
    OM_001,
    OM_100,
    PROTOBUF,
    TEXT_004,
    TIMEOUT,
    Samples,
    escape_guard,
    fetch,
    raw_exchange,
    read_samples,
    split_response,
)
from tachikoma_metrics import MetricsRegistry, make_asgi_app, make_wsgi_app
from tachikoma_metrics.transport import MetricsEndpoint
from uninitialised import warned_once

METRIC_NAMES = ("web_requests", "web_queue", "web_latency", "web_filler")


# -- guards -------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def nothing_escapes(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> Iterator[None]:
    """Fail the test if a thread raised, stderr got output (wsgiref prints application
    errors there) or anything (uvicorn included) logged a warning or an error."""
    with escape_guard(capfd, caplog):
        yield


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def wsgi_server(app: Callable[..., Any]) -> Iterator[int]:
    """Serve ``app`` with ``wsgiref`` from a thread; yields the port; shuts down cleanly."""
    with serving_from_thread(
        make_server("127.0.0.1", 0, app, handler_class=_QuietHandler), "wsgiref"
    ) as port:
        yield port


# -- the registry -------------------------------------------------------------------------------

FILLER = 200


def _recorded() -> MetricsRegistry:
    registry = MetricsRegistry()
    requests = registry.counter("web_requests_total", "Requests.", labelnames=("route",))
    requests.labels("/a").inc(2)
    requests.labels('/b"\\').inc(0.25)
    registry.gauge("web_queue_depth", "Queue.").set(-4)
    latency = registry.histogram("web_latency_seconds", "Latency.", buckets=(0.5,))
    latency.observe(0.25)
    latency.observe(4)
    filler = registry.gauge("web_filler", "Filler.", labelnames=("n",))
    for n in range(FILLER):
        filler.labels(str(n)).set(n)
    return registry


EXPECTED: Samples = {
    ("web_requests_total", (("route", "/a"),)): 2.0,
    ("web_requests_total", (("route", '/b"\\'),)): 0.25,
    ("web_queue_depth", ()): -4.0,
    ("web_latency_seconds_bucket", (("le", "0.5"),)): 1.0,
    ("web_latency_seconds_bucket", (("le", "+Inf"),)): 2.0,
    ("web_latency_seconds_sum", ()): 4.25,
    ("web_latency_seconds_count", ()): 2.0,
    **{("web_filler", (("n", str(n)),)): float(n) for n in range(FILLER)},
}


@pytest.fixture(scope="module")
def recorded() -> MetricsRegistry:
    """Known values; shared by the module, never changed."""
    return _recorded()


# -- client -------------------------------------------------------------------------------------


def raw_head(port: int, target: str) -> tuple[int, dict[str, str], bytes]:
    """A HEAD request on a raw socket: status, headers, and whatever bytes followed them."""
    return split_response(
        raw_exchange(port, f"HEAD {target} HTTP/1.0\r\nHost: test\r\n\r\n".encode())
    )


# -- the same behaviour under both servers ------------------------------------------------------


RAW = "/raw"  # where the fixtures' servers mount the app made with disable_compression=True


def _under(prefix: str, path: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def _mounted_wsgi(registry: MetricsRegistry) -> Callable[..., Any]:
    """The validated WSGI app at the root, and again mounted under ``/app`` (moved from
    ``PATH_INFO`` to ``SCRIPT_NAME``, as a WSGI router does: ``/app`` leaves ``PATH_INFO``
    empty, ``/app/`` leaves ``/``); under ``/raw``, the app made with
    ``disable_compression=True``."""
    metrics = validator(make_wsgi_app(registry))
    raw = validator(make_wsgi_app(registry, disable_compression=True))

    def router(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if _under(RAW, path):
            shift_path_info(environ)
            return raw(environ, start_response)
        if _under("/app", path):
            shift_path_info(environ)
        return metrics(environ, start_response)

    return router


def _mounted_asgi(registry: MetricsRegistry) -> Callable[..., Any]:
    """The ASGI app at the root; under ``/raw`` (``root_path`` extended, as Starlette's
    ``Mount`` does), the app made with ``disable_compression=True``."""
    metrics = make_asgi_app(registry)
    raw = make_asgi_app(registry, disable_compression=True)

    async def router(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and _under(RAW, scope.get("path", "")):
            await raw({**scope, "root_path": scope.get("root_path", "") + RAW}, receive, send)
        else:
            await metrics(scope, receive, send)

    return router


@pytest.fixture(scope="module", params=["wsgi", "asgi"])
def port(request: pytest.FixtureRequest, recorded: MetricsRegistry) -> Iterator[int]:
    """The shared registry served by the WSGI app under wsgiref, then by the ASGI app under
    uvicorn; every test below runs against both."""
    if request.param == "wsgi":
        with wsgi_server(_mounted_wsgi(recorded)) as bound:
            yield bound
    else:
        with uvicorn_server(_mounted_asgi(recorded)) as bound:
            yield bound


def test_get_serves_recorded_values(port: int, recorded: MetricsRegistry) -> None:
    """GET /metrics answers 200, text 0.0.4, exactly the recorded samples, Content-Length
    right, and the bytes of the registry's own export."""
    reply = fetch(port)
    assert reply.status == 200
    assert reply.header("Content-Type") == TEXT_004
    assert reply.header("Content-Length") == str(len(reply.body))
    assert read_samples(reply.body.decode()) == EXPECTED
    assert reply.body == recorded.export_prometheus().encode()


@pytest.mark.parametrize(
    ("accept", "content_type"),
    [
        (ACCEPT_OM, OM_100),
        (ACCEPT_PROTOBUF, PROTOBUF),
        ("application/openmetrics-text;version=0.0.1", OM_001),
        (f"text/plain;q=0.9, {ACCEPT_OM};q=0.8", TEXT_004),
        (f"text/plain;q=0.3, {ACCEPT_OM};q=0.4", OM_100),
        (f"{ACCEPT_OM};q=0, {ACCEPT_PROTOBUF};q=0", TEXT_004),
        ("nonsense;;;,,q=x", TEXT_004),
    ],
)
def test_negotiation(port: int, recorded: MetricsRegistry, accept: str, content_type: str) -> None:
    """``Accept`` picks the format by q-value with the exact Content-Type; the body is the
    registry's export in that format (parsed back for the text formats)."""
    reply = fetch(port, headers={"Accept": accept})
    assert reply.status == 200
    assert reply.header("Content-Type") == content_type
    if content_type == PROTOBUF:
        assert reply.body == recorded.export_protobuf()
    else:
        assert read_samples(reply.body.decode(), openmetrics=content_type != TEXT_004) == EXPECTED


@pytest.mark.parametrize("accept", ["", ACCEPT_OM, ACCEPT_PROTOBUF])
def test_gzip_decompresses_to_identity(port: int, accept: str) -> None:
    """With ``Accept-Encoding: gzip`` the body is gzip (Content-Encoding says so,
    Content-Length counts the compressed bytes) and decompresses to exactly the identity
    body; ``gzip;q=0`` and ``identity`` get the identity body."""
    identity = fetch(port, headers={"Accept": accept, "Accept-Encoding": "identity"})
    zipped = fetch(port, headers={"Accept": accept, "Accept-Encoding": "gzip"})
    refused = fetch(port, headers={"Accept": accept, "Accept-Encoding": "gzip;q=0, br"})
    assert identity.header("Content-Encoding") is None
    assert zipped.header("Content-Encoding") == "gzip"
    assert zipped.header("Content-Length") == str(len(zipped.body))
    assert gzip.decompress(zipped.body) == identity.body
    assert refused.header("Content-Encoding") is None
    assert refused.body == identity.body


def test_name_filter(port: int) -> None:
    """``?name[]=`` (repeated) restricts the answer to those families; unknown names give
    an empty body."""
    reply = fetch(port, "/metrics?name[]=web_queue_depth&name[]=web_latency_seconds_count")
    families = {f.name for f in text_string_to_metric_families(reply.body.decode())}
    assert families == {"web_queue_depth", "web_latency_seconds"}
    empty = fetch(port, "/metrics?name[]=nothing_here")
    assert (empty.status, empty.body) == (200, b"")


@pytest.mark.parametrize("target", ["/", "/metric", "/metrics/", "/other?name[]=web_filler"])
def test_unknown_path_is_404(port: int, target: str) -> None:
    """Any path but ``/metrics`` answers 404 without metrics."""
    reply = fetch(port, target)
    assert reply.status == 404
    assert not any(name.encode() in reply.body for name in METRIC_NAMES)


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"])
def test_other_methods_are_405(port: int, method: str) -> None:
    """Methods other than GET and HEAD answer 405 with ``Allow: GET, HEAD``, no metrics."""
    body = b"x=1" if method in ("POST", "PUT", "PATCH") else None
    reply = fetch(port, method=method, body=body)
    assert reply.status == 405
    assert reply.header("Allow") == "GET, HEAD"
    assert not any(name.encode() in reply.body for name in METRIC_NAMES)


def test_head_has_headers_and_no_body(port: int) -> None:
    """HEAD /metrics answers 200 with GET's Content-Type and Content-Length, no body."""
    get = fetch(port)
    status, headers, rest = raw_head(port, "/metrics")
    assert status == 200
    assert headers["content-type"] == TEXT_004
    assert headers["content-length"] == str(len(get.body))
    assert rest == b""


def test_head_404_has_no_body(port: int) -> None:
    """HEAD on an unknown path answers 404 with no body (a HEAD response carries none)."""
    status, _, rest = raw_head(port, "/nope")
    assert status == 404
    assert rest == b""


# -- disable_compression ------------------------------------------------------------------------


def _export(registry: MetricsRegistry, accept: str) -> bytes:
    if accept == ACCEPT_PROTOBUF:
        return registry.export_protobuf()
    if accept == ACCEPT_OM:
        return registry.export_openmetrics().encode()
    return registry.export_prometheus().encode()


@pytest.mark.parametrize("accept_encoding", ["gzip", "gzip;q=1, identity;q=0", "*", "identity"])
@pytest.mark.parametrize("accept", ["", ACCEPT_OM, ACCEPT_PROTOBUF])
def test_disable_compression_never_gzips(
    port: int, recorded: MetricsRegistry, accept: str, accept_encoding: str
) -> None:
    """With ``disable_compression=True`` the answer is never gzip, whatever
    ``Accept-Encoding`` asks (even ``identity;q=0``): no ``Content-Encoding``, the
    registry's export byte for byte, ``Content-Length`` its length, ``Vary: Accept`` only
    (the answer no longer depends on ``Accept-Encoding``). The same request to the
    default app, under the same server, is gzipped whenever gzip is acceptable. Under
    wsgiref (validated) and uvicorn, mounted under ``/raw``."""
    headers = {"Accept": accept, "Accept-Encoding": accept_encoding}
    reply = fetch(port, RAW + "/metrics", headers=headers)
    assert reply.status == 200
    assert reply.header("Content-Encoding") is None
    assert reply.body == _export(recorded, accept)
    assert reply.header("Content-Length") == str(len(reply.body))
    assert reply.header("Vary") == "Accept"
    control = fetch(port, headers=headers)
    assert control.header("Vary") == "Accept, Accept-Encoding"
    if accept_encoding != "identity":
        assert control.header("Content-Encoding") == "gzip"
        assert gzip.decompress(control.body) == reply.body


def test_disable_compression_head(port: int, recorded: MetricsRegistry) -> None:
    """HEAD with ``Accept-Encoding: gzip`` announces the uncompressed length, no body."""
    status, headers, rest = split_response(
        raw_exchange(
            port,
            b"HEAD /raw/metrics HTTP/1.0\r\nHost: test\r\nAccept-Encoding: gzip\r\n\r\n",
        )
    )
    assert status == 200
    assert "content-encoding" not in headers
    assert headers["content-length"] == str(len(recorded.export_prometheus().encode()))
    assert rest == b""


@pytest.mark.parametrize("value", ["yes", 1, None, 0.0], ids=repr)
def test_disable_compression_must_be_a_bool(value: Any) -> None:
    """``disable_compression`` is ``True`` or ``False``: anything else (a truthy string
    included, which would silently mean True) is a ``TypeError`` naming the value."""
    for make in (make_wsgi_app, make_asgi_app, MetricsEndpoint):
        with pytest.raises(TypeError, match="disable_compression") as raised:
            make(MetricsRegistry(), disable_compression=value)
        assert repr(value) in str(raised.value)


# -- WSGI only ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wsgi_port(recorded: MetricsRegistry) -> Iterator[int]:
    with wsgi_server(_mounted_wsgi(recorded)) as bound:
        yield bound


def test_wsgi_mounted_under_a_prefix(wsgi_port: int, recorded: MetricsRegistry) -> None:
    """Mounted under ``/app`` (``SCRIPT_NAME=/app``, ``PATH_INFO=/metrics``) the WSGI app
    serves ``/app/metrics``, and its mount point ``/app`` and ``/app/`` (``PATH_INFO``
    empty or ``/``) without a redirect; ``/app/other`` is 404."""
    for target in ("/app/metrics", "/app", "/app/"):
        reply = fetch(wsgi_port, target)
        assert reply.status == 200, target
        assert reply.body == recorded.export_prometheus().encode()
    assert fetch(wsgi_port, "/app/other").status == 404


WSGI_ROUTES = [
    # (SCRIPT_NAME, PATH_INFO, status): standalone, only PATH_INFO == path is served;
    # mounted, also the mount point itself ("" or "/")
    ("", "/metrics", 200),
    ("", "/", 404),
    ("", "", 404),
    ("", "/metrics/", 404),
    ("/app", "/metrics", 200),
    ("/app", "", 200),
    ("/app", "/", 200),
    ("/app", "/other", 404),
    ("/metrics", "", 200),
    ("/metrics", "/", 200),
    ("/metrics", "/x", 404),
    ("/metrics", "//", 404),
]


@pytest.mark.parametrize(("script_name", "path_info", "status"), WSGI_ROUTES)
def test_wsgi_routes(
    recorded: MetricsRegistry, script_name: str, path_info: str, status: int
) -> None:
    """Called directly (under ``wsgiref.validate``), the WSGI app answers ``PATH_INFO`` ==
    ``/metrics`` and, when mounted (``SCRIPT_NAME`` set), its mount point; 404 otherwise."""
    environ: dict[str, Any] = {}
    setup_testing_defaults(environ)
    environ.update(SCRIPT_NAME=script_name, PATH_INFO=path_info, QUERY_STRING="")
    started: list[str] = []
    app = validator(make_wsgi_app(recorded))
    result = app(environ, lambda status, headers, exc_info=None: started.append(status))
    try:
        body = b"".join(result)
    finally:
        result.close()  # type: ignore[attr-defined]
    assert int(started[0].split()[0]) == status
    if status == 200:
        assert body == recorded.export_prometheus().encode()


def test_wsgi_app_serves_the_global_registry(
    fresh_facade: None, caplog: pytest.LogCaptureFixture
) -> None:
    """``make_wsgi_app()`` with no registry serves the global one: empty until ``init()``
    (and the first such scrape logs one warning), the recorded values after it."""
    with wsgi_server(validator(make_wsgi_app())) as bound:
        with warned_once(caplog, "make_wsgi_app"):
            assert fetch(bound).body == b""
            assert fetch(bound).body == b""
        tachikoma_metrics.init()
        tachikoma_metrics.gauge("facade_level", "Level.").set(3)
        assert read_samples(fetch(bound).body.decode()) == {("facade_level", ()): 3.0}


# -- ASGI only ----------------------------------------------------------------------------------


def test_asgi_behind_a_root_path(recorded: MetricsRegistry) -> None:
    """Served with a ``root_path`` (uvicorn ``--root-path /app``, as behind a proxy that
    strips ``/app``), the ASGI app answers ``/metrics``: ``root_path`` is ASGI's
    ``SCRIPT_NAME`` and uvicorn puts it in front of ``path``, so the app must match the
    path below it, as the WSGI app ignores ``SCRIPT_NAME``."""
    with uvicorn_server(make_asgi_app(recorded), root_path="/app") as bound:
        for target in ("/metrics", "/"):  # "/": the proxy's /app/, the mount point
            reply = fetch(bound, target)
            assert reply.status == 200, target
            assert reply.body == recorded.export_prometheus().encode()
        assert fetch(bound, "/other").status == 404


def test_asgi_mounted_under_a_prefix(recorded: MetricsRegistry) -> None:
    """Mounted under ``/internal`` by a router that follows the ASGI spec (``root_path``
    gains the prefix, ``path`` stays the full path, as Starlette's ``Mount`` does), the app
    serves ``/internal/metrics``, and its mount point ``/internal`` and ``/internal/``
    without a redirect."""
    metrics = make_asgi_app(recorded)

    async def router(scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and (path == "/internal" or path.startswith("/internal/")):
            scope = {**scope, "root_path": scope.get("root_path", "") + "/internal"}
        await metrics(scope, receive, send)

    with uvicorn_server(router) as bound:
        for target in ("/internal/metrics", "/internal", "/internal/"):
            reply = fetch(bound, target)
            assert reply.status == 200, target
            assert reply.body == recorded.export_prometheus().encode()
        assert fetch(bound, "/internal/other").status == 404


ASGI_ROUTES = [
    # (root_path, path, status): root_path is stripped from path when path starts with it
    # (servers following the spec) and left alone otherwise (older ones)
    ("", "/metrics", 200),
    ("", "/", 404),
    ("", "/metrics/", 404),
    ("/app", "/app/metrics", 200),
    ("/app", "/app", 200),
    ("/app", "/app/", 200),
    ("/app", "/app/other", 404),
    ("/app", "/metrics", 200),
    ("/app", "/", 200),
    ("/metrics", "/metrics", 200),
    ("/metrics", "/metrics/", 200),
    ("/metrics", "/metrics/metrics", 200),
    ("/metrics", "/metrics/x", 404),
    ("/metrics", "/metrics//", 404),
]


@pytest.mark.parametrize(("root_path", "path", "status"), ASGI_ROUTES)
def test_asgi_routes(recorded: MetricsRegistry, root_path: str, path: str, status: int) -> None:
    """Called directly, the ASGI app answers ``/metrics`` below ``root_path`` and, when
    mounted (``root_path`` set), its mount point; 404 otherwise."""
    scope = {"type": "http", "method": "GET", "path": path, "root_path": root_path}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(make_asgi_app(recorded)(scope, receive, send))
    assert sent[0]["status"] == status
    if status == 200:
        assert sent[1]["body"] == recorded.export_prometheus().encode()


# -- ASGI: the event loop stays free during a large export --------------------------------------

SERIES_PER_CHILD = 13  # 10 buckets + +Inf + _sum + _count
CHILDREN = 16_000  # 208,000 series


@pytest.fixture(scope="module")
def large() -> MetricsRegistry:
    """About 200,000 series (10 MB of text)."""
    registry = MetricsRegistry()
    histogram = registry.histogram(
        "big_seconds", "Big.", labelnames=("i",), buckets=(0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100)
    )
    for i in range(CHILDREN):
        histogram.labels(f"series-{i:06d}").observe(i / 100)
    return registry


async def _tick(ticks: list[float]) -> None:
    while True:
        ticks.append(time.monotonic())
        await asyncio.sleep(0.01)


def _probe_app(registry: MetricsRegistry, ticks: list[float]) -> Callable[..., Any]:
    """An ASGI router: a ticker task runs in the server's loop from lifespan start-up to
    shut-down; ``/metrics`` is ``make_asgi_app(registry)``; ``/blocking`` is a control app
    that does the same export synchronously inside the loop."""
    metrics = make_asgi_app(registry)
    endpoint = MetricsEndpoint(registry)

    async def blocking(scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        # the same export as make_asgi_app, but run inside the loop: this blocks it
        response = endpoint.handle("GET", "/metrics", "", lambda name: headers.get(name.lower()))
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": [(n.lower().encode(), v.encode()) for n, v in response.headers],
            }
        )
        await send({"type": "http.response.body", "body": response.body})

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            task: asyncio.Task[None] | None = None
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    task = asyncio.create_task(_tick(ticks))
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    if task is not None:
                        task.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await task
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        elif scope["path"] == "/blocking":
            await blocking(scope, receive, send)
        else:
            await metrics(scope, receive, send)

    return app


def _longest_tick_gap(port: int, path: str, ticks: list[float]) -> tuple[float, float]:
    """Scrape ``path`` (gzip) and return the longest gap between loop ticks around the
    request (from the last tick before it to the first tick after it) and its duration."""
    deadline = time.monotonic() + TIMEOUT
    while len(ticks) < 2:
        assert time.monotonic() < deadline, "the ticker never ran"
        time.sleep(0.01)
    started = time.monotonic()
    reply = fetch(port, path, headers={"Accept-Encoding": "gzip"})
    finished = time.monotonic()
    assert reply.status == 200
    assert reply.header("Content-Encoding") == "gzip"
    while ticks[-1] <= finished:
        assert time.monotonic() < deadline, "the ticker stopped"
        time.sleep(0.005)
    seen = list(ticks)
    first = max(i for i, t in enumerate(seen) if t <= started)
    last = min(i for i, t in enumerate(seen) if t >= finished)
    window = seen[first : last + 1]
    return max(b - a for a, b in itertools.pairwise(window)), finished - started


def test_asgi_large_export_does_not_block_the_event_loop(large: MetricsRegistry) -> None:
    """While ``make_asgi_app`` exports ~200,000 series, a task in the same event loop keeps
    ticking: its longest gap stays under half the export's own cost (measured here by
    running the same export synchronously). The control app, which exports inside the
    loop, freezes the ticker for most of its request, so the measurement does detect
    blocking."""
    endpoint = MetricsEndpoint(large)
    costs = []
    for _ in range(2):
        begun = time.monotonic()
        endpoint.handle("GET", "/metrics", "", {"Accept-Encoding": "gzip"}.get)
        costs.append(time.monotonic() - begun)
    cost = min(costs)
    ticks: list[float] = []
    gc.collect()
    gc.freeze()  # a full collection of the big registry would stall every thread alike
    try:
        with uvicorn_server(_probe_app(large, ticks)) as bound:
            gap, took = _longest_tick_gap(bound, "/metrics", ticks)
            blocked_gap, blocked_took = _longest_tick_gap(bound, "/blocking", ticks)
    finally:
        gc.unfreeze()
    detail = (
        f"export cost {cost * 1000:.0f} ms; make_asgi_app: gap {gap * 1000:.0f} ms over a "
        f"{took * 1000:.0f} ms request; blocking control: gap {blocked_gap * 1000:.0f} ms "
        f"over {blocked_took * 1000:.0f} ms"
    )
    assert gap < cost / 2, detail
    # control: exporting inside the loop freezes it for most of the request
    assert blocked_gap > blocked_took / 2, detail
