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
    bucket_lines,
    histogram_lines,
    label_name,
    label_renderer,
    le_head,
    line_head,
    sample_lines,
    shown_name,
    stamp_suffixes,
    summary_lines,
)
from ._prepass import escape_families, label_memos_valid
from ._stamps import split_seconds

CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"
CONTENT_TYPE_0_0_1 = "application/openmetrics-text; version=0.0.1; charset=utf-8"

_om_text = OM_CACHE.get

_TYPE_NAMES = {
    MetricType.COUNTER: "counter",
    MetricType.GAUGE: "gauge",
    MetricType.HISTOGRAM: "histogram",
    MetricType.SUMMARY: "summary",
    MetricType.UNKNOWN: "unknown",
    MetricType.INFO: "info",
    MetricType.STATESET: "stateset",
    MetricType.GAUGE_HISTOGRAM: "gaugehistogram",
}
# OpenMetrics: "MetricFamilies of type Info/StateSet MUST have an empty Unit string".
_NO_UNIT = frozenset({MetricType.INFO, MetricType.STATESET})


def format_exemplar(exemplar: Exemplar) -> str:
    """`` # {labels} value [timestamp]``, the suffix of a sample line.

    Exemplar labels are never escaped, whatever the scheme (Go's ``EscapeMetricFamily``
    leaves exemplars alone): a label name outside the legacy charset is quoted, as Go's
    ``writeName`` quotes it, under every scheme.
    """
    pairs = ",".join(f'{label_name(n)}="{escape_text(v)}"' for n, v in exemplar.labels)
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


def format_sample_timestamp(seconds: float) -> str:
    """A sample timestamp as ``format_timestamp`` writes it, after the checks of
    ``_stamps.split_seconds`` (``ExpositionError`` if it is not finite or outside the
    years 1 to 9999)."""
    split_seconds(seconds)
    return format_timestamp(float(seconds))


# Integral floats as ``1.0``; exemplars; no _sum/_count where a bound or the sum is
# negative; timestamps in seconds.
OPENMETRICS = Dialect(format_openmetrics, _om_text, format_exemplar, False, format_sample_timestamp)


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

    Info family ``x`` writes ``x_info`` samples, a stateset its samples as given (the
    state in the label named after the family); neither writes ``# UNIT`` (OpenMetrics
    requires their unit to be empty). A gauge histogram writes its buckets (with their
    exemplars), ``_gcount`` then ``_gsum`` (negative bounds and sums are allowed; a
    ``NaN`` sum, which OpenMetrics forbids, writes neither), and never ``_created``.
    A series' sample timestamp follows the value of each of its lines, before any
    exemplar, in seconds; one that is not finite or outside the years 1 to 9999 raises
    ``ExpositionError``.
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
        if family.unit and family.type not in _NO_UNIT:
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
        elif kind is MetricType.GAUGE_HISTOGRAM:
            _gauge_histogram_lines(family, name, quoted, render, append)
        elif kind is MetricType.INFO:
            sample_lines(family, name + "_info", quoted, render, memo, OPENMETRICS, append)
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
    if quoted or not memo or not family.labelnames or family.timestamps:
        suffixes = stamp_suffixes(family, len(family.samples), OPENMETRICS)
        stamps: Iterable[str] = repeat("") if suffixes is None else suffixes
        for (labels, value), start, exemplar, stamp in zip(
            family.samples, starts, exemplars, stamps, strict=False
        ):
            pairs = render(labels)
            line = f"{line_head(total, quoted, pairs)}{format_openmetrics(value)}{stamp}"
            if exemplar is not None:
                line += format_exemplar(exemplar)
            add(line + "\n")
            if start is not None:
                add(f"{line_head(made, quoted, pairs)}{format_openmetrics(start)}{stamp}\n")
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
            began = _om_text(start)
            if began is None:
                began = format_openmetrics(start)
            add(f"{made_head}{rendered}}} {began}\n")


def _gauge_histogram_lines(
    family: MetricFamily, name: str, quoted: bool, render: Render, add: Add
) -> None:
    """Per series: buckets (``le`` last, with exemplars), ``_gcount``, ``_gsum`` (the
    order of the spec's example), unless the sum is ``NaN``; no ``_created``."""
    bucket = name + "_bucket"
    stamps = stamp_suffixes(family, len(family.histograms), OPENMETRICS)
    for i, (labels, value) in enumerate(family.histograms):
        pairs = render(labels)
        stamp = "" if stamps is None else stamps[i]
        bucket_lines(le_head(bucket, quoted, pairs), value, OPENMETRICS, stamp, add)
        if value.sum == value.sum:  # Gsum MUST NOT be NaN; _gcount goes with it
            add(
                f"{line_head(name + '_gcount', quoted, pairs)}{value.count}{stamp}\n"
                f"{line_head(name + '_gsum', quoted, pairs)}"
                f"{format_openmetrics(value.sum)}{stamp}\n"
            )
