"""Prometheus text exposition format: version 0.0.4, and 1.0.0 (quoted UTF-8 names)."""

from __future__ import annotations

from collections.abc import Iterable

from .._names import is_legacy_metric_name
from ..model import MetricFamily, MetricType
from ._escaping import UNDERSCORES, escape_text
from ._floats import _CACHE, format_go
from ._lines import (
    Add,
    Dialect,
    Render,
    bucket_lines,
    histogram_lines,
    label_renderer,
    le_head,
    line_head,
    sample_lines,
    shown_name,
    stamp_suffixes,
    summary_lines,
)
from ._prepass import escape_families, label_memos_valid
from ._stamps import milliseconds

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
CONTENT_TYPE_1_0_0 = "text/plain; version=1.0.0; charset=utf-8"

_TYPE_NAMES = {
    MetricType.COUNTER: "counter",
    MetricType.GAUGE: "gauge",
    MetricType.HISTOGRAM: "histogram",
    MetricType.SUMMARY: "summary",
    MetricType.UNKNOWN: "untyped",
    # Text has none of the OpenMetrics-only types: as prometheus_client writes them.
    MetricType.INFO: "gauge",
    MetricType.STATESET: "gauge",
    MetricType.GAUGE_HISTOGRAM: "histogram",
}


def _stamp(seconds: float) -> str:
    return str(milliseconds(seconds))


# Go's float form; no exemplars; _sum and _count always; timestamps in milliseconds.
TEXT = Dialect(format_go, _CACHE.get, None, True, _stamp)


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
        if kind is MetricType.COUNTER:
            name = base + "_total"
        elif kind is MetricType.INFO:
            name = base + "_info"
        else:
            name = base
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
        elif kind is MetricType.GAUGE_HISTOGRAM:
            _gauge_histogram_lines(family, base, quoted, render, append)
        else:
            sample_lines(family, name, quoted, render, memo, TEXT, append)
    return "".join(out)


def _gauge_histogram_lines(
    family: MetricFamily, name: str, quoted: bool, render: Render, add: Add
) -> None:
    """Every series' buckets, then the gauge families ``_gcount`` and ``_gsum`` (HELP,
    TYPE and one line per series each), as prometheus_client's text encoder writes them."""
    series = family.histograms
    if not series:
        return
    stamps = stamp_suffixes(family, len(series), TEXT) or [""] * len(series)
    pairs = [render(labels) for labels, _ in series]
    bucket = name + "_bucket"
    for (_, value), labels, stamp in zip(series, pairs, stamps, strict=True):
        bucket_lines(le_head(bucket, quoted, labels), value, TEXT, stamp, add)
    help_text = escape_text(family.help, quotes=False)
    for suffix in ("_gcount", "_gsum"):
        sample = name + suffix
        shown = shown_name(sample, quoted)
        add(f"# HELP {shown} {help_text}\n# TYPE {shown} gauge\n")
        for (_, value), labels, stamp in zip(series, pairs, stamps, strict=True):
            number = str(value.count) if suffix == "_gcount" else format_go(value.sum)
            add(f"{line_head(sample, quoted, labels)}{number}{stamp}\n")
