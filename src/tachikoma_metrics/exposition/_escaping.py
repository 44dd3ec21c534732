"""Escaping: UTF-8 names under the escaping schemes, and the backslash escapes of text.

Legacy-valid names are written as they are under every scheme (as Go's
``EscapeMetricFamily`` does). Other names are quoted when ``allow-utf-8`` was negotiated,
else rewritten by the scheme asked for: ``underscores``, ``dots`` or ``values``, as
``prometheus/common``'s ``model.EscapeName`` defines them.
"""

from __future__ import annotations

from functools import lru_cache

from .._names import is_legacy_label_name, is_legacy_metric_name
from ..errors import ExpositionError as ExpositionError
from ..model import MetricType

ALLOW_UTF8 = "allow-utf-8"
UNDERSCORES = "underscores"
DOTS = "dots"
VALUES = "values"
SCHEMES = (ALLOW_UTF8, UNDERSCORES, DOTS, VALUES)


def check_scheme(scheme: str) -> None:
    """Raise ``ValueError`` unless ``scheme`` is one of ``SCHEMES``."""
    if scheme not in SCHEMES:
        raise _unknown_scheme(scheme)


def _unknown_scheme(scheme: str) -> ValueError:
    return ValueError(f"unknown escaping scheme {scheme!r}; expected one of {SCHEMES!r}")


def _legacy_char(char: str, first: bool, label: bool) -> bool:
    if "a" <= char <= "z" or "A" <= char <= "Z" or char == "_":
        return True
    if char == ":":
        return not label
    return "0" <= char <= "9" and not first


@lru_cache(maxsize=4096)
def escape_name(name: str, scheme: str, label: bool = False) -> str:
    """``name`` as written under ``scheme`` (``allow-utf-8`` leaves it for quoting)."""
    legacy = is_legacy_label_name(name) if label else is_legacy_metric_name(name)
    if legacy or scheme == ALLOW_UTF8 or not name:
        return name
    if scheme == UNDERSCORES:
        return "".join(c if _legacy_char(c, i == 0, label) else "_" for i, c in enumerate(name))
    if scheme == DOTS:
        out = []
        for i, c in enumerate(name):
            if c == "_":
                out.append("__")
            elif c == ".":
                out.append("_dot_")
            elif _legacy_char(c, i == 0, label):
                out.append(c)
            else:
                out.append("__")
        return "".join(out)
    if scheme == VALUES:
        out = ["U__"]
        for i, c in enumerate(name):
            if c == "_":
                out.append("__")
            elif _legacy_char(c, i == 0, label):
                out.append(c)
            elif 0xD800 <= ord(c) <= 0xDFFF:  # not a valid rune
                out.append("_FFFD_")
            else:
                out.append(f"_{ord(c):x}_")
        return "".join(out)
    raise _unknown_scheme(scheme)


def written_base_name(name: str, scheme: str, kind: MetricType) -> str:
    """The written base name of family ``name``: samples are the base plus their suffix
    (``_bucket``, ``_total``...). ``allow-utf-8`` keeps the name (writers quote it).

    As in Go, where a counter's family name carries ``_total``: a counter's base is
    ``escape(name + "_total")`` minus ``_total``; other types escape ``name``. So every
    format gives a series the name Prometheus derives from the protobuf family name.
    """
    if kind is MetricType.COUNTER:
        return escape_name(name + "_total", scheme)[: -len("_total")]
    return escape_name(name, scheme)


def escape_text(text: str, quotes: bool = True) -> str:
    r"""Escape ``\`` and LF as ``\\`` and ``\n`` and, with ``quotes``, ``"`` as ``\"``;
    nothing else changes. Label values, quoted names and OpenMetrics HELP escape quotes;
    text-format HELP does not."""
    if "\\" in text:
        text = text.replace("\\", "\\\\")
    if "\n" in text:
        text = text.replace("\n", "\\n")
    if quotes and '"' in text:
        text = text.replace('"', '\\"')
    return text


def quote(text: str) -> str:
    r"""``text`` in double quotes, with ``\``, ``"`` and LF escaped."""
    return '"' + escape_text(text) + '"'
