"""Name, label and unit validation: Prometheus' legacy naming rules, checked at definition time."""

from __future__ import annotations

import re
from collections.abc import Iterable

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
    return names


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
