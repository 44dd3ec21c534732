"""``start_http_server``: ``/metrics`` from a background thread, with optional TLS and auth.

HTTP/1.1 with keep-alive: a scraper reuses one connection (one thread here) from scrape to
scrape, and a connection with no request for ``idle_timeout`` seconds is closed.
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
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, cast
from urllib.parse import urlsplit

from ..registry import MetricsRegistry
from ._core import MetricsEndpoint, Response, _plain, logger

# A request that has not arrived whole within this many seconds is dropped, so one slow
# or stuck client holds one thread for a bounded time. It also bounds the wait for the
# first request of a new connection (a scraper sends it at once).
REQUEST_TIMEOUT = 10.0
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


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # close() waits for the request threads: nothing left behind
    block_on_close = True

    def __init__(
        self,
        address: tuple[str, int],
        endpoint: MetricsEndpoint,
        context: ssl.SSLContext | None,
        credentials: tuple[str, str] | None,
        idle_timeout: float,
    ) -> None:
        self.endpoint = endpoint
        self.context = context
        self.tls = context is not None
        self.credentials = credentials
        self.idle_timeout = idle_timeout
        # Open connections, and those of them with a request in flight (from its first
        # byte to the end of its answer): the others are idle and close() may cut them.
        self._connections: set[socket.socket] = set()
        self._busy: set[socket.socket] = set()
        self.closing = False
        self._state = threading.Condition()
        # Totals since start, for tests and debugging: they show connections being reused.
        self.connections_accepted = 0
        self.requests_started = 0
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
        with self._state:
            self._connections.add(request)
            self.connections_accepted += 1
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._state:
            self._connections.discard(request)
            self._busy.discard(request)
            self._state.notify_all()
        super().shutdown_request(request)

    def begin_request(self, connection: socket.socket) -> bool:
        """A request started arriving on ``connection``; ``False`` once ``stop()`` has
        begun (the request is not served: the connection closes)."""
        with self._state:
            if self.closing:
                return False
            self._busy.add(connection)
            self.requests_started += 1
            return True

    def end_request(self, connection: socket.socket) -> None:
        """The request on ``connection`` has been answered (or abandoned)."""
        with self._state:
            self._busy.discard(connection)
            self._state.notify_all()

    def in_flight(self) -> int:
        """How many connections have a request in flight."""
        with self._state:
            return len(self._busy)

    def stop(self, grace: float) -> None:
        """Cut idle connections now, give requests in flight ``grace`` seconds to be
        answered, then cut whatever is still open, so every request thread ends."""
        with self._state:
            self.closing = True
            idle = self._connections - self._busy
        _cut(idle)
        with self._state:
            self._state.wait_for(lambda: not self._busy, timeout=grace)
            rest = list(self._connections)
        _cut(rest)

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("metrics request from %s failed", client_address, exc_info=True)


def _cut(connections: Iterable[socket.socket]) -> None:
    """Shut connections down, waking any thread blocked reading or writing them."""
    for connection in connections:
        with contextlib.suppress(OSError):  # already closed by its thread
            connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = REQUEST_TIMEOUT
    server_version = "tachikoma-metrics"
    # The header block and the body are two writes: with Nagle's algorithm the body would
    # wait for the client's delayed ACK of the headers (tens of ms) on a reused connection.
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.do_handshake()

    def handle(self) -> None:
        """Serve requests on this connection until either side closes it: the client, an
        HTTP/1.0 or ``Connection: close`` request, an idle timeout, or ``close()``."""
        wait = REQUEST_TIMEOUT  # the client has just connected: the request is due now
        while self._request_arrives(wait):
            if not self.server.begin_request(self.connection):
                return
            try:
                self.handle_one_request()
            finally:
                self.server.end_request(self.connection)
            if self.close_connection:
                return
            wait = self.server.idle_timeout

    def _request_arrives(self, wait: float) -> bool:
        """Wait up to ``wait`` seconds for the first byte of the next request; ``False``
        when the client closed, stayed silent, or ``close()`` cut the connection."""
        try:
            self.connection.settimeout(wait)
            # peek: the byte stays buffered for handle_one_request (a pipelined request
            # may already be there: then this returns at once)
            arrived = bool(cast(io.BufferedReader, self.rfile).peek(1))
            self.connection.settimeout(REQUEST_TIMEOUT)
        except OSError:  # TimeoutError, or the connection was cut or reset
            return False
        return arrived

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
            chunk = self.rfile.read(remaining)  # up to REQUEST_TIMEOUT per read
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
) -> MetricsServer:
    """Serve ``/metrics`` on ``addr:port`` (port 0 picks a free port) from a thread.

    ``registry=None`` serves the global registry (empty until ``init()``). With
    ``certfile`` (and ``keyfile``) the server speaks TLS; ``client_cafile`` makes it verify
    client certificates against that CA, and ``client_auth_required`` refuses clients
    without one. ``basic_auth=(user, password)`` answers 401 to anyone else.
    Connections are kept alive (HTTP/1.1) and closed after ``idle_timeout`` seconds
    without a request (default 120: longer than common scrape intervals).
    Returns a ``MetricsServer``: use ``.port``, ``.url`` and ``.close()`` (or ``with``).
    """
    if not (isinstance(idle_timeout, (int, float)) and 0 < idle_timeout < math.inf):
        raise ValueError(f"idle_timeout must be a positive number of seconds, got {idle_timeout!r}")
    context = None
    if certfile is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certfile, keyfile)
        if client_cafile is not None:
            context.load_verify_locations(cafile=client_cafile)
            context.verify_mode = ssl.CERT_REQUIRED if client_auth_required else ssl.CERT_OPTIONAL
    elif client_cafile is not None or keyfile is not None:
        raise ValueError("keyfile and client_cafile need certfile (TLS)")
    endpoint = MetricsEndpoint(registry, transport="start_http_server")
    server = _Server((addr, port), endpoint, context, basic_auth, float(idle_timeout))
    thread = threading.Thread(
        target=server.serve_forever, name=f"metrics-server-{server.server_address[1]}"
    )
    thread.daemon = True
    thread.start()
    return MetricsServer(server, thread)
