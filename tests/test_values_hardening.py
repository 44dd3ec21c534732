"""Hardening of the value cells (issue 8): whatever numeric type arrives, a stored value is a
plain ``float``; arrays and other non-scalars are refused; numbers out of the float range
and decimal NaNs raise ``ValueError``/``TypeError`` naming the value; exemplar label values
must be valid UTF-8. Live and paused (before ``init()``) instruments accept and refuse
exactly the same arguments."""

from __future__ import annotations

import enum
import math
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

import tachikoma_metrics
from tachikoma_metrics import Histogram, MetricsRegistry
from tachikoma_metrics.values import as_float, make_exemplar


class _IntSub(int):
    pass


class _Level(enum.IntEnum):
    HIGH = 3


class _FloatSub(float):
    """A float subclass with its own (Python-level) addition, as the issue describes."""

    def __radd__(self, other: object) -> float:
        return _FloatSub(float(other) + float(self))  # type: ignore[arg-type]

    def __add__(self, other: object) -> float:
        return _FloatSub(float(self) + float(other))  # type: ignore[arg-type]


# Numbers of every kind the issue lists, each worth exactly float(number).
NUMBERS: list[Any] = [
    np.float16(0.5),
    np.float32(0.25),
    np.float64(2.0),
    np.longdouble(3.0),
    np.int8(3),
    np.int16(4),
    np.int32(5),
    np.int64(6),
    np.uint8(7),
    np.uint64(8),
    np.bool_(True),
    Decimal("0.75"),
    Fraction(3, 4),
    True,
    _IntSub(9),
    _Level.HIGH,
    _FloatSub(1.5),
    2,
    0.5,
]


def _ident(value: object) -> str:
    return f"{type(value).__name__}({value!r})"


def _run_in_thread(work: Callable[[], None]) -> None:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as error:  # re-raised below
            errors.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    assert not thread.is_alive()
    if errors:
        raise errors[0]


def _stored(cell: Any) -> list[object]:
    """Every number a cell stores: inline value, slot values, gauge base, histogram sums."""
    found: list[object] = []
    for name in ("_value",):
        if hasattr(cell, name):
            found.append(getattr(cell, name))
    if hasattr(cell, "_base"):
        found.append(cell._base[0])
    if hasattr(cell, "_counts"):
        found.append(cell._counts[0])
    for slot in (cell._others or {}).values():
        if isinstance(slot, list):
            found.append(slot[0])
        else:
            found.append(getattr(slot, "value", getattr(slot, "delta", None)))
    return found


def _all_plain_floats(cell: Any) -> None:
    for value in _stored(cell):
        assert type(value) is float, f"stored {value!r} ({type(value).__name__})"


# -- 1. every stored value stays a Python float ---------------------------------------------


def test_float32_increment_does_not_freeze_a_counter(registry: MetricsRegistry) -> None:
    """The issue's reproduction: a float32 zero used to make the stored total a float32,
    after which 1,000 increments of 1 were lost to rounding."""
    c = registry.counter("c_total", "C.")
    c.inc(16777216.0)
    c.inc(np.float32(0))
    for _ in range(1000):
        c.inc()
    assert c.get() == 16777216.0 + 1000
    _all_plain_floats(c)


def test_float32_observation_does_not_freeze_a_histogram_sum(registry: MetricsRegistry) -> None:
    h = registry.histogram("h", "H.", buckets=(1.0,))
    h.observe(16777216.0)
    h.observe(np.float32(0))
    for _ in range(1000):
        h.observe(1.0)
    assert h.get().sum == 16777216.0 + 1000
    assert h.get().count == 1002
    _all_plain_floats(h)


def test_float32_does_not_freeze_a_gauge(registry: MetricsRegistry) -> None:
    g = registry.gauge("g", "G.")
    g.set(16777216.0)
    g.inc(np.float32(0))
    for _ in range(1000):
        g.inc()
    assert g.get() == 16777216.0 + 1000
    g.set(np.float32(16777216.0))
    g.inc(np.float32(0))
    for _ in range(1000):
        g.dec()
    assert g.get() == 16777216.0 - 1000
    _all_plain_floats(g)


@pytest.mark.parametrize("number", NUMBERS, ids=_ident)
@pytest.mark.parametrize("where", ["owner", "other thread"])
def test_every_numeric_type_is_stored_as_a_plain_float(
    registry: MetricsRegistry, number: Any, where: str
) -> None:
    """Counter ``inc``/``inc_by``, gauge ``inc``/``dec``/``set`` and histogram ``observe``
    take any real number, by the thread owning the cell or by another one, and store a
    plain float worth exactly ``float(number)``; later plain increments still count."""
    c = registry.counter("c_total", "C.")
    g = registry.gauge("g", "G.")
    h = registry.histogram("h", "H.", buckets=(1.0, 5.0))
    for cell in (c, g, h):  # this thread owns every cell's inline slot
        getattr(cell, "observe", getattr(cell, "inc", None))(0)
    c.inc(2**24)
    g.set(2**24)
    h.observe(2**24)
    value = float(number)

    def write() -> None:
        c.inc(number)
        c.inc_by(number)
        g.inc(number)
        g.dec(number)
        g.inc(number)
        h.observe(number)

    if where == "owner":
        write()
    else:
        _run_in_thread(write)
    for _ in range(3):
        c.inc()
        g.inc()
        h.observe(1)
    assert c.get() == 2**24 + 2 * value + 3
    assert g.get() == 2**24 + value + 3
    snap = h.get()
    assert (snap.sum, snap.count) == (2**24 + value + 3, 6)
    for cell in (c, g, h):
        _all_plain_floats(cell)
    g.set(number)
    assert g.get() == value
    assert type(g._base[0]) is float


# -- 2. arrays and other non-scalars are refused ---------------------------------------------

NON_SCALARS: list[Any] = [
    np.array([1.0]),
    np.array([[2.0]]),
    np.array(1.0),
    np.array([1.0, 2.0]),
    [1.0],
    (1.0,),
    {1.0},
    range(1),
    memoryview(b"\x01"),
]


def _writes(registry: MetricsRegistry) -> list[tuple[str, Callable[[Any], None], Any]]:
    c = registry.counter("c_total", "C.")
    g = registry.gauge("g", "G.")
    h = registry.histogram("h", "H.", buckets=(1.0, 5.0))
    c.inc(2)
    g.set(2)
    h.observe(2)
    return [
        ("Counter.inc", c.inc, c),
        ("Counter.inc_by", c.inc_by, c),
        ("Gauge.inc", g.inc, g),
        ("Gauge.dec", g.dec, g),
        ("Gauge.set", g.set, g),
        ("Histogram.observe", h.observe, h),
    ]


def _reading(cell: Any) -> object:
    value = cell.get()
    return (value.sum, value.count, value.buckets) if hasattr(value, "buckets") else value


@pytest.mark.parametrize("bad", NON_SCALARS, ids=_ident)
@pytest.mark.parametrize("where", ["owner", "other thread"])
def test_arrays_and_other_non_scalars_raise_type_error(
    registry: MetricsRegistry, bad: Any, where: str
) -> None:
    """A one-element array used to pass the checks in ``inc()`` and ``observe()`` and break
    every later ``get()`` and export. Every write refuses it with ``TypeError``, nothing
    changes, and reads and exports still work."""
    for method, write, cell in _writes(registry):
        before = _reading(cell)

        def attempt(write: Callable[[Any], None] = write, method: str = method) -> None:
            with pytest.raises(TypeError, match="real number"):
                write(bad)

        if where == "owner":
            attempt()
        else:
            _run_in_thread(attempt)
        assert _reading(cell) == before, method
        _all_plain_floats(cell)
    registry.export_prometheus()
    registry.export_openmetrics()


# -- 3. out-of-range numbers and decimal NaNs: ValueError or TypeError naming them -----------

OUT_OF_RANGE: list[Any] = [
    10**400,
    -(10**400),
    Fraction(10**400),
    Fraction(-(10**400), 3),
    _IntSub(10**400),
    np.longdouble("1e400") if np.finfo(np.longdouble).max > 1e308 else Decimal("-1e400"),
    Decimal("1e400"),
]


@pytest.mark.parametrize("bad", OUT_OF_RANGE, ids=lambda v: type(v).__name__)
@pytest.mark.parametrize("where", ["owner", "other thread"])
def test_numbers_too_large_for_a_float_raise_value_error_naming_them(
    registry: MetricsRegistry, bad: Any, where: str
) -> None:
    """``10**400`` and ``Fraction(10**400)`` used to raise ``OverflowError`` (and a finite
    ``Decimal("1e400")`` became an infinity). Every write raises ``ValueError`` naming the
    value, and changes nothing."""
    for method, write, cell in _writes(registry):
        before = _reading(cell)

        def attempt(write: Callable[[Any], None] = write, method: str = method) -> None:
            with pytest.raises(ValueError) as caught:
                write(bad)
            assert repr(bad) in str(caught.value), method

        if where == "owner":
            attempt()
        else:
            _run_in_thread(attempt)
        assert _reading(cell) == before, method


@pytest.mark.parametrize("bad", [Decimal("NaN"), Decimal("-NaN"), Decimal("sNaN")], ids=repr)
def test_decimal_nans_raise_value_or_type_error(registry: MetricsRegistry, bad: Decimal) -> None:
    """``Decimal("NaN")`` used to raise ``decimal.InvalidOperation`` from a counter. Counters
    and histograms refuse any NaN with ``ValueError``/``TypeError`` naming it; a gauge
    holds NaN, so a quiet decimal NaN sets it to NaN and a signalling one is refused."""
    for method, write, cell in _writes(registry):
        before = _reading(cell)
        if method.startswith("Gauge") and not bad.is_snan():
            write(bad)
            if method == "Gauge.set":
                assert math.isnan(cell.get())
            continue
        with pytest.raises((ValueError, TypeError)) as caught:
            write(bad)
        assert repr(bad) in str(caught.value), method
        after = _reading(cell)
        assert after == before or (method.startswith("Gauge") and math.isnan(cell.get()))


def test_bucket_bounds_out_of_range_or_not_scalars_raise() -> None:
    """Bucket bounds go through the same conversion: too large a number is a ``ValueError``,
    an array a ``TypeError``, each naming the bound."""
    with pytest.raises(ValueError, match=r"10000000000"):
        Histogram("h", "H.", buckets=(1, 10**400))
    with pytest.raises(ValueError, match=r"Fraction"):
        Histogram("h", "H.", buckets=(Fraction(10**400),))
    with pytest.raises(TypeError, match=r"array"):
        Histogram("h", "H.", buckets=(np.array([1.0]), 2.0))
    h = Histogram("h", "H.", buckets=(np.float32(0.5), Decimal("1"), Fraction(3, 2)))
    assert h.buckets == (0.5, 1.0, 1.5, math.inf)
    assert all(type(bound) is float for bound in h.buckets)


def test_as_float_contract() -> None:
    """``as_float`` returns exactly a float for every real number and raises only
    ``TypeError``/``ValueError`` naming the value."""
    for number in NUMBERS:
        result = as_float(number)
        assert type(result) is float and result == float(number), number
    for bad in [*NON_SCALARS, "1.0", b"1", 1j, np.complex64(1), object(), None]:
        with pytest.raises(TypeError, match="real number"):
            as_float(bad)
    for big in (10**400, Fraction(10**400)):
        with pytest.raises(ValueError, match="too large"):
            as_float(big)


# -- 4. exemplar label values must be valid UTF-8 --------------------------------------------


class _Surrogate:
    def __str__(self) -> str:
        return "id-\udcff"


class _Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no text")


@pytest.mark.parametrize("raw", ["\ud800", "ok\udcff", "\udfff end", _Surrogate()], ids=repr)
def test_exemplar_label_value_with_a_lone_surrogate_is_refused(
    registry: MetricsRegistry, raw: object
) -> None:
    """A lone surrogate in an exemplar label value used to be stored, and every scrape
    then failed. It is refused with ``ValueError`` naming the label, nothing is recorded,
    and scrapes still work."""
    c = registry.counter("c_total", "C.")
    h = registry.histogram("h", "H.", buckets=(1.0,))
    for write in (c.inc, h.observe):
        with pytest.raises(ValueError, match=r"trace_id.*not valid UTF-8"):
            write(1, exemplar={"trace_id": raw})
    assert c.get() == 0.0
    assert c._exemplar is None
    assert h.get().count == 0 and h._exemplars is None
    with pytest.raises(ValueError, match="not valid UTF-8"):
        make_exemplar({"trace_id": raw}, 1.0)  # type: ignore[dict-item]
    registry.export_openmetrics()
    c.inc(1, exemplar={"trace_id": "é✓"})  # other non-ASCII text is fine
    assert "é✓" in registry.export_openmetrics()


def test_exemplar_label_value_whose_str_fails_raises_type_error(registry: MetricsRegistry) -> None:
    c = registry.counter("c_total", "C.")
    with pytest.raises(TypeError, match="trace_id"):
        c.inc(1, exemplar={"trace_id": _Unprintable()})  # type: ignore[dict-item]
    assert c.get() == 0.0 and c._exemplar is None


# -- paused instruments accept and refuse exactly what live ones do -------------------------

ARGUMENTS: list[Any] = [
    *NUMBERS,
    *NON_SCALARS,
    *OUT_OF_RANGE,
    Decimal("NaN"),
    Decimal("sNaN"),
    math.nan,
    math.inf,
    -math.inf,
    -1,
    -0.5,
    "1",
    None,
    1j,
    np.complex64(1),
    np.float32("nan"),
    np.float64("inf"),
]


def _outcome(write: Callable[..., None], *args: Any, **kwargs: Any) -> str:
    try:
        write(*args, **kwargs)
    except (TypeError, ValueError) as error:
        return type(error).__name__
    return "ok"


@pytest.fixture
def paused_and_live(fresh_facade: None) -> Iterator[tuple[list[Any], list[Any]]]:
    live_registry = MetricsRegistry()
    live = [
        live_registry.counter("c_total", "C."),
        live_registry.gauge("g", "G."),
        live_registry.histogram("h", "H."),
    ]
    paused = [
        tachikoma_metrics.counter("c_total", "C."),
        tachikoma_metrics.gauge("g", "G."),
        tachikoma_metrics.histogram("h", "H."),
    ]
    yield paused, live


@pytest.mark.parametrize("argument", ARGUMENTS, ids=_ident)
def test_paused_instruments_accept_and_refuse_what_live_ones_do(
    paused_and_live: tuple[list[Any], list[Any]], argument: Any
) -> None:
    paused, live = paused_and_live
    for method in ("inc", "inc_by", "dec", "set", "observe"):
        for one_paused, one_live in zip(paused, live, strict=True):
            if not hasattr(one_live, method):
                continue
            expected = _outcome(getattr(one_live, method), argument)
            got = _outcome(getattr(one_paused, method), argument)
            assert got == expected, (type(one_live).__name__, method)
    for one_paused, one_live in zip(paused, live, strict=True):
        write = getattr(one_live, "observe", getattr(one_live, "inc", None))
        paused_write = getattr(one_paused, "observe", getattr(one_paused, "inc", None))
        for exemplar in ({"trace_id": "\ud800"}, {"trace_id": "ok"}):
            expected = _outcome(write, 1, exemplar=exemplar)
            got = _outcome(paused_write, 1, exemplar=exemplar)
            assert got == expected, (type(one_live).__name__, exemplar)
    assert tachikoma_metrics.counter("c_total", "C.").get() == 0.0  # paused: nothing recorded
