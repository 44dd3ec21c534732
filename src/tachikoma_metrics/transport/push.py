"""Pushing to a Prometheus Pushgateway (refusals raise ``errors.PushError``)."""

from __future__ import annotations

import base64
import urllib.error
import urllib.request
from collections.abc import Mapping
from urllib.parse import quote

from ..errors import PushError
from ..exposition import TEXT_CONTENT_TYPE as CONTENT_TYPE
from ..exposition import encode_text
from ..registry import MetricsRegistry
from ._core import global_registry


def _segment(name: str, value: str) -> str:
    """``name/value`` as a path segment; values with ``/`` or empty use the base64 form."""
    if not value or "/" in value:
        encoded = base64.urlsafe_b64encode(value.encode()).decode() or "="
        return f"{name}@base64/{encoded}"
    return f"{name}/{quote(value, safe='')}"


def gateway_url(gateway: str, job: str, grouping_key: Mapping[str, str] | None = None) -> str:
    """The Pushgateway URL of a group: ``{gateway}/metrics/job/{job}[/{label}/{value}...]``.

    ``gateway`` may be ``http://host:port``, ``https://...`` or a bare ``host:port``.
    """
    if "://" not in gateway:
        gateway = "http://" + gateway
    parts = [_segment("job", job)]
    for name, value in (grouping_key or {}).items():
        parts.append(_segment(name, str(value)))
    return f"{gateway.rstrip('/')}/metrics/{'/'.join(parts)}"


def _request(url: str, method: str, body: bytes | None, timeout: float) -> None:
    headers = {"Content-Type": CONTENT_TYPE} if body is not None else {}
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as error:
        message = error.read().decode("utf-8", "replace")
        raise PushError(url, error.code, message or str(error.reason)) from None


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
    names pushed. An HTTP error raises ``PushError``; a network failure raises ``OSError``.
    The global registry is empty before ``init()``: the first such push logs a warning.
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
    """Delete the group ``job`` + ``grouping_key`` from the Pushgateway."""
    _request(gateway_url(gateway, job, grouping_key), "DELETE", None, timeout)
