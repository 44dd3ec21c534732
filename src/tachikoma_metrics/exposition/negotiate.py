"""Content negotiation: from ``Accept`` and ``Accept-Encoding`` to an encoder.

Each clause is matched against the format table (``formats.FORMATS``), in table order. The
highest-q format we support wins (ties go to the clause listed first); ``q=0`` means "not
this one"; when nothing matches, the table's first format (text 0.0.4). A malformed clause
is ignored, never an error. The escaping scheme comes from the chosen clause's
``escaping=`` parameter (``underscores`` when absent), and is named in the ``Content-Type``
of every format whose version defines the parameter (text 1.0.0, OpenMetrics 1.0.0,
protobuf); the others get ``underscores`` for ``allow-utf-8``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial

from ..model import MetricFamily
from ._escaping import SCHEMES, UNDERSCORES
from .formats import (
    DEFAULT,
    FORMATS,
    OPENMETRICS_0_0_1,
    OPENMETRICS_1_0_0,
    PROTOBUF,
    TEXT_0_0_4,
    TEXT_1_0_0,
    Format,
    encode,
)

__all__ = [
    "OPENMETRICS_0_0_1",
    "OPENMETRICS_1_0_0",
    "PROTOBUF",
    "TEXT_0_0_4",
    "TEXT_1_0_0",
    "Negotiation",
    "negotiate",
]


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
    chosen, asked = _choose_format(accept or "")
    escaping = chosen.scheme(asked)
    return Negotiation(
        chosen.key,
        chosen.full_content_type(escaping),
        escaping,
        partial(encode, chosen, escaping=escaping, created=created),
        "gzip" if _gzip_accepted(accept_encoding or "") else None,
    )


def accept_clauses(header: str) -> Iterable[tuple[str, dict[str, str], float]]:
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


def _choose_format(accept: str) -> tuple[Format, str]:
    """The highest-q format any clause selects (the first listed on a tie), and the scheme
    its clause asks for."""
    best: tuple[float, Format, str] | None = None
    for media, params, q in accept_clauses(accept):
        if q <= 0.0 or (best is not None and q <= best[0]):
            continue
        for fmt in FORMATS:
            if fmt.accepts(media, params):
                escaping = params.get("escaping", UNDERSCORES)
                best = (q, fmt, escaping if escaping in SCHEMES else UNDERSCORES)
                break
    if best is None:
        return DEFAULT, UNDERSCORES
    return best[1], best[2]


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
