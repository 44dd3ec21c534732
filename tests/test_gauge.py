"""Gauges: any float, up and down, with timing and in-progress helpers."""

from __future__ import annotations

import asyncio
import inspect
import math
import time

import pytest

from tachikoma_metrics import Gauge, MetricsRegistry


def test_new_gauge_starts_at_zero(registry: MetricsRegistry) -> None:
    """A gauge that was never set reads 0.0, as a float."""
    g = registry.gauge("queue_depth", "Depth.")
    assert g.get() == 0.0
    assert isinstance(g.get(), float)


def test_set_inc_dec_sequence_from_the_spec(registry: MetricsRegistry) -> None:
    """``set(3); inc(); dec(); inc(2); dec(2)`` walks 3, 4, 3, 5, 3."""
    g = registry.gauge("tachikoma_active_missions", "Missions running now")
    g.set(3)
    assert g.get() == 3.0
    g.inc()
    assert g.get() == 4.0
    g.dec()
    assert g.get() == 3.0
    g.inc(2)
    assert g.get() == 5.0
    g.dec(2)
    assert g.get() == 3.0
    g.inc(0.25)
    assert g.get() == 3.25


def test_gauge_goes_negative_without_underflow(registry: MetricsRegistry) -> None:
    """Decrementing below zero gives a negative value, never a wrapped-around huge one."""
    g = registry.gauge("balance", "Balance.")
    g.dec()
    assert g.get() == -1.0
    g.dec(4.5)
    assert g.get() == -5.5
    g.inc(-2)
    assert g.get() == -7.5
    g.set(-1e300)
    assert g.get() == -1e300


@pytest.mark.parametrize(
    "value", [math.nan, math.inf, -math.inf, -0.0, 5e-324, 1.7976931348623157e308]
)
def test_set_accepts_any_float(value: float) -> None:
    """``set`` stores any float as given, NaN and infinities included."""
    g = Gauge("level", "Level.")
    g.set(value)
    got = g.get()
    if math.isnan(value):
        assert math.isnan(got)
    else:
        assert got == value
        assert math.copysign(1.0, got) == math.copysign(1.0, value)


@pytest.mark.parametrize("bad", ["1", None, 1j, b"2", object()])
def test_non_number_raises_type_error_and_leaves_value(bad: object) -> None:
    """``set``/``inc``/``dec`` with a non-number raise ``TypeError`` naming it; nothing changes."""
    g = Gauge("level", "Level.")
    g.set(7)
    for method in (g.set, g.inc, g.dec):
        with pytest.raises(TypeError) as info:
            method(bad)
        assert repr(bad) in str(info.value)
    assert g.get() == 7.0


def test_set_to_current_time(registry: MetricsRegistry) -> None:
    """``set_to_current_time()`` sets the Unix time in seconds, read between two clock reads."""
    g = registry.gauge("last_run_timestamp_seconds", "Last run.")
    before = time.time()
    g.set_to_current_time()
    after = time.time()
    assert before <= g.get() <= after


def test_set_to_current_time_on_child(registry: MetricsRegistry) -> None:
    """A labelled child also has ``set_to_current_time()``."""
    g = registry.gauge("last_run_timestamp_seconds", "Last run.", labelnames=("job",))
    before = time.time()
    g.labels("a").set_to_current_time()
    assert before <= g.labels("a").get() <= time.time()


def test_track_inprogress_context_manager(registry: MetricsRegistry) -> None:
    """Inside ``with g.track_inprogress()`` the gauge is one higher; after, back to before."""
    g = registry.gauge("in_flight", "In flight.")
    g.set(2)
    with g.track_inprogress():
        assert g.get() == 3.0
        with g.track_inprogress():
            assert g.get() == 4.0
        assert g.get() == 3.0
    assert g.get() == 2.0


def test_track_inprogress_decrements_on_exception(registry: MetricsRegistry) -> None:
    """An exception leaving the block still decrements the gauge."""
    g = registry.gauge("in_flight", "In flight.")
    with pytest.raises(RuntimeError), g.track_inprogress():
        assert g.get() == 1.0
        raise RuntimeError("boom")
    assert g.get() == 0.0


def test_track_inprogress_decorator_sync(registry: MetricsRegistry) -> None:
    """As a decorator on a function: 1 during each call, 0 after; arguments and result pass."""
    g = registry.gauge("in_flight", "In flight.")
    seen: list[float] = []

    @g.track_inprogress()
    def work(x: int, *, y: int) -> int:
        seen.append(g.get())
        return x + y

    assert work.__name__ == "work"
    assert g.get() == 0.0
    assert work(1, y=2) == 3
    assert work(3, y=4) == 7
    assert seen == [1.0, 1.0]
    assert g.get() == 0.0


def test_track_inprogress_decorator_async_counts_while_suspended(
    registry: MetricsRegistry,
) -> None:
    """On an ``async def`` the gauge is 1 while the coroutine is suspended in an await, 0 after."""
    g = registry.gauge("in_flight", "In flight.")

    async def scenario() -> None:
        release = asyncio.Event()
        entered = asyncio.Event()

        @g.track_inprogress()
        async def work() -> str:
            entered.set()
            await release.wait()
            return "done"

        assert inspect.iscoroutinefunction(work)
        coroutine = work()
        assert g.get() == 0.0  # creating the coroutine is not running it
        task = asyncio.ensure_future(coroutine)
        await entered.wait()
        assert g.get() == 1.0  # suspended inside ``await release.wait()``
        release.set()
        assert await task == "done"
        assert g.get() == 0.0

    asyncio.run(scenario())


def test_track_inprogress_decorator_async_decrements_on_exception(
    registry: MetricsRegistry,
) -> None:
    """An ``async def`` that raises still leaves the gauge where it was."""
    g = registry.gauge("in_flight", "In flight.")

    @g.track_inprogress()
    async def fail() -> None:
        await asyncio.sleep(0)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        asyncio.run(fail())
    assert g.get() == 0.0


def test_track_inprogress_on_labelled_child(registry: MetricsRegistry) -> None:
    """A labelled child tracks in-progress work on its own series only."""
    g = registry.gauge("in_flight", "In flight.", labelnames=("route",))
    with g.labels("/a").track_inprogress():
        assert g.labels("/a").get() == 1.0
        assert g.labels("/b").get() == 0.0
    assert g.labels("/a").get() == 0.0


def test_time_context_manager_sets_duration(registry: MetricsRegistry) -> None:
    """``with g.time()`` sets the gauge to the block's duration in seconds."""
    g = registry.gauge("last_duration_seconds", "Duration.")
    g.set(-1)
    outer_start = time.perf_counter()
    with g.time():
        time.sleep(0.02)
    outer = time.perf_counter() - outer_start
    assert 0.02 <= g.get() <= outer


def test_time_decorator_sets_duration_of_each_call(registry: MetricsRegistry) -> None:
    """As a decorator, ``g.time()`` sets the gauge to the last call's duration."""
    g = registry.gauge("last_duration_seconds", "Duration.")

    @g.time()
    def work(pause: float) -> str:
        time.sleep(pause)
        return "ok"

    assert work(0.03) == "ok"
    assert g.get() >= 0.03
    start = time.perf_counter()
    work(0.0)
    assert 0.0 <= g.get() <= time.perf_counter() - start


def test_time_decorator_async_covers_the_await(registry: MetricsRegistry) -> None:
    """On an ``async def``, ``g.time()`` measures until the coroutine finishes."""
    g = registry.gauge("last_duration_seconds", "Duration.")

    @g.time()
    async def work() -> int:
        await asyncio.sleep(0.05)
        return 42

    assert asyncio.run(work()) == 42
    assert g.get() >= 0.05
