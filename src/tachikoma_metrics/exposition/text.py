"""Prometheus text exposition format: version 0.0.4, and 1.0.0 (quoted UTF-8 names)."""

from __future__ import annotations

from collections.abc import Iterable

from .._names import is_legacy_metric_name
from ..model import MetricFamily, MetricType
from ._escaping import UNDERSCORES, escape_text
from ._floats import _CACHE, format_go
from ._lines import (
    Dialect,
    histogram_lines,
    label_renderer,
    sample_lines,
    shown_name,
    summary_lines,
)
from ._prepass import escape_families, label_memos_valid

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
CONTENT_TYPE_1_0_0 = "text/plain; version=1.0.0; charset=utf-8"

_TYPE_NAMES = {
    MetricType.COUNTER: "counter",
    MetricType.GAUGE: "gauge",
    MetricType.HISTOGRAM: "histogram",
    MetricType.SUMMARY: "summary",
    MetricType.UNKNOWN: "untyped",
}

# Go's float form; no exemplars; _sum and _count always.
TEXT = Dialect(format_go, _CACHE.get, None, True)


def encode_text(families: Iterable[MetricFamily], *, escaping: str = UNDERSCORES) -> str:
    """Render families as Prometheus text (the body of both 0.0.4 and 1.0.0).

    Families come out in the order given (a registry gives them sorted by name), each with
    ``# HELP`` then ``# TYPE``. Counters are exposed as ``<name>_total``. Label pairs are
    sorted by name with ``le``/``quantile`` last; values are written as Go writes them,
    ``le`` and ``quantile`` in the OpenMetrics canonical form (``1.0``). A family with no
    series writes only its metadata. Names outside the legacy charset are quoted under
    ``allow-utf-8`` and escaped under the other schemes; two names that would collide
    raise ``ExpositionError``. No ``_created`` series: text has no place for them.
    """
    return write_text(escape_families(families, escaping))


def write_text(families: Iterable[MetricFamily]) -> str:
    """The text body of pre-passed families (``_prepass.escape_families``)."""
    out: list[str] = []
    append = out.append
    for family in families:
        kind = family.type
        base = family.name
        quoted = not is_legacy_metric_name(base)
        name = base + "_total" if kind is MetricType.COUNTER else base
        shown = shown_name(name, quoted)
        append(
            f"# HELP {shown} {escape_text(family.help, quotes=False)}\n"
            f"# TYPE {shown} {_TYPE_NAMES[kind]}\n"
        )
        memo = label_memos_valid(family)
        render = label_renderer(family, memo)
        if kind is MetricType.HISTOGRAM:
            histogram_lines(family, base, quoted, render, TEXT, False, append)
        elif kind is MetricType.SUMMARY:
            summary_lines(family, base, quoted, render, TEXT, False, append)
        else:
            sample_lines(family, name, quoted, render, memo, TEXT, append)
    return "".join(out)
