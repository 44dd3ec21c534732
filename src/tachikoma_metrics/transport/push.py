"""Pushing to a Prometheus Pushgateway (refusals raise ``errors.PushError``).

``timeout`` bounds the whole exchange (connecting, the TLS handshake, sending, the answer's
headers and body, and every redirect a handler follows), not each socket operation: a
gateway (or proxy) that trickles its answer cannot hold a push longer. A failure to get a
whole answer raises ``OSError``, naming the URL: ``TimeoutError`` when the time is up,
``ConnectionError`` for an answer cut short or malformed, the connection's own error
otherwise (refused, unreachable, a certificate that does not verify...).

Each request goes through a *handler*, called as prometheus_client calls its handlers, so
handlers written for it work here unchanged::

    send = handler(url=url, method=method, timeout=timeout, headers=headers, data=data)
    send()  # makes the request; raises on failure

``url`` is the group's URL, ``method`` ``PUT``, ``POST`` or ``DELETE``, ``timeout`` the
seconds the exchange may take (``None``: no limit), ``headers`` a list of ``(name, value)``
pairs to send, ``data`` the body (bytes; empty for ``DELETE``). The handler returns a
function of no arguments that makes the request and raises on failure. The handlers here
(``default_handler``, ``basic_auth_handler``, ``tls_auth_handler``,
``passthrough_redirect_handler``) raise ``PushError`` for an HTTP error status and the
``OSError`` above for the rest; a handler of yours that raises ``urllib.error.HTTPError``
(as prometheus_client's own handlers do) has it turned into ``PushError`` too. To add
headers to one of these handlers (basic auth over a TLS handler, say), wrap it::

    def handler(url, method, timeout, headers, data):
        auth = [("Authorization", "Basic " + base64.b64encode(b"user:secret").decode())]
        return tls_auth_handler(url, method, timeout, headers + auth, data, cafile="ca.pem")
"""

from __future__ import annotations

import base64
import gzip
import http.client
import io
import math
import os
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from email.message import Message
from typing import IO, Any
from urllib.parse import quote, urlsplit

from .._names import check_text, is_legacy_label_name
from ..errors import PushError
from ..exposition import TEXT_CONTENT_TYPE as CONTENT_TYPE
from ..exposition import encode_text
from ..registry import MetricsRegistry
from ._core import GZIP_LEVEL, global_registry
from ._deadline import DeadlineIO

PushHandler = Callable[..., Callable[[], None]]
"""A push handler: called with the keyword arguments ``url``, ``method``, ``timeout``,
``headers`` and ``data``, returns the function of no arguments that makes the request
(see the module's docstring)."""

COMPRESSIONS = ("gzip",)
"""The ``compression=`` values push accepts (besides ``None``). prometheus_client also
offers ``"snappy"`` through an optional package; this library has no dependencies, so
``"snappy"`` is a ``ValueError``: use ``"gzip"``, which the Pushgateway reads (1.5.1, tested)."""


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
    if not isinstance(gateway, str):
        raise TypeError(f"gateway must be a URL or host:port string, got {gateway!r}")
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


# -- connections whose timeout is a deadline ------------------------------------------------


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
    """Mixed into a connection class: every connection of one exchange (the first, and
    those of redirects) shares the exchange's ``deadline`` (``time.monotonic()``)."""

    sock: Any
    timeout: Any
    response_class: type[http.client.HTTPResponse] = _Response

    def __init__(self, *args: Any, deadline: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline = deadline

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
    def __init__(self, deadline: float | None) -> None:
        super().__init__()
        self._deadline = deadline

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_HTTPConnection, req, deadline=self._deadline)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, deadline: float | None, context: ssl.SSLContext | None) -> None:
        super().__init__()
        self._deadline = deadline
        self._tls = context

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_HTTPSConnection, req, deadline=self._deadline, context=self._tls)


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """No redirect is followed: the 3xx answer becomes a ``PushError``. (The standard
    library's handler turns a redirected POST into a GET without its body, so a push
    would "succeed" without pushing anything.)"""

    def redirect_request(self, *args: Any) -> None:
        return None


class _FollowRedirects(urllib.request.HTTPRedirectHandler):
    """Every redirect (301, 302, 303, 307, 308) repeats the same request, method, headers
    and body included, at the new URL, if it is ``http`` or ``https``."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: Message,
        newurl: str,
    ) -> urllib.request.Request:
        if urlsplit(newurl).scheme not in ("http", "https"):
            raise urllib.error.HTTPError(
                req.full_url,
                code,
                f"redirect to {newurl!r} refused: only http and https URLs are followed",
                headers,
                fp,
            )
        return urllib.request.Request(
            newurl,
            data=req.data,
            headers=dict(req.headers),
            origin_req_host=req.origin_req_host,
            unverifiable=True,
            method=req.get_method(),
        )

    # Python 3.10 does not follow 308 (3.11 does).
    http_error_308 = urllib.request.HTTPRedirectHandler.http_error_302


def _exchange(
    url: str,
    method: str,
    headers: list[tuple[str, str]],
    data: bytes,
    timeout: float | None,
    *,
    context: ssl.SSLContext | None = None,
    follow_redirects: bool = False,
) -> None:
    """One request and its whole answer by ``timeout``; ``PushError`` for an HTTP error
    status (or a redirect not followed), ``OSError`` naming the URL for the rest."""
    deadline = None if timeout is None else time.monotonic() + timeout
    # Proxies from the environment and HTTP error handling as urlopen() has them; the
    # connections (deadline, TLS context) and redirects are this module's.
    opener = urllib.request.build_opener(
        _HTTPHandler(deadline),
        _HTTPSHandler(deadline, context),
        _FollowRedirects() if follow_redirects else _RefuseRedirects(),
    )
    body = data if data or method != "DELETE" else None
    request = urllib.request.Request(url, data=body, method=method)
    for name, value in headers:
        request.add_header(name, value)
    try:
        with opener.open(request, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as error:
        raise _push_error(url, error, follow_redirects) from None
    except (OSError, http.client.HTTPException) as error:
        raise _network_error(method, url, timeout, error) from error


def _push_error(url: str, error: urllib.error.HTTPError, follow_redirects: bool) -> PushError:
    """The ``PushError`` for an HTTP error answer (or a redirect not followed)."""
    with error:
        try:
            message = error.read().decode("utf-8", "replace")
        except (OSError, http.client.HTTPException, AttributeError):
            message = ""
    where = error.url if isinstance(error.url, str) and error.url else url
    if 300 <= error.code < 400:
        location = error.headers.get("Location") if error.headers is not None else None
        if follow_redirects or location is None:
            message = str(error.reason)
        else:
            message = (
                f"redirect to {location!r} not followed (pass "
                "handler=passthrough_redirect_handler to follow redirects)"
            )
    return PushError(where, error.code, message or str(error.reason))


def _network_error(method: str, url: str, timeout: float | None, error: BaseException) -> OSError:
    """The ``OSError`` to raise for ``error``, naming the request."""
    reason: object = error.reason if isinstance(error, urllib.error.URLError) else error
    where = f"{method} {url}"
    if isinstance(reason, TimeoutError):
        if timeout is None:
            return TimeoutError(f"{where}: timed out")
        return TimeoutError(f"{where}: no whole answer within the {timeout:g} s timeout")
    if isinstance(reason, http.client.IncompleteRead):
        return ConnectionError(f"{where}: the answer was cut short")
    if isinstance(reason, http.client.HTTPException):
        return ConnectionError(f"{where}: malformed answer ({reason!r})")
    if isinstance(reason, OSError) and reason.errno is not None:
        return OSError(reason.errno, f"{where}: {reason.strerror or reason}")
    return OSError(f"{where}: {reason}")


# -- handlers -------------------------------------------------------------------------------


def _sender(
    url: str,
    method: str,
    timeout: float | None,
    headers: list[tuple[str, str]],
    data: bytes,
    *,
    context: ssl.SSLContext | None = None,
    follow_redirects: bool = False,
) -> Callable[[], None]:
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")

    def send() -> None:
        _exchange(
            url,
            method,
            headers,
            bytes(data),
            timeout,
            context=context,
            follow_redirects=follow_redirects,
        )

    return send


def default_handler(
    url: str,
    method: str,
    timeout: float | None,
    headers: list[tuple[str, str]],
    data: bytes,
) -> Callable[[], None]:
    """The handler push uses unless told otherwise: HTTP, or HTTPS verified against the
    system's CAs; proxies from the environment (``https_proxy``...); ``timeout`` a deadline
    for the whole exchange. Redirects are not followed: a 3xx answer raises ``PushError``
    naming where it points (see ``passthrough_redirect_handler``). Other handlers can
    build on it, as prometheus_client's ``default_handler``."""
    return _sender(url, method, timeout, headers, data)


def passthrough_redirect_handler(
    url: str,
    method: str,
    timeout: float | None,
    headers: list[tuple[str, str]],
    data: bytes,
) -> Callable[[], None]:
    """``default_handler`` that follows redirects (301, 302, 303, 307, 308, to ``http`` or
    ``https`` URLs, up to 10): each repeats the same request, method, headers (credentials
    included) and body, at the new URL. Only for redirects you trust, e.g. a proxy in
    front of your own gateway. ``timeout`` still bounds the whole chain."""
    return _sender(url, method, timeout, headers, data, follow_redirects=True)


def basic_auth_handler(
    url: str,
    method: str,
    timeout: float | None,
    headers: list[tuple[str, str]],
    data: bytes,
    username: str | None = None,
    password: str | None = None,
) -> Callable[[], None]:
    """``default_handler`` with HTTP basic auth (``Authorization: Basic``, UTF-8) when
    ``username`` and ``password`` are given; with neither, no credentials are sent. Wrap
    it to pass them, as with prometheus_client::

        def handler(url, method, timeout, headers, data):
            return basic_auth_handler(url, method, timeout, headers, data, "user", "secret")

    ``ValueError`` for one without the other or a username holding ``:``; ``TypeError``
    for anything but strings (the password is never repeated in an error). Use an
    ``https://`` gateway: over plain HTTP the credentials travel in the clear."""
    if (username is None) != (password is None):
        given = "username" if password is None else "password"
        raise ValueError(f"basic_auth_handler needs username and password; only {given} given")
    if username is not None and password is not None:
        headers = [*headers, ("Authorization", _basic_authorization(username, password))]
    return default_handler(url, method, timeout, headers, data)


def _basic_authorization(username: str, password: str) -> str:
    if not isinstance(username, str):
        raise TypeError(f"username must be a str, got {username!r}")
    if not isinstance(password, str):
        raise TypeError(f"password must be a str, got a {type(password).__name__}")
    if ":" in username:
        raise ValueError(f"username {username!r} must not contain ':' (RFC 7617)")
    user = check_text("username", username).encode()
    try:
        secret = password.encode()
    except UnicodeEncodeError:  # not repeated: it may be most of the real password
        raise ValueError("password is not valid UTF-8 (a lone surrogate?)") from None
    return "Basic " + base64.b64encode(user + b":" + secret).decode("ascii")


def tls_auth_handler(
    url: str,
    method: str,
    timeout: float | None,
    headers: list[tuple[str, str]],
    data: bytes,
    certfile: str | os.PathLike[str] | None = None,
    keyfile: str | os.PathLike[str] | None = None,
    cafile: str | os.PathLike[str] | None = None,
    protocol: int = ssl.PROTOCOL_TLS_CLIENT,
    insecure_skip_verify: bool = False,
) -> Callable[[], None]:
    """``default_handler`` over TLS with a client certificate: ``certfile`` (and
    ``keyfile``, unless the key is in ``certfile``) is presented to the gateway;
    ``cafile`` is the CA bundle the gateway's certificate must verify against (the
    system's CAs when ``None``). The gateway's certificate and host name are verified
    unless ``insecure_skip_verify=True``. Same parameters as prometheus_client's, so
    handlers written for it work; ``certfile`` may also be left out to use only
    ``cafile`` (a gateway with a private CA, no client certificate).

    The URL must be ``https://`` (a plain ``http://`` push would send everything in the
    clear): ``ValueError`` otherwise. ``protocol``: ``ssl.PROTOCOL_TLS_CLIENT`` (or the
    deprecated ``ssl.PROTOCOL_TLS``, taken as it). Files that cannot be loaded, a
    ``keyfile`` without ``certfile`` and other protocols raise ``ValueError`` naming them,
    before anything is sent."""
    if urlsplit(url).scheme != "https":
        raise ValueError(f"tls_auth_handler needs an https:// gateway, got {url!r}")
    context = _client_context(
        certfile=certfile,
        keyfile=keyfile,
        cafile=cafile,
        protocol=protocol,
        insecure_skip_verify=insecure_skip_verify,
    )
    return _sender(url, method, timeout, headers, data, context=context)


def _client_context(
    *,
    certfile: str | os.PathLike[str] | None = None,
    keyfile: str | os.PathLike[str] | None = None,
    cafile: str | os.PathLike[str] | None = None,
    protocol: int = ssl.PROTOCOL_TLS_CLIENT,
    insecure_skip_verify: bool = False,
) -> ssl.SSLContext:
    """The client ``SSLContext`` of ``tls_auth_handler`` (arguments as there)."""
    if protocol not in (ssl.PROTOCOL_TLS_CLIENT, ssl.PROTOCOL_TLS):
        raise ValueError(
            f"protocol must be ssl.PROTOCOL_TLS_CLIENT, got {protocol!r} (the server side's "
            "or a single TLS version's protocol cannot verify a gateway)"
        )
    if not isinstance(insecure_skip_verify, bool):
        raise TypeError(f"insecure_skip_verify must be True or False, got {insecure_skip_verify!r}")
    for name, path in (("certfile", certfile), ("keyfile", keyfile), ("cafile", cafile)):
        if path is not None and not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"{name} must be a path, got {path!r}")
    if keyfile is not None and certfile is None:
        raise ValueError(f"keyfile {keyfile!r} given without certfile")
    try:
        context = ssl.create_default_context(cafile=cafile)
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot load cafile {cafile!r}: {error}") from error
    if insecure_skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if certfile is not None:
        try:
            context.load_cert_chain(certfile, keyfile)
        except (OSError, ValueError) as error:
            raise ValueError(
                f"cannot load the client certificate certfile={certfile!r} "
                f"keyfile={keyfile!r}: {error}"
            ) from error
    return context


# -- push and delete ------------------------------------------------------------------------


def _check_timeout(timeout: object) -> float | None:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds or None, got {timeout!r}")
    if not 0 < timeout < math.inf:
        raise ValueError(f"timeout must be a positive number of seconds or None, got {timeout!r}")
    return float(timeout)


def _check_handler(handler: object) -> PushHandler:
    if handler is None:
        return default_handler
    if not callable(handler):
        raise TypeError(f"handler must be callable, got {handler!r}")
    return handler


def _check_compression(compression: object) -> str | None:
    if compression is None:
        return None
    if isinstance(compression, str) and compression.lower() in COMPRESSIONS:
        return compression.lower()
    hint = " (needs a package; this library has no dependencies)" if compression == "snappy" else ""
    raise ValueError(f"compression must be None or 'gzip', got {compression!r}{hint}")


def _use_gateway(
    handler: PushHandler,
    url: str,
    method: str,
    timeout: float | None,
    headers: list[tuple[str, str]],
    data: bytes,
) -> None:
    """Call ``handler`` with prometheus_client's convention and run what it returns."""
    send = handler(url=url, method=method, timeout=timeout, headers=headers, data=data)
    if not callable(send):
        raise TypeError(
            f"handler {handler!r} returned {send!r}: it must return a function of no "
            "arguments that makes the request"
        )
    try:
        send()
    except urllib.error.HTTPError as error:  # a handler of the user's, urllib-based
        raise _push_error(url, error, follow_redirects=False) from error


def _push(
    caller: str,
    method: str,
    gateway: str,
    job: str,
    registry: MetricsRegistry | None,
    grouping_key: Mapping[str, str] | None,
    timeout: float | None,
    handler: PushHandler | None,
    compression: str | None,
) -> None:
    encoding = _check_compression(compression)
    seconds = _check_timeout(timeout)
    send_with = _check_handler(handler)
    if registry is not None and not isinstance(registry, MetricsRegistry):
        raise TypeError(f"registry must be a MetricsRegistry or None, got {registry!r}")
    url = gateway_url(gateway, job, grouping_key)
    source = registry if registry is not None else global_registry(caller)
    families = source.collect() if source is not None else []
    body = encode_text(families).encode()
    headers = [("Content-Type", CONTENT_TYPE)]
    if encoding == "gzip":
        body = gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)
        headers.append(("Content-Encoding", "gzip"))
    _use_gateway(send_with, url, method, seconds, headers, body)


def push_to_gateway(
    gateway: str,
    job: str,
    registry: MetricsRegistry | None = None,
    grouping_key: Mapping[str, str] | None = None,
    *,
    method: str = "PUT",
    timeout: float | None = 30.0,
    handler: PushHandler | None = default_handler,
    compression: str | None = None,
) -> None:
    """Push ``registry`` (the global one if ``None``) to the group ``job`` + ``grouping_key``.

    ``PUT`` replaces every metric of the group; ``POST`` (or ``pushadd_to_gateway``)
    replaces only the metrics with the names pushed. An HTTP error status raises
    ``PushError``. ``timeout`` (seconds, or ``None`` for no limit) bounds the whole
    exchange; when it passes, ``TimeoutError`` is raised; an answer cut short (headers or
    body) raises ``ConnectionError``; any other network failure an ``OSError``; each names
    the URL. ``handler`` makes the request (see the module's docstring: auth, TLS client
    certificates, redirects; prometheus_client's calling convention); the default,
    ``default_handler``, follows no redirect: a 3xx answer is a ``PushError``.
    ``compression="gzip"`` sends the body gzip-compressed with ``Content-Encoding: gzip``
    (the Pushgateway reads it: 1.5.1 is tested); ``None`` sends it as is; anything else,
    ``"snappy"`` included, is a ``ValueError``. Arguments are checked before anything is
    sent. The global registry is empty before ``init()``: the first such push logs a
    warning.
    """
    if method not in ("PUT", "POST"):
        raise ValueError(f"method must be 'PUT' or 'POST', got {method!r}")
    _push(
        "push_to_gateway",
        method,
        gateway,
        job,
        registry,
        grouping_key,
        timeout,
        handler,
        compression,
    )


def pushadd_to_gateway(
    gateway: str,
    job: str,
    registry: MetricsRegistry | None = None,
    grouping_key: Mapping[str, str] | None = None,
    *,
    timeout: float | None = 30.0,
    handler: PushHandler | None = default_handler,
    compression: str | None = None,
) -> None:
    """``push_to_gateway(..., method="POST")``: replaces only the metrics with the names
    pushed, leaving the group's others (prometheus_client's name for it)."""
    _push(
        "pushadd_to_gateway",
        "POST",
        gateway,
        job,
        registry,
        grouping_key,
        timeout,
        handler,
        compression,
    )


def delete_from_gateway(
    gateway: str,
    job: str,
    grouping_key: Mapping[str, str] | None = None,
    *,
    timeout: float | None = 30.0,
    handler: PushHandler | None = default_handler,
) -> None:
    """Delete the group ``job`` + ``grouping_key`` from the Pushgateway. Errors,
    ``timeout`` and ``handler`` as for ``push_to_gateway`` (the handler gets no headers
    and an empty body)."""
    seconds = _check_timeout(timeout)
    send_with = _check_handler(handler)
    _use_gateway(send_with, gateway_url(gateway, job, grouping_key), "DELETE", seconds, [], b"")
