"""Labels chosen inside a timing block: ``with family.time() as t: ...; t.labels("ok")`` on a
labelled histogram or gauge records into the chosen child when the block ends, and
``with gauge.track_inprogress() as t: t.labels("x")`` counts the block in that child."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

import tachikoma_metrics as metrics
from tachikoma_metrics import Histogram, MetricsRegistry
from tachikoma_metrics.instruments._timing import Timer

TIMEOUT = 60.0


class Boom(Exception):
    """Raised inside blocks."""


def _counts(h: Any) -> dict[tuple[str, ...], int]:
    """Observation count per child of a histogram family, from its snapshot."""
    (family,) = h.collect()
    return {series.label_values: value.count for series, value in family.histograms}


# -- histograms ---------------------------------------------------------------------------------


def test_histogram_records_the_duration_into_the_chosen_child(registry: MetricsRegistry) -> None:
    """The duration of the whole block goes to the child chosen inside it, once."""
    h = registry.histogram("call_seconds", "Calls.", ("status",))
    start = time.perf_counter()
    with h.time() as timer:
        time.sleep(0.02)
        timer.labels("ok")
    outer = time.perf_counter() - start
    value = h.labels("ok").get()
    assert value.count == 1
    assert 0.02 <= value.sum <= outer
    assert _counts(h) == {("ok",): 1}
    assert 'call_seconds_count{status="ok"} 1\n' in registry.export_prometheus()


def test_labels_by_name_and_several_labels(registry: MetricsRegistry) -> None:
    """``labels()`` on the timer takes values by position or by name, as the family does."""
    h = registry.histogram("call_seconds", "Calls.", ("provider", "status"))
    with h.time() as timer:
        timer.labels(status="ok", provider="a")
    with h.time() as timer:
        timer.labels("a", "failed")
    assert _counts(h) == {("a", "ok"): 1, ("a", "failed"): 1}


def test_choosing_twice_takes_the_last(registry: MetricsRegistry) -> None:
    """Only the last choice gets the observation (an earlier choice may create its child,
    empty)."""
    h = registry.histogram("call_seconds", "Calls.", ("status",))
    with h.time() as timer:
        timer.labels("ok")
        timer.labels("failed")
    assert h.labels("failed").get().count == 1
    assert h.labels("ok").get().count == 0


def test_labels_chosen_before_the_block(registry: MetricsRegistry) -> None:
    """``with family.time().labels(...)`` chooses before the block starts."""
    h = registry.histogram("call_seconds", "Calls.", ("status",))
    with h.time().labels("ok"):
        pass
    assert _counts(h) == {("ok",): 1}


def test_leaving_without_choosing_raises_naming_the_family(registry: MetricsRegistry) -> None:
    """A block that ends normally without ``labels()`` raises ``ValueError`` naming the
    family and its label names; nothing is recorded."""
    h = registry.histogram("call_seconds", "Calls.", ("status",))
    with pytest.raises(ValueError) as caught, h.time():
        pass
    assert "'call_seconds'" in str(caught.value) and "'status'" in str(caught.value)
    assert _counts(h) == {}


def test_an_exception_leaving_the_block_is_never_masked(registry: MetricsRegistry) -> None:
    """Without a choice, an exception leaving the block goes on unchanged (no ``ValueError``
    in its place or in its context) and nothing is recorded; with a choice, the duration
    is recorded and the exception goes on too."""
    h = registry.histogram("call_seconds", "Calls.", ("status",))
    error = Boom("original")
    with pytest.raises(Boom) as caught, h.time():
        raise error
    assert caught.value is error and caught.value.__context__ is None
    assert _counts(h) == {}
    with pytest.raises(Boom), h.time() as timer:
        timer.labels("failed")
        raise Boom("after choosing")
    assert _counts(h) == {("failed",): 1}


def test_bad_label_values_raise_from_labels_and_record_nothing(registry: MetricsRegistry) -> None:
    """A wrong number or name of label values raises from ``labels()`` as the family's
    ``labels()`` does; that error leaves the block, which then records nothing."""
    h = registry.histogram("call_seconds", "Calls.", ("status",))
    with pytest.raises(ValueError, match="expects 1 label values"), h.time() as timer:
        timer.labels("a", "b")
    with pytest.raises(ValueError, match="unknown"), h.time() as timer:
        timer.labels(code="a")
    assert _counts(h) == {}


def test_inside_a_coroutine(registry: MetricsRegistry) -> None:
    """The block may await; the child is chosen after the await."""
    h = registry.histogram("call_seconds", "Calls.", ("status",))

    async def call() -> None:
        with h.time() as timer:
            await asyncio.sleep(0.01)
            timer.labels("ok")

    asyncio.run(call())
    assert h.labels("ok").get().count == 1
    assert h.labels("ok").get().sum >= 0.01


def test_many_threads_choosing_their_own_children(registry: MetricsRegistry) -> None:
    """Each block has its own timer: threads timing blocks on one family at once each
    record exactly into the child they choose."""
    h = registry.histogram("call_seconds", "Calls.", ("worker",))
    workers, blocks = 6, 300
    barrier = threading.Barrier(workers)

    def run(worker: int) -> None:
        barrier.wait(TIMEOUT)
        for _ in range(blocks):
            with h.time() as timer:
                timer.labels(worker)

    threads = [threading.Thread(target=run, args=(w,)) for w in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
        assert not thread.is_alive()
    assert _counts(h) == {(str(w),): blocks for w in range(workers)}


# -- decorators and unlabelled timers --------------------------------------------------------


def test_decorators_on_a_labelled_family_are_a_type_error(registry: MetricsRegistry) -> None:
    """As a decorator nothing could choose the labels: ``TypeError`` naming the family,
    when decorating (sync and async functions alike)."""
    h = registry.histogram("call_seconds", "Calls.", ("status",))
    g = registry.gauge("in_flight", "In flight.", ("route",))

    def work() -> None:
        pass

    async def work_async() -> None:
        pass

    for helper in (h.time, g.time, g.track_inprogress):
        for func in (work, work_async):
            with pytest.raises(TypeError) as caught:
                helper()(func)
            assert "has labels" in str(caught.value) and ".labels(...)" in str(caught.value)
    assert _counts(h) == {}
    assert g.collect()[0].samples == []


def test_unlabelled_timers_and_trackers_refuse_labels(registry: MetricsRegistry) -> None:
    """The timer of an unlabelled family or of a child records into one series already:
    ``labels()`` on it is a ``ValueError``; the block still records as before."""
    h = registry.histogram("op_seconds", "Op.")
    child = registry.histogram("call_seconds", "Calls.", ("status",)).labels("ok")
    g = registry.gauge("last_seconds", "Last.")
    g.set(-1)
    tracked = registry.gauge("in_flight", "In flight.")
    for helper in (h.time, child.time, g.time, tracked.track_inprogress):
        with pytest.raises(ValueError, match="one series already"), helper() as block:
            block.labels("x")
    assert h.get().count == 1
    assert child.get().count == 1
    assert g.get() >= 0.0
    assert tracked.get() == 0.0


def test_the_generic_timer_works_for_any_record_method() -> None:
    """``timer_choosing_labels`` is what a family type needs for this (one line): a built
    family class gets the chosen-child behaviour for the method it names."""
    from tachikoma_metrics.instruments._family import timer_choosing_labels
    from tachikoma_metrics.instruments.histogram import _HistogramHelpers

    assert Histogram.time.__doc__ is not None and "labels" in Histogram.time.__doc__
    method = timer_choosing_labels(_HistogramHelpers.time, "observe")
    h = Histogram("call_seconds", "Calls.", ("status",))
    with method(h) as timer:
        timer.labels("ok")
    assert h.labels("ok").get().count == 1
    unlabelled = Histogram("op_seconds", "Op.")
    with method(unlabelled) as timer:  # the series' own timer, unchanged
        assert type(timer) is Timer
    assert unlabelled.get().count == 1


def test_the_one_line_a_summary_needs() -> None:
    """``Summary`` gets the same behaviour from the line
    ``time = timer_choosing_labels(_SummaryHelpers.time, "observe")`` in its class."""
    from tachikoma_metrics.instruments._family import timer_choosing_labels
    from tachikoma_metrics.instruments.summary import Summary, _SummaryHelpers

    method = timer_choosing_labels(_SummaryHelpers.time, "observe")
    s = Summary("call_seconds", "Calls.", ("status",))
    with method(s) as timer:
        timer.labels("ok")
    with pytest.raises(ValueError, match="'call_seconds'"), method(s):
        pass
    assert s.labels("ok").get().count == 1
    with pytest.raises(TypeError, match="cannot decorate"):
        method(s)(lambda: None)


# -- gauges -----------------------------------------------------------------------------------


def test_gauge_time_sets_the_chosen_child(registry: MetricsRegistry) -> None:
    """A labelled gauge's ``time()`` sets the chosen child to the block's duration."""
    g = registry.gauge("last_seconds", "Last.", ("job",))
    g.labels("other").set(-1)
    start = time.perf_counter()
    with g.time() as timer:
        time.sleep(0.01)
        timer.labels("backup")
    assert 0.01 <= g.labels("backup").get() <= time.perf_counter() - start
    assert g.labels("other").get() == -1.0


def test_track_inprogress_counts_the_chosen_child_until_the_block_ends(
    registry: MetricsRegistry,
) -> None:
    """The chosen child is +1 from ``labels()`` to the end of the block; choosing again
    moves the +1; the other children never move."""
    g = registry.gauge("in_flight", "In flight.", ("route",))
    with g.track_inprogress() as tracker:
        assert g.collect()[0].samples == []
        tracker.labels("/a")
        assert g.labels("/a").get() == 1.0
        tracker.labels("/a")  # the same child again: still 1
        assert g.labels("/a").get() == 1.0
        tracker.labels(route="/b")
        assert (g.labels("/a").get(), g.labels("/b").get()) == (0.0, 1.0)
        with g.track_inprogress() as inner:
            inner.labels("/b")
            assert g.labels("/b").get() == 2.0
    assert (g.labels("/a").get(), g.labels("/b").get()) == (0.0, 0.0)


def test_track_inprogress_without_choosing(registry: MetricsRegistry) -> None:
    """Leaving the block without a choice raises ``ValueError`` naming the family, unless an
    exception is leaving it (then that one goes on); after a choice, an exception still
    decrements."""
    g = registry.gauge("in_flight", "In flight.", ("route",))
    with pytest.raises(ValueError, match="'in_flight'"), g.track_inprogress():
        pass
    error = Boom("x")
    with pytest.raises(Boom) as caught, g.track_inprogress():
        raise error
    assert caught.value is error and caught.value.__context__ is None
    with pytest.raises(Boom), g.track_inprogress() as tracker:
        tracker.labels("/a")
        raise Boom("y")
    assert g.labels("/a").get() == 0.0


# -- the paused facade ----------------------------------------------------------------------------


def test_labelled_blocks_on_a_paused_facade_record_after_init(fresh_facade: None) -> None:
    """Families made before ``init()``: blocks drop their records while paused (no error)
    and record once ``init()`` has run."""
    h = metrics.histogram("call_seconds", "Calls.", ("status",))
    g = metrics.gauge("in_flight", "In flight.", ("route",))
    with h.time() as timer, g.track_inprogress() as tracker:
        timer.labels("ok")
        tracker.labels("/a")
    assert h.labels("ok").get().count == 0
    metrics.init()
    with h.time() as timer, g.track_inprogress() as tracker:
        timer.labels("ok")
        tracker.labels("/a")
        assert g.labels("/a").get() == 1.0
    assert h.labels("ok").get().count == 1
    assert g.labels("/a").get() == 0.0
