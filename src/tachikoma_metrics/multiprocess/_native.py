"""Native histograms in multi-process mode: the cell writing through to this process's
file, and the merge side (folding a file's entries, the merged snapshot, the archive).

**What a series writes** (a group of entries, numbered as a summary's: see ``_summary``):

* ``["t", gen]``: ``[created, sum, count, mark, old sum, pending value, zero count,
  classic bucket counts...]`` (per bucket, not cumulative);
* ``["n", gen, negative, block]``: 32 counts, those of native buckets ``block * 32`` to
  ``block * 32 + 31`` (positive, or negative for ``negative == 1``) **at the family's
  starting schema** (``NativeSpec.schema``), made when a value first falls there.

A file never halves its resolution: it keeps each bucket's count at the starting schema,
where counts of any processes add up. An observation (under the series' lock, one writer
at a time) stores the old sum and the value, sets ``mark = count + 1``, counts the value
in its classic bucket and in its native bucket (or the zero bucket), then stores the new
sum and ``count + 1``: every store one aligned 8-byte write into the file, nothing kept in
memory only. A reader (a seqlock on ``count`` and ``mark``, see ``_summary.read_group``)
that finds ``mark == count + 1`` (an observation in progress, or cut short by a kill)
counts the series without it: the old sum, and the value taken back out of the classic
and native bucket it went to where the buckets' totals show it was counted there. So
sum, count, classic and native buckets stay exact and agree, whenever a process is killed.

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
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import accumulate
from typing import TYPE_CHECKING, Any, ClassVar, cast

from ..model import Exemplar, HistogramValue, LabelSet, MetricFamily, MetricType, NativeBuckets
from ..native import MIN_SCHEMA, NativeState, PackedState, _inf_key, _key
from ..values import as_float, make_exemplar
from ..values_native import DEFAULT_SPEC, NativeHistogramCell, NativeSpec
from ._cells import Bound
from ._files import FileReader, FileWriter, Record
from ._removals import Mark
from ._summary import (
    COUNT,
    CREATED,
    MARK,
    OLD,
    PENDING,
    SUM,
    TOTALS,
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
BLOCK = 32  # native buckets per block
_MAX_FLOAT = 1.7976931348623157e308
_INF = math.inf


class _Blocks(dict[int, "memoryview[float]"]):
    """A series' native bucket blocks here (``block * 2 + negative`` -> view), with what
    an observation needs: the starting schema, the zero threshold and the group number."""

    __slots__ = ("gen", "max_buckets", "schema", "threshold")

    def __init__(self, spec: NativeSpec) -> None:
        super().__init__()
        self.gen = 0
        self.schema = spec.schema
        self.threshold = spec.zero_threshold
        self.max_buckets = spec.max_buckets


class MultiprocessNativeHistogramCell(NativeHistogramCell, Bound):
    """A histogram with native buckets, writing through to the file (see the module
    docstring). Slots used: ``_counts`` the totals entry (a view), ``_native`` its blocks
    (``_Blocks``), ``_native_lock`` the series' lock here; ``_buffer`` stays empty."""

    if not TYPE_CHECKING:
        __slots__ = ()
    STORAGE: ClassVar[tuple[str, ...]] = NativeHistogramCell.STORAGE
    _counts: memoryview[float]  # type: ignore[assignment]
    _native: _Blocks  # type: ignore[assignment]

    def _init_cell(self, slot_bounds: tuple[float, ...], spec: NativeSpec = DEFAULT_SPEC) -> None:
        NativeHistogramCell._init_cell(self, slot_bounds, spec)
        self._native = _Blocks(spec)
        self._mp = None
        self._unbound()

    def _adopt(self) -> None:
        packed = cast(PackedState, self._native)  # the in-memory cell's: schema, threshold
        self._native = _Blocks(
            NativeSpec(0.0, packed.zero_threshold, packed.max_buckets, packed.schema)
        )
        Bound._adopt(self)

    def _unbound(self) -> None:
        blocks = self._native
        blocks.clear()
        blocks.gen = 0
        self._exemplars = None
        self._counts = _scratch_entry(self._created, len(self._bounds) - 2)

    def observe(self, value: float, exemplar: Mapping[str, str] | None = None) -> None:
        """As in one process (see ``NativeHistogramCell.observe``), written through."""
        if value.__class__ is not float or value != value or exemplar is not None:
            self._observe_slow(value, exemplar)
            return
        with self._native_lock:
            self._count_one(value)

    def _observe_slow(self, value: object, exemplar: Mapping[str, str] | None = None) -> None:
        number = as_float(value, "histogram observation")
        if number != number:
            raise ValueError(f"histogram observation must not be NaN, got {value!r}")
        traced = None if exemplar is None else make_exemplar(exemplar, number, self.UTF8_NAMES)
        with self._native_lock:
            index = self._count_one(number)
            if traced is not None:
                exemplars = self._exemplars
                if exemplars is None:
                    exemplars = self._exemplars = [None] * (len(self._bounds) - 2)
                exemplars[index] = traced
                if self._mp is not None:
                    self._mp.write_exemplar(index, traced)

    def _count_one(self, value: float) -> int:
        """Count ``value`` (the caller holds the lock); its classic bucket's index."""
        blocks = self._native
        entry = self._counts
        if not blocks.gen and self._mp is not None:
            entry = self._start()
        place = _place(value, blocks.schema, blocks.threshold)
        view = None
        if place is not None:
            view = blocks.get(place[0])
            if view is None:
                view = self._block(place[0])
        index = bisect_left(self._bounds, value, 2) - 2
        old = entry[SUM]
        count = entry[COUNT]
        entry[OLD] = old
        entry[PENDING] = value
        entry[MARK] = count + 1.0
        entry[CLASSIC + index] += 1.0
        if view is None:
            entry[ZERO] += 1.0
        else:
            view[place[1]] += 1.0  # type: ignore[index]
        entry[SUM] = old + value
        entry[COUNT] = count + 1.0
        return index

    def _start(self) -> memoryview[float]:
        blocks = self._native
        blocks.gen = new_gen()
        size = len(self._bounds) - 2
        self._counts = file_entry(
            self._mp, ["t", blocks.gen], [self._created] + [0.0] * (CLASSIC - 1 + size)
        )
        return self._counts

    def _block(self, number: int) -> memoryview[float]:
        blocks = self._native
        role = ["n", blocks.gen, number & 1, number >> 1]
        view = blocks[number] = file_entry(self._mp, role, [0.0] * BLOCK)
        return view

    def _flush(self) -> None:
        pass

    def _drain(self) -> None:
        pass

    def read(self) -> tuple[list[int], float, int]:
        counts, total, count, _ = self.read_native()
        return counts, total, count

    def read_native(self) -> tuple[list[int], float, int, NativeBuckets | None]:
        """This process's own values (the merged ones are in the registry's snapshot)."""
        blocks = self._native
        layout = Layout(self._bounds[2:], blocks.schema, blocks.threshold, blocks.max_buckets)
        with self._native_lock:
            totals = NativeTotals()
            parts = [(number, listed(view)) for number, view in blocks.items()]
            totals.add(listed(self._counts), parts, layout)
        return totals.classic, totals.sum, totals.count, totals.buckets(layout)


def _scratch_entry(created: float, classic: int) -> memoryview[float]:
    return file_entry(None, [], [created] + [0.0] * (CLASSIC - 1 + classic))


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
