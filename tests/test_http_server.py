"""``start_http_server``: the real threaded HTTP server, exercised over real sockets.

Every test talks to a server bound to 127.0.0.1 through ``http.client`` or a raw socket,
reads the answer back with parsers nobody here wrote (``prometheus_client``'s), and checks
that nothing escaped: no exception reached ``threading.excepthook``, nothing was printed to
stderr, nothing was logged at WARNING or above, and no thread outlived the test.
"""

from __future__ import annotations

import base64
import gzip
import http.client
import inspect
import logging
import select
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from prometheus_client.parser import text_string_to_metric_families

import scrape_client
import tachikoma_metrics
from certs import Certificates, generate
from metrics_proto import split_delimited
from scrape_client import (
    ACCEPT_OM,
    ACCEPT_PROTOBUF,
    OM_001,
    OM_100,
    PROTOBUF,
    TEXT_004,
    TIMEOUT,
    Reply,
    Samples,
    escape_guard,
    raw_exchange,
    read_samples,
    split_response,
    threads_started_since,
)
from tachikoma_metrics import MetricsRegistry, MetricsServer, start_http_server
from tachikoma_metrics.transport import server as server_module
from uninitialised import warned_once

TEXT_100 = "text/plain; version=1.0.0; charset=utf-8; escaping=underscores"
OM_100_UTF8 = "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8"

METRIC_NAMES = ("app_requests", "app_temperature", "app_latency", "app_odd", "app_filler")


# -- guards: nothing escapes, nothing is left behind ------------------------------------------


@pytest.fixture(autouse=True)
def nothing_escapes(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> Iterator[list[threading.ExceptHookArgs]]:
    """Fail the test if a thread raised, stderr got output, a warning or error was logged,
    or a thread started during the test is still alive at its end."""
    caplog.set_level(logging.DEBUG, logger="tachikoma_metrics")
    with escape_guard(capfd, caplog, threads_must_end=True) as seen:
        yield seen


@pytest.fixture
def serve() -> Iterator[Callable[..., MetricsServer]]:
    """``serve(registry, **options)`` starts a server on a free port; all are closed after."""
    servers: list[MetricsServer] = []

    def start(registry: MetricsRegistry | None, **options: Any) -> MetricsServer:
        server = start_http_server(0, registry=registry, **options)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A throwaway CA, server and client certificates in a temporary directory."""
    return generate(tmp_path_factory.mktemp("tls"))


# -- the recorded registry ----------------------------------------------------------------------

FILLER = 300


def _recorded() -> MetricsRegistry:
    registry = MetricsRegistry()
    requests = registry.counter("app_requests_total", "Requests.", labelnames=("method", "code"))
    requests.labels("get", "200").inc(3)
    requests.labels("post", "500").inc(1.5)
    registry.gauge("app_temperature_celsius", "Temperature.", unit="celsius").set(21.5)
    latency = registry.histogram(
        "app_latency_seconds", "Latency.", labelnames=("route",), buckets=(0.1, 1)
    )
    for value in (0.0625, 0.5, 2):
        latency.labels("/a").observe(value)
    registry.gauge("app_odd", "Odd label values.", labelnames=("path",)).labels('a\\b\n"q"').set(7)
    filler = registry.counter("app_filler_total", "Filler.", labelnames=("shard",))
    for shard in range(FILLER):
        filler.labels(f"shard-{shard:04d}").inc(shard)
    return registry


EXPECTED: Samples = {
    ("app_requests_total", (("code", "200"), ("method", "get"))): 3.0,
    ("app_requests_total", (("code", "500"), ("method", "post"))): 1.5,
    ("app_temperature_celsius", ()): 21.5,
    ("app_latency_seconds_bucket", (("le", "0.1"), ("route", "/a"))): 1.0,
    ("app_latency_seconds_bucket", (("le", "1.0"), ("route", "/a"))): 2.0,
    ("app_latency_seconds_bucket", (("le", "+Inf"), ("route", "/a"))): 3.0,
    ("app_latency_seconds_sum", (("route", "/a"),)): 2.5625,
    ("app_latency_seconds_count", (("route", "/a"),)): 3.0,
    ("app_odd", (("path", 'a\\b\n"q"'),)): 7.0,
    **{
        ("app_filler_total", (("shard", f"shard-{shard:04d}"),)): float(shard)
        for shard in range(FILLER)
    },
}


@pytest.fixture(scope="module")
def recorded() -> MetricsRegistry:
    """A registry with known values: counter, gauge, histogram, odd label values, filler.
    Shared by the module: tests must not change it."""
    return _recorded()


# Closing a server takes up to half a second (``serve_forever``'s poll interval), so tests
# that only read share one server per configuration.


@pytest.fixture(scope="module")
def server(recorded: MetricsRegistry) -> Iterator[MetricsServer]:
    """A plain server for the shared registry."""
    with start_http_server(0, registry=recorded) as running:
        yield running


@pytest.fixture(scope="module")
def auth_server(recorded: MetricsRegistry) -> Iterator[MetricsServer]:
    """The shared registry behind basic auth."""
    with start_http_server(0, registry=recorded, basic_auth=(USER, PASSWORD)) as running:
        yield running


@pytest.fixture(scope="module")
def tls_server(recorded: MetricsRegistry, certificates: Certificates) -> Iterator[MetricsServer]:
    """The shared registry over TLS, no client certificate asked for."""
    with start_http_server(0, registry=recorded, **certificates.server_options()) as running:
        yield running


def _family_names(text: str) -> set[str]:
    return {family.name for family in text_string_to_metric_families(text)}


# -- clients ------------------------------------------------------------------------------------


def fetch(port: int, target: str = "/metrics", **options: Any) -> Reply:
    """``scrape_client.fetch``; a 200 answer to anything but HEAD must also carry the exact
    Content-Length of its body."""
    reply = scrape_client.fetch(port, target, **options)
    if reply.status == 200 and options.get("method", "GET") != "HEAD":
        assert reply.header("Content-Length") == str(len(reply.body))
    return reply


def assert_serving(server: MetricsServer, registry: MetricsRegistry) -> None:
    """The server still answers a normal scrape with the registry's full exposition."""
    reply = fetch(server.port)
    assert reply.status == 200
    assert reply.body == registry.export_prometheus().encode()


def _tls_client(
    certificates: Certificates, *, cert: Path | None = None, key: Path | None = None
) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(certificates.ca))
    if cert is not None:
        context.load_cert_chain(str(cert), str(key))
    return context


# -- the endpoint -------------------------------------------------------------------------------


def test_port_zero_binds_a_real_port(server: MetricsServer) -> None:
    """Port 0 picks a free port: ``.port`` is the real one and ``.url`` points at it."""
    assert server.port > 0
    assert server.url == f"http://127.0.0.1:{server.port}/metrics"
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT):
        pass
    assert fetch(server.port).status == 200


def test_get_serves_text_004_with_recorded_values(
    server: MetricsServer, recorded: MetricsRegistry
) -> None:
    """A plain GET answers 200, text 0.0.4, with exactly the recorded samples and labels."""
    reply = fetch(server.port)
    assert reply.status == 200
    assert reply.header("Content-Type") == TEXT_004
    assert reply.header("Content-Encoding") is None
    assert read_samples(reply.body.decode("utf-8")) == EXPECTED
    assert reply.body == recorded.export_prometheus().encode()


def test_openmetrics_accept_gets_openmetrics(
    server: MetricsServer, recorded: MetricsRegistry
) -> None:
    """``Accept: application/openmetrics-text; version=1.0.0`` gets OpenMetrics 1.0.0 with
    the exact Content-Type, a body ending in ``# EOF`` and the recorded values."""
    reply = fetch(server.port, headers={"Accept": ACCEPT_OM})
    assert reply.status == 200
    assert reply.header("Content-Type") == OM_100
    assert reply.body.endswith(b"# EOF\n")
    assert read_samples(reply.body.decode("utf-8"), openmetrics=True) == EXPECTED
    assert reply.body == recorded.export_openmetrics().encode()


def test_protobuf_accept_gets_protobuf(server: MetricsServer, recorded: MetricsRegistry) -> None:
    """The Prometheus protobuf Accept clause gets delimited protobuf with its exact
    Content-Type; the body is the registry's protobuf export, message by message."""
    reply = fetch(server.port, headers={"Accept": ACCEPT_PROTOBUF})
    assert reply.status == 200
    assert reply.header("Content-Type") == PROTOBUF
    assert reply.body == recorded.export_protobuf()
    # five families, each a varint length followed by that many bytes, ending with the body
    assert len(split_delimited(reply.body)) == 5


PROMETHEUS_2_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
PROMETHEUS_3_ACCEPT = (
    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
    "application/openmetrics-text;version=0.0.1;q=0.5,"
    "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,"
    "text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
)


@pytest.mark.parametrize(
    ("accept", "content_type"),
    [
        (
            "text/plain;version=0.0.4;q=0.5, application/openmetrics-text;version=1.0.0;q=0.9",
            OM_100,
        ),
        (
            "application/openmetrics-text;version=1.0.0;q=0.5, text/plain;version=0.0.4;q=0.9",
            TEXT_004,
        ),
        (
            "application/openmetrics-text;version=0.0.1;q=0.8, application/openmetrics-text;q=0.7",
            OM_001,
        ),
        (f"{ACCEPT_PROTOBUF};q=0.9, application/openmetrics-text;version=1.0.0;q=0.8", PROTOBUF),
        (f"{ACCEPT_PROTOBUF};q=0.2, application/openmetrics-text;version=1.0.0;q=0.8", OM_100),
        ("application/openmetrics-text;q=0, */*", TEXT_004),
        ("text/plain;version=1.0.0;q=0.9, text/plain;version=0.0.4;q=0.1", TEXT_100),
        ("application/openmetrics-text;version=1.0.0, text/plain;version=0.0.4", OM_100),
        ("application/json", TEXT_004),
        ("*/*", TEXT_004),
        (PROMETHEUS_2_ACCEPT, OM_100),
        (PROMETHEUS_3_ACCEPT, OM_100_UTF8),
    ],
)
def test_accept_q_values_choose_the_format(
    server: MetricsServer, recorded: MetricsRegistry, accept: str, content_type: str
) -> None:
    """The supported format with the highest q wins (ties: first listed; q=0 refuses it);
    nothing acceptable falls back to text 0.0.4. The body is in the announced format."""
    reply = fetch(server.port, headers={"Accept": accept})
    assert reply.status == 200
    assert reply.header("Content-Type") == content_type
    if content_type.startswith("application/openmetrics-text"):
        assert read_samples(reply.body.decode(), openmetrics=True) == EXPECTED
    elif content_type.startswith("text/plain"):
        assert read_samples(reply.body.decode()) == EXPECTED
    else:
        assert reply.body == recorded.export_protobuf()


@pytest.mark.parametrize(
    ("accept_encoding", "compressed"),
    [
        ("gzip", True),
        ("gzip, deflate, br", True),
        ("br;q=1.0, gzip;q=0.8, *;q=0.1", True),
        ("*", True),
        ("GZIP", True),
        ("gzip;q=0", False),
        ("gzip;q=0.0, *", False),
        ("identity", False),
        ("identity;q=1, *;q=0", False),
        ("deflate, br", False),
        ("", False),
    ],
)
def test_gzip_only_when_accepted(
    server: MetricsServer,
    recorded: MetricsRegistry,
    accept_encoding: str,
    compressed: bool,
) -> None:
    """gzip is applied when ``Accept-Encoding`` gives it q > 0 (by name or ``*``); the
    compressed body decompresses to exactly the identity body, and Content-Length counts
    the bytes sent. ``gzip;q=0`` and ``identity`` get the identity body."""
    identity = fetch(server.port, headers={"Accept-Encoding": "identity"})
    reply = fetch(server.port, headers={"Accept-Encoding": accept_encoding})
    assert identity.header("Content-Encoding") is None
    assert reply.status == 200
    assert "Accept-Encoding" in (reply.header("Vary") or "")
    if compressed:
        assert reply.header("Content-Encoding") == "gzip"
        assert reply.header("Content-Length") == str(len(reply.body))
        assert len(reply.body) < len(identity.body)
        assert gzip.decompress(reply.body) == identity.body
    else:
        assert reply.header("Content-Encoding") is None
        assert reply.body == identity.body


@pytest.mark.parametrize("accept", ["", ACCEPT_OM, ACCEPT_PROTOBUF])
def test_gzip_decompresses_to_identity_in_every_format(
    server: MetricsServer, recorded: MetricsRegistry, accept: str
) -> None:
    """Compressed text, OpenMetrics and protobuf bodies decompress to the identity bytes,
    with the same Content-Type."""
    identity = fetch(server.port, headers={"Accept": accept, "Accept-Encoding": "identity"})
    zipped = fetch(server.port, headers={"Accept": accept, "Accept-Encoding": "gzip"})
    assert zipped.header("Content-Encoding") == "gzip"
    assert zipped.header("Content-Type") == identity.header("Content-Type")
    assert gzip.decompress(zipped.body) == identity.body


@pytest.mark.parametrize("accept_encoding", ["identity", "gzip"])
def test_head_sends_headers_and_no_body(
    server: MetricsServer, recorded: MetricsRegistry, accept_encoding: str
) -> None:
    """HEAD answers 200 with the headers GET would send, Content-Length included (the
    length of the body GET sends), and not a single byte of body on the wire."""
    get = fetch(server.port, headers={"Accept-Encoding": accept_encoding})
    data = raw_exchange(
        server.port,
        f"HEAD /metrics HTTP/1.0\r\nAccept-Encoding: {accept_encoding}\r\n\r\n".encode(),
    )
    status, headers, body = split_response(data)
    assert status == 200
    assert body == b""
    assert headers["content-length"] == str(len(get.body))
    assert headers["content-type"] == TEXT_004
    assert headers.get("content-encoding") == get.header("Content-Encoding")


@pytest.mark.parametrize("target", ["/", "/metric", "/metrics/", "/metricsx", "/x?name[]=a"])
def test_unknown_path_is_404(server: MetricsServer, recorded: MetricsRegistry, target: str) -> None:
    """Any path but ``/metrics`` answers 404, and no metric leaks into the body."""
    reply = fetch(server.port, target)
    assert reply.status == 404
    assert not any(name.encode() in reply.body for name in METRIC_NAMES)


@pytest.mark.parametrize(
    ("which", "target", "status"),
    [("server", "/", 404), ("server", "/metrics/x", 404), ("auth_server", "/metrics", 401)],
)
def test_head_error_answers_have_no_body(
    server: MetricsServer, auth_server: MetricsServer, which: str, target: str, status: int
) -> None:
    """A HEAD request never gets a body, whatever the status: not on a 404 (unknown path)
    nor on a 401 (missing credentials). A HEAD response must not carry content (RFC 9110
    section 9.3.2); clients reading it would take the body for the next response."""
    server = auth_server if which == "auth_server" else server
    data = raw_exchange(server.port, f"HEAD {target} HTTP/1.0\r\n\r\n".encode())
    answered, headers, body = split_response(data)
    assert answered == status
    assert int(headers["content-length"]) > 0  # the length GET would have sent
    assert body == b""


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PURGE"])
def test_other_methods_are_405_with_allow(
    server: MetricsServer, recorded: MetricsRegistry, method: str
) -> None:
    """Methods other than GET and HEAD answer 405 with ``Allow: GET, HEAD``, no metrics."""
    body = b"a=1" if method in ("POST", "PUT", "PATCH") else None
    reply = fetch(server.port, method=method, body=body)
    assert reply.status == 405
    assert reply.header("Allow") == "GET, HEAD"
    assert not any(name.encode() in reply.body for name in METRIC_NAMES)
    assert_serving(server, recorded)


# -- ?name[]= filtering -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "families"),
    [
        ("name[]=app_requests_total", {"app_requests"}),
        (
            "name[]=app_requests_total&name[]=app_temperature_celsius",
            {"app_requests", "app_temperature_celsius"},
        ),
        ("name%5B%5D=app_temperature_celsius", {"app_temperature_celsius"}),
        ("name[]=app_latency_seconds_bucket", {"app_latency_seconds"}),
        ("name[]=app_odd&other=1&name[]=app_latency_seconds", {"app_odd", "app_latency_seconds"}),
        (
            "other=app_odd",
            {
                "app_requests",
                "app_temperature_celsius",
                "app_latency_seconds",
                "app_odd",
                "app_filler",
            },
        ),
    ],
)
def test_name_filter_restricts_families(
    server: MetricsServer, recorded: MetricsRegistry, query: str, families: set[str]
) -> None:
    """``?name[]=x`` (repeatable, percent-encoded or not) answers only the families exposing
    those names, with their full values; other query parameters are ignored."""
    reply = fetch(server.port, f"/metrics?{query}")
    assert reply.status == 200
    text = reply.body.decode()
    assert _family_names(text) == families
    assert read_samples(text) == {
        key: value
        for key, value in EXPECTED.items()
        if any(key[0] == family or key[0].startswith(family + "_") for family in families)
    }


@pytest.mark.parametrize(
    "query", ["name[]=nope_total", "name[]=app_requests_totalx", "name[]=app_"]
)
def test_name_filter_unknown_names_give_empty_body(
    server: MetricsServer, recorded: MetricsRegistry, query: str
) -> None:
    """Names no family exposes answer 200 with an empty text body."""
    reply = fetch(server.port, f"/metrics?{query}")
    assert reply.status == 200
    assert reply.header("Content-Type") == TEXT_004
    assert reply.body == b""


def test_huge_name_list_is_answered(server: MetricsServer, recorded: MetricsRegistry) -> None:
    """2,000 ``name[]`` parameters (a request line within the server's 64 KiB limit) answer
    200 with exactly the two families named among them."""
    names = [f"m{i}_total" for i in range(1998)] + ["app_temperature_celsius", "app_odd"]
    target = "/metrics?" + "&".join(f"name[]={name}" for name in names)
    assert len(f"GET {target} HTTP/1.1\r\n") < 65536
    reply = fetch(server.port, target)
    assert reply.status == 200
    assert _family_names(reply.body.decode()) == {"app_temperature_celsius", "app_odd"}
    assert_serving(server, recorded)


def test_global_registry_when_none(
    serve: Callable[..., MetricsServer], fresh_facade: None, caplog: pytest.LogCaptureFixture
) -> None:
    """``registry=None`` serves the global registry: empty before ``init()`` (and the
    first such scrape logs one warning saying so), the recorded values after it."""
    server = serve(None)
    counter = tachikoma_metrics.counter("facade_hits_total", "Hits.")
    counter.inc()
    with warned_once(caplog, "start_http_server"):
        for _ in range(3):
            reply = fetch(server.port)
            assert (reply.status, reply.body) == (200, b"")
    tachikoma_metrics.init()
    counter.inc(2)
    assert read_samples(fetch(server.port).body.decode()) == {("facade_hits_total", ()): 2.0}


# -- TLS ----------------------------------------------------------------------------------------


def test_tls_serves_a_client_that_trusts_the_ca(
    tls_server: MetricsServer, certificates: Certificates
) -> None:
    """With ``certfile``/``keyfile`` the server speaks TLS; a client verifying the server
    against the test CA (hostname checked) gets the metrics; ``.url`` says https."""
    server = tls_server
    assert server.url == f"https://127.0.0.1:{server.port}/metrics"
    reply = fetch(server.port, context=_tls_client(certificates))
    assert reply.status == 200
    assert read_samples(reply.body.decode()) == EXPECTED


def test_tls_refused_by_a_client_that_does_not_trust_the_ca(
    tls_server: MetricsServer, certificates: Certificates
) -> None:
    """A client with only the system CAs rejects the test certificate; a plain-HTTP client
    gets no metrics; the server keeps serving TLS clients afterwards."""
    server = tls_server
    with pytest.raises(ssl.SSLCertVerificationError):
        fetch(server.port, context=ssl.create_default_context())
    try:
        data = raw_exchange(server.port, b"GET /metrics HTTP/1.0\r\n\r\n")
    except ConnectionResetError:
        data = b""
    assert not any(name.encode() in data for name in METRIC_NAMES)
    assert fetch(server.port, context=_tls_client(certificates)).status == 200


def test_tls_client_certificate_required(
    serve: Callable[..., MetricsServer], recorded: MetricsRegistry, certificates: Certificates
) -> None:
    """With ``client_cafile`` and ``client_auth_required=True``, a client without a
    certificate, or with one from another CA, is refused; one with a certificate from the
    CA gets the metrics."""
    server = serve(
        recorded,
        **certificates.server_options(),
        client_cafile=str(certificates.ca),
        client_auth_required=True,
    )
    with pytest.raises(OSError):
        fetch(server.port, context=_tls_client(certificates))
    rogue = _tls_client(
        certificates, cert=certificates.rogue_client_cert, key=certificates.rogue_client_key
    )
    with pytest.raises(OSError):
        fetch(server.port, context=rogue)
    good = _tls_client(certificates, cert=certificates.client_cert, key=certificates.client_key)
    reply = fetch(server.port, context=good)
    assert reply.status == 200
    assert read_samples(reply.body.decode()) == EXPECTED


def test_tls_client_certificate_optional(
    serve: Callable[..., MetricsServer], recorded: MetricsRegistry, certificates: Certificates
) -> None:
    """With ``client_cafile`` but not required, a client without a certificate and one with
    a good certificate are served; a certificate from another CA is still refused."""
    server = serve(
        recorded,
        **certificates.server_options(),
        client_cafile=str(certificates.ca),
    )
    assert fetch(server.port, context=_tls_client(certificates)).status == 200
    good = _tls_client(certificates, cert=certificates.client_cert, key=certificates.client_key)
    assert fetch(server.port, context=good).status == 200
    rogue = _tls_client(
        certificates, cert=certificates.rogue_client_cert, key=certificates.rogue_client_key
    )
    with pytest.raises(OSError):
        fetch(server.port, context=rogue)


def test_tls_options_without_certfile_are_rejected(certificates: Certificates) -> None:
    """``keyfile`` or ``client_cafile`` without ``certfile`` is a ``ValueError`` naming
    it, and no server is started. (TLS versions: ``test_tls_versions.py``.)"""
    with pytest.raises(ValueError, match=r"keyfile=.* need certfile"):
        start_http_server(0, registry=MetricsRegistry(), keyfile=str(certificates.server_key))
    with pytest.raises(ValueError, match=r"client_cafile=.* need certfile"):
        start_http_server(0, registry=MetricsRegistry(), client_cafile=str(certificates.ca))


@pytest.mark.parametrize("version", ["HTTP/1.0", "HTTP/1.1"])
def test_tls_connection_ends_with_close_notify(
    tls_server: MetricsServer, certificates: Certificates, version: str
) -> None:
    """A TLS connection the server closes (after an HTTP/1.0 answer, or a
    ``Connection: close`` request) ends with TLS ``close_notify``: a client that takes a
    bare TCP close for a truncated stream (``suppress_ragged_eofs=False``, as OpenSSL 3's
    own clients do) reads the whole answer and then a clean end of stream. (The server
    used to close the socket without it: such clients reported an error.)"""
    context = _tls_client(certificates)
    raw = socket.create_connection(("127.0.0.1", tls_server.port), timeout=TIMEOUT)
    with context.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False) as sock:
        sock.sendall(f"GET /metrics {version}\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while chunk := sock.recv(65536):  # SSLEOFError without close_notify
            chunks.append(chunk)
    status, headers, body = split_response(b"".join(chunks))
    assert status == 200
    assert len(body) == int(headers["content-length"])
    assert read_samples(body.decode()) == EXPECTED


# -- basic auth ---------------------------------------------------------------------------------

USER, PASSWORD = "scraper", "s3cr:et-ü"


def _basic(raw: bytes) -> str:
    return "Basic " + base64.b64encode(raw).decode()


RIGHT = _basic(f"{USER}:{PASSWORD}".encode())


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        _basic(f"{USER}:wrong".encode()),
        _basic(f"other:{PASSWORD}".encode()),
        _basic(f"{USER.upper()}:{PASSWORD}".encode()),
        _basic(f"{USER}:{PASSWORD[:-1]}".encode()),
        _basic(f"{USER}:{PASSWORD}x".encode()),
        _basic(USER.encode()),
        _basic(f"{USER}:{PASSWORD}".encode("latin-1", "replace")),
        _basic(b"scraper:\xff\xfe"),
        "Basic !!!not-base64!!!",
        "Basic",
        "Bearer " + RIGHT.split()[1],
        RIGHT.split()[1],
    ],
)
@pytest.mark.parametrize("target", ["/metrics", "/metrics?name[]=app_requests_total"])
def test_basic_auth_rejects_without_leaking(
    auth_server: MetricsServer, authorization: str | None, target: str
) -> None:
    """Missing, wrong, malformed or non-Basic credentials get 401 with a Basic
    ``WWW-Authenticate`` challenge, and the body names no metric."""
    server = auth_server
    headers = {} if authorization is None else {"Authorization": authorization}
    reply = fetch(server.port, target, headers=headers)
    assert reply.status == 401
    assert (reply.header("WWW-Authenticate") or "").startswith("Basic realm=")
    assert not any(name.encode() in reply.body for name in METRIC_NAMES)


@pytest.mark.parametrize("scheme", ["Basic", "basic", "BASIC"])
def test_basic_auth_accepts_right_credentials(auth_server: MetricsServer, scheme: str) -> None:
    """The right user and password (UTF-8, a colon inside the password) get 200 and the
    metrics; the scheme name is case-insensitive."""
    server = auth_server
    reply = fetch(server.port, headers={"Authorization": f"{scheme} {RIGHT.split()[1]}"})
    assert reply.status == 200
    assert read_samples(reply.body.decode()) == EXPECTED


# -- keep-alive ---------------------------------------------------------------------------------


@dataclass
class Answer:
    """One response read off a connection."""

    version: str
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes


def read_answer(stream: BinaryIO, *, head: bool = False) -> Answer:
    """Read exactly one response from ``stream`` (a connection carrying several): its body
    is the ``Content-Length`` bytes after the headers (none for HEAD), which every answer
    must carry, so the bytes after it belong to the next response."""
    status_line = stream.readline()
    assert status_line, "the server closed the connection instead of answering"
    version, status, _ = status_line.decode("latin-1").split(" ", 2)
    headers = {}
    while (line := stream.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    assert "content-length" in headers, headers
    body = b"" if head else stream.read(int(headers["content-length"]))
    return Answer(version, int(status), headers, body)


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll ``condition`` until it holds; fail after ``TIMEOUT`` seconds."""
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.005)


def _exchanges(credentials: dict[str, str]) -> list[tuple[str, str, dict[str, str], bytes, int]]:
    """(method, target, headers, body, expected status) for one kept-alive connection:
    every kind of answer, each of which must leave the connection ready for the next."""
    exchanges = [
        ("GET", "/metrics", {}, b"", 200),
        ("HEAD", "/metrics", {}, b"", 200),
        ("GET", "/nope", {}, b"", 404),
        ("HEAD", "/nope", {}, b"", 404),
        ("POST", "/metrics", {}, b"GET /smuggled HTTP/1.1\r\n\r\n" * 50, 405),
        ("GET", "/metrics", {"Accept": ACCEPT_OM, "Accept-Encoding": "gzip"}, b"", 200),
        ("GET", "/metrics?name[]=app_odd", {}, b"", 200),
        ("GET", "/metrics", {}, b"", 200),
    ]
    if credentials:  # the same with credentials, and a refusal and a HEAD refusal without
        exchanges = [(m, t, {**h, **credentials}, b, s) for m, t, h, b, s in exchanges]
        exchanges[2:2] = [("GET", "/metrics", {}, b"", 401), ("HEAD", "/metrics", {}, b"", 401)]
    return exchanges


@pytest.mark.parametrize("variant", ["plain", "tls", "basic_auth"])
def test_requests_share_one_kept_alive_connection(
    serve: Callable[..., MetricsServer],
    recorded: MetricsRegistry,
    certificates: Certificates,
    variant: str,
) -> None:
    """Requests over one ``http.client.HTTPConnection`` (GET, HEAD, 404, 405 for a POST
    with a body, 401, gzip) are all answered ``HTTP/1.1`` on one TCP connection: the client
    never reconnects (same socket, same local port), no answer says it will close, and the
    server counts one accepted connection. The last answer is the full exposition, so no
    stray body byte was taken for a request. Over TLS and behind basic auth too."""
    options: dict[str, Any] = {}
    credentials: dict[str, str] = {}
    if variant == "tls":
        options = certificates.server_options()
    if variant == "basic_auth":
        options = {"basic_auth": (USER, PASSWORD)}
        credentials = {"Authorization": RIGHT}
    server = serve(recorded, **options)
    if variant == "tls":
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            "127.0.0.1", server.port, timeout=TIMEOUT, context=_tls_client(certificates)
        )
    else:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT)
    exchanges = _exchanges(credentials)
    sockets = set()
    try:
        for method, target, headers, body, status in exchanges:
            conn.request(method, target, body=body or None, headers=headers)
            response = conn.getresponse()
            data = response.read()
            assert (response.version, response.status) == (11, status), (method, target)
            assert not response.will_close, (method, target, response.getheader("Connection"))
            if method == "HEAD":
                assert data == b""
            else:
                assert response.getheader("Content-Length") == str(len(data))
            if (method, target, status) == ("GET", "/metrics", 200) and not headers.get("Accept"):
                assert data == recorded.export_prometheus().encode()
            if headers.get("Accept") == ACCEPT_OM:
                assert read_samples(gzip.decompress(data).decode(), openmetrics=True) == EXPECTED
            assert conn.sock is not None
            sockets.add((id(conn.sock), conn.sock.getsockname()))
    finally:
        conn.close()
    assert len(sockets) == 1
    assert server._server.connections_accepted == 1
    assert server._server.requests_started == len(exchanges)


def test_kept_alive_requests_are_not_delayed(server: MetricsServer) -> None:
    """Requests on a reused connection are answered without waiting for a delayed ACK
    (headers and body are two writes; with Nagle's algorithm on, each answer waited about
    40 ms for the client's ACK of the headers): the median of 21 is under 20 ms, where an
    answer takes well under 1 ms here."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT)
    took = []
    try:
        for _ in range(21):
            started = time.monotonic()
            conn.request("GET", "/metrics?name[]=app_odd")
            response = conn.getresponse()
            assert response.status == 200 and response.read()
            took.append(time.monotonic() - started)
    finally:
        conn.close()
    assert sorted(took)[10] < 0.020, [f"{t * 1000:.1f} ms" for t in took]


def test_pipelined_requests_are_answered_in_order(
    server: MetricsServer, recorded: MetricsRegistry
) -> None:
    """Requests written back to back before any answer is read are answered in order on
    the one connection: a POST's body that looks like a request is skipped, not answered;
    the last request says ``Connection: close``, gets ``Connection: close``, and then the
    server closes the connection."""
    smuggled = b"GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n"
    requests = [
        (b"GET /metrics", b""),
        (b"HEAD /metrics", b""),
        (b"GET /nope", b""),
        (b"POST /metrics", b"Content-Length: %d\r\n\r\n%s" % (len(smuggled), smuggled)),
        (b"HEAD /nope", b""),
        (b"GET /metrics?name[]=app_odd", b"Connection: close\r\n"),
    ]
    data = b"".join(
        line + b" HTTP/1.1\r\nHost: t\r\n" + extra + (b"" if b"\r\n\r\n" in extra else b"\r\n")
        for line, extra in requests
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
        sock.sendall(data)
        stream = sock.makefile("rb")
        answers = [read_answer(stream, head=line.startswith(b"HEAD")) for line, _ in requests]
        assert stream.read() == b""  # closed after the last answer: nothing more
    assert [a.status for a in answers] == [200, 200, 404, 405, 404, 200]
    assert {a.version for a in answers} == {"HTTP/1.1"}
    assert [a.headers.get("connection") for a in answers] == [None] * 5 + ["close"]
    assert answers[0].body == recorded.export_prometheus().encode()
    assert answers[1].headers["content-length"] == str(len(answers[0].body))
    assert read_samples(answers[5].body.decode()) == {("app_odd", (("path", 'a\\b\n"q"'),)): 7.0}


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /metrics HTTP/1.0\r\n\r\n",
        b"GET /metrics HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: Close\r\n\r\n",
        b"POST /metrics HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n0\r\n\r\n",
        b"POST /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n",
        b"POST /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        b"POST /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n",
    ],
)
def test_answer_then_close(server: MetricsServer, request_bytes: bytes) -> None:
    """An HTTP/1.0 request (even asking for keep-alive), ``Connection: close``, and a body
    the server cannot skip safely (chunked, an invalid or repeated ``Content-Length``, or
    one too large to read and drop, not waited for) get one answer saying ``Connection:
    close``, then the server closes the connection (``raw_exchange`` reads until it does)."""
    status, headers, body = split_response(raw_exchange(server.port, request_bytes))
    assert status == (200 if request_bytes.startswith(b"GET") else 405)
    assert headers["connection"] == "close"
    assert len(body) == int(headers["content-length"])  # one answer, nothing after it


def test_idle_connection_is_closed_after_idle_timeout(
    serve: Callable[..., MetricsServer], recorded: MetricsRegistry
) -> None:
    """With ``idle_timeout=0.5``, a kept-alive connection that sends nothing after its
    answer is closed by the server after at least 0.5 s and well before the 10 s request
    timeout, and the thread that served it ends."""
    idle_timeout = 0.5
    server = serve(recorded, idle_timeout=idle_timeout)
    before = set(threading.enumerate())
    limit = server_module.REQUEST_TIMEOUT / 2
    with socket.create_connection(("127.0.0.1", server.port), timeout=limit) as sock:
        stream = sock.makefile("rb")
        started = time.monotonic()
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n")
        answer = read_answer(stream)
        assert (answer.status, answer.headers.get("connection")) == (200, None)
        assert stream.read() == b""  # blocks until the server closes (TimeoutError after 5 s)
        idle_for = time.monotonic() - started
    assert idle_timeout <= idle_for < limit
    assert threads_started_since(before) == []
    assert server._server.connections_accepted == 1
    assert_serving(server, recorded)


@pytest.mark.parametrize("value", [0, -1, float("nan"), float("inf"), "60", None])
def test_idle_timeout_must_be_a_positive_number(value: Any) -> None:
    """``idle_timeout`` must be a positive, finite number of seconds: anything else is a
    ``ValueError`` and no server is started. The default outlasts common scrape intervals
    (up to a minute), so a scraper's connection is reused from scrape to scrape."""
    with pytest.raises(ValueError, match="idle_timeout"):
        start_http_server(0, registry=MetricsRegistry(), idle_timeout=value)
    assert inspect.signature(start_http_server).parameters["idle_timeout"].default > 60


# -- close --------------------------------------------------------------------------------------


def _port_is_free(port: int) -> None:
    """Nothing listens on ``port`` and a new listener can bind it (as servers do, with
    SO_REUSEADDR, since the server's closed connections may sit in TIME_WAIT)."""
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT).close()
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen()


def _server_threads(before: set[threading.Thread], port: int) -> list[str]:
    """Live threads started since ``before``, or named after the server on ``port``."""
    return [
        t.name
        for t in threading.enumerate()
        if t.is_alive() and (t not in before or t.name == f"metrics-server-{port}")
    ]


def test_close_frees_the_port_and_every_thread(recorded: MetricsRegistry) -> None:
    """After requests from several threads, ``close()`` leaves no server thread (none named
    ``metrics-server*``, none started since) and frees the port; a second ``close()`` is a
    no-op."""
    before = set(threading.enumerate())
    server = start_http_server(0, registry=recorded)
    try:
        port = server.port
        assert any(t.name == f"metrics-server-{port}" for t in threading.enumerate())
        statuses: list[int] = []
        clients = [
            threading.Thread(target=lambda: statuses.append(fetch(port).status)) for _ in range(8)
        ]
        for client in clients:
            client.start()
        for client in clients:
            client.join(TIMEOUT)
        assert statuses == [200] * 8
    finally:
        server.close()
    assert _server_threads(before, port) == []
    _port_is_free(port)
    server.close()
    assert _server_threads(before, port) == []


def test_close_frees_the_port_for_a_plain_bind() -> None:
    """A server that served nothing frees its port completely: a listener without
    SO_REUSEADDR can bind it right after ``close()``."""
    server = start_http_server(0, registry=MetricsRegistry())
    server.close()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", server.port))
        sock.listen()


def test_with_block_closes(recorded: MetricsRegistry) -> None:
    """``with start_http_server(...) as server`` serves inside the block and closes at its
    end, even when the block raises; the same port can be served again afterwards."""
    before = set(threading.enumerate())
    with pytest.raises(RuntimeError, match="boom"), start_http_server(0, registry=recorded) as s:
        port = s.port
        assert fetch(port).status == 200
        raise RuntimeError("boom")
    assert _server_threads(before, port) == []
    _port_is_free(port)
    with start_http_server(port, registry=recorded) as again:
        assert again.port == port
        assert fetch(port).status == 200
    assert _server_threads(before, port) == []


def test_close_is_not_held_up_by_an_idle_client(recorded: MetricsRegistry) -> None:
    """A client that connected and sends nothing does not hold ``close()`` up: it returns
    within 2 s (the server's own request timeout is 10 s) and leaves no thread behind."""
    before = set(threading.enumerate())
    server = start_http_server(0, registry=recorded)
    port = server.port
    idle = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    closer = threading.Thread(target=server.close, name="test-closer")
    try:
        assert fetch(server.port).status == 200  # the idle connection has been accepted
        started = time.monotonic()
        closer.start()
        closer.join(2.0)
        took = time.monotonic() - started
        assert not closer.is_alive(), f"close() still blocked after {took:.1f} s"
    finally:
        idle.close()  # releases the handler thread if close() is waiting for it
        closer.join(TIMEOUT)
        server.close()
    assert _server_threads(before, port) == []


def test_close_cuts_kept_alive_connections_at_once(
    recorded: MetricsRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Connections kept alive after their answers are idle: ``close()`` cuts them at once.
    With the grace period for requests in flight raised to 30 s, ``close()`` still returns
    within 5 s, every client sees its connection closed, no thread is left, the port is
    free."""
    monkeypatch.setattr(server_module, "CLOSE_GRACE", 30.0)
    before = set(threading.enumerate())
    server = start_http_server(0, registry=recorded)
    port = server.port
    conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT) for _ in range(3)]
    try:
        for conn in conns:
            conn.request("GET", "/metrics")
            response = conn.getresponse()
            assert response.read() == recorded.export_prometheus().encode()
            assert not response.will_close
        started = time.monotonic()
        server.close()
        took = time.monotonic() - started
        assert took < 5.0, f"close() took {took:.1f} s"
        for conn in conns:
            assert conn.sock is not None
            assert conn.sock.recv(1) == b""
    finally:
        for conn in conns:
            conn.close()
        server.close()
    assert _server_threads(before, port) == []
    _port_is_free(port)


def _start_slow_request(server: MetricsServer) -> socket.socket:
    """A connection whose request has started arriving (its header block is unfinished),
    returned once the server counts it in flight."""
    slow = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
    slow.sendall(b"GET /metrics HTTP/1.1\r\nHost: t\r\n")
    wait_until(lambda: server._server.in_flight() == 1, "the request is in flight")
    return slow


def test_close_answers_a_request_in_flight(
    recorded: MetricsRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request that started arriving before ``close()`` is answered in full, with
    ``Connection: close``, when it completes within the grace period, while an idle
    connection beside it is cut at once; ``close()`` returns once the answer is sent."""
    monkeypatch.setattr(server_module, "CLOSE_GRACE", 30.0)
    before = set(threading.enumerate())
    server = start_http_server(0, registry=recorded)
    idle = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
    slow = _start_slow_request(server)
    wait_until(lambda: server._server.connections_accepted == 2, "both are accepted")
    closer = threading.Thread(target=server.close, name="test-closer")
    try:
        closer.start()
        assert idle.recv(1) == b""  # cut: close() is now waiting for the request in flight
        assert closer.is_alive()
        slow.sendall(b"\r\n")
        stream = slow.makefile("rb")
        answer = read_answer(stream)
        assert (answer.status, answer.headers["connection"]) == (200, "close")
        assert answer.body == recorded.export_prometheus().encode()
        assert stream.read() == b""
        closer.join(TIMEOUT)
        assert not closer.is_alive(), "close() did not return after the answer"
    finally:
        idle.close()
        slow.close()
        closer.join(TIMEOUT)
        server.close()
    assert _server_threads(before, server.port) == []


def test_close_cuts_a_request_that_outlasts_the_grace_period(
    recorded: MetricsRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request still arriving when the grace period ends is cut without an answer:
    ``close()`` waits the grace period (0.5 s here), no longer, and leaves no thread."""
    grace = 0.5
    monkeypatch.setattr(server_module, "CLOSE_GRACE", grace)
    before = set(threading.enumerate())
    server = start_http_server(0, registry=recorded)
    slow = _start_slow_request(server)
    try:
        started = time.monotonic()
        server.close()
        took = time.monotonic() - started
        assert grace <= took < grace + 5.0
        assert slow.recv(65536) == b""
    finally:
        slow.close()
        server.close()
    assert _server_threads(before, server.port) == []


@pytest.mark.skipif(not socket.has_ipv6, reason="no IPv6 support")
def test_ipv6_address(recorded: MetricsRegistry) -> None:
    """``addr="::1"`` serves over IPv6 and ``.url`` brackets the address."""
    try:
        server = start_http_server(0, addr="::1", registry=recorded)
    except OSError as error:
        pytest.skip(f"cannot bind ::1: {error}")
    with server:
        assert server.url == f"http://[::1]:{server.port}/metrics"
        conn = http.client.HTTPConnection("::1", server.port, timeout=TIMEOUT)
        try:
            conn.request("GET", "/metrics")
            response = conn.getresponse()
            assert response.status == 200
            assert response.read() == recorded.export_prometheus().encode()
        finally:
            conn.close()


# -- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "accept",
    [
        "garbage",
        ",,,;;;,;",
        "/",
        "text/plain;q=abc",
        "application/openmetrics-text;q=2, application/openmetrics-text;q=-1",
        "application/openmetrics-text;q=nan, application/openmetrics-text;q=inf",
        "application/openmetrics-text;version=9.9.9",
        "application/vnd.google.protobuf;proto=nope;encoding=delimited",
        "\x7f\x01\x1b[31m",
        "a/b;c;d=;=e;;" * 3000,
        "x" * 60000,
    ],
)
def test_malformed_accept_falls_back_to_text(
    server: MetricsServer, recorded: MetricsRegistry, accept: str
) -> None:
    """A malformed or huge (up to 60 KB) ``Accept`` (also sent as ``Accept-Encoding``) is
    ignored: 200, text 0.0.4, uncompressed, the full exposition."""
    reply = fetch(server.port, headers={"Accept": accept, "Accept-Encoding": accept})
    assert reply.status == 200
    assert reply.header("Content-Type") == TEXT_004
    assert reply.body == recorded.export_prometheus().encode()


@pytest.mark.parametrize(
    "accept",
    [
        'application/openmetrics-text;version="1.0.0',
        "application/openmetrics-text;version",
        "application/openmetrics-text;;;version=1.0.0;;",
        "text/plain;version=0.0.4;escaping=nonsense",
        f"{ACCEPT_OM};escaping=allow-utf-8;escaping=values",
    ],
)
def test_sloppy_accept_is_answered_in_the_announced_format(
    server: MetricsServer, accept: str
) -> None:
    """A sloppy but recognisable ``Accept`` may be read leniently; whatever format the
    server picks, it answers 200 and the body parses as the format its Content-Type names."""
    reply = fetch(server.port, headers={"Accept": accept})
    assert reply.status == 200
    content_type = reply.header("Content-Type") or ""
    assert content_type == TEXT_004 or content_type.startswith(
        "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping="
    )
    openmetrics = content_type != TEXT_004
    assert read_samples(reply.body.decode(), openmetrics=openmetrics) == EXPECTED


def test_huge_accept_with_many_clauses(server: MetricsServer) -> None:
    """An ``Accept`` of 1,500 clauses (48 KB) is negotiated like a short one: the best q
    wins, wherever it is listed."""
    accept = ", ".join(["text/plain;version=0.0.4;q=0.1"] * 1499 + [f"{ACCEPT_OM};q=0.9"])
    reply = fetch(server.port, headers={"Accept": accept})
    assert reply.status == 200
    assert reply.header("Content-Type") == OM_100


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (
            b"GET /metrics HTTP/1.0\r\nAccept: \xff\xfe\x00\x01\r\n"
            b"Accept-Encoding: \xff;q=\x80\r\n\r\n",
            200,
        ),
        (b"GET /metrics HTTP/1.0\r\nAccept: text/plain\r\n", 200),  # headers cut short
        (b"GET /metrics HTTP/1.0\r\nAccept: " + b"a" * 70000 + b"\r\n\r\n", 431),
        (b"GET /metrics HTTP/1.0\r\n" + b"X-A: b\r\n" * 150 + b"\r\n", 431),
        (b"GET /metrics?" + b"name[]=a&" * 8000 + b" HTTP/1.0\r\n\r\n", 414),
        (b"GET /metrics HTTP/1.0\r\nContent-Length: -5\r\n\r\n", 200),
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET /metrics HTTP/9.9\r\n\r\n", 505),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64, None),
        (b"GET /met", None),
        (b"", None),
    ],
)
def test_bad_requests_do_not_break_the_server(
    server: MetricsServer, recorded: MetricsRegistry, request_bytes: bytes, status: int | None
) -> None:
    """Undecodable headers, over-long lines, too many headers, garbage and truncated
    requests get an answer (the expected status) or a closed connection, never an escaped
    exception; the next scrape is served normally."""
    data = raw_exchange(server.port, request_bytes, half_close=True)
    if status is not None:
        assert split_response(data)[0] == status
    else:
        assert not data.startswith(b"HTTP/1.0 200")
    assert_serving(server, recorded)


@pytest.fixture(scope="module")
def large() -> MetricsRegistry:
    """About 40,000 series, 2 MB of text: more than the socket buffers hold."""
    registry = MetricsRegistry()
    histogram = registry.histogram(
        "big_seconds", "Big.", labelnames=("i",), buckets=(0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100)
    )
    for i in range(3000):
        histogram.labels(f"series-{i:06d}").observe(i / 100)
    return registry


@pytest.fixture(scope="module")
def large_server(large: MetricsRegistry) -> Iterator[MetricsServer]:
    """A plain server for the large registry."""
    with start_http_server(0, registry=large) as running:
        yield running


@pytest.fixture(scope="module")
def large_tls_server(large: MetricsRegistry, certificates: Certificates) -> Iterator[MetricsServer]:
    """The large registry over TLS."""
    with start_http_server(0, registry=large, **certificates.server_options()) as running:
        yield running


def _abandon(port: int, read: int, reset: bool) -> None:
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    try:
        sock.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
        got = 0
        while got < read:
            chunk = sock.recv(read - got)
            assert chunk
            got += len(chunk)
        if reset:  # close with RST, not FIN
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    finally:
        sock.close()


@pytest.mark.parametrize(("read", "reset"), [(0, False), (0, True), (100, False), (100, True)])
def test_client_disconnecting_mid_response(
    large_server: MetricsServer, large: MetricsRegistry, read: int, reset: bool
) -> None:
    """Clients that close (or reset) the connection right after the request or after a few
    bytes of a large response cost that one request only; the next scrapes get the whole
    body, and nothing is raised or printed."""
    server = large_server
    for _ in range(5):
        _abandon(server.port, read, reset)
    for _ in range(2):
        assert_serving(server, large)


def test_tls_client_disconnecting_mid_response(
    large_tls_server: MetricsServer, large: MetricsRegistry, certificates: Certificates
) -> None:
    """A TLS client that reads a few bytes of a large response and closes costs that one
    request only; the next TLS scrape gets the whole body."""
    server = large_tls_server
    context = _tls_client(certificates)
    for _ in range(3):
        raw = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
            sock.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
            assert sock.recv(100)
    reply = fetch(server.port, context=context)
    assert reply.status == 200
    assert reply.body == large.export_prometheus().encode()


def test_scrapes_while_families_come_and_go(serve: Callable[..., MetricsServer]) -> None:
    """While another thread registers and unregisters families and keeps creating and
    removing children, every scrape (text, OpenMetrics, gzip) answers 200 with a parseable
    body that still holds the untouched families' exact values."""
    recorded = _recorded()  # changed by this test: not the shared one
    server = serve(recorded)
    stop = threading.Event()
    errors: list[BaseException] = []
    rounds = [0]
    growing = recorded.counter("app_churn_children_total", "Churn.", labelnames=("n",))

    def churn() -> None:
        try:
            i = 0
            while not stop.is_set():
                family = recorded.gauge(f"app_churn_{i % 7}", "Churn.", labelnames=("k",))
                for k in range(5):
                    family.labels(str(k)).set(i + k)
                histogram = recorded.histogram(
                    f"app_churn_h{i % 3}_seconds", "Churn.", labelnames=("k",)
                )
                histogram.labels(str(i % 4)).observe(i)
                growing.labels(str(i % 300)).inc()
                if i % 3 == 0:
                    growing.remove(str(i % 300))
                recorded.unregister(family)
                if i % 2:
                    recorded.unregister(histogram)
                i += 1
                rounds[0] = i
        except BaseException as error:  # reported by the test thread
            errors.append(error)

    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    worker = threading.Thread(target=churn, name="test-churn")
    worker.start()
    statuses: list[int] = []
    try:
        deadline = time.monotonic() + 1.0
        scrape = 0
        while scrape < 30 or (time.monotonic() < deadline and scrape < 300):
            headers = [{}, {"Accept": ACCEPT_OM}, {"Accept-Encoding": "gzip"}][scrape % 3]
            reply = fetch(server.port, headers=headers)
            statuses.append(reply.status)
            assert reply.status == 200, reply.body[:500]
            body = reply.body
            if reply.header("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            samples = read_samples(body.decode(), openmetrics="Accept" in headers)
            assert {key: samples.get(key) for key in EXPECTED} == EXPECTED
            scrape += 1
    finally:
        stop.set()
        worker.join(TIMEOUT)
        sys.setswitchinterval(previous)
    assert not errors, errors
    assert rounds[0] > 10
    assert len(statuses) >= 30


# -- hardening (issue 8) ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET /metrics\r\n\r\n", 400),  # HTTP/0.9: was answered with a bare body
        (b"HEAD /metrics\r\n\r\n", 400),
        (b"GET /metrics HTTX/1.1\r\n\r\n", 400),
        (b"GET /metrics HTTP/1\r\n\r\n", 400),
        (b"GET /metrics HTTP/1.x\r\n\r\n", 400),
        (b"GET /metrics HTTP/1.1 extra\r\n\r\n", 400),
        (b"\x16\x03\x01\x02\x00\x01\x00 \x01\xfc\x03\x03\r\n\r\n", 400),
        (b"GET /metrics HTTP/9.9\r\n\r\n", 505),
        (b"GET /metrics HTTP/2.0\r\n\r\n", 505),
    ],
)
def test_malformed_request_line_gets_a_status_line(
    server: MetricsServer, recorded: MetricsRegistry, request_bytes: bytes, status: int
) -> None:
    """A request line that is not ``METHOD target HTTP/1.x`` (garbage, the HTTP/0.9 form
    ``GET /path``, a bad or unsupported version) is answered with an HTTP/1.1 status line
    (400, or 505 for HTTP/2 and later), headers saying ``Connection: close`` and the length
    of the body that follows, then the connection closes. The standard library answered
    these without a status line or headers (as to an HTTP/0.9 client)."""
    data = raw_exchange(server.port, request_bytes, half_close=True)
    assert data.startswith(b"HTTP/1.1 %d " % status), data[:200]
    code, headers, body = split_response(data)
    assert code == status
    assert headers["connection"] == "close"
    assert len(body) == int(headers["content-length"])
    assert_serving(server, recorded)


def _closed_while_trickling(sock: socket.socket, data: bytes, every: float) -> int | None:
    """Send ``data`` one byte every ``every`` seconds; the number of bytes sent when the
    server closed the connection (``None`` if it never did while ``data`` lasted)."""
    for sent in range(len(data) + 1):
        readable, _, _ = select.select([sock], [], [], every)
        if readable:
            try:
                if sock.recv(65536) == b"":
                    return sent
            except ConnectionResetError:
                return sent
        if sent < len(data):
            try:
                sock.sendall(data[sent : sent + 1])
            except (BrokenPipeError, ConnectionResetError):
                return sent
    return None


@pytest.mark.parametrize("phase", ["first request", "kept-alive request", "request body"])
def test_trickled_request_is_cut_at_the_request_deadline(
    serve: Callable[..., MetricsServer],
    recorded: MetricsRegistry,
    monkeypatch: pytest.MonkeyPatch,
    phase: str,
) -> None:
    """With ``REQUEST_TIMEOUT`` at 1 s, a client trickling its request one byte every
    0.25 s (the headers of a new connection's request, of a second request on a kept-alive
    connection, or a body to be dropped) is cut once 1 s has passed, however regularly the
    bytes come: the timeout bounds the request, not each read (each byte used to restart it,
    so such a client held its thread for ever). The server serves on, and the connection's
    thread ends."""
    monkeypatch.setattr(server_module, "REQUEST_TIMEOUT", 1.0)
    server = serve(recorded)
    before = set(threading.enumerate())
    trickle = b"GET /metrics HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"a" * 40  # 10 s of bytes
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
        if phase == "kept-alive request":
            sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n")
            assert read_answer(sock.makefile("rb")).status == 200
        if phase == "request body":
            sock.sendall(b"POST /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n")
            trickle = b"b" * 40
        sent = _closed_while_trickling(sock, trickle, 0.25)
    assert sent is not None, "the server was still reading the request after 10 s"
    assert sent < len(trickle)
    assert threads_started_since(before) == []
    assert_serving(server, recorded)


def _is_open(sock: socket.socket) -> bool:
    """Whether the server has not closed ``sock`` (nothing to read, no EOF)."""
    readable, _, _ = select.select([sock], [], [], 0)
    return not readable


def _connection_threads(port: int) -> int:
    return sum(t.name == f"metrics-connection-{port}" for t in threading.enumerate())


def _held_in(server: MetricsServer, states: list[str]) -> bool:
    """Whether the server's connections are in ``states`` (in any order), each held (open,
    or idle since its last answer) for at least ``MIN_HOLD``: each may be cut to make room,
    so which one is cut depends only on the choice of victim, not on timing."""
    with server._server._state:
        connections = list(server._server._connections.values())
    now = time.monotonic()
    return sorted(c.state for c in connections) == sorted(states) and all(
        now - c.since >= server_module.MIN_HOLD for c in connections
    )


def test_connections_beyond_the_bound_take_the_place_of_idle_ones(
    serve: Callable[..., MetricsServer], recorded: MetricsRegistry
) -> None:
    """With ``max_connections=3`` and three connections open, a scrape on a fourth is
    served, in place of the idle kept-alive connection (closed first, though opened last);
    the next one in place of the connection that has waited longest for its request. The
    server never has more than three connection threads."""
    server = serve(recorded, max_connections=3)
    port = server.port
    held = []
    try:
        waiting = [socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) for _ in range(2)]
        held += waiting
        waiting[1].sendall(b"GET /metrics HTTP/1.1\r\n")  # a request begun, never finished
        kept = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        held.append(kept)
        kept.sendall(b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n")
        assert read_answer(kept.makefile("rb")).status == 200
        wait_until(lambda: _connection_threads(port) == 3, "three connection threads")
        # A connection is cut only once held MIN_HOLD: the idle one must be a candidate by
        # the time the fourth arrives (else the waiting one, older, is the only candidate).
        wait_until(lambda: _held_in(server, ["waiting", "reading", "idle"]), "all three can be cut")

        assert_serving(server, recorded)
        assert kept.recv(1) == b"", "the idle kept-alive connection was not closed"
        assert _is_open(waiting[0]) and _is_open(waiting[1])
        assert _connection_threads(port) <= 3
        # The scrape's client has closed, but the server may not have seen it yet: until
        # its thread ends, a new connection would take the place of a waiting one.
        wait_until(lambda: _connection_threads(port) == 2, "the scrape's connection ended")

        later = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        held.append(later)
        wait_until(lambda: server._server.connections_accepted == 5, "the fifth is accepted")
        assert_serving(server, recorded)
        assert waiting[0].recv(1) == b"", "the longest-waiting connection was not closed"
        assert _is_open(waiting[1]) and _is_open(later)
        assert _connection_threads(port) <= 3
        assert server._server.connections_cut == 2
    finally:
        for sock in held:
            sock.close()


@pytest.mark.parametrize("value", [0, -1, 1.5, "8", None, True])
def test_max_connections_must_be_a_positive_integer(value: Any) -> None:
    """``max_connections`` must be a positive integer (not a bool): anything else is a
    ``ValueError`` and no server is started. The default leaves room for many scrapers."""
    with pytest.raises(ValueError, match="max_connections"):
        start_http_server(0, registry=MetricsRegistry(), max_connections=value)
    default = inspect.signature(start_http_server).parameters["max_connections"].default
    assert default == server_module.DEFAULT_MAX_CONNECTIONS >= 32


def test_listen_backlog_is_128(server: MetricsServer) -> None:
    """The listening socket's backlog is 128 (the standard library's 5 dropped SYNs of 50
    concurrent scrapers): as the kernel reports it (``ss``), where available."""
    assert server._server.request_queue_size == 128
    ss = shutil.which("ss")
    if ss is not None:
        out = subprocess.run(
            [ss, "-Hltn", f"sport = :{server.port}"], capture_output=True, text=True, check=True
        ).stdout.split()
        assert out[:3] == ["LISTEN", "0", "128"], out
