"""Servers the tests run apps under, in a thread of the test process on 127.0.0.1 and a
free port: uvicorn for ASGI apps, werkzeug's development server for WSGI apps. Each
stops its server and checks no thread is left behind, even when the test fails."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import uvicorn  # test dependencies (pyproject's "test" extra): missing them is an error
from werkzeug.serving import WSGIRequestHandler, make_server

from scrape_client import TIMEOUT, threads_started_since


@contextlib.contextmanager
def uvicorn_server(app: Callable[..., Any], **options: Any) -> Iterator[int]:
    """Serve ``app`` with uvicorn (lifespan on, plus ``options`` for ``uvicorn.Config``) in
    a thread of this process, on a socket bound here to a free port; yields the port once
    uvicorn has started; stops it with ``should_exit`` and joins, and checks no thread (the
    loop's executor included) is left."""
    before = set(threading.enumerate())
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    # log_config=None: uvicorn must not install its own stderr handlers in the test
    # process; its warnings reach pytest's log capture (and the guard) instead.
    config = uvicorn.Config(
        app, log_level="warning", lifespan="on", log_config=None, access_log=False, **options
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="test-uvicorn")
    thread.start()
    try:
        deadline = time.monotonic() + TIMEOUT
        while not server.started:
            if not thread.is_alive():
                raise AssertionError("uvicorn stopped during start-up")
            if time.monotonic() > deadline:
                raise AssertionError("uvicorn did not start in time")
            time.sleep(0.01)
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(TIMEOUT)
        sock.close()
    if thread.is_alive():
        raise AssertionError("uvicorn did not stop in time")
    left = [t.name for t in threads_started_since(before)]
    if left:
        raise AssertionError(f"threads left behind by uvicorn: {left}")


class _QuietWerkzeugHandler(WSGIRequestHandler):
    def log(self, type: str, message: str, *args: Any) -> None:
        if type != "info":  # no access log; errors still reach the log (and the guards)
            super().log(type, message, *args)


@contextlib.contextmanager
def werkzeug_server(app: Callable[..., Any]) -> Iterator[int]:
    """Serve the WSGI ``app`` with werkzeug's server (what ``flask run`` uses) from a
    thread; yields the port; shuts it down and checks no thread is left."""
    httpd = make_server("127.0.0.1", 0, app, request_handler=_QuietWerkzeugHandler)
    with serving_from_thread(httpd, "werkzeug") as port:
        yield port


class _SocketServer(Protocol):
    server_port: int

    def serve_forever(self, poll_interval: float = ...) -> None: ...

    def shutdown(self) -> None: ...

    def server_close(self) -> None: ...


@contextlib.contextmanager
def serving_from_thread(httpd: _SocketServer, name: str) -> Iterator[int]:
    """Run a ``socketserver``-style server (wsgiref's, werkzeug's) in a thread; yields its
    port; shuts it down, joins, and checks no thread it started is left behind."""
    before = set(threading.enumerate())
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=f"test-{name}"
    )
    thread.start()
    try:
        yield httpd.server_port
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(TIMEOUT)
    left = [t.name for t in threads_started_since(before)]
    if left:
        raise AssertionError(f"threads left behind by {name}: {left}")
