"""The exposition formats: one table entry each, and one way to encode any of them.

Adding a format is one ``Format`` in ``FORMATS``: what ``Accept`` clause selects it, the
``Content-Type`` it answers with, and its writer. Negotiation walks the table in order;
``encode`` runs the escaping pre-pass, then the writer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..model import MetricFamily
from ._escaping import ALLOW_UTF8, UNDERSCORES
from ._prepass import escape_families
from .openmetrics import CONTENT_TYPE as OPENMETRICS_CONTENT_TYPE
from .openmetrics import CONTENT_TYPE_0_0_1 as OPENMETRICS_CONTENT_TYPE_0_0_1
from .openmetrics import write_openmetrics
from .protobuf import CONTENT_TYPE as PROTOBUF_CONTENT_TYPE
from .protobuf import write_protobuf
from .text import CONTENT_TYPE as TEXT_CONTENT_TYPE
from .text import CONTENT_TYPE_1_0_0 as TEXT_CONTENT_TYPE_1_0_0
from .text import write_text

TEXT_0_0_4 = "text-0.0.4"
TEXT_1_0_0 = "text-1.0.0"
OPENMETRICS_0_0_1 = "openmetrics-0.0.1"
OPENMETRICS_1_0_0 = "openmetrics-1.0.0"
PROTOBUF = "protobuf"

# Pre-passed families and ``created`` in, the body out.
Writer = Callable[[list[MetricFamily], bool], bytes]


@dataclass(frozen=True)
class Format:
    """One exposition format version.

    ``media_type`` and ``params`` say which ``Accept`` clauses select it: each named
    parameter must have one of the listed values (compared case-insensitively; ``None``:
    the parameter may be absent). ``ranges`` are media ranges (``*/*``) it answers
    whatever their parameters. ``content_type`` is its ``Content-Type`` without
    ``escaping=``; ``escaping_parameter`` says whether the version defines that parameter
    (Prometheus 3): then the ``Content-Type`` names the scheme, and ``allow-utf-8`` is
    honoured (names quoted in text formats, raw in protobuf); without it, names are
    escaped with ``underscores`` instead.
    """

    key: str
    media_type: str
    params: tuple[tuple[str, tuple[str | None, ...]], ...]
    content_type: str
    escaping_parameter: bool
    write: Writer
    ranges: tuple[str, ...] = ()

    def accepts(self, media: str, params: dict[str, str]) -> bool:
        """Whether an ``Accept`` clause (media lowercased, parameter names lowercased)
        selects this format."""
        if media in self.ranges:
            return True
        if media != self.media_type:
            return False
        for name, allowed in self.params:
            value = params.get(name)
            if (value if value is None else value.lower()) not in allowed:
                return False
        return True

    def scheme(self, asked: str) -> str:
        """The escaping scheme used when ``asked`` is requested."""
        return UNDERSCORES if asked == ALLOW_UTF8 and not self.escaping_parameter else asked

    def full_content_type(self, scheme: str) -> str:
        """The exact ``Content-Type`` of a body written with ``scheme``."""
        if self.escaping_parameter:
            return f"{self.content_type}; escaping={scheme}"
        return self.content_type


def _text(families: list[MetricFamily], created: bool) -> bytes:
    return write_text(families).encode()


def _openmetrics(families: list[MetricFamily], created: bool) -> bytes:
    return write_openmetrics(families, created).encode()


# In preference order: an Accept header with nothing we support gets the first.
FORMATS: tuple[Format, ...] = (
    Format(
        TEXT_0_0_4,
        "text/plain",
        (("version", (None, "0.0.4")),),
        TEXT_CONTENT_TYPE,
        False,
        _text,
        ranges=("*/*", "text/*"),
    ),
    Format(
        TEXT_1_0_0,
        "text/plain",
        (("version", ("1.0.0",)),),
        TEXT_CONTENT_TYPE_1_0_0,
        True,
        _text,
    ),
    Format(
        OPENMETRICS_1_0_0,
        "application/openmetrics-text",
        (("version", (None, "1.0.0")),),
        OPENMETRICS_CONTENT_TYPE,
        True,
        _openmetrics,
    ),
    Format(
        OPENMETRICS_0_0_1,
        "application/openmetrics-text",
        (("version", ("0.0.1",)),),
        OPENMETRICS_CONTENT_TYPE_0_0_1,
        False,
        _openmetrics,
    ),
    Format(
        PROTOBUF,
        "application/vnd.google.protobuf",
        (("proto", ("io.prometheus.client.metricfamily",)), ("encoding", ("delimited",))),
        PROTOBUF_CONTENT_TYPE,
        True,
        write_protobuf,
    ),
)
DEFAULT = FORMATS[0]
_BY_KEY = {fmt.key: fmt for fmt in FORMATS}


def get_format(key: str) -> Format:
    """The table entry called ``key`` (``text-0.0.4``...); ``ValueError`` if none is."""
    try:
        return _BY_KEY[key]
    except KeyError:
        raise ValueError(f"unknown format {key!r}; expected one of {list(_BY_KEY)!r}") from None


def encode(
    fmt: Format | str,
    families: Iterable[MetricFamily],
    *,
    escaping: str = UNDERSCORES,
    created: bool = True,
) -> bytes:
    """The body of ``families`` in ``fmt`` (an entry of ``FORMATS`` or its key).

    Names are escaped once, by the pre-pass, with ``fmt.scheme(escaping)``;
    ``created=False`` leaves ``_created`` series and created timestamps out.
    ``ExpositionError`` if the snapshot cannot be written, ``ValueError`` for an unknown
    format or scheme.
    """
    entry = fmt if isinstance(fmt, Format) else get_format(fmt)
    return entry.write(escape_families(families, entry.scheme(escaping)), created)
