"""``asgi_middleware`` and ``wsgi_middleware`` called directly (raw ASGI messages, raw WSGI
environs): the four families and their labels, route templates from Starlette (mounts
included), FastAPI, Flask (both ways of wrapping) and Django's duck type, the route cap,
exceptions as 500 and re-raised, streaming timed to the last byte, the in-progress gauge
back to zero whatever happened, threads, a multi-process registry, the facade, and the
overhead per request (printed)."""

from __future__ import annotations

import asyncio
import io
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from http import HTTPStatus
from pathlib import Path
from typing import Any

import flask
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route

import tachikoma_metrics as metrics
from tachikoma_metrics import MetricsRegistry
from tachikoma_metrics.middleware import (
    OTHER_METHOD,
    OTHER_ROUTE,
    ROUTE_KEY,
    UNMATCHED,
    DjangoRouteMiddleware,
    asgi_middleware,
    wsgi_middleware,
)
from tachikoma_metrics.testing import isolated, sample_value

Scope = dict[str, Any]
Message = dict[str, Any]


# -- calling apps -------------------------------------------------------------------------


def asgi_call(app: Any, path: str, method: Any = "GET", root_path: str = "") -> list[Message]:
    """One HTTP request through the ASGI ``app``; the messages it sent."""
    return asyncio.run(_asgi_call(app, path, method, root_path))


async def _asgi_call(app: Any, path: str, method: Any, root_path: str) -> list[Message]:
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": root_path,
        "headers": [(b"host", b"test")],
        "client": ("127.0.0.1", 1234),
        "server": ("127.0.0.1", 80),
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


def environ_for(path: str, method: str = "GET") -> dict[str, Any]:
    return {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "test",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }


def wsgi_call(app: Any, path: str, method: str = "GET") -> tuple[str, bytes]:
    """One request through the WSGI ``app``, iterated and closed as a server does."""
    statuses: list[str] = []
    written: list[bytes] = []

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Callable[[bytes], Any]:
        statuses.append(status)
        return written.append

    body = app(environ_for(path, method), start_response)
    try:
        chunks = b"".join(body)
    finally:
        getattr(body, "close", lambda: None)()
    return statuses[-1], b"".join(written) + chunks


def count(
    registry: MetricsRegistry, method: str, route: str, status: str, prefix: str = "http"
) -> float | None:
    labels = {"method": method, "route": route, "status": status}
    return sample_value(registry, f"{prefix}_requests_total", labels)


def duration(
    registry: MetricsRegistry, method: str, route: str, which: str = "sum"
) -> float | None:
    labels = {"method": method, "route": route}
    return sample_value(registry, f"http_request_duration_seconds_{which}", labels)


def in_progress(registry: MetricsRegistry, method: str = "GET") -> float | None:
    return sample_value(registry, "http_requests_in_progress", {"method": method})


def series(registry: MetricsRegistry, name: str) -> list[dict[str, str]]:
    """The label sets of family ``name``'s series."""
    (family,) = [f for f in registry.collect() if f.name == name]
    pairs = [*family.samples, *family.histograms, *family.summaries]
    return [dict(zip(family.labelnames, s.label_values, strict=True)) for s, _ in pairs]


# -- raw ASGI -----------------------------------------------------------------------------


async def plain(scope: Scope, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 201, "headers": []})
    await send({"type": "http.response.body", "body": b"x" * 300})


def test_asgi_records_the_four_families_with_their_labels(registry: MetricsRegistry) -> None:
    """A request is counted by method, route and status (the code as a string), timed,
    sized (all body messages), and no longer in progress once answered."""
    app = asgi_middleware(plain, registry)
    asgi_call(app, "/anything")
    asgi_call(app, "/other", method="POST")
    assert count(registry, "GET", UNMATCHED, "201") == 1
    assert count(registry, "POST", UNMATCHED, "201") == 1
    assert duration(registry, "GET", UNMATCHED, "count") == 1
    assert 0 < (duration(registry, "GET", UNMATCHED) or 0) < 1
    size = {"method": "GET", "route": UNMATCHED}
    assert sample_value(registry, "http_response_size_bytes_sum", size) == 300
    assert sample_value(registry, "http_response_size_bytes_bucket", {**size, "le": "1000.0"}) == 1
    assert sample_value(registry, "http_response_size_bytes_bucket", {**size, "le": "100.0"}) == 0
    assert in_progress(registry) == 0
    assert in_progress(registry, "POST") == 0
    assert sorted(f.name for f in registry.collect()) == sorted(
        [
            "http_request_duration_seconds",
            "http_requests",
            "http_requests_in_progress",
            "http_response_size_bytes",
        ]
    )


def test_status_codes_as_numbers(registry: MetricsRegistry) -> None:
    """An ``HTTPStatus`` is its number; a status that is not a number (a broken app) is
    500, in ASGI as in WSGI."""

    def sending(status: object) -> Any:
        async def app(scope: Scope, receive: Any, send: Any) -> None:
            await send({"type": "http.response.start", "status": status, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        return app

    def starting(status: object) -> Any:
        def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
            start_response(status, [])
            return []

        return app

    for status in (HTTPStatus.NOT_FOUND, "200"):
        asgi_call(asgi_middleware(sending(status), registry), "/")
    for line in ("404 Not Found", "OK", None):
        wsgi_call(wsgi_middleware(starting(line), registry), "/")
    assert count(registry, "GET", UNMATCHED, "404") == 2
    assert count(registry, "GET", UNMATCHED, "500") == 3
    assert len(series(registry, "http_requests")) == 2


def test_nonstandard_methods_share_one_series(registry: MetricsRegistry) -> None:
    """A client chooses the method: anything but the standard ones is ``_OTHER``."""
    app = asgi_middleware(plain, registry)
    for method in ("BREW", "get", "X" * 1000, "PROPFIND", ["GET"]):
        asgi_call(app, "/", method=method)
    assert count(registry, OTHER_METHOD, UNMATCHED, "201") == 5
    assert len(series(registry, "http_requests")) == 1


def test_prefix_renames_every_family_and_options_are_checked(registry: MetricsRegistry) -> None:
    app = asgi_middleware(plain, registry, prefix="api", buckets=(0.5, 1.0))
    asgi_call(app, "/")
    assert sorted(f.name for f in registry.collect()) == sorted(
        [
            "api_request_duration_seconds",
            "api_requests",
            "api_requests_in_progress",
            "api_response_size_bytes",
        ]
    )
    labels = {"method": "GET", "route": UNMATCHED, "le": "0.5"}
    assert sample_value(registry, "api_request_duration_seconds_bucket", labels) == 1
    with pytest.raises(ValueError, match=r"prefix must be .*'9x'"):
        asgi_middleware(plain, registry, prefix="9x")
    with pytest.raises(ValueError, match="max_routes must be an int >= 1, got 0"):
        wsgi_middleware(lambda e, s: [], registry, max_routes=0)
    with pytest.raises(ValueError, match="unknown \\['zero'\\]"):
        asgi_middleware(plain, registry, native=True, native_options={"zero": 1})
    with pytest.raises(TypeError, match="native must be True or False, got 1"):
        asgi_middleware(plain, registry, native=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="without native=True"):
        asgi_middleware(plain, registry, native_options={"native_max_buckets": 10})


def test_native_histogram_on_request(registry: MetricsRegistry) -> None:
    """``native=True``: the duration histogram has native buckets (options passed on)."""
    app = asgi_middleware(plain, registry, native=True, native_options={"native_max_buckets": 20})
    asgi_call(app, "/")
    (family,) = [f for f in registry.collect() if f.name == "http_request_duration_seconds"]
    (value,) = [value for _, value in family.histograms]
    assert value.native is not None
    assert value.count == 1


def test_exception_before_the_response_is_a_500_and_re_raised(registry: MetricsRegistry) -> None:
    async def broken(scope: Scope, receive: Any, send: Any) -> None:
        raise RuntimeError("boom")

    app = asgi_middleware(broken, registry)
    with pytest.raises(RuntimeError, match="boom"):
        asgi_call(app, "/")
    assert count(registry, "GET", UNMATCHED, "500") == 1
    assert in_progress(registry) == 0


def test_exception_mid_body_is_a_500_after_the_response_a_success(
    registry: MetricsRegistry,
) -> None:
    """Cut short (the status line went out, the last byte did not): 500. Raised after the
    response was complete (a background task): the client got its status, which counts."""

    async def cut(scope: Scope, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"a", "more_body": True})
        raise ValueError("cut")

    async def late(scope: Scope, receive: Any, send: Any) -> None:
        await plain(scope, receive, send)
        raise ValueError("late")

    for inner in (cut, late):
        with pytest.raises(ValueError):
            asgi_call(asgi_middleware(inner, registry), "/")
    assert count(registry, "GET", UNMATCHED, "500") == 1
    assert count(registry, "GET", UNMATCHED, "201") == 1
    assert in_progress(registry) == 0


def test_cancelled_request_is_counted_once(registry: MetricsRegistry) -> None:
    """A client gone (the server cancels the task): counted as 500, gauge back to 0."""

    async def slow(scope: Scope, receive: Any, send: Any) -> None:
        await asyncio.sleep(10)

    app = asgi_middleware(slow, registry)

    async def run() -> None:
        task = asyncio.ensure_future(_asgi_call(app, "/", "GET", ""))
        await asyncio.sleep(0.05)
        assert in_progress(registry) == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())
    assert count(registry, "GET", UNMATCHED, "500") == 1
    assert in_progress(registry) == 0


def test_asgi_streaming_is_timed_to_the_last_byte_not_past_it(registry: MetricsRegistry) -> None:
    """A body whose last chunk comes 0.2 s late: the duration covers it; work done after
    the last byte (a background task, 0.8 s) is not the client's wait and is left out."""

    async def stream(scope: Scope, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        await asyncio.sleep(0.2)
        await send({"type": "http.response.body", "body": b"last"})
        await asyncio.sleep(0.8)

    asgi_call(asgi_middleware(stream, registry), "/")
    took = duration(registry, "GET", UNMATCHED)
    assert took is not None and 0.2 <= took < 0.8, took
    assert (
        sample_value(
            registry, "http_response_size_bytes_sum", {"method": "GET", "route": UNMATCHED}
        )
        == 9
    )


def test_pathsend_ends_the_response(registry: MetricsRegistry) -> None:
    """A file handed to the server (``http.response.pathsend``) is the response's end:
    what the app does after it is not timed."""

    async def send_file(scope: Scope, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.pathsend", "path": "/etc/hostname"})
        await asyncio.sleep(0.5)

    asgi_call(asgi_middleware(send_file, registry), "/")
    took = duration(registry, "GET", UNMATCHED)
    assert took is not None and took < 0.4, took
    assert count(registry, "GET", UNMATCHED, "200") == 1


def test_lifespan_and_websocket_pass_through(registry: MetricsRegistry) -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    wrapped = asgi_middleware(app, registry)
    for kind in ("lifespan", "websocket"):
        asyncio.run(wrapped({"type": kind}, None, None))  # type: ignore[arg-type]
    assert seen == ["lifespan", "websocket"]
    assert all(not (f.samples or f.histograms) for f in registry.collect())


def test_route_given_by_the_app_in_the_scope(registry: MetricsRegistry) -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        scope[ROUTE_KEY] = "/items/{id}"
        await plain(scope, receive, send)

    asgi_call(asgi_middleware(app, registry), "/items/7")
    assert count(registry, "GET", "/items/{id}", "201") == 1


# -- Starlette and FastAPI ----------------------------------------------------------------


async def hello(request: Request) -> Response:
    return PlainTextResponse(f"hello {request.path_params}")


def starlette_app() -> Starlette:
    teams = Starlette(routes=[Route("/teams/{team}", hello)])
    return Starlette(
        routes=[
            Route("/missions/{mission_id}", hello),
            Route("/", hello),
            Mount("/orgs/{org}", routes=[Mount("/sub", app=teams), Route("/info", hello)]),
            Mount("/static", app=PlainTextResponse("a file")),
        ]
    )


@pytest.mark.parametrize(
    ("path", "method", "route", "status"),
    [
        ("/missions/17", "GET", "/missions/{mission_id}", "200"),
        ("/", "GET", "/", "200"),
        ("/orgs/acme/info", "GET", "/orgs/{org}/info", "200"),
        ("/orgs/acme/sub/teams/red", "GET", "/orgs/{org}/sub/teams/{team}", "200"),
        ("/static/css/site.css", "GET", "/static/{path}", "200"),
        ("/missions/17", "POST", "/missions/{mission_id}", "405"),
        ("/nowhere", "GET", UNMATCHED, "404"),
        ("/orgs/acme/sub/nothing", "GET", UNMATCHED, "404"),
    ],
)
def test_starlette_route_templates(
    registry: MetricsRegistry, path: str, method: str, route: str, status: str
) -> None:
    """The template, mounts' parameters included; a 404 from a mount is unmatched; the
    middleware's own ``root_path`` (where it is mounted) is not part of the route."""
    app = asgi_middleware(starlette_app(), registry)
    asgi_call(app, path, method)
    asgi_call(app, "/prefix" + path, method, root_path="/prefix")
    assert count(registry, method, route, status) == 2, registry.export_prometheus()


@pytest.mark.parametrize("mount_at", ["", "/api"])
def test_middleware_inside_an_outer_router(registry: MetricsRegistry, mount_at: str) -> None:
    """Mounted in another Starlette app (which set ``route`` and ``router`` first): the
    template is the inner app's, mounts' parameters included, relative to the mount
    point; an inner app that routes nothing leaves its requests unmatched (the outer
    mount is not their route)."""
    measured = asgi_middleware(starlette_app(), registry)
    bare = asgi_middleware(plain, registry)
    outer = Starlette(routes=[Mount("/bare", bare), Mount(mount_at, measured)])
    asgi_call(outer, f"{mount_at}/orgs/acme/sub/teams/red")
    asgi_call(outer, f"{mount_at}/missions/9")
    asgi_call(outer, "/bare/thing")
    assert count(registry, "GET", "/orgs/{org}/sub/teams/{team}", "200") == 1
    assert count(registry, "GET", "/missions/{mission_id}", "200") == 1
    assert count(registry, "GET", UNMATCHED, "201") == 1


def test_fastapi_route_template_across_ids(registry: MetricsRegistry) -> None:
    api = FastAPI()

    @api.get("/missions/{mission_id}")
    def mission(mission_id: int) -> dict[str, int]:
        return {"id": mission_id}

    app = asgi_middleware(api, registry)
    for n in range(50):
        asgi_call(app, f"/missions/{n}")
    assert series(registry, "http_requests") == [
        {"method": "GET", "route": "/missions/{mission_id}", "status": "200"}
    ]
    assert count(registry, "GET", "/missions/{mission_id}", "200") == 50


def test_route_cap_keeps_cardinality_bounded(registry: MetricsRegistry) -> None:
    """Beyond ``max_routes`` distinct templates, the rest share ``<other>``; the admitted
    ones keep theirs; ``<unmatched>`` is not one of them."""
    routes = [Route(f"/r{n}/{{id}}", hello) for n in range(200)]
    app = asgi_middleware(Starlette(routes=routes), registry, max_routes=10)
    for n in range(200):
        asgi_call(app, f"/r{n}/1")
    asgi_call(app, "/r0/2")
    asgi_call(app, "/missing")
    routes_seen = {s["route"] for s in series(registry, "http_requests")}
    assert routes_seen == {f"/r{n}/{{id}}" for n in range(10)} | {OTHER_ROUTE, UNMATCHED}
    assert count(registry, "GET", OTHER_ROUTE, "200") == 190
    assert count(registry, "GET", "/r0/{id}", "200") == 2


def test_a_10_kb_path_is_unmatched(registry: MetricsRegistry) -> None:
    app = asgi_middleware(starlette_app(), registry)
    (start, *_) = asgi_call(app, "/" + "a" * 10_240)
    assert start["status"] == 404
    assert count(registry, "GET", UNMATCHED, "404") == 1


# -- WSGI ---------------------------------------------------------------------------------


def plain_wsgi(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    write = start_response("202 Accepted", [("Content-Type", "text/plain")])
    write(b"12345")
    return [b"abc", b"de"]


def test_wsgi_records_status_size_and_duration(registry: MetricsRegistry) -> None:
    app = wsgi_middleware(plain_wsgi, registry)
    status, body = wsgi_call(app, "/x")
    assert (status, body) == ("202 Accepted", b"12345abcde")
    assert count(registry, "GET", UNMATCHED, "202") == 1
    size = {"method": "GET", "route": UNMATCHED}
    assert sample_value(registry, "http_response_size_bytes_sum", size) == 10
    assert duration(registry, "GET", UNMATCHED, "count") == 1
    assert in_progress(registry) == 0


def test_wsgi_exceptions_are_500_and_re_raised(registry: MetricsRegistry) -> None:
    def broken(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        raise KeyError("boom")

    def broken_body(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [])
        yield b"partial"
        raise OSError("disk")

    with pytest.raises(KeyError):
        wsgi_call(wsgi_middleware(broken, registry), "/")
    with pytest.raises(OSError, match="disk"):
        wsgi_call(wsgi_middleware(broken_body, registry), "/")
    assert count(registry, "GET", UNMATCHED, "500") == 2
    assert count(registry, "GET", UNMATCHED, "200") is None
    assert in_progress(registry) == 0


def test_wsgi_streaming_is_timed_to_close_and_close_is_passed_on(
    registry: MetricsRegistry,
) -> None:
    closed: list[bool] = []

    class Body:
        def __iter__(self) -> Iterator[bytes]:
            yield b"first"
            time.sleep(0.2)
            yield b"last"

        def close(self) -> None:
            closed.append(True)

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("200 OK", [])
        return Body()

    wrapped = wsgi_middleware(app, registry)
    body = wrapped(environ_for("/"), lambda s, h, e=None: lambda d: None)
    assert in_progress(registry) == 1  # returned, not yet sent
    assert b"".join(body) == b"firstlast"
    body.close()  # type: ignore[attr-defined]
    body.close()  # type: ignore[attr-defined]  # a second close records nothing more
    assert closed == [True, True]
    took = duration(registry, "GET", UNMATCHED)
    assert took is not None and took >= 0.2
    assert duration(registry, "GET", UNMATCHED, "count") == 1
    assert in_progress(registry) == 0


def flask_app() -> flask.Flask:
    app = flask.Flask("missions")

    @app.get("/missions/<int:mission_id>")
    def mission(mission_id: int) -> str:
        return f"mission {mission_id}"

    @app.get("/fail")
    def fail() -> str:
        raise RuntimeError("view failed")

    return app


@pytest.mark.parametrize("how", ["app", "wsgi_app"])
def test_flask_route_templates_either_way_of_wrapping(registry: MetricsRegistry, how: str) -> None:
    """``wsgi_middleware(app)`` and ``app.wsgi_app = wsgi_middleware(app.wsgi_app)`` both
    see ``url_rule``; unknown paths are unmatched; a failing view is a 500 (Flask turns
    it into a response)."""
    app = flask_app()
    if how == "app":
        served: Any = wsgi_middleware(app, registry)
    else:
        app.wsgi_app = wsgi_middleware(app.wsgi_app, registry)  # type: ignore[method-assign, assignment]
        served = app
    for n in range(20):
        assert wsgi_call(served, f"/missions/{n}")[0] == "200 OK"
    assert wsgi_call(served, "/nope")[0].startswith("404")
    assert wsgi_call(served, "/" + "p" * 10_240)[0].startswith("404")
    assert wsgi_call(served, "/fail")[0].startswith("500")
    assert count(registry, "GET", "/missions/<int:mission_id>", "200") == 20
    assert count(registry, "GET", UNMATCHED, "404") == 2
    assert count(registry, "GET", "/fail", "500") == 1
    # The hook is added once per app, however many middlewares.
    wsgi_middleware(app, registry)
    assert len(app.teardown_request_funcs[None]) == 1


def test_django_route_through_its_middleware(registry: MetricsRegistry) -> None:
    """Django keeps its request to itself: ``DjangoRouteMiddleware`` (in Django's
    ``MIDDLEWARE``) copies ``resolver_match.route`` into ``request.META`` (the WSGI
    environ), or the scope under ASGI. Duck-typed here: Django is not installed."""

    class Match:
        route = "missions/<int:mission_id>/"

    class DjangoRequest:
        def __init__(self, environ: dict[str, Any]) -> None:
            self.META = environ
            self.resolver_match: Match | None = None

    def view(request: DjangoRequest) -> str:
        request.resolver_match = Match()
        return "ok"

    django_stack = DjangoRouteMiddleware(view)

    def django_wsgi(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        django_stack(DjangoRequest(environ))
        start_response("200 OK", [])
        return [b"ok"]

    wsgi_call(wsgi_middleware(django_wsgi, registry), "/missions/3/")
    assert count(registry, "GET", "missions/<int:mission_id>/", "200") == 1

    class AsgiRequest(DjangoRequest):
        def __init__(self, scope: Scope) -> None:
            super().__init__({})
            self.scope = scope

    async def django_asgi(scope: Scope, receive: Any, send: Any) -> None:
        DjangoRouteMiddleware(view)(AsgiRequest(scope))
        await plain(scope, receive, send)

    asgi_call(asgi_middleware(django_asgi, registry), "/missions/4/")
    assert count(registry, "GET", "missions/<int:mission_id>/", "201") == 1


# -- threads, processes, the facade -------------------------------------------------------


def test_wsgi_from_many_threads(registry: MetricsRegistry, frequent_thread_switches: None) -> None:
    """8 threads x 500 requests over 50 routes (cap 30): every request counted once,
    nothing left in progress, at most 30 routes plus ``<other>``."""
    errors: list[BaseException] = []

    def routed(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        environ[ROUTE_KEY] = "/r" + environ["PATH_INFO"].rsplit("/", 1)[-1]
        return plain_wsgi(environ, start_response)

    app = wsgi_middleware(routed, registry, max_routes=30)

    def client(t: int) -> None:
        try:
            for n in range(500):
                wsgi_call(app, f"/{(t * 500 + n) % 50}")
        except BaseException as error:  # reported by the test thread
            errors.append(error)

    threads = [threading.Thread(target=client, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    found = series(registry, "http_requests")
    assert sum(count(registry, "GET", s["route"], "202") or 0 for s in found) == 4000
    assert len({s["route"] for s in found}) == 31
    assert in_progress(registry) == 0


def test_multiprocess_registry(tmp_path: Path) -> None:
    """On a multi-process registry the gauge is ``livesum`` and every family records."""
    registry = MetricsRegistry(multiprocess_dir=tmp_path)
    app = wsgi_middleware(plain_wsgi, registry)
    for _ in range(3):
        wsgi_call(app, "/")
    assert count(registry, "GET", UNMATCHED, "202") == 3
    assert in_progress(registry) == 0
    gauge = registry.get("http_requests_in_progress")
    assert gauge.multiprocess_mode == "livesum"


def test_global_registry_by_default() -> None:
    """``registry=None``: the facade's registry, found when the middleware is made."""
    with isolated() as registry:
        app = asgi_middleware(plain)
        asgi_call(app, "/")
        assert count(registry, "GET", UNMATCHED, "201") == 1
        assert "http_requests_total" in metrics.export_prometheus()


def test_made_before_init_records_after_it(fresh_facade: None) -> None:
    """Made at import, before ``init()`` (the usual order): requests before ``init()`` are
    dropped, as for any facade instrument; after it they are recorded."""
    app = wsgi_middleware(plain_wsgi)
    wsgi_call(app, "/")
    registry = metrics.init()
    assert not count(registry, "GET", UNMATCHED, "202")  # a series made paused, at 0
    wsgi_call(app, "/")
    assert count(registry, "GET", UNMATCHED, "202") == 1
    assert in_progress(registry) == 0


# -- cost ---------------------------------------------------------------------------------


def _per_call(call: Callable[[], object], n: int) -> float:
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(n):
            call()
        best = min(best, (time.perf_counter() - started) / n)
    return best


def test_overhead_per_request(registry: MetricsRegistry) -> None:
    """What the middleware adds to a request (printed; asserted loosely: under 50 us)."""
    wrapped_wsgi = wsgi_middleware(plain_wsgi, registry)
    environ = environ_for("/")

    def start(status: str, headers: Any, exc_info: Any = None) -> Callable[[bytes], None]:
        return lambda data: None

    def through(app: Any) -> Callable[[], object]:
        def call() -> None:
            body = app(dict(environ), start)
            for _ in body:
                pass
            getattr(body, "close", lambda: None)()

        return call

    bare = _per_call(through(plain_wsgi), 2000)
    wrapped = _per_call(through(wrapped_wsgi), 2000)

    async def noop_send(message: Message) -> None:
        pass

    async def receive() -> Message:
        return {"type": "http.request"}

    scope: Scope = {"type": "http", "method": "GET", "path": "/", "root_path": ""}
    asgi_wrapped = asgi_middleware(plain, registry)

    async def loop(app: Any, n: int) -> float:
        best = float("inf")
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(n):
                await app(dict(scope), receive, noop_send)
            best = min(best, (time.perf_counter() - started) / n)
        return best

    asgi_bare = asyncio.run(loop(plain, 2000))
    asgi_with = asyncio.run(loop(asgi_wrapped, 2000))
    print(
        f"\nWSGI: {bare * 1e6:.2f} us bare, {wrapped * 1e6:.2f} us wrapped"
        f" (+{(wrapped - bare) * 1e6:.2f} us); ASGI: {asgi_bare * 1e6:.2f} us bare,"
        f" {asgi_with * 1e6:.2f} us wrapped (+{(asgi_with - asgi_bare) * 1e6:.2f} us)"
    )
    assert wrapped - bare < 50e-6
    assert asgi_with - asgi_bare < 50e-6
