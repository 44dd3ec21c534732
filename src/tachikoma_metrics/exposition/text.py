"""Prometheus text exposition format 0.0.4."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..model import MetricFamily, MetricType
from ._floats import _CACHE, format_go, format_openmetrics
from ._labels import label_renderer

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_TYPE_NAMES = {
    MetricType.COUNTER: "counter",
    MetricType.GAUGE: "gauge",
    MetricType.HISTOGRAM: "histogram",
}


_value_text = _CACHE.get


def escape_help(text: str) -> str:
    r"""HELP escaping in text 0.0.4: ``\`` and LF only (double quotes stay as they are)."""
    if "\\" in text:
        text = text.replace("\\", "\\\\")
    if "\n" in text:
        text = text.replace("\n", "\\n")
    return text


def encode_text(families: Iterable[MetricFamily]) -> str:
    """Render families as Prometheus text 0.0.4.

    Families come out in the order given (a registry gives them sorted by name), each with
    ``# HELP`` then ``# TYPE``. Counters are exposed as ``<name>_total``. Label pairs are
    sorted by name with ``le`` last; values are written as Go writes them, ``le`` in the
    OpenMetrics canonical form (``1.0``). A family with no series writes only its metadata.
    """
    out: list[str] = []
    append = out.append
    for family in families:
        kind = family.type
        name = family.name + "_total" if kind is MetricType.COUNTER else family.name
        append(f"# HELP {name} {escape_help(family.help)}\n# TYPE {name} {_TYPE_NAMES[kind]}\n")
        if kind is MetricType.HISTOGRAM:
            _histogram_lines(family, append)
            continue
        if family.labelnames:
            render = label_renderer(family.labelnames)
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
            for _, value in family.samples:
                append(f"{name} {format_go(value)}\n")
    return "".join(out)


def _histogram_lines(family: MetricFamily, add: Callable[[str], None]) -> None:
    name = family.name
    le_text: dict[float, str] = {}
    render = label_renderer(family.labelnames) if family.labelnames else None
    for labels, value in family.histograms:
        if render is not None:
            pairs = render(labels)
            bucket_head = f'{name}_bucket{{{pairs},le="'
            tail = f"{{{pairs}}} "
        else:
            bucket_head = f'{name}_bucket{{le="'
            tail = " "
        for bound, cumulative in value.buckets:
            le = le_text.get(bound)
            if le is None:
                le = le_text[bound] = format_openmetrics(bound)
            add(f'{bucket_head}{le}"}} {cumulative}\n')
        add(f"{name}_sum{tail}{format_go(value.sum)}\n{name}_count{tail}{value.count}\n")
