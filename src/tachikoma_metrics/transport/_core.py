"""The framework-neutral ``/metrics`` endpoint: request in, response out.

Every transport (the HTTP server, WSGI, ASGI) hands its request to ``MetricsEndpoint``
and writes back what it returns, so negotiation, compression, filtering, error handling
and the live page (``page.py``) live in one place.
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from .._global import current_registry
from .._locks import new_lock
from ..errors import ExpositionError
from ..exposition import negotiate
from ..registry import MetricsRegistry
from . import page

logger = logging.getLogger("tachikoma_metrics")

ALLOWED_METHODS = ("GET", "HEAD")
# gzip level 1 compresses exposition text about 8:1 at a fraction of level 9's cost.
GZIP_LEVEL = 1


# Whether the "global registry exported before init()" warning has been logged: once per
# process, whichever transport trips it first (a server would otherwise log every scrape).
_uninitialised_lock = new_lock()
_uninitialised_warned = False


def global_registry(transport: str) -> MetricsRegistry | None:
    """The global registry for ``transport`` to export: ``None`` before ``init()``, and
    then the first call in the process logs one warning, since the export can only be
    empty."""
    registry = current_registry()
    if registry is None:
        _warn_uninitialised(transport)
    return registry


def _warn_uninitialised(transport: str) -> None:
    global _uninitialised_warned
    with _uninitialised_lock:
        if _uninitialised_warned:
            return
        _uninitialised_warned = True
    logger.warning(
        "%s is exporting the global registry, but tachikoma_metrics.init() has not been "
        "called, so it is empty (metrics record nothing until init()). Call "
        "tachikoma_metrics.init() at start-up, or pass registry= to export a registry of "
        "your own.",
        transport,
    )


def _reset_uninitialised_warning() -> None:
    """Forget that the warning was logged, so the next export before ``init()`` logs it
    again (for tests)."""
    global _uninitialised_warned
    with _uninitialised_lock:
        _uninitialised_warned = False


@dataclass(frozen=True)
class Response:
    """What to send: status code and reason, headers in order, body (empty for HEAD)."""

    status: int
    reason: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


def _plain(status: int, reason: str, message: str, *extra: tuple[str, str]) -> Response:
    body = (message + "\n").encode()
    headers = [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(body))),
        *extra,
    ]
    return Response(status, reason, headers, body)


class MetricsEndpoint:
    """Serves ``path`` (``/metrics``) from ``registry``, or from the global registry
    (empty until ``init()``) when ``registry`` is ``None``.

    GET and HEAD only (others get 405), other paths 404. A browser (``Accept`` ranking
    HTML first, see ``page.prefers_html``) asking for ``/``, or for the mount point of a
    mounted app, gets the live page, which polls ``path`` (mounted: the mount point);
    without HTML in ``Accept``, ``/`` stays a 404 and the mount point serves metrics. The
    format is negotiated from ``Accept``, gzip applied when ``Accept-Encoding`` allows it
    (never with ``disable_compression=True``: then the answer does not vary with
    ``Accept-Encoding``), and ``?name[]=x`` restricts the answer to families exposing
    those names. Any failure becomes a 500 for this request only; nothing raises out of
    ``handle``. ``transport`` names the caller in the one warning logged when the global
    registry is served before ``init()``.
    """

    def __init__(
        self,
        registry: MetricsRegistry | None = None,
        *,
        path: str = "/metrics",
        transport: str = "MetricsEndpoint",
        disable_compression: bool = False,
    ) -> None:
        if not isinstance(disable_compression, bool):
            raise TypeError(
                f"disable_compression must be True or False, got {disable_compression!r}"
            )
        self._registry = registry
        self.path = path
        self.transport = transport
        self.disable_compression = disable_compression

    def registry(self) -> MetricsRegistry | None:
        """The registry a scrape exports now (the global one is ``None`` before ``init()``)."""
        if self._registry is not None:
            return self._registry
        return global_registry(self.transport)

    def handle(
        self,
        method: str,
        path: str,
        query: str,
        header: Callable[[str], str | None],
        *,
        mounted: bool = False,
    ) -> Response:
        """Answer one request. ``header(name)`` returns a request header or ``None``.

        ``mounted``: the app sits under a prefix (WSGI ``SCRIPT_NAME``, ASGI ``root_path``)
        and ``path`` is what remains below it; then ``""`` and ``"/"`` are the mount point
        itself and are served like ``self.path`` (the live page, to a browser).
        """
        method = method.upper()
        at_top = path in ("", "/") if mounted else path == "/"
        try:
            if at_top and page.prefers_html(header("Accept")):
                response = self._page(method, own_path=mounted or self.path == "/", header=header)
            else:
                if mounted and path in ("", "/"):
                    path = self.path
                response = self._handle(method, path, query, header)
                if at_top and response.status == 404:
                    # A browser asking the same URL gets the page: no cache may mix them.
                    headers = [*response.headers, ("Vary", "Accept")]
                    response = Response(response.status, response.reason, headers, response.body)
        except Exception:  # the application must never see an exception from a scrape
            logger.exception("error while serving %s", path)
            response = _plain(500, "Internal Server Error", "error while collecting metrics")
        if method == "HEAD" and response.body:  # same headers, never a body
            response = Response(response.status, response.reason, response.headers)
        return response

    def _page(
        self, method: str, *, own_path: bool, header: Callable[[str], str | None]
    ) -> Response:
        """The live page; ``own_path``: the metrics are answered at the page's own URL."""
        if method not in ALLOWED_METHODS:
            return _plain(
                405, "Method Not Allowed", f"method {method} not allowed", ("Allow", "GET, HEAD")
            )
        body = page.render("" if own_path else page.metrics_url(self.path))
        headers = [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Security-Policy", page.content_security_policy()),
            ("X-Content-Type-Options", "nosniff"),
            ("Cache-Control", "no-cache"),
            ("Vary", "Accept" if self.disable_compression else "Accept, Accept-Encoding"),
        ]
        if not self.disable_compression and negotiate(None, header("Accept-Encoding")).compression:
            body = gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)
            headers.append(("Content-Encoding", "gzip"))
        headers.append(("Content-Length", str(len(body))))
        return Response(200, "OK", headers, body)

    def _handle(
        self, method: str, path: str, query: str, header: Callable[[str], str | None]
    ) -> Response:
        if path != self.path:
            return _plain(404, "Not Found", f"not found: try {self.path}")
        if method not in ALLOWED_METHODS:
            return _plain(
                405, "Method Not Allowed", f"method {method} not allowed", ("Allow", "GET, HEAD")
            )
        names = parse_qs(query).get("name[]") if query else None
        registry = self.registry()
        created = registry.created_series if registry is not None else True
        encodings = None if self.disable_compression else header("Accept-Encoding")
        chosen = negotiate(header("Accept"), encodings, created=created)
        families = registry.collect(names) if registry is not None else []
        try:
            body = chosen.encode(families)
        except ExpositionError as error:
            return _plain(500, "Internal Server Error", f"cannot expose these metrics: {error}")
        vary = "Accept" if self.disable_compression else "Accept, Accept-Encoding"
        headers = [("Content-Type", chosen.content_type), ("Vary", vary)]
        if chosen.compression == "gzip":
            body = gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)
            headers.append(("Content-Encoding", "gzip"))
        headers.append(("Content-Length", str(len(body))))
        return Response(200, "OK", headers, body)
