"""Pushing to a Prometheus Pushgateway (refusals raise ``errors.PushError``).

``timeout`` bounds the whole exchange (connecting, sending, the answer's headers and
body), not each socket operation: a gateway (or proxy) that trickles its answer cannot
hold a push longer. A failure to get a whole answer raises ``OSError``, naming the URL:
``TimeoutError`` when the time is up, ``ConnectionError`` for an answer cut short or
malformed, the connection's own error otherwise (refused, unreachable...).
"""

from __future__ import annotations

import base64
import http.client
import io
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from .._names import check_text, is_legacy_label_name
from ..errors import PushError
from ..exposition import TEXT_CONTENT_TYPE as CONTENT_TYPE
from ..exposition import encode_text
from ..registry import MetricsRegistry
from ._core import global_registry
from ._deadline import DeadlineIO


def _segment(name: str, value: str) -> str:
    """``name/value`` as a path segment; values with ``/`` or empty use the base64 form."""
    if not value or "/" in value:
        encoded = base64.urlsafe_b64encode(value.encode()).decode() or "="
        return f"{name}@base64/{encoded}"
    return f"{name}/{quote(value, safe='')}"


def gateway_url(gateway: str, job: str, grouping_key: Mapping[str, str] | None = None) -> str:
    """The Pushgateway URL of a group: ``{gateway}/metrics/job/{job}[/{label}/{value}...]``.

    ``gateway`` may be ``http://host:port``, ``https://...`` or a bare ``host:port``.
    ``ValueError`` for an empty job, a grouping-key name that is not a label name, or text
    that is not valid UTF-8 (each would be refused by the gateway or break the URL).
    """
    if "://" not in gateway:
        gateway = "http://" + gateway
    if check_text("job", job) == "":
        raise ValueError("job must not be empty: the Pushgateway groups pushes by it")
    parts = [_segment("job", job)]
    for name, value in (grouping_key or {}).items():
        if not isinstance(name, str) or not is_legacy_label_name(name) or name.startswith("__"):
            raise ValueError(f"grouping key name {name!r} is not a valid label name")
        if name == "job":
            raise ValueError("the job goes in job=, not in grouping_key")
        parts.append(_segment(name, check_text(f"grouping key value for {name!r}", str(value))))
    return f"{gateway.rstrip('/')}/metrics/{'/'.join(parts)}"


class _ReaderIO(DeadlineIO):
    """A response's reader: tells its socket when it is closed."""

    def __init__(self, owner: _DeadlineSocket, sock: socket.socket, deadline: float | None) -> None:
        super().__init__(sock, deadline)
        self._owner: _DeadlineSocket | None = owner

    def close(self) -> None:
        owner, self._owner = self._owner, None
        super().close()
        if owner is not None:
            owner.file_closed()


class _DeadlineSocket:
    """A connected socket whose reads and writes all end by ``deadline``. Like a plain
    socket with ``makefile()``, it stays open until both it and its reader are closed
    (urllib closes the connection's socket before the response has been read)."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self.io = DeadlineIO(sock, deadline)
        self._files = 0
        self._closed = False

    def sendall(self, data: Any) -> None:
        self.io.write_all(data)

    def makefile(self, mode: str, *args: Any, **kwargs: Any) -> io.BufferedReader:
        """The response's reader (http.client asks for ``"rb"`` only)."""
        if mode != "rb":
            raise ValueError(f"unsupported mode {mode!r}")
        self._files += 1
        self.io = _ReaderIO(self, self._sock, self.io.deadline)  # its own end-of-stream flag
        return io.BufferedReader(self.io)

    def file_closed(self) -> None:
        self._files -= 1
        if self._closed and not self._files:
            self._sock.close()

    def close(self) -> None:
        self._closed = True
        if not self._files:
            self._sock.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class _Response(http.client.HTTPResponse):
    """A response that is an error when its header block was cut short (the standard
    library takes the end of the stream for the end of the headers)."""

    def __init__(self, sock: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(sock, *args, **kwargs)
        self._io: DeadlineIO | None = getattr(sock, "io", None)

    def begin(self) -> None:
        super().begin()
        if self._io is not None and self._io.eof:
            raise http.client.IncompleteRead(b"", None)


class _Deadline:
    """Mixed into a connection class: ``timeout`` is a deadline for the whole exchange."""

    sock: Any
    timeout: Any
    response_class: type[http.client.HTTPResponse] = _Response

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        timeout = self.timeout if isinstance(self.timeout, (int, float)) else None
        self._deadline = None if timeout is None else time.monotonic() + timeout

    def connect(self) -> None:
        if self._deadline is None:
            super().connect()  # type: ignore[misc]
            return
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out")
        self.timeout = left  # connecting (and the TLS handshake) by the deadline too
        super().connect()  # type: ignore[misc]
        self.sock = _DeadlineSocket(self.sock, self._deadline)


class _HTTPConnection(_Deadline, http.client.HTTPConnection):
    pass


class _HTTPSConnection(_Deadline, http.client.HTTPSConnection):
    pass


class _HTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_HTTPConnection, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_HTTPSConnection, req)


# Proxies from the environment, redirects and error handling as urlopen() has them; only
# the connections differ.
_opener = urllib.request.build_opener(_HTTPHandler, _HTTPSHandler)


def _request(url: str, method: str, body: bytes | None, timeout: float) -> None:
    headers = {"Content-Type": CONTENT_TYPE} if body is not None else {}
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with _opener.open(request, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as error:
        with error:
            try:
                message = error.read().decode("utf-8", "replace")
            except (OSError, http.client.HTTPException):
                message = ""
        raise PushError(url, error.code, message or str(error.reason)) from None
    except (OSError, http.client.HTTPException) as error:
        raise _network_error(method, url, timeout, error) from error


def _network_error(method: str, url: str, timeout: float, error: BaseException) -> OSError:
    """The ``OSError`` to raise for ``error``, naming the request."""
    reason: object = error.reason if isinstance(error, urllib.error.URLError) else error
    where = f"{method} {url}"
    if isinstance(reason, TimeoutError):
        return TimeoutError(f"{where}: no whole answer within the {timeout:g} s timeout")
    if isinstance(reason, http.client.IncompleteRead):
        return ConnectionError(f"{where}: the answer was cut short")
    if isinstance(reason, http.client.HTTPException):
        return ConnectionError(f"{where}: malformed answer ({reason!r})")
    if isinstance(reason, OSError) and reason.errno is not None:
        return OSError(reason.errno, f"{where}: {reason.strerror or reason}")
    return OSError(f"{where}: {reason}")


def push_to_gateway(
    gateway: str,
    job: str,
    registry: MetricsRegistry | None = None,
    grouping_key: Mapping[str, str] | None = None,
    *,
    method: str = "PUT",
    timeout: float = 30.0,
) -> None:
    """Push ``registry`` (the global one if ``None``) to the group ``job`` + ``grouping_key``.

    ``PUT`` replaces every metric of the group; ``POST`` replaces only the metrics with the
    names pushed. An HTTP error status raises ``PushError``. ``timeout`` (seconds) bounds
    the whole exchange; when it passes, ``TimeoutError`` is raised; an answer cut short
    (headers or body) raises ``ConnectionError``; any other network failure an
    ``OSError``; each names the URL. The global registry is empty before ``init()``: the
    first such push logs a warning.
    """
    if method not in ("PUT", "POST"):
        raise ValueError(f"method must be 'PUT' or 'POST', got {method!r}")
    source = registry if registry is not None else global_registry("push_to_gateway")
    families = source.collect() if source is not None else []
    body = encode_text(families).encode()
    _request(gateway_url(gateway, job, grouping_key), method, body, timeout)


def delete_from_gateway(
    gateway: str,
    job: str,
    grouping_key: Mapping[str, str] | None = None,
    *,
    timeout: float = 30.0,
) -> None:
    """Delete the group ``job`` + ``grouping_key`` from the Pushgateway. Errors and
    ``timeout`` as for ``push_to_gateway``."""
    _request(gateway_url(gateway, job, grouping_key), "DELETE", None, timeout)
