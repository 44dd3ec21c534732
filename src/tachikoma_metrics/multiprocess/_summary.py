"""Summaries in multi-process mode: the cell writing through to this process's file, and
the merge side (folding a file's entries, the merged snapshot, the archive's entries).

**What a series writes.** Each thread's first observation of a series gives it a *group*
of entries in its process's file (a ``Part``, written by that thread alone, without a lock,
as a counter's entry; a thread that exits leaves its part to the next new thread),
numbered (``gen``) so that the groups of a series in a file are told apart:

* ``["t", gen]``: the totals ``[created, sum, count, mark, old sum, 0]`` (the last slot
  is the native histogram's pending value: one layout for both);
* ``["r", gen, ring]``: one per ring position in use (``ring = window % age_buckets``):
  ``[window number, smallest, largest]`` of the observations of that window;
* ``["b", gen, ring, block]``: 64 counts, those of sketch buckets ``block * 64`` to
  ``block * 64 + 63`` in that window (a sketch bucket is the top 18 bits of the float,
  ``quantiles.bucket_of``; a block is one power of two), made when a value first falls
  there.

Windows are numbered on the wall clock, ``floor(time.time() / (max_age / age_buckets))``,
so the windows of every process line up. The ring position of a new window is reused by
its owner: it marks the head ``-1``, zeroes the position's blocks, then writes the new
window number. Every write is one aligned 8-byte store into the file: nothing is kept
only in memory, so a process killed at any instant leaves every observation it finished.

**Sum and count exact, whatever the kill.** An observation stores the old sum, sets
``mark = count + 1``, counts the value in its bucket (rotating the ring first if its
window is over), then stores the new sum and ``count + 1``. ``mark == count + 1`` thus
means "an observation in progress": a reader counts the series without it (sum: the old
sum). A reader also takes the entries
of a live process as a seqlock: ``count`` and ``mark`` read before and after the rest,
read again while they moved (see ``read_group``).

**Quantiles across processes.** The sketch is mergeable: counts per bucket add up, so
the merged window (every process's, the archive's included, for the windows within the
last ``age_buckets`` window numbers) holds exactly the bucket counts one process observing
everything would hold, and its quantiles are computed by ``quantiles.window_quantiles``,
clamped to the merged smallest and largest value: the same accuracy guarantee as in one
process (within 1/128 relative error of the exact nearest-rank quantile of every process's
observations in the window). Observations of a process that died keep counting until their
window ages out. A window here starts on a multiple of ``max_age / age_buckets`` seconds
of the wall clock rather than at the series' creation: the same window length, so an
observation counts for between ``max_age * (1 - 1/age_buckets)`` and ``max_age`` seconds.
"""

from __future__ import annotations

import itertools
import math
import time
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import compress
from operator import add
from threading import get_ident
from typing import TYPE_CHECKING, Any, ClassVar, cast

from ..model import LabelSet, MetricFamily, MetricType, SummaryValue
from ..quantiles import (
    _SHIFT,
    Sketch,
    SummaryCell,
    SummarySpec,
    _observation,
    window_quantiles,
)
from ..values import _claim_lock, _track
from . import _files
from ._cells import Bound
from ._files import SERIES, FileReader, FileWriter, Record
from ._process import Binding, scratch
from ._removals import REMOVE, Mark

if TYPE_CHECKING:
    from ._merge import _Family, _Series

_INF = math.inf

# The totals entry, shared with ``_native`` (which adds its buckets after these).
CREATED, SUM, COUNT, MARK, OLD, PENDING = range(6)
TOTALS = 6
BLOCK = 64  # sketch buckets per block: one power of two
_ZEROS = memoryview(array("d", [0.0] * BLOCK))
_time = time.time
_gens = itertools.count(1)  # numbers of entry groups, unique within a process's life
TRIES = 100  # seqlock reads of a live process's group before taking the last one
SPAN = 1 << 16  # bytes of file copied at once for one group's entries, at most


def listed(view: memoryview[float]) -> list[float]:
    return cast("list[float]", view.tolist())


def new_gen() -> int:
    return next(_gens)


def file_entry(
    binding: Binding | None, role: list[Any], values: Sequence[float]
) -> memoryview[float]:
    """A new entry of ``binding``'s series with ``role`` and these first values (scratch
    memory for an unbound series); the view covers its slots."""
    if binding is None:
        view = scratch(len(values))
    else:
        process = binding.storage.process
        floats, first = process.entry(binding.family, binding.labels, SERIES, role, len(values))
        view = floats[first : first + len(values)]
    view[:] = array("d", values)
    return view


# -- the cell --------------------------------------------------------------------------------


class Part:
    """One writing thread's group of entries of a series (see the module docstring), and
    where its current window is. Written by that thread alone."""

    __slots__ = (
        "binding",
        "blocks",
        "expires",
        "gen",
        "head",
        "quantiles",
        "rings",
        "spec",
        "totals",
        "window",
        "word",
        "written",
    )

    def __init__(self, binding: Binding | None, spec: SummarySpec, created: float) -> None:
        self.binding = binding
        self.spec = spec
        self.gen = new_gen()
        self.totals = file_entry(binding, ["t", self.gen], [created, 0.0, 0.0, 0.0, 0.0, 0.0])
        self.rings: list[tuple[memoryview[float], dict[int, memoryview[float]]] | None] = [
            None
        ] * spec.age_buckets
        self.blocks: dict[int, memoryview[float]] = {}
        self.head = scratch(3)
        self.window = -1
        self.quantiles = bool(spec.quantiles)
        self.expires = -_INF
        # A float's bits, to find its bucket: store the float, read the integer.
        self.written = array("d", [0.0])
        self.word = memoryview(self.written).cast("B").cast("Q")

    def advance(self) -> None:
        """Make the window of now the current one, reusing its ring position: marked ``-1``
        while its blocks are zeroed, then given the new window's number."""
        spec = self.spec
        now = _time()
        window = int(now // spec.period)
        ring = window % spec.age_buckets
        state = self.rings[ring]
        if state is None:
            head = file_entry(self.binding, ["r", self.gen, ring], [window, _INF, -_INF])
            blocks: dict[int, memoryview[float]] = {}
            self.rings[ring] = (head, blocks)
        else:
            head, blocks = state
            if head[0] != window:
                head[0] = -1.0  # being reset: readers skip it
                for view in blocks.values():
                    view[:] = _ZEROS
                head[1] = _INF
                head[2] = -_INF
                head[0] = float(window)
        self.blocks = blocks
        self.head = head
        self.window = window
        expires = (window + 1) * spec.period
        self.expires = expires if expires > now else math.nextafter(now, _INF)

    def block(self, block: int) -> memoryview[float]:
        """The current window's block ``block``, made now."""
        ring = self.window % self.spec.age_buckets
        view = file_entry(self.binding, ["b", self.gen, ring, block], [0.0] * BLOCK)
        self.blocks[block] = view
        return view

    def read(self, windows: Windows) -> tuple[float, int]:
        """Add this part's windows to ``windows``; its sum and count."""
        for state in self.rings:
            if state is not None:
                head, blocks = state
                windows.add(listed(head), [(b, listed(view)) for b, view in blocks.items()])
        totals = listed(self.totals)
        count = totals[COUNT]
        return (totals[OLD] if totals[MARK] == count + 1 else totals[SUM]), int(count)


class MultiprocessSummaryCell(SummaryCell, Bound):
    """A summary series writing through to the file (see the module docstring).

    As the counter: each thread that observes has a ``Part`` of its own (its own group of
    entries), found by one dict lookup and written by it alone, without a lock. The
    in-memory cell's slots are used as: ``_head`` the parts by thread (copy-on-write, made
    under ``values._claim_lock``), ``_closed`` the parts of exited threads, which the next
    new thread takes over (their values stay and are added to)."""

    if not TYPE_CHECKING:
        __slots__ = ()
    STORAGE: ClassVar[tuple[str, ...]] = SummaryCell.STORAGE
    _head: dict[int, Part]  # type: ignore[assignment]
    _closed: list[Part]  # type: ignore[assignment]

    def _init_cell(self, spec: SummarySpec) -> None:
        SummaryCell._init_cell(self, spec)
        self._mp = None
        self._unbound()

    def _unbound(self) -> None:
        self._head = {}
        self._closed = []

    def observe(self, value: float) -> None:
        """As in one process (see ``SummaryCell.observe``), written through to the file."""
        if value.__class__ is not float or value != value:
            value = _observation(value)
        part = self._head.get(get_ident())
        if part is None:
            part = self._part()
        totals = part.totals
        old = totals[SUM]
        count = totals[COUNT]
        totals[OLD] = old
        totals[MARK] = count + 1.0
        if part.quantiles:
            if _time() >= part.expires:
                part.advance()
            part.written[0] = value
            key: int = part.word[0] >> _SHIFT
            block = part.blocks.get(key >> 6)
            if block is None:
                block = part.block(key >> 6)
            block[key & 63] += 1.0
            head = part.head
            if value < head[1]:
                head[1] = value
            if value > head[2]:
                head[2] = value
        totals[SUM] = old + value
        totals[COUNT] = count + 1.0

    def _part(self) -> Part:
        """This thread's first observation of the series: its part (a spare one if a
        thread that wrote before has exited)."""
        ident = get_ident()
        with _claim_lock:
            part = self._head.get(ident)
            if part is None:
                spares = self._closed
                part = spares.pop() if spares else Part(self._mp, self._spec, self._created)
                self._head = {**self._head, ident: part}
                _track(self, ident)
            return part

    def _retire(self, ident: int) -> None:
        """Thread ``ident`` exits (under ``values._claim_lock``): its part becomes a spare."""
        part = self._head.get(ident)
        if part is not None:
            self._head = {key: one for key, one in self._head.items() if key != ident}
            self._closed.append(part)

    def get(self) -> SummaryValue:
        """This process's own values (the merged ones are in the registry's snapshot)."""
        windows = Windows()
        total = 0.0
        count = 0
        for part in [*self._head.values(), *self._closed]:
            more, added = part.read(windows)
            total += more
            count += added
        quantiles = windows.quantiles(self._spec, _time())
        return SummaryValue(quantiles, total, count, self._created)


# -- the merge side ----------------------------------------------------------------------------


@dataclass(slots=True)
class Group:
    """The entries of one group in one file: its totals entry and the others."""

    entry: Record | None = None
    parts: list[tuple[list[Any], Record]] = field(default_factory=list)


def groups(records: Iterable[Record], entry_slots: int) -> list[Group]:
    """``records`` (of one series in one file) by group; the groups with a totals entry of
    ``entry_slots`` slots."""
    found: dict[int, Group] = {}
    for record in records:
        role = record.payload[2]
        if not isinstance(role, list) or len(role) < 2 or not isinstance(role[1], int):
            continue
        group = found.setdefault(role[1], Group())
        if role[0] == "t":
            if record.slots == entry_slots:
                group.entry = record
        else:
            group.parts.append((role, record))
    return [group for group in found.values() if group.entry is not None]


def read_group(
    reader: FileReader, group: Group, live: bool
) -> tuple[list[float], list[tuple[list[Any], list[float]]]]:
    """The group's values, read as a seqlock: ``count`` and ``mark`` of the totals before
    and after copying the group's bytes (one copy of the stretch of file its entries lie
    in, when that is at most ``SPAN`` bytes, else one per entry), copied again while
    they moved (``TRIES`` times for a live process, whose writer may be busy; then the
    last copy is taken as it is)."""
    floats, raw = reader.floats, reader.raw
    entry = group.entry
    assert floats is not None and raw is not None and entry is not None
    records = [entry, *(record for _, record in group.parts)]
    low = min(record.first for record in records)
    high = max(record.first + record.slots for record in records)
    first = entry.first
    copied: list[bytes] = []
    for _ in range(TRIES if live else 1):
        count, mark = floats[first + COUNT], floats[first + MARK]
        if (high - low) * 8 <= SPAN:
            copied = [raw[low * 8 : high * 8].tobytes()]
        else:
            copied = [raw[r.first * 8 : (r.first + r.slots) * 8].tobytes() for r in records]
        if floats[first + COUNT] == count and floats[first + MARK] == mark:
            break
    if len(copied) == 1:
        whole = memoryview(copied[0]).cast("d")
        values = [listed(whole[r.first - low : r.first - low + r.slots]) for r in records]
    else:
        values = [listed(memoryview(one).cast("d")) for one in copied]
    roles = [role for role, _ in group.parts]
    return values[0], list(zip(roles, values[1:], strict=True))


class Windows:
    """Sketch bucket counts per window, by block of ``BLOCK`` buckets, with each window's
    smallest and largest value."""

    __slots__ = ("windows",)

    def __init__(self) -> None:
        self.windows: dict[int, tuple[dict[int, list[float]], list[float]]] = {}

    def add(self, head: list[float], blocks: Iterable[tuple[int, list[float]]]) -> None:
        """One ring position's head ``[window, smallest, largest]`` and its blocks."""
        if len(head) != 3 or not 0 <= head[0] < 2.0**53 or head[0] != int(head[0]):
            return  # being reset (or not a window number)
        window = int(head[0])
        known = self.windows.get(window)
        if known is None:
            known = self.windows[window] = ({}, [_INF, -_INF])
        counts, extremes = known
        for block, values in blocks:
            had = counts.get(block)
            counts[block] = values if had is None else list(map(add, had, values))
        extremes[0] = min(extremes[0], head[1])
        extremes[1] = max(extremes[1], head[2])

    def current(self, spec: SummarySpec, now: float) -> list[int]:
        """The windows still within ``max_age`` of ``now``, oldest first."""
        oldest = int(now // spec.period) - spec.age_buckets + 1
        return sorted(window for window in self.windows if window >= oldest)

    def counts(self, window: int) -> dict[int, int]:
        """Bucket index -> count of ``window`` (the buckets with a count)."""
        found: dict[int, int] = {}
        for block, values in self.windows[window][0].items():
            base = block * BLOCK
            if min(values) < 0:  # cannot be, but for a damaged file or removal mark
                values = [count if count > 0 else 0.0 for count in values]
            keys = compress(range(base, base + BLOCK), values)
            found.update(zip(keys, map(int, filter(None, values)), strict=True))
        return found

    def quantiles(self, spec: SummarySpec, now: float) -> tuple[tuple[float, float], ...]:
        if not spec.quantiles:
            return ()
        sketches: list[Sketch | None] = []
        for window in self.current(spec, now):
            low, high = self.windows[window][1]
            sketch = Sketch()
            sketch.add_buckets(self.counts(window), low, high)
            sketches.append(sketch)
        return tuple(zip(spec.quantiles, window_quantiles(sketches, spec.ranks), strict=True))


@dataclass(slots=True)
class SummaryTotals:
    """One merged summary series: sum and count of every process, and its windows."""

    sum: float = 0.0
    count: int = 0
    windows: Windows = field(default_factory=Windows)


def spec_of(payload: dict[str, Any]) -> SummarySpec:
    options = payload["options"]
    return SummarySpec(
        tuple(float(q) for q in options.get("quantiles", ())),
        float(options.get("max_age", 600.0)),
        int(options.get("age_buckets", 5)),
    )


def since(
    values: list[float], record: Record, marks: Mapping[int, Mark], counts: slice
) -> list[float]:
    """``values`` of ``record`` as they count after its removal mark, if it has one:
    ``counts`` (a slice of them) less their values at the mark (see ``_removals``)."""
    mark = marks.get(record.offset)
    if mark is None or len(mark.values) != len(values):
        return values
    values = list(values)
    for index in range(*counts.indices(len(values))):
        values[index] -= mark.values[index]
    return values


def totals_since(
    values: list[float], record: Record, marks: Mapping[int, Mark]
) -> list[float] | None:
    """A totals entry as it counts after its removal mark (``None``: removed, nothing
    observed since); ``created`` then no earlier than the removal."""
    mark = marks.get(record.offset)
    if mark is None or len(mark.values) != len(values):
        return values
    after = since(values, record, marks, slice(SUM, None))
    after[PENDING] = values[PENDING]
    after[CREATED] = max(values[CREATED], mark.time)
    if after[COUNT] <= 0 and after[MARK] <= 0 and mark.how == REMOVE:
        return None
    return after


def fold(
    payload: dict[str, Any],
    series: _Series,
    reader: FileReader,
    records: list[Record],
    live: bool,
    marks: Mapping[int, Mark],
) -> None:
    """Add the summary entries ``records`` (of ``series``, in one file) to ``series``."""
    totals = series.sketch
    if not isinstance(totals, SummaryTotals):
        totals = series.sketch = SummaryTotals()
    for group in groups(records, TOTALS):
        entry, parts = read_group(reader, group, live)
        assert group.entry is not None
        values = totals_since(entry, group.entry, marks)
        if values is None:
            series.removed = True
            continue
        count = values[COUNT]
        totals.sum += values[OLD] if values[MARK] == count + 1 else values[SUM]
        totals.count += int(count)
        series.created = min(series.created, values[CREATED])
        series.seen = True
        heads: dict[object, list[float]] = {}
        moved: set[object] = set()  # ring positions reset since their removal mark
        for (role, head), (_, record) in zip(parts, group.parts, strict=True):
            if role[0] == "r" and len(role) == 3:
                heads[role[2]] = head
                mark = marks.get(record.offset)
                if mark is not None and mark.values[:1] != head[:1]:
                    moved.add(role[2])
        blocks: dict[object, list[tuple[int, list[float]]]] = {}
        for (role, block), (_, record) in zip(parts, group.parts, strict=True):
            if role[0] == "b" and len(role) == 4 and len(block) == BLOCK:
                if role[2] not in moved:
                    block = since(block, record, marks, slice(None))
                blocks.setdefault(role[2], []).append((int(role[3]), block))
        for ring, head in heads.items():
            totals.windows.add(head, blocks.get(ring, ()))


def snapshot(
    family: _Family,
    name: str,
    help_text: str,
    unit: str,
    labelnames: tuple[str, ...],
    keys: list[tuple[str, ...]],
) -> MetricFamily:
    spec = spec_of(family.payload)
    now = _time()
    rows = []
    for key in keys:
        series = family.series[key]
        totals = series.sketch if isinstance(series.sketch, SummaryTotals) else SummaryTotals()
        created = series.created if series.created < _INF else None
        value = SummaryValue(
            totals.windows.quantiles(spec, now), float(totals.sum), totals.count, created
        )
        rows.append((LabelSet(key), value))
    return MetricFamily(name, MetricType.SUMMARY, help_text, unit, labelnames, summaries=rows)


def append(writer: FileWriter, head: list[Any], role: list[Any], values: Sequence[float]) -> None:
    """An archive entry: ``head`` (family number, label values) and ``role``."""
    chunk, first, _ = writer.append(SERIES, _files.encode_payload([*head, role]), len(values))
    chunk.floats[first : first + len(values)] = array("d", values)


def write(writer: FileWriter, head: list[Any], family: _Family, series: _Series) -> None:
    """The archive's entries of a merged summary series: its totals, and its windows not
    yet aged out (each as a ring position of its own)."""
    totals = series.sketch
    if not isinstance(totals, SummaryTotals):
        return
    count = float(totals.count)
    append(writer, head, ["t", 1], [series.created, totals.sum, count, count, totals.sum, 0.0])
    spec = spec_of(family.payload)
    windows = totals.windows
    for ring, window in enumerate(windows.current(spec, _time())):
        blocks, (low, high) = windows.windows[window]
        append(writer, head, ["r", 1, ring], [float(window), low, high])
        for block, values in sorted(blocks.items()):
            append(writer, head, ["b", 1, ring, block], [max(c, 0.0) for c in values])
