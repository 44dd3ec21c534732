"""The value cell of a histogram with native (sparse exponential) buckets.

A native histogram series records each observation twice, under one lock: into the classic
cell it extends (its ``observe``, compiled for the family's bounds: the ``+Inf`` bucket
alone for a native-only histogram) and into a ``native.NativeState``. The lock makes a read
consistent across both (the native zero count plus its bucket counts equal the classic
count), and serialises the native state, whose resolution halving depends on every
observation before it, exactly as client_golang's does.

Why a lock here, where the classic cell has none: the native bucket set changes shape (a
halving merges every bucket) after any observation, so per-thread copies could not be
merged into what one sequence of observations gives. The lock costs about what the key
computation does; a histogram without ``native=True`` never sees this module.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from . import _locks
from .model import NativeBuckets
from .native import (
    DEFAULT_MAX_BUCKETS,
    DEFAULT_ZERO_THRESHOLD,
    NativeState,
    pick_schema,
)
from .values import HistogramCell, as_float

DEFAULT_BUCKET_FACTOR = 1.1


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

    def new_state(self) -> NativeState:
        return NativeState(self.schema, self.zero_threshold, self.max_buckets)


DEFAULT_SPEC = NativeSpec.checked(
    DEFAULT_BUCKET_FACTOR, DEFAULT_ZERO_THRESHOLD, DEFAULT_MAX_BUCKETS
)


class NativeHistogramCell(HistogramCell):
    """A classic histogram cell with native buckets as well (see the module docstring).

    Made per bucket layout by ``native_cell_for``; ``_init_cell(slot_bounds, spec)``.
    """

    if not TYPE_CHECKING:
        __slots__ = ()
    STORAGE: ClassVar[tuple[str, ...]] = (*HistogramCell.STORAGE, "_native", "_native_lock")
    _native: NativeState
    _native_lock: threading.Lock
    # The compiled classic ``observe`` of the layout a native cell class extends.
    _classic_observe: ClassVar[Callable[..., None]]

    def _init_cell(self, slot_bounds: tuple[float, ...], spec: NativeSpec = DEFAULT_SPEC) -> None:
        super()._init_cell(slot_bounds)
        self._native = spec.new_state()
        self._native_lock = _locks.new_lock()

    def observe(self, value: float, exemplar: Mapping[str, str] | None = None) -> None:
        """Record one observation in the classic and the native buckets. NaN and
        non-numbers are rejected before either changes."""
        with self._native_lock:
            # The classic observe validates first: what it refuses reaches neither part.
            self._classic_observe(value, exemplar)
            self._native.add(value if value.__class__ is float else as_float(value))

    def read(self) -> tuple[list[int], float, int]:
        with self._native_lock:
            return super().read()

    def read_native(self) -> tuple[list[int], float, int, NativeBuckets | None]:
        """Classic counts, sum, count and the native buckets, read at one instant."""
        with self._native_lock:
            counts, total, count = HistogramCell.read(self)
            return counts, total, count, self._native.snapshot()


_NATIVE_CELLS: dict[type[HistogramCell], type[NativeHistogramCell]] = {}
_NATIVE_LOCK = _locks.new_lock()


def native_cell_for(classic: type[HistogramCell]) -> type[NativeHistogramCell]:
    """The native cell extending ``classic`` (a ``values.histogram_cell_for`` class):
    one class per layout, shared by every native family with those bounds."""
    with _NATIVE_LOCK:
        cell = _NATIVE_CELLS.get(classic)
        if cell is None:
            namespace = {"__slots__": (), "_classic_observe": classic.observe}
            cell = _NATIVE_CELLS[classic] = type(
                "NativeHistogramCell", (NativeHistogramCell, classic), namespace
            )
        return cell
