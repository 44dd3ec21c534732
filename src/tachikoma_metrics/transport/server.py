"""``start_http_server``: ``/metrics`` from a background thread, with optional TLS and auth."""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from ..registry import MetricsRegistry
from ._core import MetricsEndpoint, Response, _plain, logger

# A request that has not arrived whole within this many seconds is dropped, so one slow
# or stuck client holds one thread for a bounded time and never blocks close().
REQUEST_TIMEOUT = 10.0


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
        """Stop the server; idempotent. Connections still open are cut, so an idle or
        stuck client cannot hold it up."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.cut_connections()
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
    ) -> None:
        self.endpoint = endpoint
        self.context = context
        self.tls = context is not None
        self.credentials = credentials
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
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
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def cut_connections(self) -> None:
        """Wake every request thread still reading from a client, so it ends now."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by its thread
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("metrics request from %s failed", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"
    timeout = REQUEST_TIMEOUT
    server_version = "tachikoma-metrics"

    def setup(self) -> None:
        super().setup()
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.do_handshake()

    def __getattr__(self, name: str) -> Any:
        # Every method (GET, HEAD, and POST, TRACE or custom ones, which get 405) reaches
        # the endpoint: the base class looks up do_<METHOD>.
        if name.startswith("do_"):
            return self._answer
        raise AttributeError(name)

    def _answer(self) -> None:
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
) -> MetricsServer:
    """Serve ``/metrics`` on ``addr:port`` (port 0 picks a free port) from a thread.

    ``registry=None`` serves the global registry (empty until ``init()``). With
    ``certfile`` (and ``keyfile``) the server speaks TLS; ``client_cafile`` makes it verify
    client certificates against that CA, and ``client_auth_required`` refuses clients
    without one. ``basic_auth=(user, password)`` answers 401 to anyone else.
    Returns a ``MetricsServer``: use ``.port``, ``.url`` and ``.close()`` (or ``with``).
    """
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
    server = _Server((addr, port), endpoint, context, basic_auth)
    thread = threading.Thread(
        target=server.serve_forever, name=f"metrics-server-{server.server_address[1]}"
    )
    thread.daemon = True
    thread.start()
    return MetricsServer(server, thread)
