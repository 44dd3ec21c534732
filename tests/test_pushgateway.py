"""push_to_gateway / delete_from_gateway against a real Pushgateway (Debian's package)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

import tachikoma_metrics
from prometheus_harness import free_port
from tachikoma_metrics import MetricsRegistry, PushError, delete_from_gateway, push_to_gateway
from tachikoma_metrics.transport.push import gateway_url
from uninitialised import warned_once

GROUP = {"instance": "host/1", "zone": "eu west"}
JOB = "batch/nightly"


@pytest.fixture(scope="module")
def gateway() -> Iterator[str]:
    """A Pushgateway on 127.0.0.1, stopped (and its files removed) afterwards."""
    binary = shutil.which("prometheus-pushgateway")
    if binary is None:
        pytest.fail("prometheus-pushgateway is not installed: run `bash scripts/test.sh`")
    port = free_port()
    with tempfile.TemporaryDirectory() as workdir, open(f"{workdir}/log", "w+b") as log:
        process = subprocess.Popen(
            [binary, f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while not _ready(url):
                if process.poll() is not None:
                    log.seek(0)
                    pytest.fail(f"pushgateway exited: {log.read().decode(errors='replace')}")
                if time.monotonic() > deadline:
                    pytest.fail("pushgateway did not become ready within 30 s")
                time.sleep(0.05)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/-/ready", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def pushed(url: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """The gateway's own exposition of pushed metrics: name -> labels -> value."""
    with urllib.request.urlopen(url + "/metrics", timeout=5) as response:
        body = response.read().decode()
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if sample.labels.get("job") == JOB:
                labels = tuple(sorted(sample.labels.items()))
                found.setdefault(sample.name, {})[labels] = sample.value
    return found


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
        self.requests: list[bytes] = []
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
                    self.requests.append(_read_request(conn))
                    try:
                        self.answer(conn)
                        self.client_left_early.append(False)
                    except (BrokenPipeError, ConnectionResetError):
                        self.client_left_early.append(True)
        except BaseException as error:  # reported on exit
            self.errors.append(error)


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
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
    return head


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
