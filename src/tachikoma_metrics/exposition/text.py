"""Prometheus text exposition format: version 0.0.4, and 1.0.0 (quoted UTF-8 names)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..model import MetricFamily, MetricType, SeriesLabels
from ._escaping import UNDERSCORES, check_collisions, written_metric_name
from ._floats import _CACHE, format_go, format_openmetrics
from ._labels import label_renderer, le_head, line_head, shown_name

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
CONTENT_TYPE_1_0_0 = "text/plain; version=1.0.0; charset=utf-8"

_TYPE_NAMES = {
    MetricType.COUNTER: "counter",
    MetricType.GAUGE: "gauge",
    MetricType.HISTOGRAM: "histogram",
    MetricType.SUMMARY: "summary",
    MetricType.UNKNOWN: "untyped",
}

_value_text = _CACHE.get


def escape_help(text: str) -> str:
    r"""HELP escaping in text: ``\`` and LF only (double quotes stay as they are)."""
    if "\\" in text:
        text = text.replace("\\", "\\\\")
    if "\n" in text:
        text = text.replace("\n", "\\n")
    return text


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
    families = list(families)
    check_collisions(families, escaping)
    out: list[str] = []
    append = out.append
    for family in families:
        kind = family.type
        base, quoted = written_metric_name(family.name, escaping, kind)
        name = base + "_total" if kind is MetricType.COUNTER else base
        shown = shown_name(name, quoted)
        append(f"# HELP {shown} {escape_help(family.help)}\n# TYPE {shown} {_TYPE_NAMES[kind]}\n")
        render = label_renderer(family.labelnames, escaping)
        if kind is MetricType.HISTOGRAM:
            _histogram_lines(family, base, quoted, render, append)
        elif kind is MetricType.SUMMARY:
            _summary_lines(family, base, quoted, render, append)
        elif family.labelnames and not quoted:
            head = name + "{"
            for labels, value in family.samples:
                # Both memos are inlined: this loop runs once per series per scrape.
                pairs = labels.rendered_labels
                if pairs is None:
                    pairs = render(labels)
                text = _value_text(value)
                if text is None:
                    text = format_go(value)
                append(f"{head}{pairs}}} {text}\n")
        else:
            for labels, value in family.samples:
                append(f"{line_head(name, quoted, render(labels))}{format_go(value)}\n")
    return "".join(out)


def _histogram_lines(
    family: MetricFamily,
    name: str,
    quoted: bool,
    render: Callable[[SeriesLabels], str],
    add: Callable[[str], None],
) -> None:
    bucket, total, count = name + "_bucket", name + "_sum", name + "_count"
    for labels, value in family.histograms:
        pairs = render(labels)
        bucket_head = le_head(bucket, quoted, pairs)
        for bound, cumulative in value.buckets:
            le = format_openmetrics(bound)  # memoised
            add(f'{bucket_head}{le}"}} {cumulative}\n')
        add(
            f"{line_head(total, quoted, pairs)}{format_go(value.sum)}\n"
            f"{line_head(count, quoted, pairs)}{value.count}\n"
        )


def _summary_lines(
    family: MetricFamily,
    name: str,
    quoted: bool,
    render: Callable[[SeriesLabels], str],
    add: Callable[[str], None],
) -> None:
    total, count = name + "_sum", name + "_count"
    for labels, value in family.summaries:
        pairs = render(labels)
        for quantile, estimate in value.quantiles:
            q = f'quantile="{format_openmetrics(quantile)}"'
            add(
                f"{line_head(name, quoted, pairs + ',' + q if pairs else q)}{format_go(estimate)}\n"
            )
        add(
            f"{line_head(total, quoted, pairs)}{format_go(value.sum)}\n"
            f"{line_head(count, quoted, pairs)}{value.count}\n"
        )
