"""OpenMetrics 1.0 text exposition."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import repeat

from ..model import Exemplar, MetricFamily, MetricType, SeriesLabels
from ._escaping import UNDERSCORES, check_collisions, written_metric_name
from ._floats import OM_CACHE, format_openmetrics
from ._labels import escape_label_value, label_renderer, le_head, line_head, shown_name

CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"

_om_text = OM_CACHE.get

_TYPE_NAMES = {
    MetricType.COUNTER: "counter",
    MetricType.GAUGE: "gauge",
    MetricType.HISTOGRAM: "histogram",
    MetricType.SUMMARY: "summary",
    MetricType.UNKNOWN: "unknown",
}


def escape_help(text: str) -> str:
    r"""HELP escaping in OpenMetrics: ``\``, LF and ``"`` (unlike text 0.0.4)."""
    if "\\" in text:
        text = text.replace("\\", "\\\\")
    if "\n" in text:
        text = text.replace("\n", "\\n")
    if '"' in text:
        text = text.replace('"', '\\"')
    return text


def format_exemplar(exemplar: Exemplar) -> str:
    """`` # {labels} value [timestamp]``, the suffix of a sample line."""
    pairs = ",".join(f'{n}="{escape_label_value(v)}"' for n, v in exemplar.labels)
    text = f" # {{{pairs}}} {format_openmetrics(exemplar.value)}"
    if exemplar.timestamp is not None:
        text += " " + format_timestamp(exemplar.timestamp)
    return text


def format_timestamp(seconds: float) -> str:
    """Unix seconds in plain decimal, so millisecond precision stays readable."""
    text = repr(float(seconds))
    if "e" in text or "n" in text:  # far outside any real clock: keep the exact digits
        return format_openmetrics(seconds)
    return text


def encode_openmetrics(
    families: Iterable[MetricFamily], *, escaping: str = UNDERSCORES, created: bool = True
) -> str:
    """Render families as OpenMetrics 1.0 text, ending with ``# EOF``.

    Each family writes ``# TYPE``, ``# UNIT`` (when it has one) and ``# HELP`` (when it has
    one), then its series in order. Counters are family ``x`` with samples ``x_total`` and,
    when ``created``, ``x_created``; histograms and summaries get ``_created`` too.
    Exemplars follow counter and bucket samples. Integral floats are written ``1.0``,
    counts as integers. A histogram with a negative bucket bound, or a series whose sum is
    negative, writes no ``_sum``/``_count`` (OpenMetrics allows neither there).
    """
    families = list(families)
    check_collisions(families, escaping)
    out: list[str] = []
    append = out.append
    for family in families:
        name, quoted = written_metric_name(family.name, escaping, family.type)
        shown = shown_name(name, quoted)
        append(f"# TYPE {shown} {_TYPE_NAMES[family.type]}\n")
        if family.unit:
            append(f"# UNIT {shown} {family.unit}\n")
        if family.help:
            append(f"# HELP {shown} {escape_help(family.help)}\n")
        render = label_renderer(family.labelnames, escaping)
        kind = family.type
        if kind is MetricType.COUNTER:
            _counter_lines(family, name, quoted, render, created, append)
        elif kind is MetricType.HISTOGRAM:
            _histogram_lines(family, name, quoted, render, created, append)
        elif kind is MetricType.SUMMARY:
            _summary_lines(family, name, quoted, render, created, append)
        else:
            for labels, value in family.samples:
                append(f"{line_head(name, quoted, render(labels))}{format_openmetrics(value)}\n")
    append("# EOF\n")
    return "".join(out)


def _counter_lines(
    family: MetricFamily,
    name: str,
    quoted: bool,
    render: Callable[[SeriesLabels], str],
    created: bool,
    add: Callable[[str], None],
) -> None:
    total, made = name + "_total", name + "_created"
    starts: Iterable[float | None] = family.created if created and family.created else repeat(None)
    exemplars: Iterable[Exemplar | None] = family.exemplars or repeat(None)
    if quoted or not family.labelnames:
        for (labels, value), start, exemplar in zip(
            family.samples, starts, exemplars, strict=False
        ):
            pairs = render(labels)
            line = f"{line_head(total, quoted, pairs)}{format_openmetrics(value)}"
            if exemplar is not None:
                line += format_exemplar(exemplar)
            add(line + "\n")
            if start is not None:
                add(f"{line_head(made, quoted, pairs)}{format_openmetrics(start)}\n")
        return
    # The common case, once per series per scrape: memos inlined as in the text encoder.
    total_head, made_head = total + "{", made + "{"
    for (labels, value), start, exemplar in zip(family.samples, starts, exemplars, strict=False):
        memo = labels.rendered_labels
        if memo is None:
            memo = render(labels)
        text = _om_text(value)
        if text is None:
            text = format_openmetrics(value)
        if exemplar is None:
            add(f"{total_head}{memo}}} {text}\n")
        else:
            add(f"{total_head}{memo}}} {text}{format_exemplar(exemplar)}\n")
        if start is not None:
            stamp = _om_text(start)
            if stamp is None:
                stamp = format_openmetrics(start)
            add(f"{made_head}{memo}}} {stamp}\n")


def _histogram_lines(
    family: MetricFamily,
    name: str,
    quoted: bool,
    render: Callable[[SeriesLabels], str],
    created: bool,
    add: Callable[[str], None],
) -> None:
    bucket, total, count, made = (name + s for s in ("_bucket", "_sum", "_count", "_created"))
    for labels, value in family.histograms:
        pairs = render(labels)
        bucket_head = le_head(bucket, quoted, pairs)
        exemplars: Iterable[Exemplar | None] = value.exemplars or repeat(None)
        negative_bound = False
        for (bound, cumulative), exemplar in zip(value.buckets, exemplars, strict=False):
            le = format_openmetrics(bound)  # memoised
            negative_bound = negative_bound or bound < 0
            suffix = format_exemplar(exemplar) if exemplar is not None else ""
            add(f'{bucket_head}{le}"}} {cumulative}{suffix}\n')
        if not negative_bound and value.sum >= 0:
            add(
                f"{line_head(total, quoted, pairs)}{format_openmetrics(value.sum)}\n"
                f"{line_head(count, quoted, pairs)}{value.count}\n"
            )
        if created and value.created is not None:
            add(f"{line_head(made, quoted, pairs)}{format_openmetrics(value.created)}\n")


def _summary_lines(
    family: MetricFamily,
    name: str,
    quoted: bool,
    render: Callable[[SeriesLabels], str],
    created: bool,
    add: Callable[[str], None],
) -> None:
    total, count, made = (name + s for s in ("_sum", "_count", "_created"))
    for labels, value in family.summaries:
        pairs = render(labels)
        for quantile, estimate in value.quantiles:
            q = f'quantile="{format_openmetrics(quantile)}"'
            head = line_head(name, quoted, pairs + "," + q if pairs else q)
            add(f"{head}{format_openmetrics(estimate)}\n")
        add(
            f"{line_head(total, quoted, pairs)}{format_openmetrics(value.sum)}\n"
            f"{line_head(count, quoted, pairs)}{value.count}\n"
        )
        if created and value.created is not None:
            add(f"{line_head(made, quoted, pairs)}{format_openmetrics(value.created)}\n")
