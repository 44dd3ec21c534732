"""The value cell of a histogram with native (sparse exponential) buckets.

``observe`` only validates its value and appends it to the series' buffer (a list append
is atomic on every build); the thread whose append fills the buffer (``FLUSH_AT`` values)
records the whole batch under the series' lock, and so does every read before it reads.
A flush takes the first ``n`` values and deletes exactly those (only flushers delete,
under the lock), so a value appended meanwhile stays for the next flush: none is lost, as
in ``quantiles.SummaryCell``.

A batch is recorded in bulk, into the classic part and the native part together: the sum
added in observation order (the float client_golang's sequential additions give), the
classic bucket counts by bisecting the sorted batch at each bound, the native buckets by
``native.PackedState.add_batch`` (one key computation per distinct bucket; replayed value
by value, in order, when the bucket limit could make order matter). So the result is
exactly client_golang's for the same sequence of observations, and a read, which flushes
under the lock first, sees every observation made before it, consistently across the
classic counts, count, sum and native buckets (zero count plus bucket counts = count).

Why one lock and one state per series, where the classic cell has per-thread slots: the
native bucket set changes shape (a halving merges every bucket) depending on every
observation before, so per-thread copies could not be merged into what one sequence of
observations gives. A histogram without ``native=True`` never sees this module.
"""

from __future__ import annotations

import sys
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import reduce
from operator import add
from typing import TYPE_CHECKING, ClassVar

from . import _locks
from .model import NativeBuckets
from .native import (
    DEFAULT_MAX_BUCKETS,
    DEFAULT_ZERO_THRESHOLD,
    PackedState,
    pick_schema,
)
from .values import HistogramCell, as_float, make_exemplar

DEFAULT_BUCKET_FACTOR = 1.1
# Values buffered per series before the appending thread records them (a read records
# them too). 256 makes a flush's fixed costs small per value; at most this many floats
# (about 32 bytes each) wait in a series between flushes.
FLUSH_AT = 256


def _sequential_sum(values: Sequence[float], start: float) -> float:
    """``start + values[0] + values[1] + ...`` added one at a time, in order, as
    client_golang adds its observations (``math.fsum`` would round differently)."""
    return reduce(add, values, start)


if sys.version_info < (3, 12):
    # Before 3.12, sum() of floats is that same left-to-right double addition, and faster
    # (3.12 made it compensated, hence not the same float).
    _sequential_sum = sum  # type: ignore[assignment]


@dataclass(frozen=True)
class NativeSpec:
    """A family's native options, checked: the starting schema (from the bucket factor),
    the zero threshold and the bucket limit."""

    bucket_factor: float
    zero_threshold: float
    max_buckets: int
    schema: int

    @classmethod
    def checked(
        cls, bucket_factor: object, zero_threshold: object, max_buckets: object
    ) -> NativeSpec:
        """``ValueError``/``TypeError`` naming the option that is wrong."""
        factor = as_float(bucket_factor, "native_bucket_factor")
        if not factor > 1.0 or factor == float("inf"):
            raise ValueError(
                f"native_bucket_factor must be a finite number > 1, got {bucket_factor!r}"
            )
        threshold = as_float(zero_threshold, "native_zero_threshold")
        if not 0.0 <= threshold < float("inf"):
            raise ValueError(
                f"native_zero_threshold must be a finite number >= 0, got {zero_threshold!r}"
            )
        if not isinstance(max_buckets, int) or isinstance(max_buckets, bool):
            raise TypeError(f"native_max_buckets must be an int, got {max_buckets!r}")
        if max_buckets < 1:
            raise ValueError(f"native_max_buckets must be >= 1, got {max_buckets!r}")
        return cls(factor, threshold, int(max_buckets), pick_schema(factor))

    def new_packed(self) -> PackedState:
        return PackedState(self.schema, self.zero_threshold, self.max_buckets)


DEFAULT_SPEC = NativeSpec.checked(
    DEFAULT_BUCKET_FACTOR, DEFAULT_ZERO_THRESHOLD, DEFAULT_MAX_BUCKETS
)


class NativeHistogramCell(HistogramCell):
    """A classic histogram cell with native buckets as well (see the module docstring).

    One class for every bucket layout: ``observe`` only buffers, and the flush counts the
    classic buckets by bisection, so no compiled ``observe`` is needed;
    ``_init_cell(slot_bounds, spec)``. The classic part is the inline slot ``_counts``
    (``[sum, count, n0, n1, ...]``), written only by flushes under ``_native_lock``; no
    thread claims a slot of its own.
    """

    if not TYPE_CHECKING:
        __slots__ = ()
    STORAGE: ClassVar[tuple[str, ...]] = (
        *HistogramCell.STORAGE,
        "_buffer",
        "_native",
        "_native_lock",
    )
    _buffer: list[float]
    _native: PackedState
    _native_lock: threading.Lock

    def _init_cell(self, slot_bounds: tuple[float, ...], spec: NativeSpec = DEFAULT_SPEC) -> None:
        super()._init_cell(slot_bounds)
        self._buffer = []
        self._native = spec.new_packed()
        self._native_lock = _locks.new_lock()

    def observe(self, value: float, exemplar: Mapping[str, str] | None = None) -> None:
        """Record one observation in the classic and the native buckets. NaN and
        non-numbers are rejected before either changes.

        ``exemplar`` (label names to values) replaces the exemplar of the value's classic
        bucket (the ``+Inf`` one for a native-only histogram)."""
        if value.__class__ is float and value == value and exemplar is None:
            buffer = self._buffer
            buffer.append(value)
            if len(buffer) >= FLUSH_AT:
                self._flush()
            return
        self._observe_slow(value, exemplar)

    def _observe_slow(self, value: object, exemplar: Mapping[str, str] | None = None) -> None:
        number = as_float(value, "histogram observation")
        if number != number:
            raise ValueError(f"histogram observation must not be NaN, got {value!r}")
        if exemplar is None:
            buffer = self._buffer
            buffer.append(number)
            if len(buffer) >= FLUSH_AT:
                self._flush()
            return
        traced = make_exemplar(exemplar, number, self.UTF8_NAMES)
        with self._native_lock:
            self._drain()
            self._record([number])
            exemplars = self._exemplars
            if exemplars is None:
                exemplars = self._exemplars = [None] * (len(self._bounds) - 2)
            exemplars[bisect_left(self._bounds, number, 2) - 2] = traced

    def _flush(self) -> None:
        with self._native_lock:
            self._drain()

    def _drain(self) -> None:
        """Record the buffered values (the caller holds the lock)."""
        buffer = self._buffer
        size = len(buffer)
        if not size:
            return
        batch = buffer[:size]
        del buffer[:size]  # exactly those: values appended since stay for the next flush
        self._record(batch)

    def _record(self, batch: list[float]) -> None:
        """Add ``batch`` (plain floats, no NaN, in observation order) to both parts (the
        caller holds the lock)."""
        ordered = sorted(batch)
        self._native.add_batch(batch, ordered)
        counts = self._counts
        bounds = self._bounds
        total = _sequential_sum(batch, counts[0])
        last = len(bounds) - 1
        below = 0
        for index in range(2, last):
            upto = bisect_right(ordered, bounds[index], below)
            counts[index] += upto - below
            below = upto
        counts[last] += len(ordered) - below
        counts[0] = total
        counts[1] += len(ordered)

    def read(self) -> tuple[list[int], float, int]:
        with self._native_lock:
            self._drain()
            return super().read()

    def read_native(self) -> tuple[list[int], float, int, NativeBuckets | None]:
        """Classic counts, sum, count and the native buckets, read at one instant, after
        every observation made before the call."""
        with self._native_lock:
            self._drain()
            counts, total, count = HistogramCell.read(self)
            return counts, total, count, self._native.snapshot()
