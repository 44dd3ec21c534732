"""``start_http_server(tls_min_version=, tls_max_version=)`` against TLS clients pinned to
one version: Python's ``ssl`` module and the ``openssl s_client`` command, so the server's
bounds are checked by two TLS stacks, neither of them ours.

Each server runs on 127.0.0.1 with throwaway certificates (``certs.py``); every test checks
that nothing escaped (no thread exception, no stderr, no warning) and no thread outlived it.
"""

from __future__ import annotations

import http.client
import logging
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from certs import Certificates, generate
from scrape_client import TIMEOUT, escape_guard, read_samples
from tachikoma_metrics import MetricsRegistry, MetricsServer, start_http_server

V12 = ssl.TLSVersion.TLSv1_2
V13 = ssl.TLSVersion.TLSv1_3


@pytest.fixture(autouse=True)
def nothing_escapes(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> Iterator[list[threading.ExceptHookArgs]]:
    """Fail the test if a thread raised, stderr got output, a warning or error was logged,
    or a thread started during the test is still alive at its end (refused handshakes
    included: the server logs them at DEBUG only)."""
    caplog.set_level(logging.DEBUG, logger="tachikoma_metrics")
    with escape_guard(capfd, caplog, threads_must_end=True) as seen:
        yield seen


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A throwaway CA and a server certificate for ``localhost`` and 127.0.0.1."""
    return generate(tmp_path_factory.mktemp("tls-versions"))


@pytest.fixture(scope="module")
def recorded() -> MetricsRegistry:
    registry = MetricsRegistry()
    registry.counter("tls_scrapes_total", "Scrapes.", labelnames=("kind",)).labels("a").inc(4)
    registry.gauge("tls_level", "Level.").set(2.5)
    return registry


EXPECTED = {("tls_scrapes_total", (("kind", "a"),)): 4.0, ("tls_level", ()): 2.5}

# Server bounds -> the versions a client pinned to one version gets served with.
SERVERS: dict[str, tuple[dict[str, ssl.TLSVersion], set[ssl.TLSVersion]]] = {
    "default": ({}, {V12, V13}),
    "min 1.3": ({"tls_min_version": V13}, {V13}),
    "max 1.2": ({"tls_max_version": V12}, {V12}),
    "exactly 1.2": ({"tls_min_version": V12, "tls_max_version": V12}, {V12}),
    "1.2 to 1.3": ({"tls_min_version": V12, "tls_max_version": V13}, {V12, V13}),
    "supported range": (
        {
            "tls_min_version": ssl.TLSVersion.MINIMUM_SUPPORTED,
            "tls_max_version": ssl.TLSVersion.MAXIMUM_SUPPORTED,
        },
        {V12, V13},
    ),
}


@pytest.fixture(scope="module", params=list(SERVERS))
def bounded(
    request: pytest.FixtureRequest, recorded: MetricsRegistry, certificates: Certificates
) -> Iterator[tuple[MetricsServer, set[ssl.TLSVersion]]]:
    """A TLS server with one configuration of ``SERVERS``, and the versions it accepts."""
    options, accepted = SERVERS[request.param]
    with start_http_server(
        0, registry=recorded, **certificates.server_options(), **options
    ) as running:
        yield running, accepted


# -- clients ------------------------------------------------------------------------------------


def python_context(certificates: Certificates, version: ssl.TLSVersion | None) -> ssl.SSLContext:
    """A verifying client context, pinned to ``version`` (both bounds) unless ``None``."""
    context = ssl.create_default_context(cafile=str(certificates.ca))
    if version is not None:
        context.minimum_version = version
        context.maximum_version = version
    return context


def python_scrape(port: int, context: ssl.SSLContext) -> tuple[str | None, int, bytes]:
    """One HTTPS scrape with ``http.client``: the negotiated version, status and body."""
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=TIMEOUT, context=context)
    try:
        conn.request("GET", "/metrics")
        response = conn.getresponse()
        assert isinstance(conn.sock, ssl.SSLSocket)
        return conn.sock.version(), response.status, response.read()
    finally:
        conn.close()


OPENSSL_FLAGS = {V12: "-tls1_2", V13: "-tls1_3"}
OPENSSL_NAMES = {V12: "TLSv1.2", V13: "TLSv1.3"}


def openssl_scrape(
    port: int, certificates: Certificates, version: ssl.TLSVersion
) -> subprocess.CompletedProcess[bytes]:
    """``openssl s_client`` pinned to ``version`` (verifying the server against the test
    CA) sends one HTTP/1.0 request; the server closes after answering, which ends it."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("the openssl command is needed (Debian package 'openssl')")
    return subprocess.run(
        [
            openssl,
            "s_client",
            "-connect",
            f"127.0.0.1:{port}",
            "-servername",
            "localhost",
            "-CAfile",
            str(certificates.ca),
            "-verify_return_error",
            OPENSSL_FLAGS[version],
            "-brief",
            "-ign_eof",
        ],
        input=b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n",
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )


# -- pinned clients against each configuration ---------------------------------------------------


@pytest.mark.parametrize("version", [V12, V13], ids=["client 1.2", "client 1.3"])
def test_python_client_pinned_to_one_version(
    bounded: tuple[MetricsServer, set[ssl.TLSVersion]],
    certificates: Certificates,
    recorded: MetricsRegistry,
    version: ssl.TLSVersion,
) -> None:
    """A client that speaks only ``version`` is served, over that version, when the
    server's bounds include it, and refused during the handshake (no metrics) when they
    do not; either way the server goes on serving a client it accepts."""
    server, accepted = bounded
    context = python_context(certificates, version)
    if version in accepted:
        negotiated, status, body = python_scrape(server.port, context)
        assert negotiated == OPENSSL_NAMES[version]
        assert status == 200
        assert read_samples(body.decode()) == EXPECTED
    else:
        with pytest.raises(ssl.SSLError) as refused:
            python_scrape(server.port, context)
        assert "VERSION" in str(refused.value).upper() or "PROTOCOL" in str(refused.value).upper()
    other = next(iter(accepted))
    negotiated, status, _ = python_scrape(server.port, python_context(certificates, other))
    assert (negotiated, status) == (OPENSSL_NAMES[other], 200)


@pytest.mark.parametrize("version", [V12, V13], ids=["client 1.2", "client 1.3"])
def test_openssl_client_pinned_to_one_version(
    bounded: tuple[MetricsServer, set[ssl.TLSVersion]],
    certificates: Certificates,
    version: ssl.TLSVersion,
) -> None:
    """``openssl s_client -tls1_2`` / ``-tls1_3`` completes the handshake (reporting that
    version) and gets the metrics exactly when the server's bounds include the version;
    otherwise it fails the handshake and receives no HTTP answer."""
    server, accepted = bounded
    result = openssl_scrape(server.port, certificates, version)
    report = result.stderr.decode(errors="replace")
    if version in accepted:
        assert result.returncode == 0, report
        assert f"Protocol version: {OPENSSL_NAMES[version]}" in report
        head, _, body = result.stdout.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 "), result.stdout[:300]
        assert read_samples(body.decode()) == EXPECTED
    else:
        assert result.returncode != 0, report
        assert b"HTTP/1.1" not in result.stdout
        assert "version" in report.lower(), report


def test_unpinned_client_negotiates_within_the_bounds(
    bounded: tuple[MetricsServer, set[ssl.TLSVersion]], certificates: Certificates
) -> None:
    """A client that allows every version gets the highest one the server allows."""
    server, accepted = bounded
    negotiated, status, _ = python_scrape(server.port, python_context(certificates, None))
    assert status == 200
    assert negotiated == OPENSSL_NAMES[max(accepted)]


# -- refused configurations ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minimum", "maximum"),
    [
        (V13, V12),
        (ssl.TLSVersion.MAXIMUM_SUPPORTED, V12),
        (V13, ssl.TLSVersion.MINIMUM_SUPPORTED),
    ],
)
def test_minimum_above_maximum_is_refused(
    certificates: Certificates, minimum: ssl.TLSVersion, maximum: ssl.TLSVersion
) -> None:
    """A minimum above the maximum leaves no version: ``ValueError`` naming both, and no
    server is started (no thread is left, checked by the guard)."""
    with pytest.raises(ValueError) as raised:
        start_http_server(
            0,
            registry=MetricsRegistry(),
            **certificates.server_options(),
            tls_min_version=minimum,
            tls_max_version=maximum,
        )
    message = str(raised.value)
    assert repr(minimum) in message and repr(maximum) in message
    assert "tls_min_version" in message and "tls_max_version" in message


@pytest.mark.parametrize(
    "options",
    [
        {"tls_min_version": V13},
        {"tls_max_version": V12},
        {"tls_min_version": V12, "tls_max_version": V13},
    ],
)
def test_versions_without_certfile_are_refused(options: dict[str, ssl.TLSVersion]) -> None:
    """TLS versions for a server that does not speak TLS: ``ValueError`` naming each one
    given with its value, and no server is started."""
    with pytest.raises(ValueError, match="need certfile") as raised:
        start_http_server(0, registry=MetricsRegistry(), **options)
    for name, value in options.items():
        assert f"{name}={value!r}" in str(raised.value)


@pytest.mark.parametrize("value", ["TLSv1_3", 772, 1.3, ssl.PROTOCOL_TLS_SERVER, True], ids=repr)
@pytest.mark.parametrize("name", ["tls_min_version", "tls_max_version"])
def test_versions_must_be_tls_versions(certificates: Certificates, name: str, value: Any) -> None:
    """Anything but an ``ssl.TLSVersion`` (its name as a string, its number) is a
    ``TypeError`` naming the parameter and the value, with or without ``certfile``."""
    for tls in (certificates.server_options(), {}):
        with pytest.raises(TypeError) as raised:
            start_http_server(0, registry=MetricsRegistry(), **tls, **{name: value})
        assert name in str(raised.value)
        assert repr(value) in str(raised.value)
