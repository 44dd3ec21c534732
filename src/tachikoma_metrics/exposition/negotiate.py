"""Content negotiation: from ``Accept`` and ``Accept-Encoding`` to an encoder.

The highest-q format we support wins (ties go to the one listed first); ``q=0`` means
"not this one"; when nothing matches, text 0.0.4. A malformed clause is ignored, never an
error. The escaping scheme comes from the chosen clause's ``escaping=`` parameter
(``underscores`` when absent), and is named in the ``Content-Type`` of every format whose
version defines the parameter (text 1.0.0, OpenMetrics 1.0.0, protobuf).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..model import MetricFamily
from ._escaping import ALLOW_UTF8, SCHEMES, UNDERSCORES
from .openmetrics import CONTENT_TYPE as OPENMETRICS_CONTENT_TYPE
from .openmetrics import encode_openmetrics
from .protobuf import CONTENT_TYPE as PROTOBUF_CONTENT_TYPE
from .protobuf import encode_protobuf
from .text import CONTENT_TYPE as TEXT_CONTENT_TYPE
from .text import CONTENT_TYPE_1_0_0 as TEXT_CONTENT_TYPE_1_0_0
from .text import encode_text

TEXT_0_0_4 = "text-0.0.4"
TEXT_1_0_0 = "text-1.0.0"
OPENMETRICS_0_0_1 = "openmetrics-0.0.1"
OPENMETRICS_1_0_0 = "openmetrics-1.0.0"
PROTOBUF = "protobuf"

_PROTOBUF_MESSAGE = "io.prometheus.client.metricfamily"


@dataclass(frozen=True)
class Negotiation:
    """What to answer: the format, its exact ``Content-Type``, how to encode a snapshot,
    and ``compression`` (``"gzip"`` or ``None``) to apply to the encoded body."""

    format: str
    content_type: str
    escaping: str
    encode: Callable[[Iterable[MetricFamily]], bytes]
    compression: str | None


def negotiate(
    accept: str | None, accept_encoding: str | None = None, *, created: bool = True
) -> Negotiation:
    """Choose the format, escaping and compression for a scrape.

    ``created=False`` leaves ``_created`` series and created timestamps out (OpenMetrics,
    protobuf).
    """
    chosen, escaping = _choose_format(accept or "")
    if chosen in (TEXT_0_0_4, OPENMETRICS_0_0_1) and escaping == ALLOW_UTF8:
        escaping = UNDERSCORES  # these versions have no quoted names
    return Negotiation(
        chosen,
        _content_type(chosen, escaping),
        escaping,
        _encoder(chosen, escaping, created),
        "gzip" if _gzip_accepted(accept_encoding or "") else None,
    )


def _clauses(header: str) -> Iterable[tuple[str, dict[str, str], float]]:
    """``(media type, parameters, q)`` per well-formed clause, in the order listed."""
    for clause in header.split(","):
        parts = [part.strip() for part in clause.split(";")]
        media = parts[0].lower()
        if "/" not in media or not media.strip("/"):
            continue
        params: dict[str, str] = {}
        for part in parts[1:]:
            key, sep, value = part.partition("=")
            if sep:
                params[key.strip().lower()] = value.strip().strip('"')
        try:
            q = float(params.pop("q", "1"))
        except ValueError:
            continue
        if not 0.0 <= q <= 1.0:
            continue
        yield media, params, q


def _choose_format(accept: str) -> tuple[str, str]:
    best: tuple[float, str, str] | None = None
    for media, params, q in _clauses(accept):
        chosen = _match(media, params)
        if chosen is None or q <= 0.0:
            continue
        if best is None or q > best[0]:
            escaping = params.get("escaping", UNDERSCORES)
            best = (q, chosen, escaping if escaping in SCHEMES else UNDERSCORES)
    if best is None:
        return TEXT_0_0_4, UNDERSCORES
    return best[1], best[2]


def _match(media: str, params: dict[str, str]) -> str | None:
    version = params.get("version")
    if media == "application/vnd.google.protobuf":
        if (
            params.get("proto", "").lower() == _PROTOBUF_MESSAGE
            and params.get("encoding") == "delimited"
        ):
            return PROTOBUF
        return None
    if media == "application/openmetrics-text":
        if version in (None, "1.0.0"):
            return OPENMETRICS_1_0_0
        return OPENMETRICS_0_0_1 if version == "0.0.1" else None
    if media == "text/plain":
        if version in (None, "0.0.4"):
            return TEXT_0_0_4
        return TEXT_1_0_0 if version == "1.0.0" else None
    if media in ("*/*", "text/*"):
        return TEXT_0_0_4
    return None


def _content_type(chosen: str, escaping: str) -> str:
    if chosen == TEXT_0_0_4:
        return TEXT_CONTENT_TYPE
    if chosen == TEXT_1_0_0:
        return f"{TEXT_CONTENT_TYPE_1_0_0}; escaping={escaping}"
    if chosen == OPENMETRICS_0_0_1:
        return OPENMETRICS_CONTENT_TYPE.replace("version=1.0.0", "version=0.0.1")
    if chosen == OPENMETRICS_1_0_0:
        return f"{OPENMETRICS_CONTENT_TYPE}; escaping={escaping}"
    return f"{PROTOBUF_CONTENT_TYPE}; escaping={escaping}"


def _encoder(
    chosen: str, escaping: str, created: bool
) -> Callable[[Iterable[MetricFamily]], bytes]:
    if chosen in (TEXT_0_0_4, TEXT_1_0_0):
        return lambda families: encode_text(families, escaping=escaping).encode()
    if chosen in (OPENMETRICS_0_0_1, OPENMETRICS_1_0_0):
        return lambda families: encode_openmetrics(
            families, escaping=escaping, created=created
        ).encode()
    return lambda families: encode_protobuf(families, escaping=escaping, created=created)


def _gzip_accepted(accept_encoding: str) -> bool:
    """Whether gzip has q > 0: named explicitly, or through ``*`` when not named."""
    explicit: float | None = None
    wildcard: float | None = None
    for clause in accept_encoding.split(","):
        coding, *params = (part.strip() for part in clause.split(";"))
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        coding = coding.lower()
        if coding == "gzip":
            explicit = q if explicit is None else max(explicit, q)
        elif coding == "*":
            wildcard = q
    if explicit is not None:
        return explicit > 0.0
    return wildcard is not None and wildcard > 0.0
