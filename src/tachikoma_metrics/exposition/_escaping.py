"""UTF-8 metric and label names on the wire: quoting and the escaping schemes.

Legacy-valid names are written as they are under every scheme (as Go's
``EscapeMetricFamily`` does). Other names are quoted when ``allow-utf-8`` was negotiated,
else rewritten by the scheme asked for: ``underscores``, ``dots`` or ``values``, as
``prometheus/common``'s ``model.EscapeName`` defines them.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from .._names import is_legacy_label_name, is_legacy_metric_name
from ..model import MetricFamily, MetricType

ALLOW_UTF8 = "allow-utf-8"
UNDERSCORES = "underscores"
DOTS = "dots"
VALUES = "values"
SCHEMES = (ALLOW_UTF8, UNDERSCORES, DOTS, VALUES)


class ExpositionError(ValueError):
    """The snapshot cannot be written in the negotiated format (reported to the scrape)."""


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
    raise ValueError(f"unknown escaping scheme {scheme!r}; expected one of {SCHEMES!r}")


def quote(text: str) -> str:
    r"""``text`` in double quotes, with ``\``, ``"`` and LF escaped."""
    return '"' + text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"') + '"'


def written_metric_name(name: str, scheme: str, kind: MetricType) -> tuple[str, bool]:
    """The written base name of family ``name`` and whether it must be quoted (only under
    ``allow-utf-8``). Samples are the base plus their suffix (``_bucket``, ``_total``...).

    As in Go, where a counter's family name carries ``_total``: a counter's base is
    ``escape(name + "_total")`` minus ``_total``; other types escape ``name``. So every
    format gives a series the name Prometheus derives from the protobuf family name.
    """
    if scheme == ALLOW_UTF8:
        return name, not is_legacy_metric_name(name)
    if kind is MetricType.COUNTER:
        return escape_name(name + "_total", scheme)[: -len("_total")], False
    return escape_name(name, scheme), False


def written_label_name(name: str, scheme: str) -> str:
    """The label name to write, quoted if it needs to be."""
    if scheme == ALLOW_UTF8:
        return name if is_legacy_label_name(name) else quote(name)
    return escape_name(name, scheme, label=True)


_SUFFIXES = {
    MetricType.COUNTER: ("_total", "_created"),
    MetricType.HISTOGRAM: ("_bucket", "_sum", "_count", "_created"),
    MetricType.SUMMARY: ("_sum", "_count", "_created"),
}


def check_collisions(families: Iterable[MetricFamily], scheme: str) -> None:
    """Raise ``ExpositionError`` if two families, or two label names of one family, would
    be written under the same name once escaped; never merge them silently."""
    if scheme == ALLOW_UTF8:
        return
    owners: dict[str, str] = {}
    for family in families:
        base = written_metric_name(family.name, scheme, family.type)[0]
        written_names = [base + s for s in ("", *_SUFFIXES.get(family.type, ()))]
        if not all(is_legacy_label_name(n) for n in family.labelnames):
            labels = [escape_name(n, scheme, label=True) for n in family.labelnames]
            if len(set(labels)) != len(labels):
                raise ExpositionError(
                    f"label names {family.labelnames!r} of {family.name!r} collide once"
                    f" escaped with {scheme!r}: {labels!r}"
                )
        for written in written_names:
            other = owners.setdefault(written, family.name)
            if other != family.name:
                raise ExpositionError(
                    f"metrics {other!r} and {family.name!r} would both be written as"
                    f" {written!r} with escaping {scheme!r}"
                )
