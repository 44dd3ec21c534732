"""Summaries: definition, observations, the sliding window (on a fake clock), the sketch's
edges, the storage seam and every exposition format."""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Iterator
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text

from counting_storage import CountingStorage
from metrics_proto import decode_families
from promtool import check_metrics
from tachikoma_metrics import MetricsRegistry, SummaryValue, quantiles
from tachikoma_metrics.errors import RegistrationError
from tachikoma_metrics.instruments.summary import (
    DEFAULT_AGE_BUCKETS,
    DEFAULT_MAX_AGE,
    DEFAULT_QUANTILES,
    Summary,
    SummaryChild,
)
from tachikoma_metrics.quantiles import FLUSH_AT, MAX_BUCKETS, RELATIVE_ACCURACY, Sketch

INF = math.inf
# The midpoint of the bucket a power of two starts: 2**k is reported as 2**k * 129/128,
# unless that lies past the window's largest observation, to which it is then clamped.
MIDPOINT = 129 / 128


class FakeClock:
    """Stands in for ``time.monotonic`` in ``tachikoma_metrics.quantiles``."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock(1000.0)
    monkeypatch.setattr(quantiles, "_clock", fake)
    return fake


def nearest_rank(values: list[float], q: float) -> float:
    """The exact nearest-rank quantile: the ceil(q*n)-th smallest, q read as a decimal."""
    ordered = sorted(values)
    return ordered[math.ceil(Fraction(repr(q)) * len(ordered)) - 1]


def assert_close(estimate: float, exact: float) -> None:
    """Within the sketch's relative accuracy (exact for zeros and infinities)."""
    if exact == 0 or math.isinf(exact):
        assert estimate == exact
    else:
        assert abs(estimate - exact) <= RELATIVE_ACCURACY * abs(exact), (estimate, exact)


def window(summary: Summary | SummaryChild) -> dict[float, float]:
    return dict(summary.get().quantiles)


# -- the issue's example and the defaults -------------------------------------------------


def test_issue_example(registry: MetricsRegistry) -> None:
    """The issue's calls: labelled summary, observe, time(), get() as a SummaryValue."""
    s = registry.get_or_create(
        Summary,
        "tachikoma_llm_latency_seconds",
        "LLM call latency",
        labelnames=("provider",),
        quantiles=(0.5, 0.9, 0.99),
        max_age=600.0,
        age_buckets=5,
    )
    s.labels("anthropic").observe(0.42)
    with s.labels("anthropic").time():
        pass
    snap = s.labels("anthropic").get()
    assert isinstance(snap, SummaryValue)
    assert [q for q, _ in snap.quantiles] == [0.5, 0.9, 0.99]
    assert snap.count == 2
    assert 0.42 <= snap.sum < 1.42
    assert snap.created is not None
    # Two observations: the median is the smaller (the timed block's few microseconds),
    # the 0.9 and 0.99 quantiles are 0.42.
    assert snap.quantiles[0][1] < 0.42
    assert_close(snap.quantiles[1][1], 0.42)
    assert_close(snap.quantiles[2][1], 0.42)


def test_defaults_are_no_quantiles_600_seconds_5_buckets() -> None:
    """No quantiles unless asked for (prometheus_client's and client_golang's default):
    only ``_sum`` and ``_count``; the window defaults to 600 s over 5 age buckets."""
    assert DEFAULT_QUANTILES == ()
    assert (DEFAULT_MAX_AGE, DEFAULT_AGE_BUCKETS) == (600.0, 5)
    registry = MetricsRegistry()
    s = Summary("rpc_seconds", "RPC time.", registry=registry)
    assert (s.quantiles, s.max_age, s.age_buckets) == ((), 600.0, 5)
    s.observe(2)
    s.observe(0.5)
    assert s.get() == SummaryValue((), 2.5, 2, s.get().created)
    samples = [
        (sample.name, sample.value)
        for family in parse_text(registry.export_prometheus())
        for sample in family.samples
    ]
    assert samples == [("rpc_seconds_sum", 2.5), ("rpc_seconds_count", 2.0)]


def test_quantiles_are_sorted_floats() -> None:
    """Any real numbers, given in any order, become sorted floats."""
    s = Summary("x", "X.", quantiles=(0.99, Fraction(1, 2), Decimal("0.9"), np.float32(0.25)))
    assert s.quantiles == (float(np.float32(0.25)), 0.5, 0.9, 0.99)
    assert all(type(q) is float for q in s.quantiles)
    s.observe(1.0)
    assert [q for q, _ in s.get().quantiles] == list(s.quantiles)


# -- observations -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values",
    [
        list(range(1, 101)),
        [0.001 * i for i in range(1, 1001)],
        [-5.0, -1.0, 0.0, 0.0, 2.0, 3.5, 1e9, -1e-9],
        [7.0] * 10,
        [float(2**k) for k in range(-30, 31)],
        [-(2.0**-1000), 2.0**-1000, 2.0**-990, -(2.0**-960)],
        [1.7976931348623157e308, -1.7976931348623157e308, 2.0**1000, -(2.0**1000), 0.0],
    ],
    ids=["1-100", "milliseconds", "mixed-signs", "constant", "powers-of-two", "tiny", "huge"],
)
def test_quantiles_within_accuracy_of_nearest_rank(values: list[float]) -> None:
    """Every quantile is within 1/128 of the exact nearest-rank one; sum and count exact."""
    qs = (0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999)
    s = Summary("x", "X.", quantiles=qs)
    for value in values:
        s.observe(value)
    snap = s.get()
    assert snap.count == len(values)
    assert math.isclose(snap.sum, math.fsum(values), rel_tol=1e-12)
    for q, estimate in snap.quantiles:
        assert_close(estimate, nearest_rank([float(v) for v in values], q))


def test_rank_uses_the_decimal_quantile() -> None:
    """The rank is ceil(q * n) with q the decimal it is written as: q = 0.07 of 100
    observations is the 7th (in floats 0.07 * 100 is 7.000000000000001, whose ceiling is
    8), and q = 0.1 of 10 is the 1st (the float 0.1 is a little over 1/10)."""
    s = Summary("x", "X.", quantiles=(0.07, 0.56))
    for i in range(1, 101):
        s.observe(i)
    low, high = window(s).values()
    assert_close(low, 7.0)
    assert_close(high, 56.0)
    tenth = Summary("y", "Y.", quantiles=(0.1,))
    for k in range(10):
        tenth.observe(2.0**k)
    assert window(tenth) == {0.1: 1 * MIDPOINT}


def test_zeros_and_infinities_are_reported_exactly() -> None:
    """Zeros, ``+Inf`` and ``-Inf`` have counts of their own and come back as they are; the
    sum becomes infinite."""
    s = Summary("x", "X.", quantiles=(0.1, 0.5, 0.9))
    for value in (-INF, 0.0, -0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, INF):
        s.observe(value)
    assert window(s) == {0.1: -INF, 0.5: 0.0, 0.9: 0.0}
    s.observe(INF)
    s.observe(INF)
    snap = s.get()
    assert dict(snap.quantiles)[0.9] == INF
    assert math.isnan(snap.sum)  # +Inf and -Inf were both observed
    assert snap.count == 12


def test_every_kind_of_real_number_is_accepted() -> None:
    """ints (past 2**53 too), bools, Fractions, Decimals and NumPy scalars are observed as
    plain floats."""
    s = Summary("x", "X.", quantiles=(0.5,))
    for value in (3, True, Fraction(1, 4), Decimal("0.5"), np.float32(2.0), np.int64(4), 10**17):
        s.observe(value)  # type: ignore[arg-type]
    snap = s.get()
    assert snap.count == 7
    assert math.isclose(snap.sum, 10.75 + 1e17, rel_tol=1e-15)
    assert type(snap.sum) is float
    assert_close(dict(snap.quantiles)[0.5], 2.0)


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        (math.nan, ValueError),
        (np.float64("nan"), ValueError),
        (Decimal("NaN"), ValueError),
        (10**400, ValueError),
        ("1", TypeError),
        (None, TypeError),
        (1j, TypeError),
        (b"1", TypeError),
        ([1.0], TypeError),
        (np.array([1.0]), TypeError),
    ],
)
def test_bad_observation_raises_naming_it_and_changes_nothing(
    bad: object, error: type[Exception], clock: FakeClock
) -> None:
    """A rejected value raises before anything is recorded: count, sum and quantiles are
    those of the valid observations, on a labelled child and an unlabelled family alike."""
    family = Summary("x", "X.", ("l",), quantiles=(0.5, 0.99))
    plain = Summary("y", "Y.", quantiles=(0.5, 0.99))
    for series in (family.labels("a"), plain):
        for value in (1.0, 2.0, 3.0):
            series.observe(value)
        before = series.get()
        with pytest.raises(error) as info:
            series.observe(bad)  # type: ignore[arg-type]
        assert "summary observation" in str(info.value)
        assert repr(bad)[:20] in str(info.value)
        assert series.get() == before


def test_observations_past_a_full_buffer_are_all_counted() -> None:
    """Every observation counts whether it was flushed by a full buffer or by the read."""
    for n in (FLUSH_AT - 1, FLUSH_AT, FLUSH_AT + 1, 3 * FLUSH_AT + 7):
        s = Summary("x", "X.", quantiles=(0.5,))
        for i in range(n):
            s.observe(i)
        snap = s.get()
        assert (snap.count, snap.sum) == (n, n * (n - 1) / 2)
        assert_close(snap.quantiles[0][1], nearest_rank([float(i) for i in range(n)], 0.5))


def test_snapshot_does_not_change_with_later_observations() -> None:
    s = Summary("x", "X.", quantiles=(0.5,))
    s.observe(1.0)
    s.observe(4.0)
    snap = s.get()
    s.observe(100.0)
    s.observe(100.0)
    assert (snap.count, snap.sum, snap.quantiles) == (2, 5.0, ((0.5, 1.0 * MIDPOINT),))
    later = s.get()
    assert (later.count, later.quantiles) == (4, ((0.5, 4.0 * MIDPOINT),))


# -- definition, get-or-create, conflicts, bad arguments ------------------------------------


@pytest.mark.parametrize(
    ("quantiles_", "error", "named"),
    [
        ((0.0,), ValueError, "0.0"),
        ((1.0,), ValueError, "1.0"),
        ((-0.5,), ValueError, "-0.5"),
        ((0.5, 1.5), ValueError, "1.5"),
        ((math.nan,), ValueError, "nan"),
        ((INF,), ValueError, "inf"),
        ((0.5, 0.9, 0.5), ValueError, "0.5"),
        ((0.5, Fraction(1, 2)), ValueError, "0.5"),
        (("0.5",), TypeError, "'0.5'"),
        ((None,), TypeError, "None"),
        ("0.5", TypeError, "'0.5'"),
        (0.5, TypeError, "0.5"),
    ],
)
def test_bad_quantiles_raise_naming_them(
    quantiles_: object, error: type[Exception], named: str, registry: MetricsRegistry
) -> None:
    with pytest.raises(error, match=named.replace(".", r"\.")):
        Summary("x", "X.", quantiles=quantiles_)  # type: ignore[arg-type]
    with pytest.raises(error):
        registry.get_or_create(Summary, "x", "X.", quantiles=quantiles_)  # type: ignore[arg-type]
    assert registry.get("x") is None


@pytest.mark.parametrize(
    ("max_age", "error"),
    [(0, ValueError), (-1.0, ValueError), (math.nan, ValueError), (INF, ValueError),
     ("10", TypeError), (None, TypeError)],
)  # fmt: skip
def test_bad_max_age_raises_naming_it(max_age: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="max_age") as info:
        Summary("x", "X.", quantiles=(0.5,), max_age=max_age)  # type: ignore[arg-type]
    assert repr(max_age) in str(info.value)


@pytest.mark.parametrize(
    ("age_buckets", "error"),
    [(0, ValueError), (-3, ValueError), (1.5, TypeError), (5.0, TypeError), ("5", TypeError),
     (True, TypeError), (None, TypeError)],
)  # fmt: skip
def test_bad_age_buckets_raise_naming_them(age_buckets: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="age_buckets") as info:
        Summary("x", "X.", quantiles=(0.5,), age_buckets=age_buckets)  # type: ignore[arg-type]
    assert repr(age_buckets) in str(info.value)


@pytest.mark.parametrize("labelnames", [("quantile",), ("route", "quantile")])
def test_quantile_label_is_reserved(labelnames: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="'quantile'"):
        Summary("x", "X.", labelnames)


def test_age_buckets_of_any_integer_type() -> None:
    s = Summary("x", "X.", quantiles=(0.5,), age_buckets=np.int64(3))  # type: ignore[arg-type]
    assert s.age_buckets == 3
    assert type(s.age_buckets) is int


def test_get_or_create_returns_the_same_summary(registry: MetricsRegistry) -> None:
    """Same definition, same instrument (quantiles in any order, numbers of any type)."""
    first = registry.get_or_create(
        Summary, "x_seconds", "X.", ("a",), quantiles=(0.9, 0.5), max_age=60, age_buckets=3
    )
    again = registry.get_or_create(
        Summary, "x_seconds", "Other help.", ("a",), quantiles=(0.5, Fraction(9, 10)),
        max_age=60.0, age_buckets=3,
    )  # fmt: skip
    assert again is first
    assert first.definition().options == (
        ("quantiles", (0.5, 0.9)),
        ("max_age", 60.0),
        ("age_buckets", 3),
    )


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"quantiles": (0.5, 0.99)}, "quantiles"),
        ({"quantiles": ()}, "quantiles"),
        ({"max_age": 120.0}, "max_age"),
        ({"age_buckets": 2}, "age_buckets"),
        ({"labelnames": ("b",)}, "labelnames"),
    ],
)
def test_get_or_create_conflicts_name_the_difference(
    change: dict[str, object], named: str, registry: MetricsRegistry
) -> None:
    base: dict[str, object] = {
        "labelnames": ("a",),
        "quantiles": (0.5, 0.9),
        "max_age": 60.0,
        "age_buckets": 3,
    }
    first = registry.get_or_create(Summary, "x_seconds", "X.", **base)  # type: ignore[arg-type]
    with pytest.raises(RegistrationError, match=named):
        registry.get_or_create(Summary, "x_seconds", "X.", **{**base, **change})  # type: ignore[arg-type]
    assert registry.get("x_seconds") is first


def test_names_taken_by_other_types_conflict(registry: MetricsRegistry) -> None:
    """A summary owns ``x``, ``x_sum``, ``x_count`` and ``x_created``."""
    registry.get_or_create(Summary, "x", "X.")
    with pytest.raises(RegistrationError):
        registry.counter("x", "X.")
    with pytest.raises(RegistrationError):
        registry.gauge("x_count", "X.")
    registry.gauge("y_sum", "Y.")
    with pytest.raises(RegistrationError):
        registry.get_or_create(Summary, "y", "Y.")


# -- labelled families, timing ----------------------------------------------------------------


def test_labelled_family_refuses_its_own_writes_and_reads() -> None:
    s = Summary("x", "X.", ("route",), quantiles=(0.5,))
    for call in (lambda: s.observe(1.0), s.get):
        with pytest.raises(ValueError, match=r"labels\(\.\.\.\)"):
            call()
    s.labels("/a").observe(1.0)
    assert s.labels(route="/a").get().count == 1


def test_labelled_family_times_into_the_child_chosen_in_the_block() -> None:
    """As a labelled histogram does: ``with family.time() as t: ...; t.labels(...)``."""
    s = Summary("x_seconds", "X.", ("status",), quantiles=(0.5,))
    with s.time() as timer:
        timer.labels("ok")  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="'x_seconds'"), s.time():
        pass  # no child chosen
    assert s.labels("ok").get().count == 1
    assert [series.label_values for series, _ in s.collect()[0].summaries] == [("ok",)]


def test_remove_and_clear(registry: MetricsRegistry) -> None:
    s = registry.get_or_create(Summary, "x", "X.", ("route",), quantiles=(0.5,))
    for route in ("/a", "/b", "/c"):
        s.labels(route).observe(1.0)
    s.remove("/b")
    assert [series.label_values for series, _ in s.collect()[0].summaries] == [("/a",), ("/c",)]
    with pytest.raises(KeyError):
        s.remove("/b")
    s.clear()
    assert s.collect()[0].summaries == []
    assert s.labels("/a").get().count == 0  # a new series


def test_time_context_manager_and_decorators() -> None:
    s = Summary("op_seconds", "Op.", quantiles=(0.5,))
    with pytest.raises(KeyError), s.time():
        raise KeyError("timed anyway")

    @s.time()
    def work(x: int) -> int:
        return x * 2

    @s.time()
    async def later(x: int) -> int:
        await asyncio.sleep(0.01)
        return x + 1

    assert work(2) == 4
    assert asyncio.run(later(1)) == 2
    snap = s.get()
    assert snap.count == 3
    assert 0.01 <= snap.sum < 5


# -- the storage seam, the paused facade, slots ------------------------------------------------


def test_no_instance_dict_anywhere() -> None:
    registries = (MetricsRegistry(), MetricsRegistry(storage=CountingStorage()))
    for registry in registries:
        plain = registry.get_or_create(Summary, "plain", "P.", quantiles=(0.5,))
        family = registry.get_or_create(Summary, "family", "F.", ("a",), quantiles=(0.5,))
        for obj in (plain, family, family.labels("x")):
            assert not hasattr(obj, "__dict__"), type(obj).__mro__


def test_counting_storage_sees_every_observation() -> None:
    storage = CountingStorage()
    registry = MetricsRegistry(storage=storage)
    s = registry.get_or_create(Summary, "x", "X.", ("a",), quantiles=(0.5, 0.9))
    plain = registry.get_or_create(Summary, "y", "Y.")
    for i in range(300):
        s.labels("p").observe(i)
        plain.observe(i)
    assert storage.writes["SummaryCell.observe"] == 600
    assert s.labels("p").get().count == 300
    assert_close(dict(s.labels("p").get().quantiles)[0.9], 269.0)
    assert plain.get().count == 300


def test_paused_summary_validates_and_drops_then_records_again() -> None:
    """Before ``init()`` (the facade's paused state) observe checks its value and records
    nothing; once resumed, it records, the timer made while paused included."""
    s = Summary("x", "X.", ("a",), quantiles=(0.5,))
    child = s.labels("a")
    timer = child.time()
    s._suspend()
    child.observe(1.0)
    s.labels("b").observe(2.0)
    with pytest.raises(ValueError, match="NaN"):
        child.observe(math.nan)
    with pytest.raises(TypeError):
        child.observe("1")  # type: ignore[arg-type]
    assert child.get().count == 0
    s._resume()
    child.observe(3.0)
    with timer:
        pass
    s.labels("b").observe(4.0)
    assert (child.get().count, s.labels("b").get().count) == (2, 1)


# -- the window, on a fake clock -------------------------------------------------------------


@pytest.mark.parametrize("age_buckets", [1, 2, 3, 5, 10])
def test_window_keeps_each_observation_between_the_stated_bounds(
    age_buckets: int, clock: FakeClock
) -> None:
    """An observation counts in the quantiles for at least max_age * (1 - 1/age_buckets)
    seconds and is gone max_age seconds after it was made, wherever in its age bucket it
    fell; sum and count keep it. Two values, so the median is a bucket's midpoint and the
    0.99 quantile is clamped to the window's largest observation."""
    max_age = 120.0  # age buckets of a whole number of seconds
    start = clock.now
    period = max_age / age_buckets
    for offset in (0.0, 0.25, 0.5, 0.999):
        s = Summary("x", "X.", quantiles=(0.5, 0.99), max_age=max_age, age_buckets=age_buckets)
        clock.now = start + (offset + 7) * period  # somewhere in the series' 8th age bucket
        t = clock.now
        s.observe(4.0)
        s.observe(16.0)
        clock.now = t + max_age * (1 - 1 / age_buckets)
        assert window(s) == {0.5: 4.0 * MIDPOINT, 0.99: 16.0}, (offset, clock.now - t)
        clock.now = t + max_age
        assert all(math.isnan(v) for v in window(s).values()), (offset, clock.now - t)
        assert (s.get().count, s.get().sum) == (2, 20.0)
        start = clock.now


def test_window_follows_age_bucket_boundaries_exactly(clock: FakeClock) -> None:
    """With observations at random times and reads at random times, what each read sees is
    exactly the observations of the current age bucket and the age_buckets - 1 before it
    (age buckets counted from the series' creation), whichever operations flushed them."""
    rng = random.Random(20240611)
    created = clock.now
    period, n = 2.0, 4
    s = Summary("x", "X.", quantiles=(0.0001, 0.9999), max_age=period * n, age_buckets=n)
    made: list[tuple[float, int]] = []
    for step in range(400):
        clock.now += rng.choice((0.0, 0.125, 0.5, 1.0, 1.75, 3.0, 9.0))
        if rng.random() < 0.6:
            made.append((clock.now, step))
            s.observe(2.0**step)  # one bucket per observation: the quantiles name them
            continue
        current = (clock.now - created) // period
        visible = [k for when, k in made if current - (when - created) // period < n]
        lowest, highest = window(s).values()
        if not visible:
            assert math.isnan(lowest) and math.isnan(highest)
        else:
            # The highest is clamped to the largest visible value, and so is the lowest
            # when it is the only one.
            assert (lowest, highest) == (
                min(2.0 ** visible[0] * MIDPOINT, 2.0 ** visible[-1]),
                2.0 ** visible[-1],
            )
    assert s.get().count == len(made)


def test_buffered_values_belong_to_the_age_bucket_they_were_observed_in(
    clock: FakeClock,
) -> None:
    """No read in between: a value buffered long ago is not kept alive by a later
    observation's flush (neither its count nor its extreme), and recent ones are not
    dropped with it."""
    s = Summary("x", "X.", quantiles=(0.01, 0.99), max_age=10.0, age_buckets=5)
    s.observe(64.0)  # t = 0
    clock.now += 50.0
    s.observe(8.0)  # t = 50: the first value's age bucket expired long ago
    s.observe(32.0)
    clock.now += 5.0
    # 32.0's bucket midpoint (32.25) is clamped to 32.0: 64.0 would leave it (or be it).
    assert window(s) == {0.01: 8.0 * MIDPOINT, 0.99: 32.0}
    assert s.get().count == 3


def test_many_age_buckets_cost_nothing_while_empty(clock: FakeClock) -> None:
    """Age buckets without observations take no memory, however many pass at once."""
    s = Summary("x", "X.", quantiles=(0.5,), max_age=1.0, age_buckets=10**9)
    s.observe(4.0)
    clock.now += 0.5  # 500,000,000 age buckets later: still in the window
    s.observe(2.0)
    assert window(s) == {0.5: 2.0 * MIDPOINT}  # the first of two, inside [2, 4]
    assert len(s._closed) == 1
    clock.now += 0.75  # the first is gone, the second not: 2.0 alone, its own extreme
    assert window(s) == {0.5: 2.0}
    assert len(s._closed) == 1
    clock.now += 0.5
    assert math.isnan(window(s)[0.5])
    assert s._closed == ()


def test_empty_window_is_nan_and_fills_again(clock: FakeClock) -> None:
    s = Summary("x", "X.", ("a",), quantiles=(0.5, 0.9), max_age=30.0, age_buckets=3)
    child = s.labels("a")
    assert all(math.isnan(v) for v in window(child).values())
    child.observe(256.0)
    clock.now += 1e6  # far past every age bucket
    assert all(math.isnan(v) for v in window(child).values())
    child.observe(16.0)
    child.observe(64.0)
    # 64.0's midpoint (64.5) clamped to the largest value in the window, not to 256.0.
    assert window(child) == {0.5: 16.0 * MIDPOINT, 0.9: 64.0}
    assert (child.get().count, child.get().sum) == (3, 336.0)


# -- the sketch's edges ------------------------------------------------------------------------


def test_store_is_bounded_and_collapses_only_the_lowest_magnitudes() -> None:
    """Values over 100 powers of two in both signs: each store keeps MAX_BUCKETS buckets,
    and every quantile whose value is within 2**63 of the largest magnitude of its sign
    keeps its accuracy; the collapsed low magnitudes are reported larger, never smaller."""
    # 12 rounds of 3,200 values: the current stores move their lists into their arrays.
    values = [sign * 2.0 ** (e / 16) for e in range(-800, 800) for sign in (1.0, -1.0)] * 12
    random.Random(3).shuffle(values)
    sketch = Sketch()
    for i in range(0, len(values), 100):
        sketch.add(values[i : i + 100])
    assert sketch.positive is not None and sketch.negative is not None
    assert len(sketch.positive.counts) == MAX_BUCKETS
    assert len(sketch.negative.counts) == MAX_BUCKETS
    largest = 2.0 ** (799 / 16)
    qs = [i / 200 for i in range(1, 200)]
    ranks = [(Fraction(repr(q)).numerator, Fraction(repr(q)).denominator) for q in qs]
    estimates = quantiles.window_quantiles([sketch], ranks)
    for q, estimate in zip(qs, estimates, strict=True):
        exact = nearest_rank(values, q)
        if abs(exact) >= largest / 2**63:
            assert_close(estimate, exact)
        else:  # collapsed: reported with a larger magnitude, same sign
            assert abs(estimate) >= abs(exact) * (1 - RELATIVE_ACCURACY)
            assert math.copysign(1, estimate) == math.copysign(1, exact)


def test_window_merges_age_buckets_with_different_ranges(clock: FakeClock) -> None:
    """Age buckets whose stores start and end at different buckets merge into one ordering."""
    s = Summary("x", "X.", quantiles=(0.1, 0.3, 0.5, 0.7, 0.9), max_age=40.0, age_buckets=4)
    seen: list[float] = []
    for part, scale in enumerate((1e-6, 1.0, 1e6, 1e-3)):
        clock.now = 1000.0 + 10.0 * part
        for i in range(1, 51):
            value = scale * i * (-1 if i % 7 == 0 else 1)
            seen.append(value)
            s.observe(value)
    for q, estimate in s.get().quantiles:
        assert_close(estimate, nearest_rank(seen, q))


def test_subnormals_and_the_largest_floats() -> None:
    """Values under 2**-1028 count as 0 (reported as 0, or clamped to the window's
    smallest observation when that is above 0); other subnormals come within 2**-1029; the
    largest float is reported as its bucket's midpoint, finite."""
    s = Summary("x", "X.", quantiles=(0.25, 0.75))
    s.observe(5e-324)
    s.observe(2.0**-1030)
    s.observe(1.7976931348623157e308)
    s.observe(1.7976931348623157e308)
    # The 0.25 quantile is in the zeros' count: 0, clamped up to the smallest observation.
    # The largest float's bucket is [254, 256) * 2**1016: its midpoint is below it.
    assert window(s) == {0.25: 5e-324, 0.75: 255 * 2.0**1016}
    mixed = Summary("y", "Y.", quantiles=(0.4, 0.8))
    for value in (5e-324, -1.0, 3 * 2.0**-1028, 2.0**-1000, 2.0**-1030):
        mixed.observe(value)
    # 0 lies inside [-1, 2**-1000]: the 2nd smallest (5e-324) is 0; the 4th (3 * 2**-1028)
    # is its bucket's midpoint, 2**-1029 above it.
    assert window(mixed) == {0.4: 0.0, 0.8: 7 * 2.0**-1029}


def test_quantiles_are_clamped_to_the_window_extremes(clock: FakeClock) -> None:
    """A reported quantile is its bucket's midpoint clamped to the smallest and largest
    observation in the window: a lone observation is reported exactly for every quantile;
    the quantiles that land on the smallest or the largest observation are exact when
    that bucket's midpoint lies beyond it, the midpoint otherwise; and the extremes are
    those of the window, so an expired one no longer clamps."""
    qs = (0.001, 0.01, 0.25, 0.5, 0.75, 0.99, 0.999)
    lone = (2.0, 1.01, 0.1, -3.7, 1000.0, 0.0, 5e-324, -5e-324, 2.0**-1030, -1e-300,
            1.7976931348623157e308, -1.7976931348623157e308)  # fmt: skip
    for value in lone:
        s = Summary("x", "X.", quantiles=qs)
        s.observe(value)
        assert window(s) == dict.fromkeys(qs, value), value
    # 500 values from -1000 to 1000: the 0.001 and 0.999 quantiles are the 1st and the
    # 500th, whose buckets' midpoints (-1004 and 1004) lie beyond them.
    rng = random.Random(11)
    values = [-1000.0, 1000.0] + [rng.uniform(-999.0, 999.0) for _ in range(498)]
    rng.shuffle(values)
    spread = Summary("y", "Y.", quantiles=(0.001, 0.5, 0.999))
    for value in values:
        spread.observe(value)
    got = window(spread)
    assert (got[0.001], got[0.999]) == (-1000.0, 1000.0)
    assert_close(got[0.5], nearest_rank(values, 0.5))
    # 1.0's bucket midpoint lies inside [1.0, 1.75]: it is what is reported.
    inside = Summary("z", "Z.", quantiles=(0.001, 0.999))
    for value in (1.75, 1.0, 1.5):
        inside.observe(value)
    assert window(inside) == {0.001: 1.0 * MIDPOINT, 0.999: 1.75}
    # The extremes follow rotation (age buckets of 10 s): the smallest comes from the
    # first age bucket, the largest from the second, until each leaves the window.
    w = Summary("w", "W.", quantiles=(0.01, 0.99), max_age=30.0, age_buckets=3)
    w.observe(-100.0)
    w.observe(3.0)
    clock.now += 10.0
    w.observe(-1.0)
    w.observe(100.0)
    assert window(w) == {0.01: -100.0, 0.99: 100.0}  # midpoints -100.5 and 100.5 clamped
    clock.now += 20.0  # the first age bucket is gone: -1.0 (reported -1.0078125 unclamped)
    assert window(w) == {0.01: -1.0, 0.99: 100.0}
    w.observe(2.0)
    w.observe(1.5)
    clock.now += 10.0  # the second is gone too: 2.0 (2.015625 unclamped) is the largest
    assert window(w) == {0.01: 1.5078125, 0.99: 2.0}
    assert w.get().count == 6


# -- exposition --------------------------------------------------------------------------------


@pytest.fixture
def exported(clock: FakeClock) -> Iterator[MetricsRegistry]:
    """A registry with a labelled summary, an unlabelled one with a unit, one with an
    empty window (NaN quantiles) and one without quantiles."""
    registry = MetricsRegistry()
    llm = registry.get_or_create(
        Summary, "llm_latency_seconds", "LLM call\\latency\n", ("provider",),
        quantiles=(0.5, 0.9, 0.99),
    )  # fmt: skip
    for i in range(1, 201):
        llm.labels("anthropic").observe(i / 100)
        llm.labels('we"ird\\').observe(i * 1000)
    sized = registry.get_or_create(
        Summary, "payload_bytes", "Sizes.", unit="bytes", quantiles=(0.25,)
    )
    sized.observe(1024)
    stale = registry.get_or_create(Summary, "stale", "Stale.", quantiles=(0.5,), max_age=1.0)
    stale.observe(1.0)
    registry.get_or_create(Summary, "plain", "Plain.").observe(3)
    clock.now += 2.0  # the stale summary's window is empty now
    yield registry


Key = tuple[str, tuple[tuple[str, str], ...]]


def expected_samples(registry: MetricsRegistry) -> dict[Key, float]:
    """Every sample the registry's summaries should expose, by name and sorted labels."""
    out: dict[Key, float] = {}
    for family in registry.collect():
        for series, value in family.summaries:
            labels = tuple(zip(family.labelnames, series.label_values, strict=True))
            for q, estimate in value.quantiles:
                out[(family.name, tuple(sorted((*labels, ("quantile", repr(q))))))] = estimate
            out[(family.name + "_sum", tuple(sorted(labels)))] = value.sum
            out[(family.name + "_count", tuple(sorted(labels)))] = value.count
    return out


def same(a: dict[object, float], b: dict[object, float]) -> bool:
    return a.keys() == b.keys() and all(
        a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])) for k in a
    )


def test_text_and_openmetrics_parse_with_promtool_and_prometheus_client(
    exported: MetricsRegistry,
) -> None:
    expected = expected_samples(exported)
    text = exported.export_prometheus()
    openmetrics = exported.export_openmetrics(created=False)
    for body in (text, openmetrics):
        result = check_metrics(body.encode())
        assert result.returncode == 0, result.stdout + result.stderr
    assert 'llm_latency_seconds{provider="anthropic",quantile="0.5"}' in text
    assert "# TYPE stale summary" in text
    assert 'stale{quantile="0.5"} NaN' in text
    for parse, body in ((parse_text, text), (parse_openmetrics, openmetrics)):
        got = {}
        for family in parse(body):
            assert family.type == "summary"
            for sample in family.samples:
                labels = {k: v for k, v in sample.labels.items()}
                if "quantile" in labels:
                    labels["quantile"] = repr(float(labels["quantile"]))
                got[(sample.name, tuple(sorted(labels.items())))] = sample.value
        assert same(got, expected), (got, expected)


def test_openmetrics_created_series(exported: MetricsRegistry) -> None:
    body = exported.export_openmetrics()
    families = {f.name: f for f in parse_openmetrics(body)}
    created = [s for s in families["llm_latency_seconds"].samples if s.name.endswith("_created")]
    assert len(created) == 2
    assert families["payload_bytes"].unit == "bytes"


def test_protobuf_decodes_with_the_official_parser(exported: MetricsRegistry) -> None:
    expected = expected_samples(exported)
    got = {}
    for family in decode_families(exported.export_protobuf()):
        assert family.type == 2  # SUMMARY
        for metric in family.metric:
            labels = tuple((pair.name, pair.value) for pair in metric.label)
            summary = metric.summary
            for q in summary.quantile:
                key = tuple(sorted((*labels, ("quantile", repr(q.quantile)))))
                got[(family.name, key)] = q.value
            got[(family.name + "_sum", tuple(sorted(labels)))] = summary.sample_sum
            got[(family.name + "_count", tuple(sorted(labels)))] = summary.sample_count
            assert summary.HasField("created_timestamp")
    assert same(got, expected), (got, expected)


def test_negative_observations_in_text_and_protobuf(clock: FakeClock) -> None:
    """The Prometheus text format and protobuf carry negative quantiles and sums (OpenMetrics
    1.0 forbids both, so that format is not checked with them here)."""
    registry = MetricsRegistry()
    s = registry.get_or_create(Summary, "delta", "Delta.", quantiles=(0.1, 0.9))
    values = [-float(i) for i in range(1, 101)]
    for value in values:
        s.observe(value)
    text = registry.export_prometheus()
    result = check_metrics(text.encode())
    assert result.returncode == 0, result.stdout + result.stderr
    parsed = {
        (sample.name, sample.labels.get("quantile")): sample.value
        for family in parse_text(text)
        for sample in family.samples
    }
    (decoded,) = decode_families(registry.export_protobuf())
    summary = decoded.metric[0].summary
    from_protobuf = {q.quantile: q.value for q in summary.quantile}
    for q in (0.1, 0.9):
        assert_close(parsed[("delta", str(q))], nearest_rank(values, q))
        assert from_protobuf[q] == parsed[("delta", str(q))]
    assert parsed[("delta_sum", None)] == summary.sample_sum == -5050.0
    assert parsed[("delta_count", None)] == summary.sample_count == 100
