"""The escaping pre-pass: a snapshot's names as they will be written, checked once.

Every format runs it before its writer (as ``prometheus/common``'s encoder escapes a family
before the format-specific code sees it), so writers never escape a name: they write the
names they are given, and quote (text formats, ``allow-utf-8`` only) those that are not
legacy-valid.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields, replace
from functools import lru_cache
from operator import attrgetter
from typing import TypeVar

from .._names import is_legacy_label_name
from ..model import SAMPLE_SUFFIXES, MetricFamily, MetricType, SeriesLabels
from ._escaping import ALLOW_UTF8, ExpositionError, check_scheme, escape_name, written_base_name

# Every name a family of each type writes, as suffixes of its written name: the family
# name itself (TYPE lines) and its sample names (``x_info``; ``x_bucket``, ``x_gcount``,
# ``x_gsum`` of a gauge histogram...), the model's list, so the two never drift apart.
_SUFFIXES: dict[MetricType, tuple[str, ...]] = {
    kind: ("", *suffixes) for kind, suffixes in SAMPLE_SUFFIXES.items()
}
_NO_SUFFIX = ("",)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Relabelled(MetricFamily):
    """A family whose label names the pre-pass rewrote; ``declared`` are the names it had.
    It shares its series with the family it came from."""

    declared: tuple[str, ...]


def escape_families(families: Iterable[MetricFamily], scheme: str) -> list[MetricFamily]:
    """``families`` with metric and label names as written under ``scheme``.

    A counter's name is its written base (without ``_total``). A family with legacy names,
    and every family under ``allow-utf-8``, comes back as the very same object; no series
    is ever touched. ``ExpositionError`` if two families would write the same sample name
    or two label names of one family the same label name (never merged silently);
    ``ValueError`` for an unknown scheme.
    """
    check_scheme(scheme)
    out: list[MetricFamily] = []
    owners: dict[str, str] = {}
    for family in families:
        written = family if scheme == ALLOW_UTF8 else _escaped(family, scheme)
        name = written.name
        for suffix in _SUFFIXES.get(family.type, _NO_SUFFIX):
            other = owners.setdefault(name + suffix, family.name)
            if other != family.name:
                raise ExpositionError(
                    f"metrics {other!r} and {family.name!r} would both be written as"
                    f" {name + suffix!r} with escaping {scheme!r}"
                )
        out.append(written)
    return out


def _escaped(family: MetricFamily, scheme: str) -> MetricFamily:
    name = written_base_name(family.name, scheme, family.type)
    labelnames = family.labelnames
    if all_legacy_labels(labelnames):
        return family if name == family.name else replace(family, name=name)
    written = tuple(escape_name(label, scheme, label=True) for label in labelnames)
    if len(set(written)) != len(written):
        raise ExpositionError(
            f"label names {labelnames!r} of {family.name!r} collide once escaped with"
            f" {scheme!r}: {list(written)!r}"
        )
    values = {field.name: getattr(family, field.name) for field in fields(MetricFamily)}
    return _Relabelled(**{**values, "name": name, "labelnames": written, "declared": labelnames})


@lru_cache(maxsize=1024)
def all_legacy_labels(labelnames: tuple[str, ...]) -> bool:
    """Whether every label name is legacy-valid (then written as is under every scheme)."""
    return all(is_legacy_label_name(name) for name in labelnames)


def declared_labelnames(family: MetricFamily) -> tuple[str, ...]:
    """The label names of a pre-passed family as declared, before escaping (the text
    formats sort label pairs by them)."""
    return family.declared if isinstance(family, _Relabelled) else family.labelnames


def label_memos_valid(family: MetricFamily) -> bool:
    """Whether writers may read and fill the series' label memos (``rendered_labels``,
    ``encoded_labels``) for this pre-passed family.

    A memo holds a series' label pairs as written, so it is independent of the scheme
    only when every declared name is legacy-valid: the pre-pass did not rename them
    and no writer quotes them.
    """
    return all_legacy_labels(declared_labelnames(family))


Written = TypeVar("Written", str, bytes)


def memoised(
    write: Callable[[SeriesLabels], Written], slot: str
) -> Callable[[SeriesLabels], Written]:
    """``write``, remembering its result in the series' memo ``slot`` (``rendered_labels``,
    ``encoded_labels``): each series is written once in its life. Only for families whose
    ``label_memos_valid``."""
    read = attrgetter(slot)

    def memo(labels: SeriesLabels) -> Written:
        written: Written | None = read(labels)
        if written is None:
            written = write(labels)
            setattr(labels, slot, written)
        return written

    return memo
