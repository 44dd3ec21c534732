"""The middlewares in real servers: a Starlette app and a FastAPI app under uvicorn (in a
thread of the test process), a Flask app under gunicorn with 2 sync workers in
multi-process mode (the global registry, merged from every worker's files).

Each checks route templates over real HTTP (``/missions/{mission_id}`` for 1,000 ids is
one series), unknown and 10 KB paths (404, ``<unmatched>``), exceptions (500, counted),
a streaming response timed to its last byte (0.2 s before it), requests in progress back
to 0, and ``promtool check metrics`` on the export; the Starlette app also a table of
10,000 routes under a cap of 100."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator

import pytest

from app_servers import uvicorn_server
from mp_servers import Gunicorn, http_get, poll, scrape
from mw_apps.asgi_apps import STREAM_PAUSE, fastapi_app, starlette_app
from promtool import check_metrics
from scrape_client import TIMEOUT, Samples, read_samples
from tachikoma_metrics import MetricsRegistry
from tachikoma_metrics.middleware import OTHER_ROUTE, UNMATCHED

IDS = 1_000


def get_many(port: int, paths: list[str]) -> list[int]:
    """GET every path, each on a new connection (on a kept-alive one, uvicorn's answer in
    two writes meets the client's delayed ACK: 40 ms a request); the statuses."""
    return [http_get(port, path)[0] for path in paths]


def series_of(samples: Samples, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {labels: value for (sample, labels), value in samples.items() if sample == name}


def labels(**pairs: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(pairs.items()))


def promtool_clean(body: str) -> None:
    result = check_metrics(body.encode())
    assert result.returncode == 0, (result.stdout + result.stderr).decode()


@pytest.fixture
def expected_errors(caplog: pytest.LogCaptureFixture) -> Iterator[list[str]]:
    """Fail if anything logged a warning or error other than the messages the test lists
    (the server's report of an exception the test provokes)."""
    allowed: list[str] = []
    yield allowed
    loud = [r for r in caplog.get_records("call") if r.levelno >= logging.WARNING]
    unexpected = [r.getMessage() for r in loud if r.getMessage() not in allowed]
    assert not unexpected, unexpected


def check_common(samples: Samples, prefix: str, missions: str) -> None:
    """1,000 ids in one series; nothing else counted under that template; nothing left in
    progress."""
    requests = series_of(samples, f"{prefix}_requests_total")
    assert requests[labels(method="GET", route=missions, status="200")] == IDS
    routes = {dict(key)["route"] for key in requests}
    assert not any(route.startswith("/missions/") and route != missions for route in routes)
    progress = series_of(samples, f"{prefix}_requests_in_progress")
    assert set(progress.values()) == {0.0}, progress


def check_stream(samples: Samples, prefix: str) -> None:
    key = labels(method="GET", route="/stream")
    assert series_of(samples, f"{prefix}_request_duration_seconds_count")[key] == 1
    took = series_of(samples, f"{prefix}_request_duration_seconds_sum")[key]
    assert STREAM_PAUSE <= took < STREAM_PAUSE + 2, took
    assert series_of(samples, f"{prefix}_response_size_bytes_sum")[key] == len(b"first\nlast\n")


def test_starlette_under_uvicorn(expected_errors: list[str]) -> None:
    registry = MetricsRegistry()
    expected_errors.append("Exception in ASGI application\n")
    with uvicorn_server(starlette_app(registry)) as port:
        missions = [f"/missions/{n}" for n in range(IDS)]
        assert set(get_many(port, missions)) == {200}
        assert get_many(port, ["/nope", "/" + "x" * 10_240, "/orgs/acme/missions/5"]) == [
            404,
            404,
            200,
        ]
        assert get_many(port, ["/stream"]) == [200]
        status, _ = http_get(port, "/fail")
        assert status == 500
        body = scrape(port)
    samples = read_samples(body)
    check_common(samples, "http", "/missions/{mission_id}")
    check_stream(samples, "http")
    requests = series_of(samples, "http_requests_total")
    assert requests[labels(method="GET", route=UNMATCHED, status="404")] == 2
    assert requests[labels(method="GET", route="/fail", status="500")] == 1
    org = labels(method="GET", route="/orgs/{org}/missions/{mission_id}", status="200")
    assert requests[org] == 1
    promtool_clean(body)


def test_client_leaving_mid_stream_is_counted_once(expected_errors: list[str]) -> None:
    """A client reads the first chunk of a stream and closes its connection: the request
    is counted once (with the status that was sent) and is no longer in progress."""
    registry = MetricsRegistry()
    with uvicorn_server(starlette_app(registry)) as port:
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            sock.sendall(b"GET /slow HTTP/1.1\r\nHost: test\r\n\r\n")
            received = b""
            while b"first" not in received:
                chunk = sock.recv(4096)
                assert chunk, received
                received += chunk
            progress = series_of(read_samples(scrape(port)), "http_requests_in_progress")
            assert progress[labels(method="GET")] == 1
        key = labels(method="GET", route="/slow", status="200")

        def done() -> Samples | None:
            samples = read_samples(scrape(port))
            return samples if series_of(samples, "http_requests_total").get(key) else None

        samples = poll("the stream's end counted", done, timeout=TIMEOUT)
        assert isinstance(samples, dict)
        assert series_of(samples, "http_requests_total")[key] == 1
        assert series_of(samples, "http_requests_in_progress")[labels(method="GET")] == 0
        took = series_of(samples, "http_request_duration_seconds_sum")[
            labels(method="GET", route="/slow")
        ]
        assert took < TIMEOUT


def test_fastapi_under_uvicorn(expected_errors: list[str]) -> None:
    registry = MetricsRegistry()
    with uvicorn_server(fastapi_app(registry)) as port:
        assert set(get_many(port, [f"/missions/{n}" for n in range(IDS)])) == {200}
        assert get_many(port, ["/missions/not-a-number", "/" + "y" * 10_240, "/stream"]) == [
            422,
            404,
            200,
        ]
        body = scrape(port)
    samples = read_samples(body)
    check_common(samples, "api", "/missions/{mission_id}")
    check_stream(samples, "api")
    requests = series_of(samples, "api_requests_total")
    assert requests[labels(method="GET", route="/missions/{mission_id}", status="422")] == 1
    assert requests[labels(method="GET", route=UNMATCHED, status="404")] == 1
    promtool_clean(body)


def test_ten_thousand_routes_under_a_cap(expected_errors: list[str]) -> None:
    """10,000 routes, 300 of them requested (spread over the table, the last included),
    cap 100: at most 100 route templates plus ``<other>``, every request counted."""
    registry = MetricsRegistry()
    app = starlette_app(registry, routes=10_000, max_routes=100)
    with uvicorn_server(app) as port:
        wanted = [f"/r{n}/{n}" for n in range(0, 10_000, 34)] + ["/r9999/1"]
        assert set(get_many(port, wanted)) == {200}
        body = scrape(port)
    requests = series_of(read_samples(body), "http_requests_total")
    routes = {dict(key)["route"] for key in requests}
    assert len(routes) == 101 and OTHER_ROUTE in routes, sorted(routes)[:5]
    assert sum(requests.values()) == len(wanted)
    promtool_clean(body)


def test_flask_under_gunicorn_multiprocess() -> None:
    """2 workers sharing a directory: the merged export shows 1,000 ids as one series
    (whichever worker served each), Flask's url_rule as the route, in progress 0.
    gunicorn's own limit on the request line (4 KB; a longer one is answered 414 before
    any app sees it) is lifted for the 10 KB path."""
    server = Gunicorn(workers=2, app="mw_apps.flask_app:app")
    server.command[-1:-1] = ["--limit-request-line", "0"]
    with server:
        paths = [f"/missions/{n}" for n in range(IDS)]
        assert set(get_many(server.port, paths)) == {200}
        assert http_get(server.port, "/" + "z" * 10_240)[0] == 404
        assert http_get(server.port, "/fail")[0] == 500
        assert http_get(server.port, "/stream")[0] == 200
        body = scrape(server.port)
        samples = read_samples(body)
        check_common(samples, "http", "/missions/<int:mission_id>")
        check_stream(samples, "http")
        requests = series_of(samples, "http_requests_total")
        assert requests[labels(method="GET", route=UNMATCHED, status="404")] == 1
        assert requests[labels(method="GET", route="/fail", status="500")] == 1
        promtool_clean(body)
