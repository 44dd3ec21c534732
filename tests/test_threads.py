"""Thread safety: no lost update, a final gauge ``set()`` wins, consistent histogram reads,
export during changes."""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Callable

import pytest

from tachikoma_metrics import Counter, Gauge, HistogramValue, MetricsRegistry
from thread_helpers import run_together

THREADS = 8
OPS = 20_000
TIMEOUT = 60.0

# Every test here has the interpreter switch threads very often so that operations really
# interleave.
pytestmark = pytest.mark.usefixtures("frequent_thread_switches")


def test_counter_has_no_lost_update(registry: MetricsRegistry) -> None:
    """8 threads incrementing one counter 20,000 times each end with exactly 160,000."""
    c = registry.counter("hits_total", "Hits.")

    def work() -> None:
        inc = c.inc
        for _ in range(OPS):
            inc()

    run_together([work] * THREADS)
    assert c.get() == THREADS * OPS
    assert registry.export_prometheus().endswith("hits_total 160000\n")


def test_counter_mixed_amounts_exact(registry: MetricsRegistry) -> None:
    """Threads adding different integral amounts through ``inc`` and ``inc_by`` lose nothing."""
    c = registry.counter("bytes_total", "Bytes.")

    def work_for(amount: int) -> Callable[[], None]:
        def work() -> None:
            for _ in range(OPS // 2):
                c.inc(amount)
                c.inc_by(amount)

        return work

    run_together([work_for(n + 1) for n in range(THREADS)])
    assert c.get() == OPS * sum(range(1, THREADS + 1))


class _YieldingFloat(float):
    """A float subclass whose additions and subtractions run Python code.

    The library turns any such number into a plain float before it touches a slot (values
    stay plain floats), so no Python code runs inside its read-modify-write; these tests
    check that conversion path under contention, with the interpreter's switch interval
    shortened (``frequent_thread_switches``, as everywhere in this module) so threads
    switch as often as CPython allows.
    """

    def __radd__(self, other: object) -> float:
        return float(other) + float(self)  # type: ignore[arg-type]

    def __rsub__(self, other: object) -> float:
        return float(other) - float(self)  # type: ignore[arg-type]

    def __neg__(self) -> _YieldingFloat:
        return _YieldingFloat(-float(self))


def test_counter_exact_when_threads_switch_inside_an_update(registry: MetricsRegistry) -> None:
    """Increments that run Python code mid-update (a float subclass) still lose nothing."""
    c = registry.counter("hits_total", "Hits.")
    one = _YieldingFloat(1.0)

    def work() -> None:
        for _ in range(OPS // 2):
            c.inc(one)

    run_together([work] * THREADS)
    assert c.get() == THREADS * (OPS // 2)


def test_histogram_sum_exact_when_threads_switch_inside_an_update(
    registry: MetricsRegistry,
) -> None:
    """Observations that run Python code mid-update keep count, buckets and sum exact."""
    h = registry.histogram("size", "Size.", buckets=(1, 2))
    two = _YieldingFloat(2.0)

    def work() -> None:
        for _ in range(OPS // 2):
            h.observe(two)

    run_together([work] * THREADS)
    total = THREADS * (OPS // 2)
    snap = h.get()
    assert (snap.count, snap.sum) == (total, 2.0 * total)
    assert tuple(snap.buckets) == ((1.0, 0), (2.0, total), (math.inf, total))


def test_labelled_family_children_created_concurrently(registry: MetricsRegistry) -> None:
    """Threads creating the same children at the same time share them and lose no update."""
    family = registry.counter("calls_total", "Calls.", labelnames=("worker",))

    def work() -> None:
        for i in range(OPS):
            family.labels(str(i % 50)).inc()

    run_together([work] * THREADS)
    per_child = THREADS * OPS // 50
    for key in range(50):
        assert family.labels(str(key)).get() == per_child, key
    text = registry.export_prometheus()
    series = [line for line in text.splitlines() if line.startswith("calls_total{")]
    assert len(series) == 50
    assert all(line.endswith(f" {per_child}") for line in series)


def test_labelled_gauge_children_created_concurrently(registry: MetricsRegistry) -> None:
    """Gauge ``inc``/``dec`` from many threads on concurrently created children stay exact."""
    family: Gauge = registry.gauge("level", "Level.", labelnames=("slot",))

    def work() -> None:
        for i in range(OPS // 2):
            child = family.labels(str(i % 10))
            child.inc(3)
            child.dec()

    run_together([work] * THREADS)
    for key in range(10):
        assert family.labels(str(key)).get() == 2 * THREADS * (OPS // 2) // 10


def test_gauge_inc_dec_exact_when_threads_switch_inside_an_update(
    registry: MetricsRegistry,
) -> None:
    """8 threads each adding and subtracting their own amounts (a float subclass whose
    arithmetic runs Python code) on one unlabelled gauge end with the exact total."""
    g = registry.gauge("level", "Level.")

    def work_for(thread: int) -> Callable[[], None]:
        up = _YieldingFloat(thread + 1.5)
        down = _YieldingFloat(0.25)

        def work() -> None:
            for _ in range(OPS // 2):
                g.inc(up)
                g.dec(down)

        return work

    run_together([work_for(n) for n in range(THREADS)])
    # every amount is a multiple of 0.25 and every partial sum is far below 2**50: exact
    assert g.get() == (OPS // 2) * sum(n + 1.5 - 0.25 for n in range(THREADS))


def test_gauge_default_inc_dec_exact(registry: MetricsRegistry) -> None:
    """``inc()`` and ``dec()`` with their default amount from 8 threads: 3 up, 1 down each."""
    g = registry.gauge("level", "Level.")

    def work() -> None:
        inc, dec = g.inc, g.dec
        for _ in range(OPS // 4):
            inc()
            dec()
            inc()
            inc()

    run_together([work] * THREADS)
    assert g.get() == 2 * THREADS * (OPS // 4)


def test_shared_labelled_gauge_child_exact(registry: MetricsRegistry) -> None:
    """8 threads writing one child of a labelled gauge, half through a held child and half
    through ``labels()`` on every call, end with the exact total on that child only."""
    family: Gauge = registry.gauge("level", "Level.", labelnames=("slot",))
    other = family.labels("other")
    other.set(5)

    def work_for(thread: int) -> Callable[[], None]:
        up = _YieldingFloat(2.0 + thread)
        down = _YieldingFloat(1.0)

        def held() -> None:
            child = family.labels("shared")
            for _ in range(OPS // 2):
                child.inc(up)
                child.dec(down)

        def looked_up() -> None:
            for _ in range(OPS // 2):
                family.labels("shared").inc(up)
                family.labels(slot="shared").dec(down)

        return held if thread % 2 else looked_up

    run_together([work_for(n) for n in range(THREADS)])
    assert family.labels("shared").get() == (OPS // 2) * sum(1.0 + n for n in range(THREADS))
    assert other.get() == 5.0


def _check_exactly(got: float, want: float) -> None:
    """``got`` is ``want`` as a float: NaN if NaN, else equal with the same sign (-0.0)."""
    if math.isnan(want):
        assert math.isnan(got), got
    else:
        assert (got, math.copysign(1.0, got)) == (want, math.copysign(1.0, want))


@pytest.mark.parametrize("final", [2.5, 0.0, -0.0, -1e300, math.inf, -math.inf, math.nan], ids=repr)
def test_gauge_final_set_is_the_value_after_concurrent_writes(
    registry: MetricsRegistry, final: float
) -> None:
    """While 6 threads ``inc``/``dec`` and 2 threads ``set``, nothing fails; once they have all
    stopped, one more ``set(v)`` reads back exactly ``v`` (NaN as NaN), on an unlabelled
    gauge and on a child, whoever writes and reads it."""
    g = registry.gauge("level", "Level.")
    child = registry.gauge("levels", "Levels.", labelnames=("k",)).labels("x")
    step = _YieldingFloat(0.5)

    def bump() -> None:
        for i in range(OPS // 2):
            for gauge in (g, child):
                gauge.inc(step)
                gauge.dec(1 if i % 3 else -7)

    def overwrite() -> None:
        for i in range(OPS // 4):
            for gauge in (g, child):
                gauge.set(float(i % 11) - 5.0)
                gauge.inc(step)

    run_together([bump] * 6 + [overwrite] * 2)
    g.set(final)  # set and read by this thread
    _check_exactly(g.get(), final)
    # set by a new thread, read by this one
    setter = threading.Thread(target=child.set, args=(final,))
    setter.start()
    setter.join(TIMEOUT)
    assert not setter.is_alive()
    _check_exactly(child.get(), final)
    # set by this thread, read by a new one
    g.set(12.0)
    results: list[float] = []
    reader = threading.Thread(target=lambda: results.append(g.get()))
    reader.start()
    reader.join(TIMEOUT)
    assert results == [12.0]


def test_gauge_set_then_inc_from_other_threads_after_a_barrier(
    registry: MetricsRegistry,
) -> None:
    """Every thread writes first; then one thread ``set``s and, after a barrier, the others
    ``inc``: the gauge reads the set value in between and ends at exactly the set value plus
    the increments. What the threads wrote before the ``set`` is gone."""
    g = registry.gauge("level", "Level.")
    child = registry.gauge("levels", "Levels.", labelnames=("k",)).labels("x")
    base = 1000.25
    after_set: list[tuple[float, float]] = []
    phase = threading.Barrier(THREADS)
    one = _YieldingFloat(1.0)

    def work_for(setter: bool) -> Callable[[], None]:
        def work() -> None:
            try:
                for _ in range(OPS // 8):  # +2 a round in whatever storage this thread writes
                    for gauge in (g, child):
                        gauge.inc(3)
                        gauge.dec(one)
                phase.wait(TIMEOUT)  # every thread has written
                if setter:
                    g.set(base)
                    child.set(-base)
                    after_set.append((g.get(), child.get()))
                phase.wait(TIMEOUT)  # the set happens before any increment below
                if not setter:
                    for _ in range(OPS // 4):
                        g.inc(one)
                        child.inc(one)
            except BaseException:
                phase.abort()  # release the others instead of leaving them to time out
                raise

        return work

    run_together([work_for(True)] + [work_for(False)] * (THREADS - 1))
    assert after_set == [(base, -base)]
    increments = (THREADS - 1) * (OPS // 4)
    assert g.get() == base + increments
    assert child.get() == -base + increments


def test_gauge_exact_with_32_threads(registry: MetricsRegistry) -> None:
    """32 threads, more than any fixed number of per-thread slots, writing one gauge and one
    child at the same time end with exact totals."""
    threads = 32
    g = registry.gauge("level", "Level.")
    child = registry.gauge("levels", "Levels.", labelnames=("k",)).labels("x")
    up = _YieldingFloat(1.5)

    def work() -> None:
        for _ in range(OPS // 16):
            g.inc(up)
            g.dec()
            child.dec(up)

    run_together([work] * threads)
    assert g.get() == 0.5 * threads * (OPS // 16)
    assert child.get() == -1.5 * threads * (OPS // 16)


def test_gauge_exact_across_waves_of_short_lived_threads(registry: MetricsRegistry) -> None:
    """8 waves of 8 short-lived threads (thread ids get reused once a thread has exited) write
    one gauge; after every wave the gauge holds exactly the running total, and a ``set`` in the
    middle starts the count again from the set value."""
    waves = 8
    g = registry.gauge("level", "Level.")
    half = _YieldingFloat(0.5)
    expected = 0.0
    for wave in range(waves):
        if wave == waves // 2:
            g.set(-3.0)
            expected = -3.0

        def work_for(thread: int, wave: int = wave) -> Callable[[], None]:
            def work() -> None:
                for _ in range(200):
                    g.inc(thread + wave)
                    g.dec(half)

            return work

        run_together([work_for(n) for n in range(THREADS)])
        expected += 200 * sum(n + wave - 0.5 for n in range(THREADS))
        assert g.get() == expected, wave


def test_histogram_has_no_lost_observation(registry: MetricsRegistry) -> None:
    """8 threads observing integers end with exact count, bucket counts and sum."""
    h = registry.histogram("size", "Size.", buckets=(1, 2, 5))

    def work() -> None:
        observe = h.observe
        for i in range(OPS):
            observe(i % 10)

    run_together([work] * THREADS)
    snap = h.get()
    # per thread, i % 10 cycles 0..9 exactly OPS // 10 times
    cycles = THREADS * OPS // 10
    assert snap.count == THREADS * OPS
    assert snap.sum == cycles * sum(range(10))
    # cumulative: <=1: {0,1}; <=2: {0,1,2}; <=5: {0..5}; +Inf: all
    assert tuple(snap.buckets) == (
        (1.0, 2 * cycles),
        (2.0, 3 * cycles),
        (5.0, 6 * cycles),
        (math.inf, 10 * cycles),
    )


def _check_snapshot(snap: HistogramValue, previous: HistogramValue | None) -> None:
    counts = [count for _, count in snap.buckets]
    assert snap.buckets[-1][0] == math.inf
    assert snap.count == counts[-1], f"count {snap.count} != +Inf bucket {counts[-1]}"
    assert counts == sorted(counts), f"buckets decrease within a snapshot: {counts}"
    assert snap.sum >= 0
    if previous is not None:
        before = [count for _, count in previous.buckets]
        assert all(now >= then for now, then in zip(counts, before, strict=True)), (before, counts)
        assert snap.count >= previous.count
        assert snap.sum >= previous.sum


def test_histogram_reads_are_consistent_while_writers_run(registry: MetricsRegistry) -> None:
    """While 4 writers observe, every ``get()`` has count == ``+Inf`` bucket, cumulative
    buckets, and no bucket or count ever decreases across successive reads."""
    writers = 4
    h = registry.histogram("lat", "Lat.", buckets=(1, 2, 4, 8))
    done = threading.Event()
    finished = [0]
    finished_lock = threading.Lock()
    snapshots: list[int] = []

    def write() -> None:
        try:
            observe = h.observe
            for i in range(OPS):
                observe(i % 10)
        finally:
            with finished_lock:
                finished[0] += 1
                if finished[0] == writers:
                    done.set()

    def read() -> None:
        previous: HistogramValue | None = None
        while True:
            last_round = done.is_set()
            snap = h.get()
            _check_snapshot(snap, previous)
            snapshots.append(snap.count)
            previous = snap
            if last_round:
                break

    run_together([read] + [write] * writers)
    final = h.get()
    assert final.count == writers * OPS
    assert snapshots[-1] == writers * OPS
    assert any(0 < count < writers * OPS for count in snapshots), "no read overlapped a write"


def test_labelled_histogram_reads_consistent_across_export(registry: MetricsRegistry) -> None:
    """Exports taken while writers observe parse with count == ``+Inf`` bucket per series."""
    h = registry.histogram("lat", "Lat.", labelnames=("k",), buckets=(1, 5))
    done = threading.Event()
    bodies: list[str] = []

    def write(key: str) -> Callable[[], None]:
        def work() -> None:
            for i in range(OPS // 4):
                h.labels(key).observe(i % 7)

        return work

    def export() -> None:
        while not done.is_set():
            bodies.append(registry.export_prometheus())

    exporter = threading.Thread(target=export, daemon=True)
    exporter.start()
    try:
        run_together([write(str(n % 2)) for n in range(4)])
    finally:
        done.set()
        exporter.join(TIMEOUT)
    assert not exporter.is_alive()
    bodies.append(registry.export_prometheus())
    for body in bodies:
        values: dict[str, float] = {}
        for line in body.splitlines():
            if line.startswith("#"):
                continue
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
        for key in ("0", "1"):
            inf = values.get(f'lat_bucket{{k="{key}",le="+Inf"}}')
            count = values.get(f'lat_count{{k="{key}"}}')
            assert inf == count
    assert body.endswith('lat_count{k="1"} 10000\n')


def test_export_while_children_and_families_change(registry: MetricsRegistry) -> None:
    """``export_prometheus()`` runs without error while other threads create children,
    clear families and register/unregister whole families."""
    stable = registry.counter("stable_total", "Always there.")
    stable.inc()
    growing = registry.counter("growing_total", "Grows.", labelnames=("k",))
    churn = registry.gauge("churn", "Cleared often.", labelnames=("k",))
    rounds = 2_000
    stop = threading.Event()
    exports: list[str] = []

    def create_children() -> None:
        for i in range(rounds):
            growing.labels(str(i)).inc()

    def clear_children() -> None:
        for i in range(rounds):
            churn.labels(str(i % 20)).set(i)
            if i % 10 == 0:
                churn.clear()
            if i % 15 == 0 and i:
                with contextlib.suppress(KeyError):  # cleared in between: nothing to remove
                    churn.remove(str((i - 1) % 20))

    def register_families(thread: int) -> Callable[[], None]:
        def work() -> None:
            for i in range(rounds // 4):
                family = Counter(f"temp_{thread}_{i % 3}_total", "Temporary.", labelnames=("x",))
                family.labels("a").inc()
                registry.register(family)
                registry.unregister(family)

        return work

    def export() -> None:
        while not stop.is_set():
            exports.append(registry.export_prometheus())

    exporters = [threading.Thread(target=export, daemon=True) for _ in range(2)]
    for thread in exporters:
        thread.start()
    try:
        run_together([create_children, clear_children, register_families(0), register_families(1)])
    finally:
        stop.set()
        for thread in exporters:
            thread.join(TIMEOUT)
    assert not any(thread.is_alive() for thread in exporters)
    assert exports, "the exporters ran at least once"
    for body in exports:
        assert body.endswith("\n")
        assert "# TYPE stable_total counter\nstable_total 1\n" in body
        assert "# TYPE growing_total counter\n" in body
    final = registry.export_prometheus()
    assert "temp_" not in final
    assert sum(1 for line in final.splitlines() if line.startswith("growing_total{")) == rounds
