"""Quantiles over a sliding time window: a bucketed sketch and the summary's value cell.

**The sketch** (``Sketch``) is DDSketch-style with the float's own bits as its index
mapping (as sketches-java's bitwise linearly interpolated mapping): a value's bucket is
its sign, its binary exponent and the top 6 bits of its mantissa, i.e. the top 18 bits of
its IEEE 754 form (``bits >> 46``). Each power of two is thus cut into 64 equal buckets,
each at most 1/64 of its lower bound wide; the bucket of any float is read exactly, with
no rounding, and bucket order is value order. Exact zeros, ``+Inf`` and ``-Inf`` have
counts of their own; positive and negative values have a store each. A quantile ``q`` of
``n`` observations is found by nearest rank: the bucket holding the ``ceil(q*n)``-th
smallest observation (``q`` taken as the decimal it is written as, so 0.1 is 1/10 and no
float drift moves the rank), reported as the bucket's midpoint (computed exactly). That
midpoint is clamped to the smallest and largest observation in the window (each sketch
keeps its own), which can only bring it closer to the exact quantile, as that lies between
them: a lone observation is reported exactly, and so is an extreme whose bucket's midpoint
lies beyond it (2.0 rather than 2.015625).

**Guarantee (relative error, not rank error).** Every reported quantile lies within
``RELATIVE_ACCURACY = 1/128`` (0.79%, so within 1% with room to spare) of the exact
nearest-rank quantile of the observations in the window, when that exact value is

* zero, an infinity, or a normal float (magnitude >= 2.2250738585072014e-308; below that
  the error is at most 2**-1029 in absolute terms, and values under 2**-1028 count as 0:
  reported as 0, or as the window's extreme nearest 0 when all its values have one sign),
* and at least ``2**-63`` (about 1.1e-19) times the largest finite magnitude of the same
  sign in the window. Each store keeps at most ``MAX_BUCKETS = 4096`` buckets (64 powers of
  two, 19 decades); past that, the lowest-magnitude buckets are collapsed into the lowest
  one kept, as DDSketch's collapsing store does, which only moves values below that range.

**Memory, per series, whatever the number of observations:** a buffer of at most
``FLUSH_AT`` (256) pending values plus one per thread racing a flush, and one sketch per
age bucket that received observations, each with at most two stores of ``MAX_BUCKETS``
8-byte counts (the current age bucket's stores have a list of the same length besides,
for speed). ``memory_bound(age_buckets)`` states it in bytes: about 66 KB per closed age
bucket and 136 KB for the current one, 415 KB with the default 5, reached only when each
age bucket's values span 19 decades in both signs. Values spanning a few decades take a
few KB per age bucket (a lognormal with sigma 1: about 8 KB).
"""

from __future__ import annotations

import math
import struct
import time
from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction
from itertools import accumulate, repeat
from operator import add, rshift
from threading import Lock
from typing import TYPE_CHECKING, ClassVar, TypeVar

from ._locks import new_lock
from .model import SummaryValue
from .values import Cell, as_float, created_now

RELATIVE_ACCURACY = 1 / 128
"""The largest relative error of a reported quantile within the guaranteed range."""

MAX_BUCKETS = 4096
"""Buckets kept per sign by one sketch and by a merged window: 64 powers of two."""

FLUSH_AT = 256
"""Pending observations a series buffers before they are added to its sketch."""

_INF = math.inf
_NAN = math.nan
_ldexp = math.ldexp
_ZERO = array("q", [0])
# Values a current store takes in its list before they move into its array.
_COMPACT_AT = 1 << 14
# A float's bucket is the top 18 bits of its 64: sign, 11 exponent bits, 6 mantissa bits.
_SHIFT = 46
_NEGATIVE = 1 << 17  # the sign bit, in bucket indices
_FLOAT = struct.Struct("<d")
_BITS = struct.Struct("<Q")
_POSITIVE_INF = 0x7FF << 6  # +Inf's index (exponent all ones, mantissa 0); NaN never comes
_NEGATIVE_INF = _NEGATIVE | _POSITIVE_INF
# Index 0 holds +0.0 and the positive floats under 2**-1028; _NEGATIVE their negatives.

# The clock of age-bucket rotation. A module attribute, read at each call, so tests can
# replace it (``monkeypatch.setattr(quantiles, "_clock", fake)``) and need no sleeping.
_clock = time.monotonic


def memory_bound(age_buckets: int, threads: int = 64) -> int:
    """Bytes one summary series can hold at most (CPython, 64-bit), whatever the number of
    observations: its fixed part, a full buffer (with ``threads`` appends racing a flush),
    the current age bucket's sketch and ``age_buckets - 1`` closed ones, every store full."""
    closed_store = 128 + 8 * MAX_BUCKETS  # _Store, array header, 8-byte counts
    # ... plus a list of the same length, and the int objects of its counts over 256.
    current_store = closed_store + 64 + 8 * MAX_BUCKETS + 32 * (_COMPACT_AT // 256 + 2)
    sketch = 128  # the Sketch object
    buffer = 64 + 40 * (FLUSH_AT + threads)  # list slots (over-allocated) and their floats
    fixed = 2048  # the series' own slots, its lock and its label memo
    current = sketch + 2 * current_store
    closed = 96 + sketch + 2 * closed_store  # with its (number, sketch) pair
    return fixed + buffer + current + (age_buckets - 1) * closed


# -- the sketch -----------------------------------------------------------------------------


class _Store:
    """Counts of one sign's buckets: bucket ``offset + i`` holds ``counts[i] + fresh[i]``,
    at most ``MAX_BUCKETS`` of them (lower buckets are folded into the lowest one kept).

    ``counts`` is an array (8 bytes a bucket). While its age bucket is current, additions
    go to ``fresh``, a list of the same geometry: a list's items are written three times
    faster than an array's, and moving them into ``counts`` every ``_COMPACT_AT`` values
    (one C-level pass) keeps them small ints, which CPython does not allocate. A closed
    age bucket's store has no ``fresh``.
    """

    __slots__ = ("counts", "fresh", "offset", "pending")

    def __init__(self) -> None:
        self.counts: array[int] = _ZERO[:0]
        self.fresh: list[int] | None = []
        self.offset = 0
        self.pending = 0  # values added to fresh since it was last moved into counts

    def add(self, keys: dict[int, int], hi: int, values: int) -> None:
        """Add ``keys`` (bucket index -> count, consumed; ``hi`` its highest index), the
        buckets of ``values`` observations."""
        fresh = self.fresh
        assert fresh is not None, "a closed age bucket's store is never added to"
        lo = min(keys)
        offset = self.offset
        if lo < offset or hi >= offset + len(fresh):
            self._cover(lo, hi)
            fresh, offset = self.fresh, self.offset
            assert fresh is not None
            if lo < offset:  # collapsed: lower buckets count in the lowest one kept
                folded = 0
                for key in [key for key in keys if key < offset]:
                    folded += keys.pop(key)
                fresh[0] += folded
        for key, count in keys.items():
            fresh[key - offset] += count
        self.pending += values
        if self.pending >= _COMPACT_AT:
            self.compact()

    def compact(self) -> None:
        """Move the counts of ``fresh`` into ``counts``."""
        fresh = self.fresh
        if fresh is None:
            return
        counts = self.counts
        counts[:] = array("q", map(add, counts, fresh))  # in place: counts stays exact
        self.fresh = [0] * len(fresh)
        self.pending = 0

    def close(self) -> None:
        """The age bucket is over: keep the counts in the array alone."""
        self.compact()
        self.fresh = None

    def total(self) -> int:
        fresh = self.fresh
        return sum(self.counts) + (sum(fresh) if fresh is not None else 0)

    def _cover(self, lo: int, hi: int) -> None:
        """Grow to cover buckets ``lo`` to ``hi`` too, keeping the ``MAX_BUCKETS`` highest
        at most (the lower ones folded into the lowest kept)."""
        offset, size = self.offset, len(self.counts)
        if size:
            lo = min(lo, offset)
            hi = max(hi, offset + size - 1)
        lo = max(lo, hi - MAX_BUCKETS + 1)
        self.counts = _regrown(self.counts, _ZERO, offset, lo, hi)
        fresh = self.fresh
        assert fresh is not None
        self.fresh = _regrown(fresh, [0], offset, lo, hi)
        self.offset = lo


Counts = TypeVar("Counts", "list[int]", "array[int]")


def _regrown(counts: Counts, zero: Counts, offset: int, lo: int, hi: int) -> Counts:
    """``counts`` (starting at bucket ``offset``) copied to cover buckets ``lo`` to ``hi``
    exactly, what lies below ``lo`` added to its first bucket."""
    grown = zero * (hi - lo + 1)  # exactly that long: array() and list() over-allocate
    if counts:
        cut = lo - offset
        folded = 0
        if cut > 0:
            folded = sum(counts[:cut])
            counts = counts[cut:]
            offset = lo
        start = offset - lo
        grown[start : start + len(counts)] = counts
        grown[0] += folded
    return grown


def _merged(stores: Sequence[_Store]) -> tuple[array[int], int]:
    """The sum of ``stores`` over at most ``MAX_BUCKETS`` buckets (the highest; lower ones
    folded into the lowest kept), and the bucket index of its first count."""
    top = max(s.offset + len(s.counts) - 1 for s in stores)
    floor = max(min(s.offset for s in stores), top - MAX_BUCKETS + 1)
    merged = _ZERO * (top - floor + 1)
    for store in stores:
        for counts in (store.counts, store.fresh):
            if counts is None:
                continue
            offset = store.offset
            if offset < floor:
                cut = floor - offset
                merged[0] += sum(counts[:cut])
                counts = counts[cut:]
                offset = floor
            start = offset - floor
            end = start + len(counts)
            merged[start:end] = array("q", map(add, merged[start:end], counts))
    return merged, floor


def _midpoint(key: int) -> float:
    """The middle of bucket ``key`` (of a positive store), exactly: within
    ``RELATIVE_ACCURACY`` of every normal float the bucket holds."""
    exponent, top_bits = divmod(key, 64)
    if exponent:  # [(64 + j) * 2**(e - 1029), (65 + j) * 2**(e - 1029))
        return _ldexp(2 * (64 + top_bits) + 1, exponent - 1030)
    return _ldexp(2 * top_bits + 1, -1029)  # subnormals: [j * 2**-1028, (j + 1) * 2**-1028)


def bucket_of(value: float) -> int:
    """The sketch's bucket index of one float (no NaN): the top 18 bits of its IEEE 754
    form, as ``Sketch`` counts it (``Sketch.add_buckets`` takes counts by this index)."""
    bits: int = _BITS.unpack(_FLOAT.pack(value))[0]
    return bits >> _SHIFT


def _buckets(values: list[float]) -> Counter[int]:
    """Bucket index -> count for ``values`` (plain floats): every step runs in C."""
    bits = memoryview(array("d", values)).cast("B").cast("Q")
    return Counter(map(rshift, bits, repeat(_SHIFT)))


class Sketch:
    """Counts of observations in float-bit buckets: one age bucket of a summary's window.

    ``add(values)`` takes plain floats, never NaN; see the module docstring for the buckets
    and the accuracy of ``window_quantiles``. Not thread-safe: the summary cell calls it
    under its lock.
    """

    __slots__ = (
        "count",
        "high",
        "low",
        "negative",
        "negative_inf",
        "positive",
        "positive_inf",
        "zero",
    )

    def __init__(self) -> None:
        self.count = 0
        # The smallest and largest observation: a reported quantile is clamped to them,
        # so a lone value is reported exactly, and so is an extreme whose bucket's
        # midpoint lies beyond it.
        self.low = _INF
        self.high = -_INF
        self.zero = 0
        self.positive_inf = 0
        self.negative_inf = 0
        self.positive: _Store | None = None
        self.negative: _Store | None = None

    def add(self, values: list[float]) -> None:
        """Count ``values`` (plain floats, none NaN)."""
        if not values:
            return
        self._add_keys(_buckets(values), len(values), min(values), max(values))

    def add_buckets(self, counts: Mapping[int, int], low: float, high: float) -> None:
        """Count observations given by bucket: ``counts`` maps a bucket index (the top 18
        bits of a float's IEEE 754 form, ``bucket_of``) to how many fell there; ``low`` and
        ``high`` are the smallest and largest of them. What ``add`` of those observations
        would count (the multi-process summary keeps its counts this way)."""
        keys = {key: count for key, count in counts.items() if count > 0}
        if keys:
            self._add_keys(keys, sum(keys.values()), low, high)

    def _add_keys(self, keys: dict[int, int], size: int, low: float, high: float) -> None:
        """Count ``size`` observations, ``keys`` (bucket index -> count, consumed)."""
        self.count += size
        if low < self.low:
            self.low = low
        if high > self.high:
            self.high = high
        # Special values are found by their bucket (cheaper than min() and max()).
        self.positive_inf += keys.pop(_POSITIVE_INF, 0)
        self.zero += keys.pop(0, 0)
        if not keys:
            return
        top = max(keys)
        if top < _NEGATIVE:  # the common case: all positive
            self._store(True).add(keys, top, size)
            return
        self.negative_inf += keys.pop(_NEGATIVE_INF, 0)
        self.zero += keys.pop(_NEGATIVE, 0)
        positive = {key: count for key, count in keys.items() if key < _NEGATIVE}
        if positive:
            self._store(True).add(positive, max(positive), sum(positive.values()))
        if len(positive) < len(keys):
            negative = {key - _NEGATIVE: n for key, n in keys.items() if key >= _NEGATIVE}
            self._store(False).add(negative, max(negative), sum(negative.values()))

    def close(self) -> None:
        """The age bucket is over: its counts become compact and never change again."""
        for store in (self.positive, self.negative):
            if store is not None:
                store.close()

    def _store(self, positive: bool) -> _Store:
        store = self.positive if positive else self.negative
        if store is None:
            store = _Store()
            if positive:
                self.positive = store
            else:
                self.negative = store
        return store


def window_quantiles(
    sketches: Iterable[Sketch | None], ranks: Sequence[tuple[int, int]]
) -> tuple[float, ...]:
    """The quantiles of all observations in ``sketches`` together, each ``(numerator,
    denominator)`` of ``ranks`` being a quantile as a fraction; NaN for each when there is
    no observation. Nearest rank: the smallest value with at least ``ceil(q*n)``
    observations at or below it, within the module's accuracy guarantee."""
    parts = [s for s in sketches if s is not None and s.count]
    total = sum(s.count for s in parts)
    if not total:
        return (_NAN,) * len(ranks)
    negative_inf = sum(s.negative_inf for s in parts)
    zero = sum(s.zero for s in parts)
    # The exact quantile lies between the extremes: clamping only brings an estimate closer.
    low = min(s.low for s in parts)
    high = max(s.high for s in parts)
    positive_stores = [s.positive for s in parts if s.positive is not None]
    negative_stores = [s.negative for s in parts if s.negative is not None]
    negative_total = sum(s.total() for s in negative_stores)
    positive_total = sum(s.total() for s in positive_stores)
    positive_cumulative: list[int] | None = None
    negative_cumulative: list[int] | None = None
    positive_floor = negative_top = 0
    out = []
    for numerator, denominator in ranks:
        rank = -((-numerator * total) // denominator)  # ceil(q * total), exactly
        if rank <= negative_inf:
            out.append(-_INF)
            continue
        rank -= negative_inf
        if rank <= negative_total:
            if negative_cumulative is None:
                merged, floor = _merged(negative_stores)
                negative_top = floor + len(merged) - 1
                # Most negative first: the negative store from its highest magnitude down.
                negative_cumulative = list(accumulate(reversed(merged)))
            key = negative_top - bisect_left(negative_cumulative, rank)
            value = -_midpoint(key)
        else:
            rank -= negative_total
            if rank <= zero:
                value = 0.0
            elif rank - zero <= positive_total:
                if positive_cumulative is None:
                    merged, positive_floor = _merged(positive_stores)
                    positive_cumulative = list(accumulate(merged))
                value = _midpoint(positive_floor + bisect_left(positive_cumulative, rank - zero))
            else:
                out.append(_INF)
                continue
        out.append(low if value < low else high if value > high else value)
    return tuple(out)


# -- the summary's value cell ------------------------------------------------------------------


class SummarySpec:
    """What a summary family and its children share: the quantiles (sorted, each with its
    exact fraction for ranks) and the window (``max_age`` seconds in ``age_buckets``
    parts). Built from values already checked (see ``instruments.summary``)."""

    __slots__ = ("age_buckets", "max_age", "period", "quantiles", "ranks")

    def __init__(self, quantiles: tuple[float, ...], max_age: float, age_buckets: int) -> None:
        self.quantiles = quantiles
        # q as the decimal it is written as (0.1 is 1/10), so ceil(q * n) has no float drift.
        fractions = [Fraction(repr(q)) for q in quantiles]
        self.ranks = tuple((f.numerator, f.denominator) for f in fractions)
        self.max_age = max_age
        self.age_buckets = age_buckets
        self.period = max_age / age_buckets


def _observation(value: object) -> float:
    """``value`` as a plain float, or ``TypeError``/``ValueError`` naming it (NaN too)."""
    number = as_float(value, "summary observation")
    if number != number:
        raise ValueError(f"summary observation must not be NaN, got {value!r}")
    return number


class _IdleSummary:
    """``SummaryCell`` writes that validate and drop (see ``Cell.Idle``)."""

    __slots__ = ()

    def observe(self, value: float) -> None:
        if value.__class__ is float and value == value:
            return
        _observation(value)


class SummaryCell(Cell):
    """Count, sum and windowed quantiles of one summary series.

    ``observe`` validates its value and appends it to ``_buffer`` (a list append is atomic
    on every build); the buffer is flushed into the current age bucket's sketch, under the
    cell's lock, when it holds ``FLUSH_AT`` values or when the current age bucket has
    expired. A flush takes the first ``n`` values and deletes exactly those (only flushers
    delete, under the lock), so a value appended meanwhile stays for the next flush: none
    is lost. ``_count`` and ``_sum`` are those of the flushed values (all time); a read
    flushes first, so it sees every observation made before it.

    The window: age buckets of ``max_age / age_buckets`` seconds each (``time.monotonic``);
    the current one and the ``age_buckets - 1`` before it make the window, so an
    observation counts in the quantiles for between ``max_age * (1 - 1/age_buckets)`` and
    ``max_age`` seconds, as in client_golang.
    """

    if not TYPE_CHECKING:
        __slots__ = ()
    STORAGE: ClassVar[tuple[str, ...]] = (
        "_age",
        "_buffer",
        "_closed",
        "_count",
        "_created",
        "_expires",
        "_head",
        "_flush_lock",
        "_mp",
        "_spec",
        "_sum",
    )
    WRITES: ClassVar[tuple[str, ...]] = ("observe",)
    Idle = _IdleSummary
    _buffer: list[float]
    _age: int
    _closed: tuple[tuple[int, Sketch], ...]
    _count: int
    _created: float
    _expires: float
    _head: Sketch | None
    _flush_lock: Lock
    _spec: SummarySpec
    _sum: float

    def _init_cell(self, spec: SummarySpec) -> None:
        """``spec``: the family's, shared by its children."""
        self._spec = spec
        self._buffer = []
        self._flush_lock = new_lock()
        self._count = 0
        self._sum = 0.0
        self._head = None
        self._closed = ()  # (age bucket number, its sketch) of the closed ones with values
        self._age = 0  # the current age bucket's number
        self._created = created_now()
        # Without quantiles there is no window: nothing ever expires.
        self._expires = _clock() + spec.period if spec.quantiles else _INF

    def observe(self, value: float) -> None:
        """Record one observation: any real number but NaN (``ValueError``); ``+Inf`` and
        ``-Inf`` are counted (the sum becomes infinite, and quantiles that fall on them are
        reported as they are)."""
        if value.__class__ is not float or value != value:
            value = _observation(value)
        buffer = self._buffer
        # One clock read per observation: it is what attributes each value to the age
        # bucket it was observed in (a buffer never spans two: an expired age bucket gets
        # the buffer before this value goes in), so the window bounds hold for every
        # observation, however slow the series. Reading the clock only when a buffer
        # starts would save about a sixth of this call's cost, but a buffered value could
        # then count up to a whole buffer's lifetime too long or too short; the budget
        # (prometheus_client's two locks) allows the exact way.
        if len(buffer) < FLUSH_AT and _clock() < self._expires:
            buffer.append(value)
            return
        self._flush()
        buffer.append(value)

    def _flush(self) -> None:
        """Add the buffered values to the current age bucket, then rotate if it expired."""
        with self._flush_lock:
            self._drain()
            now = _clock()
            if now >= self._expires:
                self._rotate(now)

    def _drain(self) -> None:
        """Move the buffered values into the count, the sum and the current sketch (the
        caller holds the lock)."""
        buffer = self._buffer
        n = len(buffer)
        if not n:
            return
        batch = buffer[:n]
        del buffer[:n]  # exactly those: values appended since stay for the next flush
        self._sum += sum(batch)
        self._count += n
        if self._spec.quantiles:
            head = self._head
            if head is None:
                head = self._head = Sketch()
            head.add(batch)

    def _rotate(self, now: float) -> None:
        """Start the age bucket due at ``now``, dropping those that leave the window."""
        period = self._spec.period
        steps = int((now - self._expires) // period) + 1
        closed = self._closed
        head = self._head
        if head is not None:
            head.close()
            closed = (*closed, (self._age, head))
        self._head = None
        self._age += steps
        # Age buckets numbered from the series' creation: the current one and the
        # age_buckets - 1 before it make the window.
        oldest = self._age - self._spec.age_buckets + 1
        self._closed = tuple(part for part in closed if part[0] >= oldest)
        expires = self._expires + steps * period
        self._expires = expires if expires > now else now + period

    def get(self) -> SummaryValue:
        """Quantiles of the window (NaN when it is empty), sum and count of all time."""
        with self._flush_lock:
            self._drain()
            spec = self._spec
            if not spec.quantiles:
                return SummaryValue((), self._sum, self._count, self._created)
            now = _clock()
            if now >= self._expires:
                self._rotate(now)
            sketches: list[Sketch | None] = [sketch for _, sketch in self._closed]
            sketches.append(self._head)
            values = window_quantiles(sketches, spec.ranks)
            return SummaryValue(
                tuple(zip(spec.quantiles, values, strict=True)),
                self._sum,
                self._count,
                self._created,
            )
