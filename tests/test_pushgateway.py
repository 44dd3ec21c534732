"""push_to_gateway / pushadd_to_gateway / delete_from_gateway against a real Pushgateway
(Debian's package), plain, behind basic auth, and over TLS with client certificates (its
``--web.config.file``), and against small stand-ins for what a real gateway would not do
(trickle or cut its answers, redirect, record exactly what arrived)."""

from __future__ import annotations

import base64
import contextlib
import gzip
import multiprocessing
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import exposition as pc_exposition
from prometheus_client.parser import text_string_to_metric_families

import tachikoma_metrics
from certs import Certificates, generate
from prometheus_harness import free_port
from tachikoma_metrics import (
    MetricsRegistry,
    PushError,
    delete_from_gateway,
    push_to_gateway,
    write_textfile,
)
from tachikoma_metrics.exposition import TEXT_CONTENT_TYPE
from tachikoma_metrics.transport import (
    basic_auth_handler,
    default_handler,
    passthrough_redirect_handler,
    pushadd_to_gateway,
    tls_auth_handler,
)
from tachikoma_metrics.transport.push import gateway_url
from uninitialised import warned_once

GROUP = {"instance": "host/1", "zone": "eu west"}
JOB = "batch/nightly"


@dataclass
class Gateway:
    """A running Pushgateway: its URL, and how to reach it (TLS context, auth header)."""

    url: str
    context: ssl.SSLContext | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def get(self, path: str) -> bytes:
        """GET ``path`` from the gateway (with its TLS context and auth), never via a proxy."""
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=self.context)
        )
        request = urllib.request.Request(self.url + path, headers=self.headers)
        with opener.open(request, timeout=5) as response:
            body: bytes = response.read()
            return body


@contextlib.contextmanager
def running_gateway(
    web_config: str | None = None,
    *,
    scheme: str = "http",
    context: ssl.SSLContext | None = None,
    headers: dict[str, str] | None = None,
) -> Iterator[Gateway]:
    """A Pushgateway on 127.0.0.1 (with ``web_config`` as its ``--web.config.file``:
    TLS, basic auth), ready once ``/-/ready`` answers through ``context`` and
    ``headers``; stopped, and its files removed, afterwards."""
    binary = shutil.which("prometheus-pushgateway")
    if binary is None:
        pytest.fail("prometheus-pushgateway is not installed: run `bash scripts/test.sh`")
    port = free_port()
    with tempfile.TemporaryDirectory() as workdir, open(f"{workdir}/log", "w+b") as log:
        command = [binary, f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"]
        if web_config is not None:
            Path(workdir, "web.yml").write_text(web_config)
            command.append(f"--web.config.file={workdir}/web.yml")
        process = subprocess.Popen(command, cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
        try:
            gateway = Gateway(f"{scheme}://127.0.0.1:{port}", context, headers or {})
            deadline = time.monotonic() + 30
            while not _ready(gateway):
                if process.poll() is not None:
                    log.seek(0)
                    pytest.fail(f"pushgateway exited: {log.read().decode(errors='replace')}")
                if time.monotonic() > deadline:
                    pytest.fail("pushgateway did not become ready within 30 s")
                time.sleep(0.05)
            yield gateway
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _ready(gateway: Gateway) -> bool:
    try:
        gateway.get("/-/ready")
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def gateway() -> Iterator[str]:
    """A plain Pushgateway on 127.0.0.1; its URL."""
    with running_gateway() as running:
        yield running.url


Pushed = dict[str, dict[tuple[tuple[str, str], ...], float]]


def pushed(url: str | Gateway, job: str = JOB) -> Pushed:
    """The gateway's own exposition of pushed metrics of ``job``: name -> labels -> value
    (bucket bounds as numbers: the gateway writes ``le="10"`` for our ``le="10.0"``)."""
    gateway = url if isinstance(url, Gateway) else Gateway(url)
    body = gateway.get("/metrics").decode()
    found: Pushed = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if sample.labels.get("job") == job:
                found.setdefault(sample.name, {})[_labels(sample.labels)] = sample.value
    return found


def _labels(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    if "le" in labels:
        labels = {**labels, "le": repr(float(labels["le"]))}
    return tuple(sorted(labels.items()))


def group_labels(**extra: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted({"job": JOB, **GROUP, **extra}.items()))


def test_url_uses_base64_for_slashes_and_empty_values() -> None:
    """Values with '/' or empty values take the Pushgateway's base64 form; others are quoted."""
    url = gateway_url("localhost:9091", "a/b", {"instance": "", "zone": "eu west"})
    assert url == "http://localhost:9091/metrics/job@base64/YS9i/instance@base64/=/zone/eu%20west"


def test_put_post_and_delete(gateway: str) -> None:
    """PUT replaces the group, POST adds without replacing, DELETE removes the group; a
    grouping key and job holding '/' and spaces arrive intact."""
    first = MetricsRegistry()
    first.counter("jobs_done_total", "Jobs done.", labelnames=("kind",)).labels("x").inc(3)
    first.gauge("last_success_unixtime", "Last success.").set(1700000000)
    push_to_gateway(gateway, JOB, first, GROUP)
    seen = pushed(gateway)
    assert seen["jobs_done_total"] == {group_labels(kind="x"): 3.0}
    assert seen["last_success_unixtime"] == {group_labels(): 1700000000.0}

    second = MetricsRegistry()
    second.gauge("batch_size", "Batch size.").set(42)
    push_to_gateway(gateway, JOB, second, GROUP, method="POST")
    seen = pushed(gateway)
    assert seen["batch_size"] == {group_labels(): 42.0}
    assert seen["jobs_done_total"] == {group_labels(kind="x"): 3.0}, "POST must not replace"

    push_to_gateway(gateway, JOB, second, GROUP)  # PUT: only what is pushed remains
    seen = pushed(gateway)
    assert "jobs_done_total" not in seen
    assert seen["batch_size"] == {group_labels(): 42.0}

    delete_from_gateway(gateway, JOB, GROUP)
    assert pushed(gateway) == {}


def test_a_multi_process_registry_pushes_every_processs_values(
    gateway: str, tmp_path: Path
) -> None:
    """Push (and the textfile writer) take the registry's collect(), which merges the
    processes of a multi-process directory: what arrives is the total of all of them."""
    registry = MetricsRegistry(multiprocess_dir=tmp_path)
    done = registry.counter("jobs_done_total", "Jobs done.", labelnames=("kind",))
    done.labels("x").inc(1)
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=done.labels("x").inc, args=(n,)) for n in (2, 3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
        assert worker.exitcode == 0
    push_to_gateway(gateway, JOB, registry, grouping_key=GROUP)
    assert pushed(gateway)["jobs_done_total"][group_labels(kind="x")] == 6
    target = tmp_path / "out.prom"
    write_textfile(target, registry)
    assert 'jobs_done_total{kind="x"} 6' in target.read_text()
    delete_from_gateway(gateway, JOB, grouping_key=GROUP)


def test_global_registry_when_none(
    gateway: str, fresh_facade: None, caplog: pytest.LogCaptureFixture
) -> None:
    """``registry=None`` pushes the global registry: nothing before ``init()`` (the first
    such push logs one warning saying so), the recorded values after it."""
    hits = tachikoma_metrics.counter("facade_pushes_total", "Pushes.")
    hits.inc()
    try:
        with warned_once(caplog, "push_to_gateway"):
            for _ in range(2):
                push_to_gateway(gateway, JOB, grouping_key=GROUP)
                assert "facade_pushes_total" not in pushed(gateway)
        tachikoma_metrics.init()
        hits.inc(2)
        push_to_gateway(gateway, JOB, grouping_key=GROUP)
        assert pushed(gateway)["facade_pushes_total"] == {group_labels(): 2.0}
    finally:
        delete_from_gateway(gateway, JOB, GROUP)


def test_http_error_says_status_and_message(gateway: str) -> None:
    """A push the gateway refuses raises PushError with the status and the gateway's words."""
    as_counter = MetricsRegistry()
    as_counter.counter("shared_things_total", "Things.").inc()
    push_to_gateway(gateway, "refusal-a", as_counter)
    as_gauge = MetricsRegistry()
    as_gauge.gauge("shared_things_total", "Things.").set(1)
    try:
        # The same name with another type in another group is inconsistent: refused.
        with pytest.raises(PushError) as caught:
            push_to_gateway(gateway, "refusal-b", as_gauge)
    finally:
        delete_from_gateway(gateway, "refusal-a")
    assert caught.value.status == 400
    assert "shared_things_total" in caught.value.message
    assert "400" in str(caught.value)


def test_unreachable_gateway_times_out_with_os_error() -> None:
    """Nothing listening: the push fails with an OSError quickly, per the timeout."""
    port = free_port()
    started = time.monotonic()
    with pytest.raises((OSError, urllib.error.URLError)):
        push_to_gateway(f"127.0.0.1:{port}", "job", MetricsRegistry(), timeout=2)
    assert time.monotonic() - started < 10


def test_method_other_than_put_or_post_is_refused() -> None:
    """Only PUT and POST push; anything else is a ValueError naming it."""
    with pytest.raises(ValueError, match="PATCH"):
        push_to_gateway("localhost:1", "job", MetricsRegistry(), method="PATCH")


# -- answers cut short or trickled (issue 8), from a small gateway stand-in -------------------

DRIP_EVERY = 0.25  # seconds between two bytes of a trickled answer
DRIP_BYTES = 40  # 10 s of trickling: far beyond the 1 s timeout the tests give


class FakeGateway:
    """A socket server on 127.0.0.1 that reads each request whole (headers and
    ``Content-Length`` body) and answers it with ``answer(connection)``; records whether
    each client hung up while being answered. Stopped (thread joined, sockets closed) on
    exit."""

    def __init__(self, answer: Callable[[socket.socket], None]) -> None:
        self.answer = answer
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.05)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.requests: list[bytes] = []  # each request's line and headers
        self.bodies: list[bytes] = []
        self.client_left_early: list[bool] = []
        self.errors: list[BaseException] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, name="test-fake-gateway")

    def __enter__(self) -> FakeGateway:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(30)
        self.listener.close()
        assert not self.thread.is_alive()
        assert self.errors == []

    def _serve(self) -> None:
        try:
            while not self.stop.is_set():
                try:
                    conn, _ = self.listener.accept()
                except TimeoutError:
                    continue
                with conn:
                    conn.settimeout(10)
                    head, body = _read_request(conn)
                    self.requests.append(head)
                    self.bodies.append(body)
                    try:
                        self.answer(conn)
                        self.client_left_early.append(False)
                    except (BrokenPipeError, ConnectionResetError):
                        self.client_left_early.append(True)
        except BaseException as error:  # reported on exit
            self.errors.append(error)


def _read_request(conn: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data, b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            while len(body) < int(value):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                body += chunk
    return head, body


def header_of(head: bytes, name: str) -> str | None:
    """The value of header ``name`` in a recorded request head, if present."""
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name.lower().encode():
            return value.strip().decode("latin-1")
    return None


def _trickle(conn: socket.socket, data: bytes) -> None:
    """Send ``data`` a byte at a time; raises once the client has hung up."""
    for i in range(len(data)):
        conn.sendall(data[i : i + 1])
        time.sleep(DRIP_EVERY)
        # A closed client shows as readable with nothing to read (or a reset).
        conn.setblocking(False)
        try:
            if conn.recv(1) == b"":
                raise ConnectionResetError("client hung up")
        except BlockingIOError:
            pass
        finally:
            conn.setblocking(True)


def _dripped_headers(conn: socket.socket) -> None:
    _trickle(conn, b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"a" * DRIP_BYTES + b"\r\n\r\n")


def _dripped_body(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % DRIP_BYTES)
    _trickle(conn, b"b" * DRIP_BYTES)


def _short_body(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly twenty bytes...")


def _short_headers(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Le")


def _short_error_body(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 100\r\n\r\nbad push")


def _status_line_only(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\n")


def _push(url: str) -> None:
    registry = MetricsRegistry()
    registry.counter("pushed_total", "Pushed.").inc()
    push_to_gateway(url, "job", registry, {"instance": "a"}, timeout=1)


def _delete(url: str) -> None:
    delete_from_gateway(url, "job", {"instance": "a"}, timeout=1)


CALLS = pytest.mark.parametrize("call", [_push, _delete], ids=["push", "delete"])


@CALLS
@pytest.mark.parametrize("answer", [_dripped_headers, _dripped_body], ids=["headers", "body"])
def test_timeout_bounds_the_whole_exchange(
    call: Callable[[str], None], answer: Callable[[socket.socket], None]
) -> None:
    """A gateway that trickles its answer (headers, or a body) one byte every 0.25 s:
    with ``timeout=1`` the call raises ``TimeoutError`` naming the URL and the timeout,
    and hangs up long before the 10 s of trickling end. (The timeout used to bound each
    read, so every byte restarted it: the call took the whole trickle and succeeded.)"""
    with FakeGateway(answer) as gateway, pytest.raises(TimeoutError) as raised:
        call(gateway.url)
    assert gateway.client_left_early == [True]
    assert gateway.url + "/metrics/job/job/instance/a" in str(raised.value)
    assert "1 s" in str(raised.value)


@CALLS
@pytest.mark.parametrize(
    "answer", [_short_body, _short_headers, _status_line_only], ids=["body", "headers", "status"]
)
def test_answer_cut_short_is_an_error(
    call: Callable[[str], None], answer: Callable[[socket.socket], None]
) -> None:
    """A 200 answer cut short (a body shorter than its ``Content-Length``, or a header
    block the gateway closed in the middle of) raises ``ConnectionError`` naming the URL,
    not success."""
    with FakeGateway(answer) as gateway, pytest.raises(ConnectionError) as raised:
        call(gateway.url)
    assert gateway.url + "/metrics/job/job/instance/a" in str(raised.value)
    assert "cut short" in str(raised.value)


def test_refusal_with_a_body_cut_short_is_still_a_push_error() -> None:
    """An error status whose body is cut short raises ``PushError`` with the status."""
    with FakeGateway(_short_error_body) as gateway, pytest.raises(PushError) as raised:
        _push(gateway.url)
    assert raised.value.status == 400


def test_whole_answers_still_succeed() -> None:
    """The stand-in's whole answers (with a length, or delimited by closing the
    connection) are successes, and the request arrives whole: the pushed text."""

    def close_delimited(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.0 200 OK\r\n\r\nok")

    def with_length(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")

    for answer in (close_delimited, with_length):
        with FakeGateway(answer) as gateway:
            _push(gateway.url)
            _delete(gateway.url)
        assert gateway.requests[0].startswith(b"PUT /metrics/job/job/instance/a HTTP/1.1")
        assert gateway.requests[1].startswith(b"DELETE /metrics/job/job/instance/a HTTP/1.1")


def test_refused_connection_names_the_url() -> None:
    """Nothing listening: ``ConnectionRefusedError`` (an ``OSError``) naming the URL."""
    port = free_port()
    with pytest.raises(ConnectionRefusedError, match=f"127.0.0.1:{port}/metrics/job/job"):
        push_to_gateway(f"127.0.0.1:{port}", "job", MetricsRegistry(), timeout=2)


@pytest.mark.parametrize(
    ("job", "grouping_key", "message"),
    [
        ("", None, "job must not be empty"),
        ("a\ud800", None, "job 'a\\\\ud800' is not valid UTF-8"),
        ("batch", {"instance": "\udfff"}, "grouping key value for 'instance'"),
        ("batch", {"bad name": "x"}, "grouping key name 'bad name' is not a valid label name"),
        ("batch", {"__reserved": "x"}, "not a valid label name"),
        ("batch", {"job": "other"}, "the job goes in job="),
    ],
)
def test_bad_job_or_grouping_key_is_refused_before_sending(
    job: str, grouping_key: dict[str, str] | None, message: str
) -> None:
    """A job or grouping key the gateway would refuse, or that cannot be put in a URL, is
    a ``ValueError`` naming it, raised before any connection is made (the gateway address
    here would refuse a connection)."""
    registry = MetricsRegistry()
    with pytest.raises(ValueError, match=message):
        push_to_gateway("127.0.0.1:1", job, registry, grouping_key, timeout=1)
    with pytest.raises(ValueError, match=message):
        delete_from_gateway("127.0.0.1:1", job, grouping_key, timeout=1)


def _accepted(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")


# -- compression (issue 9) ----------------------------------------------------------------------


def batch_registry() -> MetricsRegistry:
    """What a batch job pushes: a counter, a gauge, a histogram, and 200 labelled series."""
    registry = MetricsRegistry()
    rows = registry.counter("rows_written_total", "Rows.", labelnames=("table",))
    rows.labels("users").inc(1234)
    registry.gauge("batch_last_success_unixtime", "Last success.").set(1700000000)
    steps = registry.histogram("batch_step_seconds", "Step.", buckets=(1, 10))
    steps.observe(0.5)
    steps.observe(20)
    shards = registry.gauge("batch_shard_rows", "Rows per shard.", labelnames=("shard",))
    for n in range(200):
        shards.labels(f"s{n:03d}").set(n)
    return registry


def expected_from(registry: MetricsRegistry) -> Pushed:
    """The registry's samples as the gateway should serve them: with the group's labels."""
    found: Pushed = {}
    for family in text_string_to_metric_families(registry.export_prometheus()):
        for sample in family.samples:
            labels = _labels({**sample.labels, "job": JOB, **GROUP})
            found.setdefault(sample.name, {})[labels] = sample.value
    return found


def only(seen: Pushed, expected: Pushed) -> dict[str, Any]:
    """``seen`` restricted to the names of ``expected`` (the gateway adds its own series)."""
    return {name: seen.get(name) for name in expected}


@pytest.mark.parametrize("compression", ["gzip", "GZIP"])
def test_gzip_push_is_served_by_a_real_gateway(gateway: str, compression: str) -> None:
    """``compression="gzip"`` (any case, as prometheus_client accepts): a real Pushgateway
    accepts the compressed PUT and serves exactly the pushed values; a compressed
    ``pushadd_to_gateway`` (POST) adds its metric and leaves the others."""
    first = batch_registry()
    expected = expected_from(first)
    try:
        push_to_gateway(gateway, JOB, first, GROUP, compression=compression)
        assert only(pushed(gateway), expected) == expected
        second = MetricsRegistry()
        second.gauge("batch_size", "Batch size.").set(42)
        pushadd_to_gateway(gateway, JOB, second, GROUP, compression=compression)
        seen = pushed(gateway)
        assert only(seen, expected) == expected, "POST must not replace"
        assert seen["batch_size"] == {group_labels(): 42.0}
    finally:
        delete_from_gateway(gateway, JOB, GROUP)
    assert pushed(gateway) == {}


@pytest.mark.parametrize("call", [push_to_gateway, pushadd_to_gateway], ids=["PUT", "POST"])
def test_gzip_on_the_wire(call: Callable[..., None]) -> None:
    """What arrives: with ``compression="gzip"`` the body is the gzip of exactly the text
    export (``Content-Encoding: gzip``, the text ``Content-Type``, ``Content-Length`` of
    the compressed bytes, far fewer of them); without, the text itself and no
    ``Content-Encoding``."""
    registry = batch_registry()
    text = registry.export_prometheus().encode()
    with FakeGateway(_accepted) as fake:
        call(fake.url, "job", registry, compression="gzip", timeout=5)
        call(fake.url, "job", registry, timeout=5)
    (zipped, plain), (zipped_body, plain_body) = fake.requests, fake.bodies
    method = b"PUT" if call is push_to_gateway else b"POST"
    assert zipped.startswith(method + b" /metrics/job/job HTTP/1.1")
    assert header_of(zipped, "Content-Encoding") == "gzip"
    assert header_of(zipped, "Content-Type") == TEXT_CONTENT_TYPE
    assert header_of(zipped, "Content-Length") == str(len(zipped_body))
    assert gzip.decompress(zipped_body) == text
    assert len(zipped_body) * 4 < len(text)
    assert header_of(plain, "Content-Encoding") is None
    assert header_of(plain, "Content-Type") == TEXT_CONTENT_TYPE
    assert plain_body == text


@pytest.mark.parametrize(
    "compression", ["snappy", "deflate", "identity", "", "gzip ", 1, b"gzip", True], ids=repr
)
def test_unsupported_compression_is_refused_before_sending(compression: Any) -> None:
    """Anything but ``None`` and ``"gzip"`` is a ``ValueError`` naming the value, raised
    before any connection (the address would refuse one). ``"snappy"``, which
    prometheus_client supports through an optional package, says why it is not here."""
    for call in (push_to_gateway, pushadd_to_gateway):
        with pytest.raises(ValueError, match="compression") as raised:
            call("127.0.0.1:1", "job", MetricsRegistry(), compression=compression, timeout=1)
        assert repr(compression) in str(raised.value)
        if compression == "snappy":
            assert "no dependencies" in str(raised.value)


# -- arguments checked before anything is sent ---------------------------------------------------


@pytest.mark.parametrize(
    ("timeout", "error"),
    [
        (0, ValueError),
        (-1, ValueError),
        (float("nan"), ValueError),
        (float("inf"), ValueError),
        ("5", TypeError),
        (True, TypeError),
    ],
    ids=repr,
)
def test_bad_timeout_is_refused_before_sending(timeout: Any, error: type[Exception]) -> None:
    """``timeout`` is a positive number of seconds, or ``None`` for no limit; anything
    else is a ``ValueError``/``TypeError`` naming it, before any connection."""
    calls: list[Callable[[], None]] = [
        lambda: push_to_gateway("127.0.0.1:1", "job", MetricsRegistry(), timeout=timeout),
        lambda: pushadd_to_gateway("127.0.0.1:1", "job", MetricsRegistry(), timeout=timeout),
        lambda: delete_from_gateway("127.0.0.1:1", "job", timeout=timeout),
    ]
    for call in calls:
        with pytest.raises(error, match="timeout") as raised:
            call()
        assert repr(timeout) in str(raised.value)


def test_no_timeout(gateway: str) -> None:
    """``timeout=None`` (prometheus_client's "no limit") pushes and deletes normally."""
    registry = MetricsRegistry()
    registry.gauge("unbounded_level", "Level.").set(3)
    push_to_gateway(gateway, JOB, registry, GROUP, timeout=None)
    assert pushed(gateway)["unbounded_level"] == {group_labels(): 3.0}
    delete_from_gateway(gateway, JOB, GROUP, timeout=None)
    assert pushed(gateway) == {}


@pytest.mark.parametrize("registry", [{"a": 1}, "registry", 0], ids=repr)
def test_registry_must_be_a_registry(registry: Any) -> None:
    """A ``registry`` that is not a ``MetricsRegistry`` is a ``TypeError`` naming it."""
    with pytest.raises(TypeError, match="registry") as raised:
        push_to_gateway("127.0.0.1:1", "job", registry, timeout=1)
    assert repr(registry) in str(raised.value)


# -- handlers: prometheus_client's calling convention (issue 9) ---------------------------------


class RecordingHandler:
    """A handler taking keyword arguments only (as prometheus_client passes them):
    records each call; the function it returns counts how often it is run."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.sent = 0

    def __call__(self, **arguments: Any) -> Callable[[], None]:
        self.calls.append(arguments)

        def send() -> None:
            self.sent += 1

        return send


def test_handler_is_called_as_prometheus_client_calls_it() -> None:
    """Each call passes ``url``, ``method``, ``timeout``, ``headers`` (a list of pairs)
    and ``data`` (bytes) by keyword, and runs what the handler returns exactly once; the
    handler makes the request, so nothing is sent here (the address would refuse)."""
    registry = batch_registry()
    text = registry.export_prometheus().encode()
    handler = RecordingHandler()
    push_to_gateway("127.0.0.1:1", JOB, registry, GROUP, timeout=7, handler=handler)
    pushadd_to_gateway("127.0.0.1:1", JOB, registry, GROUP, handler=handler, compression="gzip")
    delete_from_gateway("127.0.0.1:1", JOB, GROUP, timeout=None, handler=handler)
    url = gateway_url("127.0.0.1:1", JOB, GROUP)
    put, post, delete = handler.calls
    assert put == {
        "url": url,
        "method": "PUT",
        "timeout": 7.0,
        "headers": [("Content-Type", TEXT_CONTENT_TYPE)],
        "data": text,
    }
    assert gzip.decompress(post.pop("data")) == text
    assert post == {
        "url": url,
        "method": "POST",
        "timeout": 30.0,
        "headers": [("Content-Type", TEXT_CONTENT_TYPE), ("Content-Encoding", "gzip")],
    }
    assert delete == {"url": url, "method": "DELETE", "timeout": None, "headers": [], "data": b""}
    assert handler.sent == 3


def test_handler_must_be_callable_and_return_a_callable() -> None:
    """A handler that cannot be called, or that returns something that cannot be (say,
    one that made the request itself and returned ``None``), is a ``TypeError`` naming
    it."""
    with pytest.raises(TypeError, match="handler must be callable, got 'nope'"):
        push_to_gateway("127.0.0.1:1", "job", MetricsRegistry(), handler="nope")  # type: ignore[arg-type]

    def returns_none(**arguments: Any) -> None:
        return None

    with pytest.raises(TypeError, match="returned None"):
        push_to_gateway("127.0.0.1:1", "job", MetricsRegistry(), handler=returns_none)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="returned None"):
        delete_from_gateway("127.0.0.1:1", "job", handler=returns_none)  # type: ignore[arg-type]


def test_default_handler_is_a_building_block() -> None:
    """A handler of one's own can add headers and hand over to ``default_handler``."""

    def traced(
        url: str, method: str, timeout: float | None, headers: list[tuple[str, str]], data: bytes
    ) -> Callable[[], None]:
        return default_handler(url, method, timeout, [*headers, ("X-Trace", "abc")], data)

    with FakeGateway(_accepted) as fake:
        push_to_gateway(fake.url, "job", MetricsRegistry(), handler=traced, timeout=5)
    assert header_of(fake.requests[0], "X-Trace") == "abc"
    assert header_of(fake.requests[0], "Content-Type") == TEXT_CONTENT_TYPE


def test_prometheus_client_handlers_work_unchanged(gateway: str, auth_gateway: Gateway) -> None:
    """Handlers written for prometheus_client work as they are: its ``default_handler``
    pushes to the plain gateway; its ``basic_auth_handler``, wrapped as its docs show,
    pushes to the basic-auth gateway; its refusal (a ``urllib`` ``HTTPError``) is a
    ``PushError`` with the status, as ours."""
    registry = batch_registry()
    expected = expected_from(registry)

    def pc_auth(password: str) -> Callable[..., Callable[[], None]]:
        def handler(
            url: str, method: str, timeout: float | None, headers: list[Any], data: bytes
        ) -> Callable[[], None]:
            return pc_exposition.basic_auth_handler(  # type: ignore[no-any-return]
                url, method, timeout, headers, data, USER, password
            )

        return handler

    try:
        push_to_gateway(gateway, JOB, registry, GROUP, handler=pc_exposition.default_handler)
        assert only(pushed(gateway), expected) == expected
    finally:
        delete_from_gateway(gateway, JOB, GROUP, handler=pc_exposition.default_handler)
    assert pushed(gateway) == {}

    with pytest.raises(PushError) as refused:
        push_to_gateway(auth_gateway.url, JOB, registry, GROUP, handler=pc_auth("wrong"))
    assert refused.value.status == 401
    assert pushed(auth_gateway) == {}
    try:
        push_to_gateway(auth_gateway.url, JOB, registry, GROUP, handler=pc_auth(PASSWORD))
        assert only(pushed(auth_gateway), expected) == expected
    finally:
        delete_from_gateway(auth_gateway.url, JOB, GROUP, handler=pc_auth(PASSWORD))
    assert pushed(auth_gateway) == {}


# -- basic auth, against a real gateway's --web.config.file (issue 9) ----------------------------

USER = "pusher"
PASSWORD = "s3cret:pässword"  # a colon and non-ASCII: sent as UTF-8, split at the first colon


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _bcrypt(password: str) -> str:
    """The bcrypt hash the gateway's ``basic_auth_users`` wants (cost 4: fast)."""
    try:
        import bcrypt
    except ImportError:
        pytest.fail("the bcrypt package (the test extra) is needed: pip install -e '.[test]'")
    return str(bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode())


def _users() -> str:
    return f'basic_auth_users:\n  {USER}: "{_bcrypt(PASSWORD)}"\n'


@pytest.fixture(scope="module")
def auth_gateway() -> Iterator[Gateway]:
    """A Pushgateway on plain HTTP behind basic auth (``USER``/``PASSWORD``)."""
    with running_gateway(_users(), headers={"Authorization": _basic(USER, PASSWORD)}) as running:
        yield running


def with_credentials(username: Any, password: Any) -> Callable[..., Callable[[], None]]:
    """``basic_auth_handler`` with credentials, wrapped as prometheus_client's docs show."""

    def handler(
        url: str, method: str, timeout: float | None, headers: list[tuple[str, str]], data: bytes
    ) -> Callable[[], None]:
        return basic_auth_handler(url, method, timeout, headers, data, username, password)

    return handler


def test_basic_auth_handler_against_a_real_gateway(auth_gateway: Gateway) -> None:
    """Without credentials (no handler, or ``basic_auth_handler`` given none) and with a
    wrong password the gateway answers 401: ``PushError`` with the status, nothing
    pushed. With the right ones the push (gzip) is served and the delete works."""
    registry = batch_registry()
    expected = expected_from(registry)
    for refused_handler in (None, basic_auth_handler, with_credentials(USER, "wrong")):
        with pytest.raises(PushError) as refused:
            push_to_gateway(auth_gateway.url, JOB, registry, GROUP, handler=refused_handler)
        assert refused.value.status == 401
        assert auth_gateway.url in str(refused.value)
    assert pushed(auth_gateway) == {}
    handler = with_credentials(USER, PASSWORD)
    try:
        push_to_gateway(auth_gateway.url, JOB, registry, GROUP, handler=handler, compression="gzip")
        assert only(pushed(auth_gateway), expected) == expected
        with pytest.raises(PushError) as refused:
            delete_from_gateway(auth_gateway.url, JOB, GROUP)
        assert refused.value.status == 401
    finally:
        delete_from_gateway(auth_gateway.url, JOB, GROUP, handler=handler)
    assert pushed(auth_gateway) == {}


@pytest.mark.parametrize(
    ("username", "password", "error", "message"),
    [
        (USER, None, ValueError, "only username given"),
        (None, "x", ValueError, "only password given"),
        ("a:b", "x", ValueError, "username 'a:b' must not contain ':'"),
        (42, "x", TypeError, "username must be a str, got 42"),
        (USER, 12345, TypeError, "password must be a str, got a int"),
        (USER, "top\udcffsecret", ValueError, "password is not valid UTF-8"),
        ("us\udcff", "x", ValueError, "username 'us\\\\udcff' is not valid UTF-8"),
    ],
)
def test_basic_auth_handler_refuses_bad_credentials(
    username: Any, password: Any, error: type[Exception], message: str
) -> None:
    """Credentials that cannot be sent are a ``ValueError``/``TypeError`` naming the
    username (never the password), before any connection."""
    with pytest.raises(error, match=message) as raised:
        push_to_gateway(
            "127.0.0.1:1", "job", MetricsRegistry(), handler=with_credentials(username, password)
        )
    if isinstance(password, str) and password != "x":
        assert "secret" not in str(raised.value)
    if isinstance(password, int):
        assert "12345" not in str(raised.value)


# -- TLS with client certificates, against a real gateway (issue 9) ------------------------------


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A throwaway CA, the gateway's certificate (127.0.0.1), client certificates."""
    return generate(tmp_path_factory.mktemp("push-tls"))


def _tls_config(certificates: Certificates, client_auth: str | None) -> str:
    config = (
        "tls_server_config:\n"
        f'  cert_file: "{certificates.server_cert}"\n'
        f'  key_file: "{certificates.server_key}"\n'
    )
    if client_auth is not None:
        config += f'  client_auth_type: {client_auth}\n  client_ca_file: "{certificates.ca}"\n'
    return config


def _reader(certificates: Certificates) -> ssl.SSLContext:
    """The test's own TLS client (to check what the gateway serves): trusts the test CA,
    presents the client certificate."""
    context = ssl.create_default_context(cafile=str(certificates.ca))
    context.load_cert_chain(str(certificates.client_cert), str(certificates.client_key))
    return context


@pytest.fixture(scope="module")
def mtls_gateway(certificates: Certificates) -> Iterator[Gateway]:
    """A Pushgateway over TLS that requires a client certificate signed by the test CA."""
    config = _tls_config(certificates, "RequireAndVerifyClientCert")
    with running_gateway(config, scheme="https", context=_reader(certificates)) as running:
        yield running


def with_tls(**options: Any) -> Callable[..., Callable[[], None]]:
    """``tls_auth_handler`` with ``options``, wrapped as prometheus_client's docs show."""

    def handler(
        url: str, method: str, timeout: float | None, headers: list[tuple[str, str]], data: bytes
    ) -> Callable[[], None]:
        return tls_auth_handler(url, method, timeout, headers, data, **options)

    return handler


def _client(certificates: Certificates) -> dict[str, str]:
    return {"certfile": str(certificates.client_cert), "keyfile": str(certificates.client_key)}


def test_tls_auth_handler_pushes_with_a_client_certificate(
    mtls_gateway: Gateway, certificates: Certificates
) -> None:
    """``tls_auth_handler`` with the client certificate and the CA: the gateway (which
    requires a client certificate) accepts the gzip push and serves its values; the
    delete goes through the same handler."""
    registry = batch_registry()
    expected = expected_from(registry)
    handler = with_tls(**_client(certificates), cafile=str(certificates.ca))
    try:
        push_to_gateway(mtls_gateway.url, JOB, registry, GROUP, handler=handler, compression="gzip")
        assert only(pushed(mtls_gateway), expected) == expected
    finally:
        delete_from_gateway(mtls_gateway.url, JOB, GROUP, handler=handler)
    assert pushed(mtls_gateway) == {}


def test_prometheus_client_tls_handler_works_unchanged(
    mtls_gateway: Gateway, certificates: Certificates
) -> None:
    """prometheus_client's own ``tls_auth_handler``, wrapped as its docs show, pushes
    through our ``push_to_gateway`` to the same gateway."""

    def handler(
        url: str, method: str, timeout: float | None, headers: list[Any], data: bytes
    ) -> Callable[[], None]:
        return pc_exposition.tls_auth_handler(  # type: ignore[no-any-return]
            url,
            method,
            timeout,
            headers,
            data,
            str(certificates.client_cert),
            str(certificates.client_key),
            cafile=str(certificates.ca),
        )

    registry = batch_registry()
    expected = expected_from(registry)
    try:
        push_to_gateway(mtls_gateway.url, JOB, registry, GROUP, handler=handler)
        assert only(pushed(mtls_gateway), expected) == expected
    finally:
        delete_from_gateway(mtls_gateway.url, JOB, GROUP, handler=handler)
    assert pushed(mtls_gateway) == {}


def test_insecure_skip_verify(mtls_gateway: Gateway, certificates: Certificates) -> None:
    """``insecure_skip_verify=True`` pushes to a gateway whose certificate the system's
    CAs do not vouch for (no ``cafile``), still presenting the client certificate."""
    registry = MetricsRegistry()
    registry.gauge("skipped_level", "Level.").set(5)
    handler = with_tls(**_client(certificates), insecure_skip_verify=True)
    try:
        push_to_gateway(mtls_gateway.url, JOB, registry, GROUP, handler=handler)
        assert pushed(mtls_gateway)["skipped_level"] == {group_labels(): 5.0}
    finally:
        delete_from_gateway(mtls_gateway.url, JOB, GROUP, handler=handler)


TLS_REFUSALS = {
    # name: (handler options, or None for the default handler; words the error holds)
    "default handler: gateway certificate not trusted": (None, "CERTIFICATE_VERIFY_FAILED"),
    "client certificate, system CAs": ("client", "CERTIFICATE_VERIFY_FAILED"),
    "no client certificate": ("ca", ""),
    "client certificate from another CA": ("rogue", ""),
}


@pytest.mark.parametrize("case", list(TLS_REFUSALS))
def test_tls_refusals_are_os_errors_naming_the_url(
    mtls_gateway: Gateway, certificates: Certificates, case: str
) -> None:
    """A gateway certificate that does not verify, or a missing or foreign client
    certificate, fails the push with an ``OSError`` (not a ``PushError``: no HTTP answer)
    naming the URL; nothing is pushed."""
    kind, words = TLS_REFUSALS[case]
    ca = {"cafile": str(certificates.ca)}
    options = {
        None: None,
        "client": _client(certificates),
        "ca": ca,
        "rogue": {
            "certfile": str(certificates.rogue_client_cert),
            "keyfile": str(certificates.rogue_client_key),
            **ca,
        },
    }[kind]
    handler = None if options is None else with_tls(**options)
    with pytest.raises(OSError) as raised:
        push_to_gateway(mtls_gateway.url, JOB, batch_registry(), GROUP, handler=handler, timeout=10)
    assert not isinstance(raised.value, PushError)
    assert f"PUT {gateway_url(mtls_gateway.url, JOB, GROUP)}" in str(raised.value)
    assert words in str(raised.value)
    assert pushed(mtls_gateway) == {}


def test_tls_auth_handler_refuses_bad_arguments(certificates: Certificates, tmp_path: Path) -> None:
    """An ``http://`` gateway (everything would travel in the clear), files that cannot
    be loaded, a key without a certificate, a server-side protocol and a non-bool
    ``insecure_skip_verify`` are ``ValueError``/``TypeError`` naming them, before any
    connection (the address would refuse one)."""
    missing = str(tmp_path / "missing.pem")
    ca = str(certificates.ca)
    cases: list[tuple[str, dict[str, Any], type[Exception], str]] = [
        ("http://127.0.0.1:1", {"cafile": ca}, ValueError, "needs an https:// gateway"),
        ("127.0.0.1:1", {"cafile": ca}, ValueError, "'http://127.0.0.1:1/metrics/job/job'"),
        ("https://127.0.0.1:1", {"cafile": missing}, ValueError, f"cafile {missing!r}"),
        ("https://127.0.0.1:1", {"certfile": missing}, ValueError, f"certfile={missing!r}"),
        ("https://127.0.0.1:1", {"certfile": ca}, ValueError, "cannot load the client cert"),
        ("https://127.0.0.1:1", {"keyfile": ca}, ValueError, "given without certfile"),
        ("https://127.0.0.1:1", {"certfile": 42}, TypeError, "certfile must be a path, got 42"),
        (
            "https://127.0.0.1:1",
            {"protocol": ssl.PROTOCOL_TLS_SERVER},
            ValueError,
            "PROTOCOL_TLS_SERVER",
        ),
        ("https://127.0.0.1:1", {"insecure_skip_verify": "no"}, TypeError, "got 'no'"),
    ]
    for gateway, options, error, message in cases:
        with pytest.raises(error) as raised:
            push_to_gateway(gateway, "job", MetricsRegistry(), handler=with_tls(**options))
        assert message in str(raised.value), (options, str(raised.value))


@pytest.fixture(scope="module")
def tls_auth_gateway(certificates: Certificates) -> Iterator[Gateway]:
    """A Pushgateway over TLS (no client certificate asked for) behind basic auth."""
    config = _tls_config(certificates, None) + _users()
    context = ssl.create_default_context(cafile=str(certificates.ca))
    headers = {"Authorization": _basic(USER, PASSWORD)}
    with running_gateway(config, scheme="https", context=context, headers=headers) as running:
        yield running


def test_basic_auth_over_tls(tls_auth_gateway: Gateway, certificates: Certificates) -> None:
    """Basic auth over TLS, the usual secured set-up: a handler that adds the
    ``Authorization`` header and hands over to ``tls_auth_handler`` with only the CA (no
    client certificate). Without the header the gateway answers 401 over TLS."""
    authorization = ("Authorization", _basic(USER, PASSWORD))

    def handler(
        url: str, method: str, timeout: float | None, headers: list[tuple[str, str]], data: bytes
    ) -> Callable[[], None]:
        headers = [*headers, authorization]
        return tls_auth_handler(url, method, timeout, headers, data, cafile=str(certificates.ca))

    registry = batch_registry()
    expected = expected_from(registry)
    anonymous = with_tls(cafile=str(certificates.ca))
    with pytest.raises(PushError) as refused:
        push_to_gateway(tls_auth_gateway.url, JOB, registry, GROUP, handler=anonymous)
    assert refused.value.status == 401
    try:
        push_to_gateway(tls_auth_gateway.url, JOB, registry, GROUP, handler=handler)
        assert only(pushed(tls_auth_gateway), expected) == expected
    finally:
        delete_from_gateway(tls_auth_gateway.url, JOB, GROUP, handler=handler)
    assert pushed(tls_auth_gateway) == {}


# -- redirects (issue 9) ------------------------------------------------------------------------

REDIRECTS = [301, 302, 303, 307, 308]


class Redirector(FakeGateway):
    """A stand-in that answers every request with ``code`` and a ``Location`` of the same
    path (and query) under ``target`` (itself when ``None``, adding ``?hop=N``), after
    ``delay`` seconds."""

    def __init__(self, code: int, target: str | None, delay: float = 0.0) -> None:
        super().__init__(self._redirect)
        self.code = code
        self.target = target
        self.delay = delay

    def _redirect(self, conn: socket.socket) -> None:
        path = self.requests[-1].split(b" ", 2)[1].decode()
        if self.target is None:
            location = f"{self.url}{path.partition('?')[0]}?hop={len(self.requests)}"
        else:
            location = self.target + path
        time.sleep(self.delay)
        conn.sendall(
            f"HTTP/1.1 {self.code} Moved\r\nLocation: {location}\r\n"
            "Content-Length: 0\r\n\r\n".encode()
        )


def _method_call(method: str) -> Callable[..., None]:
    if method == "DELETE":
        return lambda url, **options: delete_from_gateway(url, "job", **options)
    if method == "POST":
        return lambda url, **options: pushadd_to_gateway(url, "job", MetricsRegistry(), **options)
    return lambda url, **options: push_to_gateway(url, "job", MetricsRegistry(), **options)


@pytest.mark.parametrize("method", ["PUT", "POST", "DELETE"])
@pytest.mark.parametrize("code", REDIRECTS)
def test_redirects_are_not_followed_by_default(code: int, method: str) -> None:
    """A redirect is not followed unless asked for: ``PushError`` with the status, naming
    where it pointed and the handler that follows it; one request only. (urllib's own
    handling re-sends a POST redirected by 301-303 as a GET without its body: the push
    was reported done and nothing was pushed.)"""
    with Redirector(code, "http://127.0.0.1:1") as fake, pytest.raises(PushError) as raised:
        _method_call(method)(fake.url, timeout=5)
    assert raised.value.status == code
    assert "'http://127.0.0.1:1/metrics/job/job'" in raised.value.message
    assert "passthrough_redirect_handler" in raised.value.message
    assert len(fake.requests) == 1


@pytest.mark.parametrize("code", REDIRECTS)
def test_passthrough_redirect_handler_repeats_the_request(gateway: str, code: int) -> None:
    """Behind a stand-in that redirects (``code``) to the real gateway,
    ``passthrough_redirect_handler`` repeats each request there whole: the gzip PUT is
    served, the POST keeps POST's meaning (the PUT's metrics stay), the DELETE deletes."""
    first = batch_registry()
    expected = expected_from(first)
    second = MetricsRegistry()
    second.gauge("batch_size", "Batch size.").set(42)
    handler = passthrough_redirect_handler
    try:
        with Redirector(code, gateway) as fake:
            push_to_gateway(fake.url, JOB, first, GROUP, handler=handler, compression="gzip")
            assert only(pushed(gateway), expected) == expected
            pushadd_to_gateway(fake.url, JOB, second, GROUP, handler=handler)
            seen = pushed(gateway)
            assert only(seen, expected) == expected
            assert seen["batch_size"] == {group_labels(): 42.0}
            delete_from_gateway(fake.url, JOB, GROUP, handler=handler)
            assert pushed(gateway) == {}
    finally:
        delete_from_gateway(gateway, JOB, GROUP)
    assert [request.split(b" ")[0] for request in fake.requests] == [b"PUT", b"POST", b"DELETE"]


def test_passthrough_forwards_headers(auth_gateway: Gateway) -> None:
    """Headers go along with the redirected request: credentials added by a handler that
    hands over to ``passthrough_redirect_handler`` reach the basic-auth gateway."""
    authorization = ("Authorization", _basic(USER, PASSWORD))

    def handler(
        url: str, method: str, timeout: float | None, headers: list[tuple[str, str]], data: bytes
    ) -> Callable[[], None]:
        return passthrough_redirect_handler(url, method, timeout, [*headers, authorization], data)

    registry = MetricsRegistry()
    registry.gauge("forwarded_level", "Level.").set(8)
    try:
        with Redirector(307, auth_gateway.url) as fake:
            push_to_gateway(fake.url, JOB, registry, GROUP, handler=handler)
        assert pushed(auth_gateway)["forwarded_level"] == {group_labels(): 8.0}
    finally:
        delete_from_gateway(auth_gateway.url, JOB, GROUP, handler=with_credentials(USER, PASSWORD))


def test_passthrough_refuses_other_schemes_and_loops() -> None:
    """``passthrough_redirect_handler`` follows ``http``/``https`` only (an ``ftp://``
    Location is a ``PushError`` saying so), and gives up after 10 redirects."""
    handler = passthrough_redirect_handler
    with Redirector(307, "ftp://127.0.0.1:1") as fake, pytest.raises(PushError) as raised:
        push_to_gateway(fake.url, "job", MetricsRegistry(), handler=handler, timeout=5)
    assert raised.value.status == 307
    assert "only http and https" in raised.value.message
    assert len(fake.requests) == 1
    with Redirector(307, None) as looping, pytest.raises(PushError) as raised:
        push_to_gateway(looping.url, "job", MetricsRegistry(), handler=handler, timeout=5)
    assert raised.value.status == 307
    assert 2 <= len(looping.requests) <= 11


def test_timeout_bounds_a_chain_of_redirects() -> None:
    """The timeout is one deadline for the whole chain of redirects: each hop answers
    within 0.4 s (well inside the 1 s timeout on its own) and redirects again; the push
    raises ``TimeoutError`` after the third hop or so, not ``PushError`` when the 10-hop
    limit ends the chain (as it would if each connection had its own timeout)."""
    with Redirector(307, None, delay=0.4) as fake, pytest.raises(TimeoutError) as raised:
        push_to_gateway(
            fake.url, "job", MetricsRegistry(), handler=passthrough_redirect_handler, timeout=1
        )
    assert "1 s timeout" in str(raised.value)
    assert len(fake.requests) < 10
