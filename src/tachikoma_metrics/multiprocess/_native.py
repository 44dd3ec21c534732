"""Native histograms in multi-process mode: the cell writing through to this process's
file, and the merge side (folding a file's entries, the merged snapshot, the archive).

**What a series writes**: per writing thread, a group of entries (a ``NativePart``,
written by that thread alone, without a lock; numbered as a summary's, see ``_summary``):

* ``["t", gen]``: ``[created, sum, count, mark, old sum, pending value, zero count,
  classic bucket counts...]`` (per bucket, not cumulative);
* ``["n", gen, negative, block]``: 32 counts, those of native buckets ``block * 32`` to
  ``block * 32 + 31`` (positive, or negative for ``negative == 1``) **at the family's
  starting schema** (``NativeSpec.schema``), made when a value first falls there.

A file never halves its resolution: it keeps each bucket's count at the starting schema,
where counts of any processes add up. An observation stores the old sum and the value,
sets ``mark = count + 1``, counts the value in its classic bucket and in its native bucket
(or the zero bucket), then stores the new sum and ``count + 1``: every store one aligned
8-byte write into the file, nothing kept in memory only. A reader (a seqlock on ``count``
and ``mark``, see ``_summary.read_group``) that finds ``mark == count + 1`` (an
observation in progress, or cut short by a kill) counts the series without it: the old
sum, and the value taken back out of the classic and native bucket it went to where the
buckets' totals show it was counted there. So sum, count, classic and native buckets stay
exact and agree, whenever a process is killed.

**The merged buckets.** Which buckets and values fall where is decided as in one process
(``native`` computes each key exactly as client_golang does; ``+-Inf`` and the zero bucket
as ``NativeState.add``). The merge adds every process's counts (and the archive's) per
bucket at the starting schema, then reduces the resolution by this rule:

    the merged schema is the highest schema ``s``, from the starting schema down to -4,
    at which the merged buckets, each key ``k`` taken to ``ceil(k / 2)`` once per step
    down, populate at most ``native_max_buckets`` buckets, positive and negative together
    (at -4, however many); the buckets are the merged counts at ``s``.

That is exactly what one process fed all the observations, in any order, exports whenever
it is within its bucket limit after its last observation, which is how client_golang (and
``NativeState``) leave it except right after the observation that crosses the limit by
more than one halving can undo: a process halves once per observation while over the
limit, never below the schema where the buckets of everything it has seen fit (counts at
a fixed schema only grow), and stops as soon as they fit. Halving once from ``s`` to
``s - 1`` maps key ``k`` to ``ceil(k/2)``, which is the key client_golang computes at
``s - 1`` for every value (its tables for lower schemas are every other bound of the
higher ones), ``+Inf``'s key included. Where one process would still be over the limit
after its last observation (it halves one step per observation), the merged result is
already at the schema it would reach with its next observation. The zero bucket's
threshold never changes (no widening), as in one process.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from bisect import bisect_left as _bisect_left
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import accumulate
from math import frexp as _frexp
from threading import get_ident
from typing import TYPE_CHECKING, Any, ClassVar, cast

from ..model import Exemplar, HistogramValue, LabelSet, MetricFamily, MetricType, NativeBuckets
from ..native import _BOUNDS, MIN_SCHEMA, NativeState, PackedState, _inf_key, _key
from ..values import _claim_lock, _track, as_float, make_exemplar
from ..values_native import DEFAULT_SPEC, NativeHistogramCell, NativeSpec
from ._cells import Bound
from ._files import SERIES, FileReader, FileWriter, Record
from ._process import Binding
from ._removals import Mark
from ._summary import (
    COUNT,
    CREATED,
    MARK,
    OLD,
    PENDING,
    SUM,
    TOTALS,
    Group,
    append,
    file_entry,
    groups,
    listed,
    new_gen,
    read_group,
    since,
    totals_since,
)

if TYPE_CHECKING:
    from ._merge import _Family, _Series

ZERO = TOTALS  # the zero bucket's count, after the totals
CLASSIC = TOTALS + 1  # the first classic bucket's count
BLOCK = 32  # native buckets per block (the cell's observe shifts by 5)
_CLASSIC_AT = CLASSIC - 2  # the classic bucket of bisect_left(bounds, value, 2)
_MAX_FLOAT = 1.7976931348623157e308
_INF = math.inf


class NativePart:
    """One writing thread's group of entries of a series: its totals and its blocks
    (``block * 2 + negative`` -> view). Written by that thread alone."""

    __slots__ = ("binding", "blocks", "gen", "schema", "table", "threshold", "totals")

    def __init__(self, binding: Binding | None, layout: Layout, created: float) -> None:
        self.binding = binding
        self.schema = layout.schema
        self.threshold = layout.threshold
        self.table = _BOUNDS[layout.schema] if layout.schema > 0 else None
        self.gen = new_gen()
        size = CLASSIC + len(layout.bounds)
        self.totals = file_entry(binding, ["t", self.gen], [created] + [0.0] * (size - 1))
        self.blocks: dict[int, memoryview[float]] = {}

    def block(self, number: int) -> memoryview[float]:
        role = ["n", self.gen, number & 1, number >> 1]
        view = self.blocks[number] = file_entry(self.binding, role, [0.0] * BLOCK)
        return view

    def read(self, totals: NativeTotals, layout: Layout) -> None:
        parts = [(number, listed(view)) for number, view in self.blocks.items()]
        totals.add(listed(self.totals), parts, layout)


class MultiprocessNativeHistogramCell(NativeHistogramCell, Bound):
    """A histogram with native buckets, writing through to the file (see the module
    docstring). As the counter: each thread that observes has a ``NativePart`` of its own,
    found by one dict lookup and written by it alone, without a lock. The in-memory
    cell's slots are used as: ``_others`` the parts by thread (copy-on-write, made under
    ``values._claim_lock``), ``_buffer`` the parts of exited threads, which the next new
    thread takes over, ``_native`` the family's ``Layout``."""

    if not TYPE_CHECKING:
        __slots__ = ()
    STORAGE: ClassVar[tuple[str, ...]] = NativeHistogramCell.STORAGE
    _others: dict[int, NativePart]  # type: ignore[assignment]
    _buffer: list[NativePart]  # type: ignore[assignment]
    _native: Layout  # type: ignore[assignment]

    def _init_cell(self, slot_bounds: tuple[float, ...], spec: NativeSpec = DEFAULT_SPEC) -> None:
        NativeHistogramCell._init_cell(self, slot_bounds, spec)
        self._native = Layout(slot_bounds[2:], spec.schema, spec.zero_threshold, spec.max_buckets)
        self._mp = None
        self._unbound()

    def _adopt(self) -> None:
        packed = cast(PackedState, self._native)  # the in-memory cell's state
        self._native = Layout(
            self._bounds[2:], packed.schema, packed.zero_threshold, packed.max_buckets
        )
        Bound._adopt(self)

    def _unbound(self) -> None:
        self._others = {}
        self._buffer = []
        self._exemplars = None

    def observe(self, value: float, exemplar: Mapping[str, str] | None = None) -> None:
        """As in one process (see ``NativeHistogramCell.observe``), written through."""
        if value.__class__ is not float or value != value or exemplar is not None:
            self._observe_slow(value, exemplar)
            return
        part = self._others.get(get_ident())
        if part is None:
            part = self._part()
        threshold = part.threshold
        if threshold < value < _INF or -_INF < value < -threshold:
            # The common case, inlined: a finite value beyond the zero bucket, its key as
            # native._key computes it.
            table = part.table
            if table is None:
                key = _key(value if value > 0 else -value, part.schema)
            else:
                frac, exp = _frexp(value)
                key = _bisect_left(table, frac if frac > 0 else -frac) + ((exp - 1) << part.schema)
            number: int | None = (key >> 5) << 1 | (value < 0)  # block * 2 + negative
            index = key & 31
        else:
            place = _place(value, part.schema, threshold)  # the zero bucket, or +-Inf
            number, index = (None, 0) if place is None else place
        view = None
        if number is not None:
            view = part.blocks.get(number)
            if view is None:
                view = part.block(number)
        totals = part.totals
        old = totals[SUM]
        count = totals[COUNT]
        totals[OLD] = old
        totals[PENDING] = value
        totals[MARK] = count + 1.0
        totals[bisect_left(self._bounds, value, 2) + _CLASSIC_AT] += 1.0
        if view is None:
            totals[ZERO] += 1.0
        else:
            view[index] += 1.0
        totals[SUM] = old + value
        totals[COUNT] = count + 1.0

    def _observe_slow(self, value: object, exemplar: Mapping[str, str] | None = None) -> None:
        number = as_float(value, "histogram observation")
        if number != number:
            raise ValueError(f"histogram observation must not be NaN, got {value!r}")
        traced = None if exemplar is None else make_exemplar(exemplar, number, self.UTF8_NAMES)
        self.observe(number)
        if traced is not None:
            index = bisect_left(self._bounds, number, 2) - 2
            exemplars = self._exemplars
            if exemplars is None:
                exemplars = self._exemplars = [None] * (len(self._bounds) - 2)
            exemplars[index] = traced
            if self._mp is not None:
                self._mp.write_exemplar(index, traced)

    def _part(self) -> NativePart:
        """This thread's first observation of the series: its part (a spare one if a
        thread that wrote before has exited)."""
        ident = get_ident()
        with _claim_lock:
            part = self._others.get(ident)
            if part is None:
                spares = self._buffer
                part = spares.pop() if spares else NativePart(self._mp, self._native, self._created)
                self._others = {**self._others, ident: part}
                _track(self, ident)
            return part

    def _retire(self, ident: int) -> None:
        """Thread ``ident`` exits (under ``values._claim_lock``): its part becomes a spare."""
        part = self._others.get(ident)
        if part is not None:
            self._others = {key: one for key, one in self._others.items() if key != ident}
            self._buffer.append(part)

    def _flush(self) -> None:
        pass

    def _drain(self) -> None:
        pass

    def read(self) -> tuple[list[int], float, int]:
        counts, total, count, _ = self.read_native()
        return counts, total, count

    def read_native(self) -> tuple[list[int], float, int, NativeBuckets | None]:
        """This process's own values (the merged ones are in the registry's snapshot)."""
        layout = self._native
        totals = NativeTotals()
        for part in [*self._others.values(), *self._buffer]:
            part.read(totals, layout)
        classic = totals.classic or [0] * len(layout.bounds)
        return classic, totals.sum, totals.count, totals.buckets(layout)


def _place(value: float, schema: int, threshold: float) -> tuple[int, int] | None:
    """Where ``value`` is counted: ``(block * 2 + negative, index in the block)``, or
    ``None`` for the zero bucket; as ``NativeState.add`` decides (``+-Inf`` compared as
    ``+-MaxFloat64``, one bucket above the largest float's)."""
    if value == _INF or value == -_INF:
        compared = _MAX_FLOAT if value > 0 else -_MAX_FLOAT
        key = _inf_key(schema)
    else:
        compared = value
        key = _key(-value if value < 0 else value, schema) if value else 0
    if compared > threshold:
        return (key // BLOCK) * 2, key % BLOCK
    if compared < -threshold:
        return (key // BLOCK) * 2 + 1, key % BLOCK
    return None


# -- the merge side ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Layout:
    """What placing a value takes: the classic upper bounds (ending with ``+Inf``), the
    starting schema, the zero threshold; and the bucket limit of the merged result."""

    bounds: tuple[float, ...]
    schema: int
    threshold: float
    max_buckets: int

    @classmethod
    def of(cls, payload: dict[str, Any]) -> Layout:
        options = payload["options"]
        spec = NativeSpec.checked(
            float(options["native_bucket_factor"]),
            float(options["native_zero_threshold"]),
            int(options["native_max_buckets"]),
        )
        bounds = tuple(float(b) for b in options["buckets"])
        return cls(bounds, spec.schema, spec.zero_threshold, spec.max_buckets)


@dataclass(slots=True)
class NativeTotals:
    """One merged native histogram series: sums of every process's counts per bucket at
    the starting schema."""

    sum: float = 0.0
    count: int = 0
    zero: int = 0
    classic: list[int] = field(default_factory=list)
    positive: dict[int, int] = field(default_factory=dict)
    negative: dict[int, int] = field(default_factory=dict)

    def add(
        self, entry: list[float], blocks: list[tuple[int, list[float]]], layout: Layout
    ) -> None:
        """Add one group: its totals entry and its blocks (``block * 2 + negative``,
        counts). An observation in progress (``mark == count + 1``) is taken back out:
        from the sum, and from its buckets where their totals show it counted there."""
        count = int(entry[COUNT])
        classic = [int(c) for c in entry[CLASSIC:]]
        zero = int(entry[ZERO])
        sides: tuple[dict[int, int], dict[int, int]] = ({}, {})
        for number, counts in blocks:
            side = sides[number & 1]
            base = (number >> 1) * BLOCK
            for index, value in enumerate(counts):
                if value > 0:
                    side[base + index] = side.get(base + index, 0) + int(value)
        total = entry[SUM]
        if entry[MARK] == count + 1:
            total = entry[OLD]
            pending = entry[PENDING]
            if sum(classic) > count:
                index = bisect_left(layout.bounds, pending)
                if index < len(classic) and classic[index] > 0:
                    classic[index] -= 1
            if zero + sum(sides[0].values()) + sum(sides[1].values()) > count:
                place = _place(pending, layout.schema, layout.threshold)
                if place is None:
                    zero -= zero > 0
                else:
                    side = sides[place[0] & 1]
                    key = (place[0] >> 1) * BLOCK + place[1]
                    if side.get(key, 0) > 1:
                        side[key] -= 1
                    else:
                        side.pop(key, None)
        if len(self.classic) != len(classic):
            self.classic = [0] * len(classic)
        self.classic = [a + b for a, b in zip(self.classic, classic, strict=True)]
        self.sum += total
        self.count += count
        self.zero += zero
        for mine, theirs in zip((self.positive, self.negative), sides, strict=True):
            for key, value in theirs.items():
                mine[key] = mine.get(key, 0) + value

    def buckets(self, layout: Layout) -> NativeBuckets:
        """The merged native buckets, reduced by the module docstring's rule."""
        state = NativeState(layout.schema, layout.threshold, layout.max_buckets)
        state.zero_count = self.zero
        state.positive = dict(self.positive)
        state.negative = dict(self.negative)
        limit = layout.max_buckets
        while len(state.positive) + len(state.negative) > limit and state.schema > MIN_SCHEMA:
            state.halve_resolution()
        return state.snapshot()


def is_native(payload: dict[str, Any]) -> bool:
    """Whether a family's payload is a histogram's with native buckets."""
    return payload.get("type") == MetricType.HISTOGRAM.value and bool(
        payload.get("options", {}).get("native")
    )


def fold(
    payload: dict[str, Any],
    series: _Series,
    reader: FileReader,
    records: list[Record],
    live: bool,
    marks: Mapping[int, Mark],
) -> None:
    """Add the native histogram entries ``records`` (of ``series``, in one file); what a
    removal marked counts from the mark on (see ``_removals``)."""
    layout = Layout.of(payload)
    totals = series.sketch
    if not isinstance(totals, NativeTotals):
        totals = series.sketch = NativeTotals()
    for group in groups(records, CLASSIC + len(layout.bounds)):
        entry, parts = read_group(reader, group, live)
        for _ in range(3 if live else 0):
            if not _missing(entry, parts):
                break
            # A block made since the file was parsed holds some of the count: parse on.
            _more_blocks(reader, group)
            entry, parts = read_group(reader, group, live)
        assert group.entry is not None
        values = totals_since(entry, group.entry, marks)
        if values is None:
            series.removed = True
            continue
        blocks = [
            (int(role[3]) * 2 + (role[2] == 1), since(counts, record, marks, slice(None)))
            for (role, counts), (_, record) in zip(parts, group.parts, strict=True)
            if role[0] == "n" and len(role) == 4 and len(counts) == BLOCK
        ]
        totals.add(values, blocks, layout)
        series.created = min(series.created, values[CREATED])
        series.seen = True


def _missing(entry: list[float], parts: list[tuple[list[Any], list[float]]]) -> bool:
    """Whether a group's buckets hold fewer observations than its count: it has a block
    this reader has not parsed yet (a live writer made it since)."""
    held = entry[ZERO] + sum(sum(counts) for role, counts in parts if role[0] == "n")
    return held < entry[COUNT]


def _more_blocks(reader: FileReader, group: Group) -> None:
    """Parse the records appended to ``reader``'s file since, adding the group's own."""
    entry = group.entry
    assert entry is not None
    known = len(reader.records)
    try:
        reader.refresh()
    except OSError:
        return
    number, labels, role = entry.payload
    for record in reader.records[known:]:
        payload = record.payload
        if (
            record.kind == SERIES
            and isinstance(payload, list)
            and len(payload) == 3
            and payload[:2] == [number, labels]
            and isinstance(payload[2], list)
            and payload[2][:2] == ["n", role[1]]
        ):
            group.parts.append((payload[2], record))


def snapshot(
    family: _Family,
    name: str,
    help_text: str,
    unit: str,
    labelnames: tuple[str, ...],
    keys: list[tuple[str, ...]],
) -> MetricFamily:
    """The merged snapshot of a native histogram family."""
    layout = Layout.of(family.payload)
    rows = []
    for key in keys:
        series = family.series[key]
        totals = series.sketch if isinstance(series.sketch, NativeTotals) else NativeTotals()
        classic = totals.classic or [0] * len(layout.bounds)
        exemplars: tuple[Exemplar | None, ...] | None = None
        if series.exemplars:
            exemplars = tuple(series.exemplars.get(i) for i in range(len(layout.bounds)))
        value = HistogramValue(
            tuple(zip(layout.bounds, accumulate(classic), strict=True)),
            float(totals.sum),
            totals.count,
            series.created,
            exemplars,
            totals.buckets(layout),
        )
        rows.append((LabelSet(key), value))
    return MetricFamily(name, MetricType.HISTOGRAM, help_text, unit, labelnames, histograms=rows)


def write(writer: FileWriter, head: list[Any], family: _Family, series: _Series) -> None:
    """The archive's entries of a merged native histogram series: one group, its buckets
    at the starting schema (never reduced, so later merges stay exact)."""
    totals = series.sketch
    if not isinstance(totals, NativeTotals):
        return
    layout = Layout.of(family.payload)
    count = float(totals.count)
    classic = [float(c) for c in totals.classic or [0] * len(layout.bounds)]
    append(
        writer,
        head,
        ["t", 1],
        [series.created, totals.sum, count, count, totals.sum, 0.0, float(totals.zero), *classic],
    )
    for negative, side in enumerate((totals.positive, totals.negative)):
        by_block: dict[int, list[float]] = {}
        for key, number in side.items():
            by_block.setdefault(key // BLOCK, [0.0] * BLOCK)[key % BLOCK] = float(number)
        for block, values in sorted(by_block.items()):
            append(writer, head, ["n", 1, negative, block], values)
