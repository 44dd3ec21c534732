"""``counter.reset()``: back to 0 with a new created time, as ``prometheus_client``'s
``Counter.reset()``; safe while other threads increment (each increment is counted wholly
before the reset or wholly after it)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)

import tachikoma_metrics as metrics
from tachikoma_metrics import Counter, MetricsRegistry

TIMEOUT = 60.0


def _openmetrics(registry: MetricsRegistry) -> dict[tuple[str, tuple[Any, ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in parse_openmetrics(registry.export_openmetrics())
        for s in f.samples
    }


def _run(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
        assert not thread.is_alive()


# -- behaviour -------------------------------------------------------------------------------


def test_reset_goes_back_to_zero_with_a_new_created_time(registry: MetricsRegistry) -> None:
    """After ``reset()`` the counter reads 0, exports 0 with a created time taken at the
    reset, and counts on from there; its exemplar belonged to the old life and is gone."""
    c = registry.counter("jobs_total", "Jobs.")
    c.inc(5, exemplar={"trace_id": "old"})
    before_created = _openmetrics(registry)[("jobs_created", ())]
    time.sleep(0.01)  # created times are kept to the millisecond
    before = time.time()
    c.reset()
    after = time.time()
    assert c.get() == 0.0
    samples = _openmetrics(registry)
    assert samples[("jobs_total", ())] == 0.0
    created = samples[("jobs_created", ())]
    assert before - 0.001 <= created <= after + 0.001
    assert created > before_created
    assert "trace_id" not in registry.export_openmetrics()
    c.inc(2)
    c.inc_by(0.5)
    assert c.get() == 2.5
    assert _openmetrics(registry)[("jobs_total", ())] == 2.5


def test_reset_of_a_child_leaves_its_siblings(registry: MetricsRegistry) -> None:
    """A child's ``reset()`` resets that series only."""
    c = registry.counter("jobs_total", "Jobs.", ("queue",))
    c.labels("a").inc(3)
    c.labels("b").inc(4)
    c.labels("a").reset()
    assert c.labels("a").get() == 0.0
    assert c.labels("b").get() == 4.0
    samples = _openmetrics(registry)
    assert samples[("jobs_total", (("queue", "a"),))] == 0.0
    assert samples[("jobs_total", (("queue", "b"),))] == 4.0


def test_repeated_resets_and_fractional_amounts_read_exactly_zero() -> None:
    """Each reset reads 0.0 exactly, even after fractional amounts from several threads."""
    c = Counter("seconds_total", "Seconds.")
    for _ in range(3):
        c.inc(0.1)
        c.inc(0.2)
        worker = threading.Thread(target=c.inc, args=(0.7,))
        _run([worker])
        assert c.get() > 0
        c.reset()
        assert c.get() == 0.0
        c.reset()
        assert c.get() == 0.0


def test_labelled_family_refuses_reset(registry: MetricsRegistry) -> None:
    """A labelled family is not a series: ``ValueError`` naming its labels, nothing reset."""
    c = registry.counter("jobs_total", "Jobs.", ("queue",))
    c.labels("a").inc(3)
    with pytest.raises(ValueError, match=r"'queue'.*reset"):
        c.reset()
    assert c.labels("a").get() == 3.0


def test_paused_facade_counter_reset_is_dropped_then_works(fresh_facade: None) -> None:
    """Before ``init()`` a reset is dropped like every write; after it, it resets."""
    c = metrics.counter("jobs_total", "Jobs.")
    c.reset()
    metrics.init()
    c.inc(3)
    c.reset()
    c.inc()
    assert c.get() == 1.0
    assert "jobs_total 1\n" in metrics.export_prometheus()


def test_reset_with_slots_of_live_and_exited_threads() -> None:
    """Increments of the owner thread, of a live thread with its own slot and of an exited
    (folded) thread are all discarded by a reset; later ones from each count exactly."""
    c = Counter("jobs_total", "Jobs.")
    c.inc(3)
    incremented, release, again, done = (threading.Event() for _ in range(4))

    def live() -> None:
        c.inc(5)
        incremented.set()
        release.wait(TIMEOUT)
        c.inc(7)
        again.set()
        done.wait(TIMEOUT)

    keeper = threading.Thread(target=live)
    keeper.start()
    _run([threading.Thread(target=lambda: c.inc(11))])  # exits: folded
    assert incremented.wait(TIMEOUT)
    assert c.get() == 19.0
    resetter = threading.Thread(target=c.reset)  # from a thread that never wrote it
    _run([resetter])
    assert c.get() == 0.0
    release.set()
    assert again.wait(TIMEOUT)
    c.inc(2)
    assert c.get() == 9.0
    done.set()
    keeper.join(TIMEOUT)  # its slot is folded now
    assert c.get() == 9.0
    _run([threading.Thread(target=lambda: c.inc(100))])
    assert c.get() == 109.0
    c.reset()
    assert c.get() == 0.0


# -- under concurrent increments ---------------------------------------------------------------


def _advance(progress: list[int], step: int) -> None:
    """Wait (with a deadline) until the writers have made ``step`` more increments."""
    goal = sum(progress) + step
    deadline = time.monotonic() + TIMEOUT
    while sum(progress) < goal:
        assert time.monotonic() < deadline
        time.sleep(0)


def _incrementer(counter: Counter, times: int) -> threading.Thread:
    """A thread that increments ``counter`` by 1 ``times`` times, then exits."""

    def run() -> None:
        for _ in range(times):
            counter.inc()

    return threading.Thread(target=run)


def _hammer(resets: int, writers: int = 4, step: int = 2000) -> None:
    """One trial of the test below: ``writers`` threads increment a new counter by 1 until
    told to stop, while the main thread resets it ``resets`` times (each after ``step``
    more increments) and a reader reads it; assert the bounds on what the last reset
    discarded."""
    c = Counter("jobs_total", "Jobs.")
    progress = [0] * writers
    barrier = threading.Barrier(writers + 2)
    stop, stop_reading = threading.Event(), threading.Event()
    errors: list[BaseException] = []
    reads: list[float] = []

    def write(index: int) -> None:
        try:
            barrier.wait(TIMEOUT)
            done = 0
            while not stop.is_set():
                c.inc()
                done += 1
                progress[index] = done
        except BaseException as error:  # re-raised below
            errors.append(error)

    def read() -> None:
        barrier.wait(TIMEOUT)
        while not stop_reading.is_set():
            reads.append(c.get())

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    reader = threading.Thread(target=read)
    for thread in [*threads, reader]:
        thread.start()
    barrier.wait(TIMEOUT)
    started = finished = 0
    for _ in range(resets):
        _advance(progress, step)
        started = sum(progress)
        c.reset()
        finished = sum(progress)
    # The writers go on after the reset.
    _advance(progress, step)
    stop.set()
    for thread in threads:
        thread.join(TIMEOUT)
        assert not thread.is_alive()
    stop_reading.set()
    reader.join(TIMEOUT)
    assert errors == []
    total = sum(progress)
    final = c.get()
    assert final == int(final)
    assert total - finished - writers <= final <= total - started, (started, finished, final)
    assert final >= step - writers
    assert all(value >= 0 and value == int(value) for value in reads)


@pytest.mark.usefixtures("frequent_thread_switches")
def test_every_concurrent_increment_is_before_or_after_the_reset() -> None:
    """Threads increment by 1 while the main thread resets. Each thread publishes how many
    increments it has finished. The increments counted before the last reset are at least
    those finished when it started, and at most those finished when it returned plus one
    in flight per thread. So once every thread has finished, the counter must hold all
    increments minus a number in that range: an increment lost, counted twice or split,
    or a slot (inline, private or folded) left out of the reset falls outside it. Readers
    meanwhile never see a negative or fractional value. Under the GIL each single update
    is atomic; on a free-threaded build the same bounds check the races themselves."""
    for trial in range(10):
        _hammer(resets=1 + trial % 3)


@pytest.mark.usefixtures("frequent_thread_switches")
def test_resets_while_threads_come_and_go() -> None:
    """Writer threads that start, increment and exit (their slots folded) while the main
    thread keeps resetting: after the last reset, with no writer left, the counter is 0;
    then every new increment counts."""
    c = Counter("jobs_total", "Jobs.")
    stop = threading.Event()
    errors: list[BaseException] = []

    def wave() -> None:
        try:
            while not stop.is_set():
                _run([_incrementer(c, 200)])
        except BaseException as error:
            errors.append(error)

    spawner = threading.Thread(target=wave)
    spawner.start()
    for _ in range(200):
        c.reset()
        assert c.get() >= 0
    stop.set()
    spawner.join(TIMEOUT)
    assert not spawner.is_alive()
    assert errors == []
    c.reset()
    assert c.get() == 0.0
    _run([_incrementer(c, 300) for _ in range(3)])
    c.inc(4)
    assert c.get() == 904.0
