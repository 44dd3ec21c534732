"""Name, label and unit validation: Prometheus' legacy naming rules, checked at definition time."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from .model import MetricType

_METRIC_NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def is_legacy_metric_name(name: str) -> bool:
    """Whether ``name`` matches ``[a-zA-Z_:][a-zA-Z0-9_:]*``."""
    return _METRIC_NAME_RE.fullmatch(name) is not None


def is_legacy_label_name(name: str) -> bool:
    """Whether ``name`` matches ``[a-zA-Z_][a-zA-Z0-9_]*``."""
    return _LABEL_NAME_RE.fullmatch(name) is not None


_UNIT_RE = re.compile(r"[a-zA-Z0-9_:]+")


def check_metric_name(name: object, utf8: bool = False) -> str:
    """Return ``name`` if it is a valid metric name, else raise ``ValueError`` naming it.

    Legacy rules by default; with ``utf8`` any non-empty valid UTF-8 text (Prometheus 3).
    """
    if not isinstance(name, str):
        raise TypeError(f"metric name must be a str, got {name!r}")
    if utf8:
        _check_utf8("metric name", name)
    elif not _METRIC_NAME_RE.fullmatch(name):
        raise ValueError(
            f"invalid metric name {name!r}: must match [a-zA-Z_:][a-zA-Z0-9_:]*"
            " (a registry made with utf8_names=True also accepts other UTF-8 names)"
        )
    return name


def _check_utf8(what: str, name: str) -> None:
    if not name:
        raise ValueError(f"invalid {what} {name!r}: must not be empty")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"invalid {what} {name!r}: not valid UTF-8") from None


def check_label_names(
    labelnames: Iterable[object], reserved: Iterable[str] = (), utf8: bool = False
) -> tuple[str, ...]:
    """Return the label names as a tuple after checking each one.

    Rejects names that break the charset rule, start with ``__``, repeat, or appear in
    ``reserved`` (``le`` for histograms).
    """
    if isinstance(labelnames, str):
        raise TypeError(
            f"labelnames must be a sequence of names, not the str {labelnames!r}"
            " (write labelnames=(" + repr(labelnames) + ",))"
        )
    names: tuple[str, ...] = tuple(labelnames)  # type: ignore[arg-type]  # checked below
    reserved_set = frozenset(reserved)
    seen: set[str] = set()
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"label name must be a str, got {name!r}")
        if utf8:
            _check_utf8("label name", name)
        elif not _LABEL_NAME_RE.fullmatch(name):
            raise ValueError(f"invalid label name {name!r}: must match [a-zA-Z_][a-zA-Z0-9_]*")
        if name.startswith("__"):
            raise ValueError(f"invalid label name {name!r}: names starting with '__' are reserved")
        if name in reserved_set:
            raise ValueError(f"invalid label name {name!r}: reserved for this metric type")
        if name in seen:
            raise ValueError(f"duplicate label name {name!r} in {names!r}")
        seen.add(name)
    if utf8 and not all(is_legacy_label_name(name) for name in names):
        _check_escaped_label_names(names, reserved_set)
    return names


def _check_escaped_label_names(names: tuple[str, ...], reserved: frozenset[str]) -> None:
    """Refuse UTF-8 label names that some escaping scheme would write as one name, as a
    reserved (``__``) name or as a reserved label: every scrape asking for that scheme
    would fail, so they are refused where they are defined."""
    for scheme in (UNDERSCORES, DOTS, VALUES):
        written: dict[str, str] = {}
        for name in names:
            escaped = escape_name(name, scheme, label=True)
            if escaped != name and (escaped.startswith("__") or escaped in reserved):
                raise ValueError(
                    f"invalid label name {name!r}: escaped with {scheme!r} it would be"
                    f" written {escaped!r}, a reserved name"
                )
            other = written.setdefault(escaped, name)
            if other != name:
                raise ValueError(
                    f"label names {other!r} and {name!r} would both be written {escaped!r}"
                    f" when escaped with {scheme!r}"
                )


def check_text(what: str, text: object) -> str:
    """Return ``text`` if it is a ``str`` that can be written as UTF-8 (no lone
    surrogates), else raise ``TypeError``/``ValueError`` naming ``what`` and the value:
    text is checked where it enters, so it can never break a later scrape."""
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a str, got {text!r}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{what} {text!r} is not valid UTF-8 (a lone surrogate?)") from None
    return text


def check_unit(name: str, unit: object) -> str:
    """Return ``unit`` after checking that it is valid and a suffix of the family ``name``.

    ``name`` is the family name (for counters, without ``_total``).
    """
    if not isinstance(unit, str):
        raise TypeError(f"unit must be a str, got {unit!r}")
    if not unit:
        return unit
    if not _UNIT_RE.fullmatch(unit):
        raise ValueError(f"invalid unit {unit!r}: must match [a-zA-Z0-9_:]+")
    if not name.endswith("_" + unit):
        raise ValueError(f"unit {unit!r} must be a suffix of the metric name {name!r}")
    return unit


# -- escaping schemes: how a UTF-8 name is written for a reader that wants legacy names --

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
    ``escape(name + "_total")`` minus ``_total`` (an info family's likewise with ``_info``);
    other types escape ``name``. So every
    format gives a series the name Prometheus derives from the protobuf family name.
    """
    if kind is MetricType.COUNTER:
        return escape_name(name + "_total", scheme)[: -len("_total")]
    if kind is MetricType.INFO:
        return escape_name(name + "_info", scheme)[: -len("_info")]
    return escape_name(name, scheme)
