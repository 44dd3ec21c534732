"""``start_http_server`` under load (issue 8): many concurrent scrapers, and a flood of
clients that trickle their requests one byte at a time.

Each test starts its own server on a free port and closes it, its clients' sockets and
their threads, even when it fails; nothing may escape (see ``scrape_client.escape_guard``).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import selectors
import socket
import threading
import time
from collections.abc import Iterator

import pytest

import scrape_client
from scrape_client import TIMEOUT, escape_guard
from tachikoma_metrics import MetricsRegistry, start_http_server
from tachikoma_metrics.transport import server as server_module


@pytest.fixture(autouse=True)
def nothing_escapes(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> Iterator[list[threading.ExceptHookArgs]]:
    caplog.set_level(logging.INFO, logger="tachikoma_metrics")
    with escape_guard(capfd, caplog, threads_must_end=True) as seen:
        yield seen


def _registry(series: int) -> MetricsRegistry:
    registry = MetricsRegistry()
    counter = registry.counter("load_requests_total", "Requests.", labelnames=("route",))
    for n in range(series):
        counter.labels(f"/route/{n:05d}").inc(n)
    return registry


# -- many concurrent scrapers -------------------------------------------------------------------

SCRAPERS = 50
SCRAPES_EACH = 40


def test_concurrent_scrapers_all_succeed() -> None:
    """50 clients scraping a 10,000-series registry 40 times each, all at once, each scrape
    on a new connection: all 2,000 scrapes get the whole exposition. The listen backlog is
    128 (the standard library's 5 dropped SYNs under this load, and scrapes waited for the
    retransmission or timed out)."""
    registry = _registry(10_000)
    expected = registry.export_prometheus().encode()
    failures: list[str] = []
    done = [0]
    lock = threading.Lock()
    start = threading.Barrier(SCRAPERS + 1, timeout=TIMEOUT)

    with start_http_server(0, registry=registry) as server:
        assert server._server.request_queue_size == server_module.LISTEN_BACKLOG == 128
        assert server._server.socket.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)

        def scraper(n: int) -> None:
            with contextlib.suppress(threading.BrokenBarrierError):
                start.wait()
            for i in range(SCRAPES_EACH):
                try:
                    reply = scrape_client.fetch(server.port)
                    ok = reply.status == 200 and reply.body == expected
                    problem = None if ok else f"status {reply.status}, {len(reply.body)} bytes"
                except OSError as error:
                    problem = repr(error)
                with lock:
                    if problem is None:
                        done[0] += 1
                    else:
                        failures.append(f"client {n} scrape {i}: {problem}")

        threads = [
            threading.Thread(target=scraper, args=(n,), name=f"test-scraper-{n}")
            for n in range(SCRAPERS)
        ]
        for thread in threads:
            thread.start()
        try:
            start.wait()
        finally:
            for thread in threads:
                thread.join(TIMEOUT * SCRAPES_EACH)
        assert not any(thread.is_alive() for thread in threads)
    assert failures == []
    assert done[0] == SCRAPERS * SCRAPES_EACH


# -- trickling clients --------------------------------------------------------------------------

DRIPPERS = 150
DRIP_EVERY = 4.0  # seconds between two bytes of a dripper's request
DURATION = 40.0  # seconds of scraping, once a second


class Drippers:
    """``count`` clients, driven by one thread, each sending an endless request header one
    byte every ``DRIP_EVERY`` seconds; a client whose connection the server closes (or
    that cannot connect) reconnects at once. ``close()`` stops the thread and closes every
    socket."""

    def __init__(self, port: int, count: int) -> None:
        self.port = port
        self.selector = selectors.DefaultSelector()
        self.next_drip: dict[socket.socket, float] = {}
        self.connections = 0
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        for _ in range(count):
            self._connect()
        self.thread = threading.Thread(target=self._run, name="test-drippers")
        self.thread.start()

    def _connect(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        code = sock.connect_ex(("127.0.0.1", self.port))
        if code not in (0, errno.EINPROGRESS):
            sock.close()
            raise OSError(code, "connect failed")
        self.connections += 1
        self.next_drip[sock] = time.monotonic()  # the first byte as soon as connected
        self.selector.register(sock, selectors.EVENT_READ)

    def _drop(self, sock: socket.socket) -> None:
        self.selector.unregister(sock)
        del self.next_drip[sock]
        sock.close()

    def _run(self) -> None:
        header = b"GET /metrics HTTP/1.1\r\nX-Drip: " + b"a" * 100_000
        sent: dict[socket.socket, int] = {}
        try:
            while not self.stop.is_set():
                for key, _ in self.selector.select(timeout=0.05):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    try:
                        sock.recv(4096)  # the server closed (or answered): start again
                    except BlockingIOError:
                        continue
                    except OSError:
                        pass
                    sent.pop(sock, None)
                    self._drop(sock)
                    self._connect()
                now = time.monotonic()
                for sock, due in list(self.next_drip.items()):
                    if due > now:
                        continue
                    position = sent.get(sock, 0)
                    try:
                        sock.send(header[position : position + 1])
                        sent[sock] = position + 1
                        self.next_drip[sock] = now + DRIP_EVERY
                    except BlockingIOError:  # still connecting: try again shortly
                        self.next_drip[sock] = now + 0.05
                    except OSError:  # refused or reset: reconnect
                        sent.pop(sock, None)
                        self._drop(sock)
                        self._connect()
        except BaseException as error:  # reported by the test thread
            self.errors.append(error)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(TIMEOUT)
        for sock in list(self.next_drip):
            self._drop(sock)
        self.selector.close()


def test_trickling_clients_cannot_lock_scrapers_out() -> None:
    """150 clients trickling their requests (one byte every 4 s, reconnecting whenever
    they are cut) and a scrape once a second for 40 s: every scrape is answered in full,
    and the server never runs more connection threads than ``max_connections`` (default
    64; without the bound, 150 such clients held 153 threads)."""
    registry = _registry(100)
    expected = registry.export_prometheus().encode()
    bound = server_module.DEFAULT_MAX_CONNECTIONS
    before = set(threading.enumerate())
    statuses: list[int | str] = []
    most_threads = 0
    with start_http_server(0, registry=registry) as server:
        drippers = Drippers(server.port, DRIPPERS)
        ours = before | {drippers.thread}
        try:
            started = time.monotonic()
            next_scrape = started
            while (now := time.monotonic()) < started + DURATION:
                # The server's threads: every thread started since, but the drippers'.
                threads = sum(t not in ours for t in threading.enumerate())
                most_threads = max(most_threads, threads)
                assert threads <= bound + 1, f"{threads} server threads (accept thread + {bound})"
                if now >= next_scrape:
                    next_scrape += 1.0
                    try:
                        reply = scrape_client.fetch(server.port)
                        ok = reply.status == 200 and reply.body == expected
                        statuses.append(reply.status if ok else f"{reply.status}: bad body")
                    except OSError as error:
                        statuses.append(repr(error))
                time.sleep(0.05)
            assert drippers.errors == []
            cut = server._server.connections_cut
            assert drippers.connections > DRIPPERS, "no dripper was ever cut"
        finally:
            drippers.close()
    assert statuses == [200] * len(statuses)
    assert len(statuses) >= DURATION - 1
    assert most_threads > bound / 2, "the drippers never held many threads"
    assert cut > 0
