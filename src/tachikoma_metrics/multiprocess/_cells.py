"""Value cells whose numbers live in this process's file (see ``_process``).

Each replaces a default cell (and subclasses it): same methods, same contract, same slots
(``STORAGE``), so a family can move here by ``__class__`` assignment. The fast paths are
the in-memory ones with a ``memoryview`` of the file where the cell kept a float or a
list: one aligned 8-byte store per number, which readers in other processes see whole.

Counters and histograms keep the in-memory design: one entry per writing thread, written
by that thread only, lock-free. Gauges, infos and statesets (set rather than added to, and
rarely hot) write under one lock per process, with the time of the write, which the
``mostrecent`` merge compares. ``get()`` reads this process's own values.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from threading import get_ident
from typing import TYPE_CHECKING, Any, ClassVar, cast

from .. import _locks
from ..model import Exemplar
from ..values import (
    _INF,
    _ONE,
    RETIRED,
    Cell,
    CounterCell,
    GaugeCell,
    HistogramCell,
    _function_base,
    _FunctionBase,
    _settle,
    as_float,
    check_increment,
    claim,
    created_now,
    make_exemplar,
)
from ..values_simple import InfoCell, StateSetCell
from ._process import Binding, scratch

_write_lock = _locks.new_lock()  # gauges, infos and statesets of this process


class Bound(Cell):
    """What every multi-process cell shares: its ``Binding`` in ``_mp`` (``None`` until
    its family attaches it; a dropped series is unbound and writes to scratch memory)."""

    if not TYPE_CHECKING:
        __slots__ = ()

    def _bind(self, binding: Binding | None) -> None:
        """Attach to ``binding`` (or detach): the series' entries are made at its next
        write. Also what a forked child does to every series it inherited."""
        self._mp = binding
        self._unbound()

    def _unbound(self) -> None:
        raise NotImplementedError

    def _adopt(self) -> None:
        """This object was an in-process cell until now (a facade family moved here before
        recording anything): set up what this cell keeps differently."""
        self._mp = None
        self._unbound()


class PerThread(Bound):
    """Cells written lock-free, one entry per writing thread (counters, histograms): the
    owner thread's entry in the attribute named ``MAIN``, made at the series' first write;
    every other thread's in ``_others``, made (or taken over from an exited thread) at
    its first write."""

    if not TYPE_CHECKING:
        __slots__ = ()
    MAIN: ClassVar[str]
    _others: dict[int, memoryview[float]] | None

    def _new_entry(self) -> memoryview[float]:
        raise NotImplementedError

    def _view_for(self, ident: int) -> memoryview[float]:
        """The entry thread ``ident`` writes (the scratch memory of an unbound series)."""
        binding: Binding | None = self._mp
        if ident != self._owner:
            others = self._others
            view = others.get(ident) if others is not None else None
            if view is not None:
                return view
            view = claim(self, ident, self._thread_entry) if binding is not None else None
            if view is not None:
                return view
            if binding is None:
                return cast("memoryview[float]", getattr(self, self.MAIN))
        if binding is not None and not binding.entries:
            setattr(self, self.MAIN, self._new_entry())
        return cast("memoryview[float]", getattr(self, self.MAIN))

    def _thread_entry(self) -> memoryview[float]:
        binding = cast(Binding, self._mp)
        if not binding.entries:  # the owner's entry comes first
            setattr(self, self.MAIN, self._new_entry())
        return binding.spares.pop() if binding.spares else self._new_entry()


class MultiprocessCounterCell(CounterCell, PerThread):
    """A counter whose total is the sum of its entries: ``[value, created]`` each."""

    if not TYPE_CHECKING:
        __slots__ = ()
    STORAGE = CounterCell.STORAGE
    MAIN = "_value"
    _value: memoryview[float]  # type: ignore[assignment]
    _others: dict[int, memoryview[float]] | None  # type: ignore[assignment]

    def _init_cell(self) -> None:
        CounterCell._init_cell(self)
        self._mp = None
        self._value = scratch(1)

    def _unbound(self) -> None:
        self._owner = 0
        self._others = None
        self._value = scratch(1)

    def inc(self, amount: float = _ONE, exemplar: Mapping[str, str] | None = None) -> None:
        try:
            if (
                (
                    amount is _ONE
                    or (
                        (amount.__class__ is float or amount.__class__ is int)
                        and amount >= 0.0
                        and amount < _INF
                    )
                )
                and get_ident() == self._owner
                and exemplar is None
            ):
                value = self._value
                value[0] = value[0] + amount
                return
        except OverflowError:
            pass
        self._inc_slow(amount, exemplar)

    def _inc_slow(self, amount: object, exemplar: Mapping[str, str] | None = None) -> None:
        value = check_increment(amount)
        traced = None if exemplar is None else make_exemplar(exemplar, value, self.UTF8_NAMES)
        view = self._view_for(get_ident())
        view[0] = view[0] + value
        if traced is not None:
            self._exemplar = traced
            if self._mp is not None:
                self._mp.write_exemplar(0, traced)

    def _new_entry(self) -> memoryview[float]:
        created = self._created

        def head(floats: memoryview[float], first: int) -> None:
            floats[first + 1] = created

        return cast(Binding, self._mp).new_entry(2, head)[:1]

    def get(self) -> float:
        binding = self._mp
        if binding is None:
            return float(self._value[0])
        total = sum(view[0] for view in binding.entries) + binding.offset
        return total if total >= 0.0 else 0.0

    def reset(self) -> None:
        """Start again from 0 here and in every process (see ``docs/multiprocess.md``)."""
        binding = self._mp
        with _write_lock:
            if binding is not None:
                binding.offset -= self.get()
            self._exemplar = None
            self._created = created_now()
        if binding is not None:
            binding.storage.reset_series(binding, self._created)

    def _retire(self, ident: int) -> None:
        _retire_thread(self, ident)

    @staticmethod
    def read_all(
        cells: Sequence[CounterCell],
    ) -> tuple[list[float], list[float], list[Exemplar | None]]:
        return [c.get() for c in cells], [c._created for c in cells], [c._exemplar for c in cells]


def _retire_thread(cell: Any, ident: int) -> None:
    """A thread that wrote ``cell`` exits (under the claim lock): its entry goes to the
    next thread that writes the series; the owner's stays the owner's entry."""
    Cell._retire(cell, ident)
    others = cell._others
    view = None if others is None else others.get(ident)
    if others is None or view is None:
        return
    binding = cell._mp
    if binding is not None:
        binding.spares.append(view)
    cell._others = {key: slot for key, slot in others.items() if key != ident and key != RETIRED}


class MultiprocessGaugeCell(GaugeCell, Bound):
    """A gauge: one entry ``[value, time written, 1 while a function gives the value]``."""

    if not TYPE_CHECKING:
        __slots__ = ()
    STORAGE = GaugeCell.STORAGE
    _value: memoryview[float]  # type: ignore[assignment]

    def _init_cell(self) -> None:
        GaugeCell._init_cell(self)
        self._mp = None
        self._base = None  # type: ignore[assignment]  # the _FunctionBase, while one is set
        self._value = scratch(3)

    def _unbound(self) -> None:
        self._value = scratch(3)

    def _adopt(self) -> None:
        Bound._adopt(self)
        self._base = None  # type: ignore[assignment]

    def _entry(self) -> memoryview[float]:
        binding: Binding | None = self._mp
        if binding is not None and not binding.entries:
            previous = self._value
            view = self._value = binding.new_entry(3)
            view[0], view[2] = previous[0], previous[2]
        return self._value

    def _write(self, value: float, add: bool) -> None:
        with _write_lock:
            view = self._entry()
            view[0] = view[0] + value if add else value
            view[1] = time.time()

    def inc(self, amount: float = _ONE) -> None:
        amount = amount if amount.__class__ is float else as_float(amount, "gauge increment")
        self._check_no_function()
        self._write(amount, True)

    def dec(self, amount: float = _ONE) -> None:
        amount = amount if amount.__class__ is float else as_float(amount, "gauge decrement")
        self._check_no_function()
        self._write(-amount, True)

    def set(self, value: float) -> None:
        if value.__class__ is not float:
            value = as_float(value, "gauge value")
        with _write_lock:
            self._base = None  # type: ignore[assignment]
            view = self._entry()
            view[0] = value
            view[1] = time.time()
            view[2] = 0.0

    def _check_no_function(self) -> None:
        base = cast("_FunctionBase | None", self._base)
        if base is not None:
            raise ValueError(
                f"this gauge takes its value from {base.function!r} (set_function):"
                " call set(value) or set_function(None) before inc() or dec()"
            )

    def set_function(self, function: Callable[[], float] | None) -> None:
        """As in one process; the function is called only in the process serving a scrape,
        whose value replaces every process's for this series (see ``docs/multiprocess.md``)."""
        if function is not None and not callable(function):
            raise TypeError(f"gauge function must be callable or None, got {function!r}")
        with _write_lock:
            view = self._entry()
            if function is None:
                self._base = None  # type: ignore[assignment]
                view[2] = 0.0
            else:
                self._base = _function_base(function, (view[0],))
                view[2] = 1.0
            view[1] = time.time()

    def get(self) -> float:
        base = self._base
        if base is not None:
            return float(base[0])
        return float(self._value[0])

    def _retire(self, ident: int) -> None:
        Cell._retire(self, ident)


class MultiprocessHistogramCell(HistogramCell, PerThread):
    """A classic histogram: entries ``[created, sum, count, per-bucket counts...]``, one
    per writing thread; ``_counts`` views an entry from its sum on, so the compiled
    ``observe`` of the bounds runs unchanged. (Mixed in before the compiled class.)"""

    if not TYPE_CHECKING:
        __slots__ = ()
    STORAGE = HistogramCell.STORAGE
    MAIN = "_counts"
    _counts: memoryview[float]  # type: ignore[assignment]
    _others: dict[int, memoryview[float]] | None  # type: ignore[assignment]

    def _init_cell(self, slot_bounds: tuple[float, ...], *more: Any) -> None:
        HistogramCell._init_cell(self, slot_bounds)
        self._mp = None
        self._counts = scratch(len(slot_bounds))

    def _unbound(self) -> None:
        self._owner = 0
        self._others = None
        self._exemplars = None
        self._counts = scratch(len(self._bounds))

    def _observe_slow(self, value: object, exemplar: Mapping[str, str] | None = None) -> None:
        number = as_float(value, "histogram observation")
        if number != number:
            raise ValueError(f"histogram observation must not be NaN, got {value!r}")
        traced = None if exemplar is None else make_exemplar(exemplar, number, self.UTF8_NAMES)
        counts = self._slot_for(get_ident())
        index = _bucket(self._bounds, number)
        total = counts[0] + number
        counts[index] += 1
        counts[0] = total
        counts[1] += 1
        if traced is not None:
            exemplars = self._exemplars
            if exemplars is None:
                exemplars = self._exemplars = [None] * (len(self._bounds) - 2)
            exemplars[index - 2] = traced
            if self._mp is not None:
                self._mp.write_exemplar(index - 2, traced)

    def _slot_for(self, ident: int) -> memoryview[float]:  # type: ignore[override]
        return self._view_for(ident)

    def _new_entry(self) -> memoryview[float]:
        created = self._created
        size = len(self._bounds)

        def head(floats: memoryview[float], first: int) -> None:
            floats[first] = created

        return cast(Binding, self._mp).new_entry(size + 1, head)[1:]

    def read(self) -> tuple[list[int], float, int]:
        binding = self._mp
        if binding is None or not binding.entries:
            views = [self._counts]
        else:
            views = [entry[1:] for entry in binding.entries]
        total = consistent(_listed(views[0]))
        for view in views[1:]:
            total = [a + b for a, b in zip(total, consistent(_listed(view)), strict=True)]
        return [int(c) for c in total[2:]], float(total[0]), int(total[1])

    def _retire(self, ident: int) -> None:
        if self._owner == ident:
            _settle(self._counts)  # type: ignore[arg-type]
        _retire_thread(self, ident)


def _listed(view: memoryview[float]) -> list[float]:
    return cast("list[float]", view.tolist())


def consistent(counts: list[float]) -> list[float]:
    """A histogram entry ``[sum, count, buckets...]`` with its count made its buckets'
    total (a writer killed mid-observation leaves them apart for good)."""
    _settle(counts)
    return counts


def _bucket(bounds: tuple[float, ...], value: float) -> int:
    return bisect_left(bounds, value, 2)


class MultiprocessInfoCell(InfoCell, Bound):
    """An info: each ``info()`` appends its values with the time (the latest wins)."""

    if not TYPE_CHECKING:
        __slots__ = ()
    STORAGE = InfoCell.STORAGE

    def _init_cell(self, rules: Any) -> None:
        InfoCell._init_cell(self, rules)
        self._mp = None

    def _unbound(self) -> None:
        pass

    def info(self, values: Mapping[str, str]) -> None:
        checked = self._rules.check(values)
        with _write_lock:
            self._info = checked
            binding: Binding | None = self._mp
            if binding is not None:
                binding.storage.process.info_entry(binding.family, binding.labels, dict(checked))


class MultiprocessStateSetCell(StateSetCell, Bound):
    """A stateset: one entry ``[state index, time written]``."""

    if not TYPE_CHECKING:
        __slots__ = ()
    STORAGE = StateSetCell.STORAGE

    def _init_cell(self, states: Any) -> None:
        StateSetCell._init_cell(self, states)
        self._mp = None

    def _unbound(self) -> None:
        pass

    def state(self, state: str) -> None:
        position = self._states.position(state)
        with _write_lock:
            self._state = position
            binding: Binding | None = self._mp
            if binding is not None:
                if not binding.entries:
                    binding.new_entry(2)
                view = binding.entries[0]
                view[0] = float(position)
                view[1] = time.time()


CELLS: dict[type[Cell], type[Bound]] = {
    CounterCell: MultiprocessCounterCell,
    GaugeCell: MultiprocessGaugeCell,
    InfoCell: MultiprocessInfoCell,
    StateSetCell: MultiprocessStateSetCell,
}
"""The multi-process cell of each default cell type (histograms: see ``cell_for``)."""
