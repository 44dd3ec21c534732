"""OpenMetrics 1.0 text exposition."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import repeat

from .._names import is_legacy_metric_name
from ..model import Exemplar, MetricFamily, MetricType
from ._escaping import UNDERSCORES, escape_text
from ._floats import OM_CACHE, format_openmetrics
from ._lines import (
    Add,
    Dialect,
    Render,
    histogram_lines,
    label_renderer,
    line_head,
    sample_lines,
    shown_name,
    summary_lines,
)
from ._prepass import escape_families, label_memos_valid

CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"
CONTENT_TYPE_0_0_1 = "application/openmetrics-text; version=0.0.1; charset=utf-8"

_om_text = OM_CACHE.get

_TYPE_NAMES = {
    MetricType.COUNTER: "counter",
    MetricType.GAUGE: "gauge",
    MetricType.HISTOGRAM: "histogram",
    MetricType.SUMMARY: "summary",
    MetricType.UNKNOWN: "unknown",
}


def format_exemplar(exemplar: Exemplar) -> str:
    """`` # {labels} value [timestamp]``, the suffix of a sample line."""
    pairs = ",".join(f'{n}="{escape_text(v)}"' for n, v in exemplar.labels)
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


# Integral floats as ``1.0``; exemplars; no _sum/_count where a bound or the sum is negative.
OPENMETRICS = Dialect(format_openmetrics, _om_text, format_exemplar, False)


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
    return write_openmetrics(escape_families(families, escaping), created)


def write_openmetrics(families: Iterable[MetricFamily], created: bool) -> str:
    """The OpenMetrics body of pre-passed families (``_prepass.escape_families``)."""
    out: list[str] = []
    append = out.append
    for family in families:
        name = family.name
        quoted = not is_legacy_metric_name(name)
        shown = shown_name(name, quoted)
        append(f"# TYPE {shown} {_TYPE_NAMES[family.type]}\n")
        if family.unit:
            append(f"# UNIT {shown} {family.unit}\n")
        if family.help:
            append(f"# HELP {shown} {escape_text(family.help)}\n")
        memo = label_memos_valid(family)
        render = label_renderer(family, memo)
        kind = family.type
        if kind is MetricType.COUNTER:
            _counter_lines(family, name, quoted, render, memo, created, append)
        elif kind is MetricType.HISTOGRAM:
            histogram_lines(family, name, quoted, render, OPENMETRICS, created, append)
        elif kind is MetricType.SUMMARY:
            summary_lines(family, name, quoted, render, OPENMETRICS, created, append)
        else:
            sample_lines(family, name, quoted, render, memo, OPENMETRICS, append)
    append("# EOF\n")
    return "".join(out)


def _counter_lines(
    family: MetricFamily,
    name: str,
    quoted: bool,
    render: Render,
    memo: bool,
    created: bool,
    add: Add,
) -> None:
    total, made = name + "_total", name + "_created"
    starts: Iterable[float | None] = family.created if created and family.created else repeat(None)
    exemplars: Iterable[Exemplar | None] = family.exemplars or repeat(None)
    if quoted or not memo or not family.labelnames:
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
        rendered = labels.rendered_labels
        if rendered is None:
            rendered = render(labels)
        text = _om_text(value)
        if text is None:
            text = format_openmetrics(value)
        if exemplar is None:
            add(f"{total_head}{rendered}}} {text}\n")
        else:
            add(f"{total_head}{rendered}}} {text}{format_exemplar(exemplar)}\n")
        if start is not None:
            stamp = _om_text(start)
            if stamp is None:
                stamp = format_openmetrics(start)
            add(f"{made_head}{rendered}}} {stamp}\n")
