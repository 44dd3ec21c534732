"""``start_http_server``: ``/metrics`` from a background thread, with optional TLS and auth.

HTTP/1.1 with keep-alive: a scraper reuses one connection (one thread here) from scrape to
scrape, and a connection with no request for ``idle_timeout`` seconds is closed.

Slow or hostile clients cannot pile threads up. Each connection has one thread, and there
are at most ``max_connections`` of them. A request's headers must have arrived whole within
``REQUEST_TIMEOUT`` seconds (a deadline for the request, not a timeout per read, so
trickling bytes does not extend it), and an answer must be sent within
``RESPONSE_TIMEOUT``. When a new connection arrives and every thread is taken, the server
closes an idle kept-alive connection (oldest first), or else the connection that has been
waiting longest for its request to arrive whole; connections being answered are never cut.
If every connection is being answered, new ones wait in the listen backlog
(``LISTEN_BACKLOG``) until one is done.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import io
import math
import socket
import ssl
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, cast
from urllib.parse import urlsplit

from ..registry import MetricsRegistry
from ._core import MetricsEndpoint, Response, _plain, logger
from ._deadline import DeadlineIO, DeadlineWriter

# A request whose headers (and any body) have not arrived whole within this many seconds of
# its first byte is dropped, however the bytes trickle in: one slow or stuck client holds
# one thread for a bounded time. On a new connection the time counts from the connection
# (a scraper sends its request at once).
REQUEST_TIMEOUT = 10.0
# An answer not sent whole within this many seconds (a client that does not read) is cut.
RESPONSE_TIMEOUT = 30.0
# At most this many connections (one thread each) by default. Scrapers are few and reuse
# their connection; the bound only matters against floods and slow clients.
DEFAULT_MAX_CONNECTIONS = 64
# Connections the kernel completes and queues while every thread is taken (capped by the
# kernel's net.core.somaxconn). With the standard library's 5, 50 concurrent scrapers
# lost SYNs and waited for their retransmission (1 s, then 3 s...).
LISTEN_BACKLOG = 128
# A connection is cut to make room for a new one only once it has been open (or idle)
# this long: every client gets at least this long to send its request, and clients that
# reconnect at once after being cut cannot make the server churn as fast as it can.
MIN_HOLD = 0.25
# A kept-alive connection with no new request for this long is closed. Longer than common
# scrape intervals (15 s to 1 min), so a scraper's next scrape reuses its connection.
DEFAULT_IDLE_TIMEOUT = 120.0
# close() cuts idle connections at once; a request in flight gets this long to finish.
CLOSE_GRACE = 2.0
# Nothing here reads a request body, but one left unread would be parsed as the next
# request on the connection: a body up to this size is read and dropped; a larger one, or
# one of unknown length (chunked), closes the connection after the answer instead.
MAX_DROPPED_BODY = 65536


class MetricsServer:
    """A running metrics endpoint. ``port`` is the bound port (useful with port 0);
    ``close()`` stops serving, waits for requests in flight, and frees the port."""

    def __init__(self, server: _Server, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread
        self.address: str = server.server_address[0]  # type: ignore[assignment]
        self.port: int = server.server_address[1]
        scheme = "https" if server.tls else "http"
        host = f"[{self.address}]" if ":" in self.address else self.address
        self.url = f"{scheme}://{host}:{self.port}/metrics"

    def close(self) -> None:
        """Stop the server; idempotent. Idle connections (kept alive, or not yet sent a
        request) are cut at once; a request in flight is answered (with ``Connection:
        close``) if it finishes within ``CLOSE_GRACE`` seconds, else cut too. Returns once
        every connection's thread has ended and the port is free."""
        self._server.stop_accepting()
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.stop(CLOSE_GRACE)
        self._server.server_close()  # joins request threads (block_on_close)

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@dataclass(eq=False)
class _Connection:
    """A connection's thread and where its current request stands: ``waiting`` for a
    request (``idle`` after an answer), ``reading`` it (its first byte has arrived), or
    ``answering`` (its headers have arrived whole). ``since``: when it started waiting."""

    socket: socket.socket
    thread: threading.Thread
    state: str
    since: float
    cut: bool = False

    def idle(self) -> bool:
        return self.state in ("waiting", "idle")


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # close() waits for the request threads: nothing left behind
    block_on_close = True
    request_queue_size = LISTEN_BACKLOG

    def __init__(
        self,
        address: tuple[str, int],
        endpoint: MetricsEndpoint,
        context: ssl.SSLContext | None,
        credentials: tuple[str, str] | None,
        idle_timeout: float,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> None:
        self.endpoint = endpoint
        self.context = context
        self.tls = context is not None
        self.credentials = credentials
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        # Open connections (each with its thread), and threads whose connection has ended
        # but which may not have returned yet (joined before a new thread starts, so the
        # number of live threads never exceeds max_connections).
        self._connections: dict[socket.socket, _Connection] = {}
        self._ending: list[threading.Thread] = []
        self.closing = False  # stop(): no new request is served
        self.accepting = True  # stop_accepting(): no new connection is served
        self._state = threading.Condition()
        # Totals since start, for tests and debugging: they show connections being reused,
        # and connections cut to make room for new ones.
        self.connections_accepted = 0
        self.requests_started = 0
        self.connections_cut = 0
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[Any, Any]:
        sock, client = super().get_request()
        if self.context is not None:
            # The handshake happens in the request's thread (see _Handler.setup), so a
            # client that never completes it cannot stall the accepting thread.
            sock = self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, client

    def process_request(self, request: Any, client_address: Any) -> None:
        """Start a thread for the new connection once there is room for it (see the
        module's docstring: an idle or the slowest connection may be cut to make room)."""
        with self._state:
            while self.accepting and len(self._connections) >= self.max_connections:
                if any(c.cut for c in self._connections.values()):
                    self._state.wait(0.05)  # room is being made: a cut thread is ending
                    continue
                victim = self._victim()
                if victim is not None:
                    victim.cut = True
                    self.connections_cut += 1
                    _cut([victim.socket])
                    self._state.wait(0.05)  # its thread ends at once: notify
                else:  # every connection is being answered, or too recent to cut
                    self._state.wait(MIN_HOLD / 4)
            if not self.accepting:
                self.shutdown_request(request)
                return
            ending, self._ending = self._ending, []
        for thread in ending:
            thread.join()
        thread = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            name=f"metrics-connection-{self.server_address[1]}",
            daemon=False,
        )
        with self._state:
            self._connections[request] = _Connection(request, thread, "waiting", time.monotonic())
            self.connections_accepted += 1
        thread.start()

    def _victim(self) -> _Connection | None:
        """The connection to cut for a new one: the longest idle kept-alive one, else the
        one waiting longest for its request; none being answered, none held < MIN_HOLD."""
        latest = time.monotonic() - MIN_HOLD
        candidates = [
            c
            for c in self._connections.values()
            if not c.cut and c.state != "answering" and c.since <= latest
        ]
        if not candidates:
            return None
        return min(candidates, key=lambda c: (c.state != "idle", c.since))

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            with self._state:
                if self._connections.pop(request, None) is not None:
                    self._ending.append(threading.current_thread())
                self._state.notify_all()

    def shutdown_request(self, request: Any) -> None:
        """Close a connection; over TLS, first send ``close_notify`` (TLS requires it
        before closing, and OpenSSL 3 clients take its absence for a truncated stream)."""
        if isinstance(request, ssl.SSLSocket):
            _close_notify(request)
        super().shutdown_request(request)

    def server_close(self) -> None:
        super().server_close()
        with self._state:
            threads = [c.thread for c in self._connections.values()] + self._ending
            self._ending = []
        for thread in threads:
            thread.join()

    def threads(self) -> int:
        """How many connection threads are alive now."""
        with self._state:
            threads = [c.thread for c in self._connections.values()] + self._ending
        return sum(thread.is_alive() for thread in threads)

    def begin_request(self, connection: socket.socket) -> bool:
        """The first byte of a request arrived on ``connection``; ``False`` once ``stop()``
        has begun or the connection was cut (the request is not served: it closes)."""
        with self._state:
            record = self._connections.get(connection)
            if self.closing or record is None or record.cut:
                return False
            record.state = "reading"
            self.requests_started += 1
            return True

    def answering(self, connection: socket.socket) -> bool:
        """The request's headers have arrived whole: from now on the connection is not cut
        to make room for another. ``False`` if it already was."""
        with self._state:
            record = self._connections.get(connection)
            if record is None or record.cut:
                return False
            record.state = "answering"
            return True

    def end_request(self, connection: socket.socket) -> None:
        """The request on ``connection`` has been answered (or abandoned)."""
        with self._state:
            record = self._connections.get(connection)
            if record is not None:
                record.state = "idle"
                record.since = time.monotonic()
            self._state.notify_all()

    def _busy(self) -> list[socket.socket]:
        return [s for s, c in self._connections.items() if not c.idle()]

    def in_flight(self) -> int:
        """How many connections have a request in flight."""
        with self._state:
            return len(self._busy())

    def stop_accepting(self) -> None:
        """New connections are closed unserved (and the accepting thread stops waiting for
        room), so ``shutdown()`` returns at once."""
        with self._state:
            self.accepting = False
            self._state.notify_all()

    def stop(self, grace: float) -> None:
        """Cut idle connections now, give requests in flight ``grace`` seconds to be
        answered, then cut whatever is still open, so every request thread ends."""
        with self._state:
            self.closing = True
            self.accepting = False
            idle = [s for s, c in self._connections.items() if c.idle()]
        _cut(idle)
        with self._state:
            self._state.wait_for(lambda: not self._busy(), timeout=grace)
            rest = list(self._connections)
        _cut(rest)

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("metrics request from %s failed", client_address, exc_info=True)


def _close_notify(connection: ssl.SSLSocket) -> None:
    """Send TLS ``close_notify`` without waiting: the socket is made non-blocking, so a
    client that sends no ``close_notify`` back, or does not read, cannot hold the thread.
    Nothing is sent when the handshake never completed or the connection is gone."""
    with contextlib.suppress(OSError, ValueError):  # SSLWantReadError included
        connection.settimeout(0)
        connection.unwrap()


def _cut(connections: Iterable[socket.socket]) -> None:
    """Shut connections down, waking any thread blocked reading or writing them."""
    for connection in connections:
        with contextlib.suppress(OSError):  # already closed by its thread
            connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # Until a request line has been read whole, an error answer is an HTTP/1.x one (the
    # standard library's default, HTTP/0.9, answers a malformed request with no status
    # line, no headers: only a body).
    default_request_version = "HTTP/1.0"
    timeout = REQUEST_TIMEOUT  # the TLS handshake (setup)
    server_version = "tachikoma-metrics"
    # The header block and the body are two writes: with Nagle's algorithm the body would
    # wait for the client's delayed ACK of the headers (tens of ms) on a reused connection.
    disable_nagle_algorithm = True

    def setup(self) -> None:
        connected = time.monotonic()
        super().setup()
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.do_handshake()
        # Reads and writes go through one DeadlineIO, whose deadline handle() moves. (The
        # base class's rfile is closed first: it holds a reference that would keep the
        # socket's file descriptor open after the connection is closed.)
        self.rfile.close()
        self.io = DeadlineIO(self.connection, connected + REQUEST_TIMEOUT)
        self.rfile = io.BufferedReader(self.io)
        self.wfile = DeadlineWriter(self.io)

    def handle(self) -> None:
        """Serve requests on this connection until either side closes it: the client, an
        HTTP/1.0 or ``Connection: close`` request, an idle timeout, or ``close()``.

        The first request must arrive whole within ``REQUEST_TIMEOUT`` of the connection;
        each later one within ``REQUEST_TIMEOUT`` of its first byte, which must come within
        ``idle_timeout`` of the previous answer."""
        first = True
        while self._request_arrives():
            if not self.server.begin_request(self.connection):
                return
            if not first:
                self.io.deadline = time.monotonic() + REQUEST_TIMEOUT
            first = False
            try:
                self.handle_one_request()
            finally:
                self.server.end_request(self.connection)
            if self.close_connection:
                return
            self.io.deadline = time.monotonic() + self.server.idle_timeout

    def _request_arrives(self) -> bool:
        """Wait (until the I/O deadline) for the first byte of the next request; ``False``
        when the client closed, stayed silent, or the connection was cut."""
        try:
            # peek: the byte stays buffered for handle_one_request (a pipelined request
            # may already be there: then this returns at once)
            return bool(cast(io.BufferedReader, self.rfile).peek(1))
        except OSError:  # TimeoutError, or the connection was cut or reset
            return False

    def parse_request(self) -> bool:
        """Parse the request line and headers; answer 400 (with a status line) to a request
        line that is not ``METHOD target HTTP/x.y``, the HTTP/0.9 form ``GET /path``
        included. Once the headers are in, the connection is being answered: it is not
        cut to make room for another."""
        if not super().parse_request():
            return False
        if len(self.raw_requestline.split()) != 3:
            self.close_connection = True
            self.send_error(400, "Bad request syntax (HTTP/0.9 is not supported)")
            return False
        if not self.server.answering(self.connection):
            self.close_connection = True
            return False
        return True

    def __getattr__(self, name: str) -> Any:
        # Every method (GET, HEAD, and POST, TRACE or custom ones, which get 405) reaches
        # the endpoint: the base class looks up do_<METHOD>.
        if name.startswith("do_"):
            return self._answer
        raise AttributeError(name)

    def _answer(self) -> None:
        # HTTP/1.0 clients (even with "Connection: keep-alive") get one answer and a close;
        # so does a request whose body cannot be dropped safely, or one that arrived
        # while close() runs.
        if not self._drop_body() or self.request_version != "HTTP/1.1" or self.server.closing:
            self.close_connection = True
        parts = urlsplit(self.path)
        if not self._authorised():
            response = _plain(
                401,
                "Unauthorized",
                "authentication required",
                ("WWW-Authenticate", 'Basic realm="metrics", charset="UTF-8"'),
            )
            if self.command == "HEAD":
                response = Response(response.status, response.reason, response.headers)
        else:
            response = self.server.endpoint.handle(
                self.command, parts.path, parts.query, self.headers.get
            )
        self.io.deadline = time.monotonic() + RESPONSE_TIMEOUT
        self._send(response)

    def _drop_body(self) -> bool:
        """Read and drop the request's body, so the next request on the connection starts
        where it should; ``False`` when that cannot be done safely (chunked, an invalid,
        repeated or too large ``Content-Length``): the connection must then close."""
        if "Transfer-Encoding" in self.headers:
            return False
        lengths = self.headers.get_all("Content-Length") or []
        if not lengths:
            return True
        length = lengths[0].strip()
        if len(lengths) > 1 or not (length.isascii() and length.isdigit()):
            return False
        remaining = int(length)
        if remaining > MAX_DROPPED_BODY:
            return False
        while remaining:
            chunk = self.rfile.read(remaining)  # by the request's deadline
            if not chunk:
                return False
            remaining -= len(chunk)
        return True

    def _authorised(self) -> bool:
        expected = self.server.credentials
        if expected is None:
            return True
        given = self.headers.get("Authorization", "")
        scheme, _, encoded = given.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        ok_user = hmac.compare_digest(user.encode(), expected[0].encode())
        ok_password = hmac.compare_digest(password.encode(), expected[1].encode())
        return bool(sep) and ok_user and ok_password

    def _send(self, response: Response) -> None:
        try:
            self.send_response(response.status, response.reason)
            for name, value in response.headers:
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if response.body:
                self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError, TimeoutError, ssl.SSLError):
            logger.debug("client went away before the response was sent")

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s - %s", self.address_string(), format % args)


def _tls_rank(version: ssl.TLSVersion) -> int:
    """``version``'s place among TLS versions (the ``*_SUPPORTED`` aliases at the ends)."""
    real = [v for v in ssl.TLSVersion if v.value >= 0]
    if version == ssl.TLSVersion.MINIMUM_SUPPORTED:
        return min(real).value
    if version == ssl.TLSVersion.MAXIMUM_SUPPORTED:
        return max(real).value
    return version.value


def _check_tls_versions(minimum: ssl.TLSVersion | None, maximum: ssl.TLSVersion | None) -> None:
    for name, version in (("tls_min_version", minimum), ("tls_max_version", maximum)):
        if version is not None and not isinstance(version, ssl.TLSVersion):
            raise TypeError(
                f"{name} must be an ssl.TLSVersion (e.g. ssl.TLSVersion.TLSv1_3), got {version!r}"
            )
    if minimum is not None and maximum is not None and _tls_rank(minimum) > _tls_rank(maximum):
        raise ValueError(
            f"tls_min_version {minimum!r} is above tls_max_version {maximum!r}: "
            "no TLS version would be left"
        )


def start_http_server(
    port: int,
    addr: str = "127.0.0.1",
    registry: MetricsRegistry | None = None,
    *,
    certfile: str | None = None,
    keyfile: str | None = None,
    client_cafile: str | None = None,
    client_auth_required: bool = False,
    basic_auth: tuple[str, str] | None = None,
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
    tls_min_version: ssl.TLSVersion | None = None,
    tls_max_version: ssl.TLSVersion | None = None,
) -> MetricsServer:
    """Serve ``/metrics`` on ``addr:port`` (port 0 picks a free port) from a thread.

    ``registry=None`` serves the global registry (empty until ``init()``). With
    ``certfile`` (and ``keyfile``) the server speaks TLS; ``client_cafile`` makes it verify
    client certificates against that CA, and ``client_auth_required`` refuses clients
    without one. ``tls_min_version`` and ``tls_max_version`` (``ssl.TLSVersion``, e.g.
    ``ssl.TLSVersion.TLSv1_3``) bound the TLS versions clients may use (by default,
    whatever the ``ssl`` module's defaults allow: TLS 1.2 and 1.3 with current OpenSSL);
    a minimum above the maximum, or either without ``certfile``, is a ``ValueError``.
    ``basic_auth=(user, password)`` answers 401 to anyone else.
    Connections are kept alive (HTTP/1.1) and closed after ``idle_timeout`` seconds
    without a request (default 120: longer than common scrape intervals).
    ``max_connections`` (default 64) bounds the open connections, hence the server's
    threads (one each): at the bound, a new connection is served in place of an idle
    kept-alive one, or of the one waiting longest for its request to arrive whole, so
    floods and slow clients cannot lock scrapers out; a request's headers must arrive
    within ``REQUEST_TIMEOUT`` (10 s), however slowly they trickle.
    Returns a ``MetricsServer``: use ``.port``, ``.url`` and ``.close()`` (or ``with``).
    """
    if not (isinstance(idle_timeout, (int, float)) and 0 < idle_timeout < math.inf):
        raise ValueError(f"idle_timeout must be a positive number of seconds, got {idle_timeout!r}")
    if isinstance(max_connections, bool) or not (
        isinstance(max_connections, int) and max_connections >= 1
    ):
        raise ValueError(f"max_connections must be a positive integer, got {max_connections!r}")
    _check_tls_versions(tls_min_version, tls_max_version)
    context = None
    if certfile is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certfile, keyfile)
        if client_cafile is not None:
            context.load_verify_locations(cafile=client_cafile)
            context.verify_mode = ssl.CERT_REQUIRED if client_auth_required else ssl.CERT_OPTIONAL
        if tls_min_version is not None:
            context.minimum_version = tls_min_version
        if tls_max_version is not None:
            context.maximum_version = tls_max_version
    else:
        given = [
            f"{name}={value!r}"
            for name, value in (
                ("keyfile", keyfile),
                ("client_cafile", client_cafile),
                ("tls_min_version", tls_min_version),
                ("tls_max_version", tls_max_version),
            )
            if value is not None
        ]
        if given:
            raise ValueError(f"{', '.join(given)} need certfile (TLS)")
    endpoint = MetricsEndpoint(registry, transport="start_http_server")
    server = _Server(
        (addr, port), endpoint, context, basic_auth, float(idle_timeout), max_connections
    )
    thread = threading.Thread(
        target=server.serve_forever, name=f"metrics-server-{server.server_address[1]}"
    )
    thread.daemon = True
    thread.start()
    return MetricsServer(server, thread)
