"""A scraper's side of the HTTP tests (``test_http_server.py``, ``test_wsgi_asgi.py``).

Requests over ``http.client`` or a raw socket to a server on 127.0.0.1, the answers' samples
read back with ``prometheus_client``'s parsers, and a guard that nothing escaped the test.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from tachikoma_metrics.exposition.protobuf import CONTENT_TYPE as PROTOBUF_BASE

TIMEOUT = 10.0  # any single network operation or start-up; never reached when tests pass

TEXT_004 = "text/plain; version=0.0.4; charset=utf-8"
OM_100 = "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=underscores"
OM_001 = "application/openmetrics-text; version=0.0.1; charset=utf-8"
PROTOBUF = PROTOBUF_BASE + "; escaping=underscores"
ACCEPT_OM = "application/openmetrics-text; version=1.0.0"
ACCEPT_PROTOBUF = (
    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"
)

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def read_samples(text: str, *, openmetrics: bool = False) -> Samples:
    """Every sample as ``{(name, sorted labels): value}`` (no ``_created``), no duplicates."""
    parse = openmetrics_families if openmetrics else text_string_to_metric_families
    found: Samples = {}
    for family in parse(text):
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            key = (sample.name, tuple(sorted(sample.labels.items())))
            assert key not in found, f"duplicate series {key}"
            found[key] = sample.value
    return found


# -- requests -----------------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


def fetch(
    port: int,
    target: str = "/metrics",
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    context: ssl.SSLContext | None = None,
    body: bytes | None = None,
) -> Reply:
    """One request over a fresh connection (TLS with ``context``); the whole answer,
    whatever its status."""
    if context is None:
        conn: http.client.HTTPConnection = http.client.HTTPConnection(
            "127.0.0.1", port, timeout=TIMEOUT
        )
    else:
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=TIMEOUT, context=context)
    try:
        conn.request(method, target, body=body, headers=headers or {})
        response = conn.getresponse()
        return Reply(response.status, response.headers, response.read())
    finally:
        conn.close()


def raw_exchange(port: int, request: bytes, *, half_close: bool = False) -> bytes:
    """Send ``request`` bytes on a plain socket (then, with ``half_close``, shut the writing
    side) and read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(request)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def split_response(data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (lower-case names) and the bytes after the header block."""
    head, sep, body = data.partition(b"\r\n\r\n")
    assert sep, f"no complete header block in {data[:200]!r}"
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


# -- guards -------------------------------------------------------------------------------------


def threads_started_since(
    before: set[threading.Thread], timeout: float = 2.0
) -> list[threading.Thread]:
    """Live threads not in ``before``, once they are gone or ``timeout`` has passed."""
    deadline = time.monotonic() + timeout
    while True:
        extra = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not extra or time.monotonic() > deadline:
            return extra
        time.sleep(0.01)


@contextlib.contextmanager
def escape_guard(
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    *,
    threads_must_end: bool = False,
) -> Iterator[list[threading.ExceptHookArgs]]:
    """Fail if a thread raised (yields what reached ``threading.excepthook``), stderr got
    output or anything logged a warning or an error; with ``threads_must_end``, also if a
    thread started inside the block is still alive at its end."""
    seen: list[threading.ExceptHookArgs] = []
    previous_hook = threading.excepthook
    threading.excepthook = seen.append
    before = set(threading.enumerate())
    try:
        yield seen
    finally:
        threading.excepthook = previous_hook
    leftover = threads_started_since(before) if threads_must_end else []
    assert not seen, [f"{args.exc_type.__name__}: {args.exc_value}" for args in seen]
    assert capfd.readouterr().err == ""
    loud = [r for r in caplog.get_records("call") if r.levelno >= logging.WARNING]
    assert not loud, [r.getMessage() for r in loud]
    assert not leftover, f"threads left behind: {[t.name for t in leftover]}"
