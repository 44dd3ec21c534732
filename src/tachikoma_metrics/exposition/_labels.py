"""What the text formats (Prometheus text, OpenMetrics) share: label pairs and line heads."""

from __future__ import annotations

from collections.abc import Callable

from .._names import is_legacy_label_name
from ..model import SeriesLabels
from ._escaping import quote, written_label_name


def escape_label_value(value: str) -> str:
    r"""Escape ``\``, ``"`` and LF as ``\\``, ``\"`` and ``\n``; nothing else changes."""
    if "\\" in value:
        value = value.replace("\\", "\\\\")
    if "\n" in value:
        value = value.replace("\n", "\\n")
    if '"' in value:
        value = value.replace('"', '\\"')
    return value


def label_renderer(labelnames: tuple[str, ...], escaping: str) -> Callable[[SeriesLabels], str]:
    """A function rendering one family's label sets as ``a="x",b="y"``, sorted by name.

    When every label name is legacy-valid (the usual case) names are written as they are
    under every scheme, and the result is memoised on the ``SeriesLabels``: each series is
    escaped once in its life. Other names are escaped or quoted per ``escaping``.
    """
    if not labelnames:
        return _no_labels
    order = sorted(range(len(labelnames)), key=labelnames.__getitem__)
    legacy = all(is_legacy_label_name(name) for name in labelnames)
    heads = [written_label_name(labelnames[i], escaping) + '="' for i in order]

    def render(labels: SeriesLabels) -> str:
        values = labels.label_values
        return (
            '",'.join(
                [head + escape_label_value(values[i]) for head, i in zip(heads, order, strict=True)]
            )
            + '"'
        )

    if not legacy:
        return render

    def memoised(labels: SeriesLabels) -> str:
        rendered = labels.rendered_labels
        if rendered is None:
            # mypy cannot see that every concrete SeriesLabels declares this slot.
            rendered = labels.rendered_labels = render(labels)  # type: ignore[misc]
        return rendered

    return memoised


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
