"""Label-pair rendering shared by the text formats (Prometheus text and OpenMetrics)."""

from __future__ import annotations

from collections.abc import Callable

from ..model import SeriesLabels


def escape_label_value(value: str) -> str:
    r"""Escape ``\``, ``"`` and LF as ``\\``, ``\"`` and ``\n``; nothing else changes."""
    if "\\" in value:
        value = value.replace("\\", "\\\\")
    if "\n" in value:
        value = value.replace("\n", "\\n")
    if '"' in value:
        value = value.replace('"', '\\"')
    return value


def label_renderer(labelnames: tuple[str, ...]) -> Callable[[SeriesLabels], str]:
    """A function rendering one family's label sets as ``a="x",b="y"`` (sorted by name).

    The result is memoised on the ``SeriesLabels``, so each series is escaped once in its life.
    """
    if not labelnames:
        return _no_labels
    order = sorted(range(len(labelnames)), key=labelnames.__getitem__)
    heads = [labelnames[i] + '="' for i in order]

    def render(labels: SeriesLabels) -> str:
        rendered = labels.rendered_labels
        if rendered is None:
            values = labels.label_values
            # mypy cannot see that every concrete SeriesLabels declares this slot.
            rendered = labels.rendered_labels = (  # type: ignore[misc]
                '",'.join(
                    [
                        head + escape_label_value(values[i])
                        for head, i in zip(heads, order, strict=True)
                    ]
                )
                + '"'
            )
        return rendered

    return render


def _no_labels(labels: SeriesLabels) -> str:
    return ""
