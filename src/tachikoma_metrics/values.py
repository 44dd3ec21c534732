"""Value cells: where the numbers live, and the only code on the hot path.

Concurrency contract, which holds without relying on the GIL:

* Every read-modify-write has exactly one writer per storage slot. The first thread to
  write a cell claims its inline slot (under a lock, once); any other thread gets a private
  slot of its own, created under the same lock and found afterwards with one lock-free dict
  lookup. A slot is only ever written by the thread that owns it, so no update is lost.
* Reads sum the slots. A histogram slot is one list (sum, count, per-bucket counts). The
  owner increments the bucket, stores the sum, then increments the count; a reader copies
  the list (a single atomic operation on both GIL and free-threaded builds)
  and accepts the copy only when the count equals the sum of the bucket counts, retrying
  otherwise. So each slot is read at one instant, and its count always equals its ``+Inf``
  bucket.
* A gauge's ``set()`` is a single reference store of a new base object (last writer wins);
  ``inc``/``dec`` add to the writer's own slot, tagged with the base it counts from. A read
  adds to the base only the slots tagged with it, so a ``set()`` discards every earlier
  increment without writing to another thread's slot (see ``GaugeCell``).
* A counter's ``reset()`` writes no slot either: it reads the total once and publishes its
  negation as one more slot (``RESET``), so each increment counts wholly before or after
  it (see ``CounterCell.reset``).
* When a thread that wrote cells exits, its slots are folded back (``_Writer``): it
  releases the inline slots it owns and its private slots are added into each cell's one
  folded slot, so a cell holds at most one slot per live writer thread, plus one (two
  once a counter has been reset).
* Every stored number is a plain ``float``: the fast paths add only plain floats and
  ints; anything else is converted by ``as_float`` first.

Rejected input raises before any slot is touched, so a bad call changes nothing.

Storage contract: a cell class declares no instance storage itself (so cells compose with
families and children by multiple inheritance); it lists the attributes it needs in
``STORAGE``, which the composed class declares as slots (see ``storage.compose``), and sets
them in ``_init_cell()``. ``WRITES`` names its recording methods; ``Idle`` is a mixin with
the same methods that validate their arguments and record nothing (a facade instrument
before ``init()``).
"""

from __future__ import annotations

import math
import re
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from numbers import Complex, Real
from threading import get_ident
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

from . import _locks
from ._names import _check_escaped_label_names
from .model import Exemplar, NativeBuckets

_INF = math.inf
# The default amount of ``inc``/``dec``: ``amount is _ONE`` is the cheapest test there is
# that an amount is a plain, valid float (a call without arguments passes this object).
_ONE = 1.0
# Taken only when a thread writes a cell for the first time, and when a thread that wrote
# cells exits (its slots are folded back: see ``_Writer``).
_claim_lock = _locks.new_lock()
# One int object per thread ident, shared by every cell that thread owns (saves memory).
_idents: dict[int, int] = {}


def check_increment(amount: object) -> float:
    """Return ``amount`` as a float if it is a valid counter increment, else raise."""
    value = as_float(amount, "counter increment")
    if not 0.0 <= value < _INF:
        raise ValueError(
            f"counter increment must be finite and >= 0, got {amount!r}"
            " (counters only go up; use a gauge for values that go down)"
        )
    return value


EXEMPLAR_MAX_CHARACTERS = 128
_EXEMPLAR_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def make_exemplar(labels: Mapping[str, str], value: float, utf8_names: bool = False) -> Exemplar:
    """An exemplar for ``value`` now; ``ValueError``/``TypeError`` naming what is wrong.

    Label names follow the label-name rule of the registry the series belongs to: the
    legacy charset ``[a-zA-Z_][a-zA-Z0-9_]*`` by default; with ``utf8_names`` any non-empty
    valid UTF-8 text, refused (as a family's label names are, see
    ``_names.check_label_names``) when an escaping scheme would write two names alike, or
    one as a reserved ``__`` name. Either way a name starting with ``__`` is reserved, as in
    ``prometheus_client`` and ``client_golang``. Label values are converted with ``str()``
    and must be valid UTF-8 (no lone surrogates: every format writes them as UTF-8).
    Names and values together may hold at most 128 characters (Unicode code points), as
    OpenMetrics requires.
    """
    if not isinstance(labels, Mapping):
        raise TypeError(f"exemplar must be a mapping of label names to values, got {labels!r}")
    pairs = []
    size = 0
    legacy = True
    for name, raw in labels.items():
        if not isinstance(name, str) or not _EXEMPLAR_LABEL.fullmatch(name):
            if not utf8_names or not isinstance(name, str):
                raise ValueError(f"invalid exemplar label name {name!r}")
            _check_utf8_exemplar_name(name)
            legacy = False
        if name.startswith("__"):
            raise ValueError(
                f"invalid exemplar label name {name!r}: names starting with '__' are reserved"
            )
        text = raw if raw.__class__ is str else _label_text(name, raw)
        if not text.isascii():
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError(
                    f"exemplar label {name!r} value {text!r} is not valid UTF-8"
                ) from None
        size += len(name) + len(text)
        pairs.append((name, text))
    if size > EXEMPLAR_MAX_CHARACTERS:
        raise ValueError(
            f"exemplar labels {labels!r} hold {size} characters; at most"
            f" {EXEMPLAR_MAX_CHARACTERS} are allowed"
        )
    if not legacy:
        _check_escaped_exemplar_names(tuple(name for name, _ in pairs))
    return Exemplar(tuple(pairs), value, time.time())


def _check_utf8_exemplar_name(name: str) -> None:
    """A UTF-8 registry's rule for one exemplar label name outside the legacy charset."""
    if not name:
        raise ValueError(f"invalid exemplar label name {name!r}: must not be empty")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"invalid exemplar label name {name!r}: not valid UTF-8") from None


def _check_escaped_exemplar_names(names: tuple[str, ...]) -> None:
    """Refuse exemplar label names that an escaping scheme would write alike, or as a
    reserved name: a scrape asking for that scheme could not be written."""
    try:
        _check_escaped_label_names(names, frozenset())
    except ValueError as error:
        raise ValueError(f"exemplar: {error}") from None


def _label_text(name: str, raw: object) -> str:
    """``str(raw)`` for an exemplar label value, or ``TypeError`` naming the label."""
    try:
        return str(raw)
    except Exception as error:
        raise TypeError(f"exemplar label {name!r}: str() of its value failed: {error!r}") from None


_last_created = 0.0


def created_now() -> float:
    """The current time in Unix seconds, to the millisecond: when a series starts.

    Series created in the same millisecond share one float object (they are often made
    by the thousand), which saves memory and loses nothing the formats keep.
    """
    global _last_created
    now = round(time.time(), 3)
    last = _last_created
    if now == last:
        return last
    _last_created = now
    return now


def as_float(value: object, what: str = "value") -> float:
    """Return ``value`` as a plain ``float``, or raise naming it.

    Any real number is accepted: ``int`` (``bool`` and subclasses included), ``float`` and
    its subclasses, ``Fraction``, ``Decimal``, NumPy scalars of every width, anything with
    ``__float__`` or ``__index__``; the result is always exactly a ``float``, so a stored
    value never takes another type's arithmetic. ``TypeError`` for what is not a real
    number: text, complex numbers, arrays and other sized or iterable objects (a
    one-element array included). ``ValueError`` for a number too large for a float
    (``10**400``, ``Fraction(10**400)``, ``Decimal("1e400")``).
    """
    cls = value.__class__
    if cls is float:
        return value  # type: ignore[return-value]
    if (
        isinstance(value, (str, bytes, bytearray, complex))
        or hasattr(value, "__len__")
        or hasattr(value, "__iter__")
        or (isinstance(value, Complex) and not isinstance(value, Real))
    ):
        raise TypeError(f"{what} must be a real number, got {value!r}")
    try:
        number = float(value)  # type: ignore[arg-type]
        # A finite number that float() rounds to an infinity is as out of range as an
        # int float() refuses: Decimal("1e400") fails like 10**400.
        overflowed = (number == _INF or number == -_INF) and value != number
    except OverflowError:
        overflowed = True
    except (TypeError, ValueError, ArithmeticError):
        raise TypeError(f"{what} must be a real number, got {value!r}") from None
    if overflowed:
        raise ValueError(f"{what} {value!r} is too large for a float")
    return number


S = TypeVar("S")


def claim(cell: Any, ident: int, new_slot: Callable[[], S]) -> S | None:
    """Make thread ``ident`` the owner of ``cell``'s inline slot if it has none (returns
    ``None``: write inline), else return its private slot in ``cell._others``, made with
    ``new_slot()`` on first use. Taken once per thread and cell, under one lock, by the
    thread ``ident`` itself; the cell is remembered for that thread, so that its slot is
    folded back into the cell when the thread exits (see ``_Writer``)."""
    with _claim_lock:
        owner = cell._owner
        if owner == ident:
            return None
        if owner == 0:
            cell._owner = _idents.setdefault(ident, ident)
            _track(cell, ident)
            return None
        others: dict[int, S] | None = cell._others
        if others is None:
            others = cell._others = {}
        slot = others.get(ident)
        if slot is None:
            slot = others[ident] = new_slot()
            _track(cell, ident)
        return slot


# The key of a cell's folded slot in ``_others``: the slots of exited threads, added up.
# Never a thread ident (``_owner == 0`` already means "no owner").
RETIRED = 0

_local = threading.local()


class _Writer:
    """The cells a thread (other than the main thread) holds a slot in, kept in that
    thread's ``threading.local`` storage, which nothing else references.

    CPython clears a thread's thread-local storage in the thread itself as it exits
    (``PyThreadState_Clear``), before the thread ends: so ``__del__`` runs in the exiting
    thread, while its ident still belongs to it, after its last write and before
    ``Thread.join()`` returns or any new thread can be given the same ident. It then folds
    the thread's slots back into each cell (``Cell._retire``) and releases the inline slots
    it owns. Run in any other thread (interpreter shutdown), it does nothing: the slots are
    kept, which loses nothing.
    """

    __slots__ = ("cells", "ident")

    def __init__(self, ident: int) -> None:
        self.ident = ident
        self.cells: list[Cell] = []

    def __del__(self) -> None:
        ident = self.ident
        if get_ident() != ident:
            return
        cells, self.cells = self.cells, []
        with _claim_lock:
            for cell in cells:
                cell._retire(ident)
            _idents.pop(ident, None)


def _track(cell: Cell, ident: int) -> None:
    """Remember, under ``_claim_lock``, that thread ``ident`` (the caller) holds a slot in
    ``cell``. The main thread is not tracked: it outlives every other."""
    if ident == threading.main_thread().ident:
        return
    writer: _Writer | None = getattr(_local, "writer", None)
    if writer is None:
        writer = _local.writer = _Writer(ident)
    writer.cells.append(cell)


def slot_count(cell: Any) -> int:
    """How many slots besides the inline one ``cell`` holds (private, folded, and a
    counter's ``RESET`` offset once it has been reset)."""
    others = cell._others
    return 0 if others is None else len(others)


def _folded(others: dict[int, S], ident: int, retired: S | None) -> dict[int, S]:
    """A copy of ``others`` without ``ident``'s slot and with ``retired`` (if any) as the
    folded slot. Published by one reference store, so a reader sums either the old dict
    or the new one, and both add up to the same total."""
    kept = {key: slot for key, slot in others.items() if key != ident and key != RETIRED}
    return kept if retired is None else {RETIRED: retired, **kept}


class _Slot:
    """A private counter slot for one non-owner thread."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0


class Cell:
    """What every cell shares: the owner thread of its inline slot (0: none yet).

    ``UTF8_NAMES`` is the naming rule exemplar label names follow (see
    ``make_exemplar``): a class attribute, true on the classes a family builds for a
    registry made with ``utf8_names=True``, so only the paths taking an exemplar read it.

    Every cell's ``STORAGE`` includes ``_mp``, which the default cells never touch: where a
    storage replacing them binds a series to what backs it (the multi-process storage's
    file entries). With it, a cell and its replacement have the same slots, so a family can
    move to another storage by ``__class__`` assignment (``init(multiprocess_dir=...)``).
    """

    if not TYPE_CHECKING:
        __slots__ = ()
    STORAGE: ClassVar[tuple[str, ...]] = ("_mp", "_owner")
    WRITES: ClassVar[tuple[str, ...]] = ()
    UTF8_NAMES: ClassVar[bool] = False
    Idle: ClassVar[type]
    _owner: int
    _mp: Any

    def _adopt(self) -> None:
        """Set up what this cell keeps, on an object whose cell was another storage's
        until now and recorded nothing (see ``Family._move_to``)."""

    def _retire(self, ident: int) -> None:
        """Thread ``ident`` is exiting (this runs in it, under ``_claim_lock``): release the
        inline slot if it owns it, and fold its private slot into the folded one. The
        inline value stays: the next owner adds to it."""
        if self._owner == ident:
            self._owner = 0


class _IdleCounter:
    """``CounterCell`` writes that validate and drop (see ``Cell.Idle``)."""

    __slots__ = ()
    UTF8_NAMES: ClassVar[bool]

    def inc(self, amount: float = _ONE, exemplar: Mapping[str, str] | None = None) -> None:
        if (
            amount is _ONE or (amount.__class__ is float and amount >= 0.0 and amount < _INF)
        ) and exemplar is None:
            return
        value = check_increment(amount)
        if exemplar is not None:
            make_exemplar(exemplar, value, self.UTF8_NAMES)

    def inc_by(self, amount: float, exemplar: Mapping[str, str] | None = None) -> None:
        self.inc(amount, exemplar)

    def reset(self) -> None:
        pass


# The key, in a counter's ``_others``, of the slot holding minus its total at the last
# ``reset()``. Never a thread ident (idents are positive) nor ``RETIRED``.
RESET = -1


class CounterCell(Cell):
    """A monotonically increasing float, safe for any number of writer threads."""

    if not TYPE_CHECKING:  # empty at run time; mypy would reject assignments under it
        __slots__ = ()
    STORAGE: ClassVar[tuple[str, ...]] = (
        "_created",
        "_exemplar",
        "_mp",
        "_others",
        "_owner",
        "_value",
    )
    WRITES: ClassVar[tuple[str, ...]] = ("inc", "inc_by", "reset")
    Idle = _IdleCounter
    _value: float
    _others: dict[int, _Slot] | None
    _created: float
    _exemplar: Exemplar | None

    def _init_cell(self) -> None:
        self._owner = 0
        self._value = 0.0
        self._others = None
        self._created = created_now()
        self._exemplar = None

    def inc(self, amount: float = _ONE, exemplar: Mapping[str, str] | None = None) -> None:
        """Add ``amount`` (finite, >= 0). Raises ``ValueError``/``TypeError`` otherwise.

        ``exemplar`` (label names to values, 128 characters at most in all) replaces the
        series' exemplar, with ``amount`` as its value and the current time.
        """
        # Only a plain float or int is added here (a float plus either is a float); any
        # other type goes through ``check_increment``, which makes it a float first.
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
                self._value += amount
                return
        except OverflowError:  # an int too large for a float: nothing was stored
            pass
        self._inc_slow(amount, exemplar)

    def inc_by(self, amount: float, exemplar: Mapping[str, str] | None = None) -> None:
        """Add ``amount``; the spec's name for ``inc(amount)``."""
        self.inc(amount, exemplar)

    def _inc_slow(self, amount: object, exemplar: Mapping[str, str] | None = None) -> None:
        value = check_increment(amount)
        traced = None if exemplar is None else make_exemplar(exemplar, value, self.UTF8_NAMES)
        ident = get_ident()
        if traced is not None:
            self._exemplar = traced
        if ident != self._owner:
            others = self._others
            slot = others.get(ident) if others is not None else None
            if slot is None:
                slot = claim(self, ident, _Slot)
                if slot is None:
                    self._value += value
                    return
            slot.value += value
            return
        self._value += value

    def get(self) -> float:
        """The current total (since the last ``reset()``)."""
        others = self._others
        if not others:
            return float(self._value)
        # The slots are listed before any value is read: a reset's offset slot (never
        # changed once published) then never meets values older than it subtracts.
        slots = list(others.values())
        value = float(self._value)
        for slot in slots:
            value += slot.value
        return value if value >= 0.0 else 0.0  # rounding after a reset, nothing else

    def reset(self) -> None:
        """Start again from 0, with a new created time and no exemplar, as
        ``prometheus_client``'s ``Counter.reset()`` (a logical process restarting).

        No writer waits and none is slowed: nothing is written to any thread's slot. The
        total is read once, slot by slot, and its negation published as one more slot
        (``RESET``), so every concurrent increment is counted wholly before the reset or
        wholly after it. Exact for integer amounts (below 2**53); fractional amounts may
        leave a rounding error of the order of the old total times 2**-53.
        """
        with _claim_lock:  # against claim() and folding, which also change ``_others``
            others = self._others
            kept = {} if others is None else {k: s for k, s in others.items() if k != RESET}
            slots = list(kept.values())
            total = float(self._value)
            for slot in slots:  # in get()'s order: with no increment since, get() is 0.0
                total += slot.value
            offset = _Slot()
            offset.value = -total
            kept[RESET] = offset
            self._exemplar = None
            self._created = created_now()
            self._others = kept

    def _retire(self, ident: int) -> None:
        Cell._retire(self, ident)
        others = self._others
        dead = None if others is None else others.get(ident)
        if others is None or dead is None:
            return
        retired = others.get(RETIRED)
        folded = _Slot()
        folded.value = dead.value if retired is None else retired.value + dead.value
        self._others = _folded(others, ident, folded)

    @staticmethod
    def read_all(
        cells: Sequence[CounterCell],
    ) -> tuple[list[float], list[float], list[Exemplar | None]]:
        """Values, created times and exemplars of many counter cells, for a snapshot."""
        # Reads the inline value directly when only its owner thread ever wrote the cell.
        values = [c._value if c._others is None else c.get() for c in cells]
        return values, [c._created for c in cells], [c._exemplar for c in cells]


class _GaugeSlot:
    """A private gauge slot for one non-owner thread: a delta and the base it counts from."""

    __slots__ = ("delta", "mark")

    def __init__(self) -> None:
        self.mark: tuple[float] | None = None
        self.delta = 0.0


class _IdleGauge:
    """``GaugeCell`` writes that validate and drop (see ``Cell.Idle``)."""

    __slots__ = ()

    def inc(self, amount: float = _ONE) -> None:
        if amount.__class__ is not float:
            as_float(amount, "gauge increment")

    def dec(self, amount: float = _ONE) -> None:
        if amount.__class__ is not float:
            as_float(amount, "gauge decrement")

    def set(self, value: float) -> None:
        if value.__class__ is not float:
            as_float(value, "gauge value")


_ZERO_BASE = (0.0,)


class _FunctionBase(tuple):  # type: ignore[type-arg]  # stands for a tuple[float] base
    """A gauge's base while its value comes from a function (``GaugeCell.set_function``).

    A tuple whose item 0 is read from the function: ``base[0]`` in ``GaugeCell.get`` calls
    it, so gauges without a function pay nothing for this feature (their bases are plain
    tuples, whose indexing the interpreter specialises). ``previous`` is the base it
    replaced (the stored value, kept for ``set_function(None)``); ``failed`` the error of
    the last failed read, so that the family can say which series failed. Not slotted
    (a tuple subclass cannot be): one per function set, never on a hot path.
    """

    function: Callable[[], float]
    previous: tuple[float]
    failed: Exception | None

    def __getitem__(self, index: Any) -> float:  # type: ignore[override]
        return self.read()

    def read(self) -> float:
        """``function()`` as a plain float (NaN and infinities included). ``ValueError``
        naming the function if it raises (the error chained), ``TypeError``/``ValueError``
        naming it and the value if that is not a real number (see ``as_float``)."""
        function = self.function
        try:
            value = function()
        except Exception as error:
            failed: Exception = ValueError(f"gauge function {function!r} raised {error!r}")
            failed.__cause__ = error
        else:
            try:
                return as_float(value, f"the value of gauge function {function!r}")
            except (TypeError, ValueError) as error:
                failed = error
        self.failed = failed
        raise failed


def _function_base(function: Callable[[], float], previous: tuple[float]) -> _FunctionBase:
    base = _FunctionBase((math.nan,))
    base.function = function
    base.previous = previous
    base.failed = None
    return base


class GaugeCell(Cell):
    """A float that goes up and down and can be set, with no lock on any update.

    ``set(v)`` stores a new base object ``(v,)``: one reference store, so the last
    ``set()`` wins whichever thread makes it. ``inc``/``dec`` add to the calling thread's
    own delta (the inline ``_value`` for the owner thread, a ``_GaugeSlot`` for others),
    tagged with the base it was added to. The value is the base plus the deltas tagged
    with it: a ``set()`` discards every increment made before it by making their tag
    stale, without writing to any other thread's slot. Each base is a new object, so an
    identity test (``is``) tells bases apart even when their values are equal.

    Exact once writers are quiet: increments are never lost, and after a final ``set(v)``
    the value is ``v`` itself (NaN and -0.0 included). A read racing a ``set()`` may add
    one delta to the neighbouring base, for that read only.

    ``set_function(f)`` stores a base of another kind (``_FunctionBase``) whose item 0 is
    ``f()``: no delta is ever tagged with it (``inc``/``dec`` refuse it on their slow path,
    the only one a new base leads to), and the next ``set()`` replaces it like any base.
    """

    if not TYPE_CHECKING:
        __slots__ = ()
    STORAGE: ClassVar[tuple[str, ...]] = ("_base", "_mark", "_mp", "_others", "_owner", "_value")
    WRITES: ClassVar[tuple[str, ...]] = ("inc", "dec", "set")
    Idle = _IdleGauge
    _base: tuple[float]
    _mark: tuple[float] | None
    _value: float
    _others: dict[int, _GaugeSlot] | None

    def _init_cell(self) -> None:
        self._owner = 0
        self._base = _ZERO_BASE
        self._mark = _ZERO_BASE
        self._value = 0.0
        self._others = None

    def inc(self, amount: float = _ONE) -> None:
        """Add ``amount`` (any real number)."""
        # Only a plain float or int is added here; any other type is made a float first.
        try:
            if (
                (amount is _ONE or amount.__class__ is float or amount.__class__ is int)
                and get_ident() == self._owner
                and self._mark is self._base
            ):
                self._value += amount
                return
        except OverflowError:  # an int too large for a float: nothing was stored
            pass
        self._add(as_float(amount, "gauge increment"))

    def dec(self, amount: float = _ONE) -> None:
        """Subtract ``amount`` (any real number)."""
        try:
            if (
                (amount is _ONE or amount.__class__ is float or amount.__class__ is int)
                and get_ident() == self._owner
                and self._mark is self._base
            ):
                self._value -= amount
                return
        except OverflowError:
            pass
        self._add(-as_float(amount, "gauge decrement"))

    def set(self, value: float) -> None:
        """Set the gauge to ``value`` (any real number, NaN and infinities included)."""
        if value.__class__ is not float:
            value = as_float(value, "gauge value")
        self._base = (value,)

    def set_function(self, function: Callable[[], float] | None) -> None:
        """Take the value from ``function()`` at every read (``get()`` and each export)
        instead of storing one.

        The function is called with no argument, in the reading thread (a scrape's), and
        must return a real number (NaN and infinities included); if it raises or returns
        anything else, the read raises ``ValueError``/``TypeError`` naming it and the value
        (an export then leaves this family out, see ``MetricsRegistry.collect``). A later
        ``set(v)`` replaces the function with the stored value ``v``; ``inc()`` and ``dec()``
        raise ``ValueError`` while a function is set, since there is no stored value to
        move. ``set_function(None)`` removes the function: the gauge holds again the value
        it held before the function was set. ``TypeError`` if ``function`` is neither
        callable nor ``None``.
        """
        base = self._base
        stored = base.previous if isinstance(base, _FunctionBase) else base
        if function is None:
            self._base = stored
            return
        if not callable(function):
            raise TypeError(f"gauge function must be callable or None, got {function!r}")
        self._base = _function_base(function, stored)

    def _add(self, amount: float) -> None:
        """``inc``'s slow path: claim a slot, or restart a delta stale since a ``set()``.

        The delta is tagged with the base read first: a ``set()`` made since then makes
        it stale, as if this increment had come just before that ``set()``.
        """
        base = self._base
        if isinstance(base, _FunctionBase):
            raise ValueError(
                f"this gauge takes its value from {base.function!r} (set_function):"
                " call set(value) or set_function(None) before inc() or dec()"
            )
        ident = get_ident()
        if ident != self._owner:
            others = self._others
            slot = others.get(ident) if others is not None else None
            if slot is None:
                slot = claim(self, ident, _GaugeSlot)
            if slot is not None:
                if slot.mark is base:
                    slot.delta += amount
                else:  # untag first, so no reader adds the old delta to the new base
                    slot.mark = None
                    slot.delta = amount
                    slot.mark = base
                return
        if self._mark is base:
            self._value += amount
        else:
            self._mark = None
            self._value = amount
            self._mark = base

    def get(self) -> float:
        """The current value: the latest ``set()`` plus the increments made since, or what
        the function given to ``set_function()`` returns now."""
        base = self._base
        value = base[0]  # calls the function of a _FunctionBase (no delta is tagged with it)
        if self._mark is base:
            value += self._value
        others = self._others
        if others:
            for slot in list(others.values()):
                if slot.mark is base:
                    value += slot.delta
        return float(value)

    def _retire(self, ident: int) -> None:
        Cell._retire(self, ident)
        others = self._others
        dead = None if others is None else others.get(ident)
        if others is None or dead is None:
            return
        # Only deltas tagged with the current base count; older ones were discarded by a
        # set() already. A set() racing this fold makes the folded slot stale: right too.
        # While a function is set, the stored value it will give back to counts.
        base = self._base
        if isinstance(base, _FunctionBase):
            base = base.previous
        folded = None
        for slot in (others.get(RETIRED), dead):
            if slot is not None and slot.mark is base:
                if folded is None:
                    folded = _GaugeSlot()
                    folded.delta = slot.delta
                else:
                    folded.delta += slot.delta
        if folded is not None:
            folded.mark = base
        self._others = _folded(others, ident, folded)


_READ_RETRIES = 100


def _consistent_copy(counts: list[float]) -> list[float]:
    """Copy one histogram slot at an instant when no observation is half-written.

    If the owner never finishes (an exception raised by a signal handler between two of
    its steps can do that), the copy is taken as is after a bounded number of retries,
    with its count made equal to its buckets: a read always ends.
    """
    for _ in range(_READ_RETRIES):
        snapshot = counts.copy()
        if snapshot[1] == sum(snapshot[2:]):
            return snapshot
        time.sleep(0)  # the owner is mid-observation: let it finish
    snapshot = counts.copy()
    snapshot[1] = sum(snapshot[2:])
    return snapshot


def slot_bounds(upper_bounds: tuple[float, ...]) -> tuple[float, ...]:
    """What ``HistogramCell`` takes: the upper bounds (sorted, ending with ``+Inf``) preceded
    by two placeholders, so ``bisect_left(slot_bounds, value, 2)`` is a slot index."""
    return (-_INF, -_INF, *upper_bounds)


# Largest bucket count that gets a compiled observe(); more falls back to bisect.
_COMPILE_LIMIT = 1024


def compile_observe(upper_bounds: tuple[float, ...]) -> Callable[[HistogramCell, float], None]:
    """An ``observe`` for cells with these upper bounds, with the bucket search unrolled.

    The generated function is ``HistogramCell.observe`` with ``bisect_left`` replaced by a
    balanced tree of comparisons against constants, and the NaN test moved to the last
    bucket (the only one NaN can reach): about 50 ns less per call, a quarter of the cost.
    ``x[i] = x[i] + 1`` is written rather than ``x[i] += 1``: fewer bytecodes, same writes.
    Same protocol, same order of writes, same fallback to the slow path, which rejects NaN
    and makes any value that is not a plain float or int a float first.
    """
    if len(upper_bounds) > _COMPILE_LIMIT:
        return HistogramCell.observe

    def literal(bound: float) -> str:
        return "-1e400" if bound == -_INF else repr(bound)  # -1e400 folds to -inf

    last = len(upper_bounds) - 1

    def search(low: int, high: int, indent: str) -> list[str]:
        if low == high == last:
            # Every comparison is false for NaN, so NaN can only arrive here.
            return [
                f"{indent}if value != value:",
                f"{indent}    return self._observe_slow(value, exemplar)",
                f"{indent}counts[{low + 2}] = counts[{low + 2}] + 1",
            ]
        if low == high:
            return [f"{indent}counts[{low + 2}] = counts[{low + 2}] + 1"]
        middle = (low + high) // 2
        return [
            f"{indent}if value <= {literal(upper_bounds[middle])}:",
            *search(low, middle, indent + "    "),
            f"{indent}else:",
            *search(middle + 1, high, indent + "    "),
        ]

    body = "\n".join(search(0, len(upper_bounds) - 1, " " * 12))
    source = f"""
def observe(self, value, exemplar=None):
    try:
        if (
            (value.__class__ is float or value.__class__ is int)
            and get_ident() == self._owner
            and exemplar is None
        ):
            counts = self._counts
            total = counts[0] + value
{body}
            counts[0] = total
            counts[1] = counts[1] + 1
            return
    except OverflowError:
        pass
    self._observe_slow(value, exemplar)
"""
    # float and int as module globals: a cheaper lookup than builtins.
    namespace: dict[str, Any] = {"get_ident": get_ident, "float": float, "int": int}
    exec(compile(source, f"<observe for {len(upper_bounds)} buckets>", "exec"), namespace)
    observe: Callable[[HistogramCell, float], None] = namespace["observe"]
    observe.__doc__ = HistogramCell.observe.__doc__
    return observe


def _new_slot(bounds: tuple[float, ...]) -> list[float]:
    slot: list[float] = [0] * len(bounds)
    slot[0] = 0.0
    return slot


class _IdleHistogram:
    """``HistogramCell`` writes that validate and drop (see ``Cell.Idle``)."""

    __slots__ = ()
    UTF8_NAMES: ClassVar[bool]

    def observe(self, value: float, exemplar: Mapping[str, str] | None = None) -> None:
        if value.__class__ is float and value == value and exemplar is None:
            return
        number = as_float(value, "histogram observation")
        if number != number:
            raise ValueError(f"histogram observation must not be NaN, got {value!r}")
        if exemplar is not None:
            make_exemplar(exemplar, number, self.UTF8_NAMES)


class HistogramCell(Cell):
    """Bucket counts, sum and count for one histogram series.

    A slot is one list: ``[sum, count, n0, n1, ...]`` with per-bucket (not cumulative)
    counts. ``_bounds`` is the upper bounds preceded by two placeholders, so that
    ``bisect_left(_bounds, value, 2)`` is directly the slot index of a value's bucket.
    """

    if not TYPE_CHECKING:
        __slots__ = ()
    STORAGE: ClassVar[tuple[str, ...]] = (
        "_bounds",
        "_counts",
        "_created",
        "_exemplars",
        "_mp",
        "_others",
        "_owner",
    )
    WRITES: ClassVar[tuple[str, ...]] = ("observe",)
    Idle = _IdleHistogram
    _bounds: tuple[float, ...]
    _counts: list[float]
    _others: dict[int, list[float]] | None
    _created: float
    _exemplars: list[Exemplar | None] | None

    def _init_cell(self, slot_bounds: tuple[float, ...]) -> None:
        """``slot_bounds``: ``slot_bounds(upper_bounds)``, computed once and shared."""
        self._bounds = slot_bounds
        self._owner = 0
        self._counts = _new_slot(slot_bounds)
        self._others = None
        self._created = created_now()
        self._exemplars = None

    def observe(self, value: float, exemplar: Mapping[str, str] | None = None) -> None:
        """Record one observation. NaN and non-numbers are rejected.

        ``exemplar`` (label names to values) replaces the exemplar of the value's bucket.
        """
        # Only a plain float or int is added here; any other type is made a float first.
        try:
            if (
                (value.__class__ is float or value.__class__ is int)
                and value == value
                and get_ident() == self._owner
                and exemplar is None
            ):
                counts = self._counts
                total = counts[0] + value  # raises first (too large an int): nothing touched
                counts[bisect_left(self._bounds, value, 2)] += 1
                counts[0] = total
                counts[1] += 1
                return
        except OverflowError:
            pass
        self._observe_slow(value, exemplar)

    def _observe_slow(self, value: object, exemplar: Mapping[str, str] | None = None) -> None:
        number = as_float(value, "histogram observation")
        if number != number:
            raise ValueError(f"histogram observation must not be NaN, got {value!r}")
        traced = None if exemplar is None else make_exemplar(exemplar, number, self.UTF8_NAMES)
        ident = get_ident()
        counts = self._counts if ident == self._owner else self._slot_for(ident)
        index = bisect_left(self._bounds, number, 2)
        total = counts[0] + number
        counts[index] += 1
        counts[0] = total
        counts[1] += 1
        if traced is not None:
            exemplars = self._exemplars
            if exemplars is None:
                exemplars = self._exemplars = [None] * (len(self._bounds) - 2)
            exemplars[index - 2] = traced

    def _slot_for(self, ident: int) -> list[float]:
        others = self._others
        slot = others.get(ident) if others is not None else None
        if slot is None:
            slot = claim(self, ident, lambda: _new_slot(self._bounds))
        return self._counts if slot is None else slot

    def read(self) -> tuple[list[int], float, int]:
        """Per-bucket counts (not cumulative), sum and count, each slot read at one instant."""
        counts = _consistent_copy(self._counts)
        others = self._others
        if others:
            for slot in list(others.values()):
                extra = _consistent_copy(slot)
                counts = [a + b for a, b in zip(counts, extra, strict=True)]
        return cast("list[int]", counts[2:]), float(counts[0]), int(counts[1])

    def read_native(self) -> tuple[list[int], float, int, NativeBuckets | None]:
        """``read()`` and the native buckets at the same instant (``None``: a classic
        histogram has none; see ``values_native``)."""
        counts, total, count = self.read()
        return counts, total, count, None

    def _retire(self, ident: int) -> None:
        if self._owner == ident:
            self._owner = 0
            _settle(self._counts)
        others = self._others
        dead = None if others is None else others.get(ident)
        if others is None or dead is None:
            return
        _settle(dead)
        retired = others.get(RETIRED)
        folded = (
            dead.copy() if retired is None else [a + b for a, b in zip(retired, dead, strict=True)]
        )
        self._others = _folded(others, ident, folded)


def _settle(counts: list[float]) -> None:
    """Make an exiting owner's slot consistent (count = its buckets) if an exception
    interrupted one of its observations for good: it can never finish it now."""
    buckets = sum(counts[2:])
    if counts[1] != buckets:
        counts[1] = buckets


_COMPILED_LOCK = _locks.new_lock()
_COMPILED_CELLS: dict[tuple[float, ...], type[HistogramCell]] = {}


def histogram_cell_for(upper_bounds: tuple[float, ...]) -> type[HistogramCell]:
    """``HistogramCell`` with ``observe`` compiled for these bounds (one class per layout,
    shared by every family and child with the same bounds)."""
    with _COMPILED_LOCK:
        cell = _COMPILED_CELLS.get(upper_bounds)
        if cell is None:
            namespace = {"__slots__": (), "observe": compile_observe(upper_bounds)}
            cell = _COMPILED_CELLS[upper_bounds] = type(
                "HistogramCell", (HistogramCell,), namespace
            )
        return cell
