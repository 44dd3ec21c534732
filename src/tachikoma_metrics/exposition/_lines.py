"""Sample lines of the two text formats (Prometheus text, OpenMetrics): label pairs, line
heads, and the writers of plain, histogram and summary series.

A series with a sample timestamp (``MetricFamily.timestamps``) writes it after the value
of every one of its lines (``_bucket``, ``_sum``, ``_created``... included), in the
dialect's form; families without timestamps keep the fast paths.

Everything here takes pre-passed families (``_prepass.escape_families``): names are written
as given, and quoted only when they are not legacy-valid (which happens under
``allow-utf-8`` only). A ``Dialect`` says how the two formats differ within these lines.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..model import Exemplar, HistogramValue, MetricFamily, SeriesLabels, SummaryValue
from ._escaping import escape_text, quote
from ._floats import OM_CACHE, format_openmetrics
from ._prepass import all_legacy_labels, declared_labelnames, memoised
from ._stamps import series_stamps

Add = Callable[[str], None]
Render = Callable[[SeriesLabels], str]

_le_text = OM_CACHE.get  # le and quantile are in the OpenMetrics form in both formats


@dataclass(frozen=True, slots=True)
class Dialect:
    """What differs between the formats' sample lines.

    ``value`` writes a float (Go's ``1`` or OpenMetrics' ``1.0``) and ``memo`` is the
    ``dict.get`` of its memo, for hot loops that inline the look-up. ``exemplar`` writes
    an exemplar suffix, or is ``None`` where the format has no exemplars. ``signed_sums``:
    whether ``_sum``/``_count`` are written for a histogram with a negative bound or sum
    (OpenMetrics allows neither there). ``stamp`` writes a sample timestamp (Unix seconds:
    milliseconds in text, seconds in OpenMetrics), raising ``ExpositionError`` for one that
    cannot be written.
    """

    value: Callable[[float], str]
    memo: Callable[[float], str | None]
    exemplar: Callable[[Exemplar], str] | None
    signed_sums: bool
    stamp: Callable[[float], str]


def stamp_suffixes(family: MetricFamily, series: int, dialect: Dialect) -> list[str] | None:
    """Per series, what follows its values: ``" <timestamp>"`` or ``""``; ``None`` when
    the family has no sample timestamps (see ``_stamps.series_stamps``)."""
    stamp = dialect.stamp
    return series_stamps(family, series, lambda seconds: " " + stamp(seconds), "")


def label_name(name: str) -> str:
    """A label name as written: as is if legacy-valid, else quoted."""
    return name if all_legacy_labels((name,)) else quote(name)


def label_renderer(family: MetricFamily, memo: bool) -> Render:
    """A function rendering the label sets of a pre-passed family as ``a="x",b="y"``,
    sorted by declared name.

    Names are written as given, quoted if not legacy-valid. With ``memo``
    (``_prepass.label_memos_valid``) the result is memoised on the ``SeriesLabels``:
    each series is rendered once in its life.
    """
    labelnames = family.labelnames
    if not labelnames:
        return _no_labels
    order = sorted(range(len(labelnames)), key=declared_labelnames(family).__getitem__)
    legacy = all_legacy_labels(labelnames)
    heads = [(labelnames[i] if legacy else label_name(labelnames[i])) + '="' for i in order]

    def render(labels: SeriesLabels) -> str:
        values = labels.label_values
        return (
            '",'.join([head + escape_text(values[i]) for head, i in zip(heads, order, strict=True)])
            + '"'
        )

    return memoised(render, "rendered_labels") if memo else render


def _no_labels(labels: SeriesLabels) -> str:
    return ""


def line_head(name: str, quoted: bool, pairs: str) -> str:
    """A sample line up to its value: ``name{pairs} `` or, quoted, ``{"name",pairs} ``."""
    if quoted:
        return "{" + quote(name) + ("," + pairs if pairs else "") + "} "
    return name + ("{" + pairs + "} " if pairs else " ")


def le_head(name: str, quoted: bool, pairs: str) -> str:
    """A bucket line up to its ``le`` value: ``name{pairs,le="`` (or quoted, or no pairs)."""
    if quoted:
        return "{" + quote(name) + ("," + pairs if pairs else "") + ',le="'
    return f'{name}{{{pairs},le="' if pairs else f'{name}{{le="'


def shown_name(name: str, quoted: bool) -> str:
    """The name as metadata lines (HELP, TYPE, UNIT) write it."""
    return quote(name) if quoted else name


def sample_lines(
    family: MetricFamily,
    name: str,
    quoted: bool,
    render: Render,
    memo: bool,
    dialect: Dialect,
    add: Add,
) -> None:
    """One ``name{pairs} value`` line per series of ``family.samples``; ``memo``: whether
    the label memos may be used (``_prepass.label_memos_valid``)."""
    value_text = dialect.value
    if family.timestamps:
        stamps = stamp_suffixes(family, len(family.samples), dialect) or ()
        for (labels, value), stamp in zip(family.samples, stamps, strict=True):
            add(f"{line_head(name, quoted, render(labels))}{value_text(value)}{stamp}\n")
        return
    if quoted or not memo or not family.labelnames:
        for labels, value in family.samples:
            add(f"{line_head(name, quoted, render(labels))}{value_text(value)}\n")
        return
    cached = dialect.memo
    head = name + "{"
    for labels, value in family.samples:
        # Both memos are inlined: this loop runs once per series per scrape.
        pairs = labels.rendered_labels
        if pairs is None:
            pairs = render(labels)
        text = cached(value)
        if text is None:
            text = value_text(value)
        add(f"{head}{pairs}}} {text}\n")


def histogram_lines(
    family: MetricFamily,
    name: str,
    quoted: bool,
    render: Render,
    dialect: Dialect,
    created: bool,
    add: Add,
) -> None:
    """Buckets (``le`` last), ``_sum``, ``_count`` and, with ``created``, ``_created``."""
    bucket = name + "_bucket"
    value_text = dialect.value
    stamps = stamp_suffixes(family, len(family.histograms), dialect)
    for i, (labels, value) in enumerate(family.histograms):
        pairs = render(labels)
        stamp = "" if stamps is None else stamps[i]
        bucket_lines(le_head(bucket, quoted, pairs), value, dialect, stamp, add)
        # Bounds increase (HistogramValue's contract): the first is the lowest.
        sums = dialect.signed_sums or (value.sum >= 0 and value.buckets[0][0] >= 0)
        _closing_lines(name, quoted, pairs, value, sums, value_text, created, stamp, add)


def bucket_lines(
    bucket_head: str, value: HistogramValue, dialect: Dialect, stamp: str, add: Add
) -> None:
    """One series' ``_bucket`` lines (``bucket_head`` from ``le_head``), each followed by
    ``stamp`` and, where the dialect writes them, the bucket's exemplar."""
    exemplars = value.exemplars
    exemplar_text = dialect.exemplar
    if exemplar_text is None or exemplars is None:
        le_text = _le_text
        tail = stamp + "\n"
        for bound, cumulative in value.buckets:
            le = le_text(bound)
            if le is None:
                le = format_openmetrics(bound)
            add(f'{bucket_head}{le}"}} {cumulative}{tail}')
    else:
        for (bound, cumulative), exemplar in zip(value.buckets, exemplars, strict=False):
            suffix = exemplar_text(exemplar) if exemplar is not None else ""
            add(f'{bucket_head}{format_openmetrics(bound)}"}} {cumulative}{stamp}{suffix}\n')


def summary_lines(
    family: MetricFamily,
    name: str,
    quoted: bool,
    render: Render,
    dialect: Dialect,
    created: bool,
    add: Add,
) -> None:
    """Quantiles (``quantile`` last), ``_sum``, ``_count`` and, with ``created``,
    ``_created``.

    Where the dialect has no ``signed_sums`` (OpenMetrics, which allows neither a negative
    quantile value nor a negative or NaN sum), a negative quantile value is left out, and
    ``_sum``/``_count`` too when the sum is negative or NaN, as for histograms.
    """
    value_text = dialect.value
    signed = dialect.signed_sums
    stamps = stamp_suffixes(family, len(family.summaries), dialect)
    for i, (labels, value) in enumerate(family.summaries):
        pairs = render(labels)
        stamp = "" if stamps is None else stamps[i]
        for quantile, estimate in value.quantiles:
            if estimate < 0 and not signed:
                continue
            q = f'quantile="{format_openmetrics(quantile)}"'
            head = line_head(name, quoted, pairs + "," + q if pairs else q)
            add(f"{head}{value_text(estimate)}{stamp}\n")
        sums = signed or value.sum >= 0
        _closing_lines(name, quoted, pairs, value, sums, value_text, created, stamp, add)


def _closing_lines(
    name: str,
    quoted: bool,
    pairs: str,
    value: HistogramValue | SummaryValue,
    sums: bool,
    value_text: Callable[[float], str],
    created: bool,
    stamp: str,
    add: Add,
) -> None:
    """A histogram's or summary's ``_sum`` and ``_count`` (with ``sums``) and ``_created``
    (with ``created``, when known), each followed by ``stamp``."""
    if sums:
        add(
            f"{line_head(name + '_sum', quoted, pairs)}{value_text(value.sum)}{stamp}\n"
            f"{line_head(name + '_count', quoted, pairs)}{value.count}{stamp}\n"
        )
    if created and value.created is not None:
        add(f"{line_head(name + '_created', quoted, pairs)}{value_text(value.created)}{stamp}\n")
