"""Thread safety: no lost update, consistent histogram reads, export during changes."""

from __future__ import annotations

import contextlib
import math
import sys
import threading
from collections.abc import Callable, Iterator

import pytest

from tachikoma_metrics import Counter, Gauge, HistogramValue, MetricsRegistry

THREADS = 8
OPS = 20_000
TIMEOUT = 60.0


@pytest.fixture(autouse=True)
def frequent_thread_switches() -> Iterator[None]:
    """Make the interpreter switch threads very often so that operations really interleave."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(previous)


def _run_together(workers: list[Callable[[], None]]) -> None:
    """Start every worker behind one barrier, join them, and re-raise the first error."""
    barrier = threading.Barrier(len(workers))
    errors: list[BaseException] = []

    def wrap(work: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                barrier.wait(timeout=TIMEOUT)
                work()
            except BaseException as error:  # reported to the test thread below
                errors.append(error)
                barrier.abort()

        return run

    threads = [threading.Thread(target=wrap(work), daemon=True) for work in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
        assert not thread.is_alive(), "worker thread did not finish in time"
    if errors:
        raise errors[0]


def test_counter_has_no_lost_update(registry: MetricsRegistry) -> None:
    """8 threads incrementing one counter 20,000 times each end with exactly 160,000."""
    c = registry.counter("hits_total", "Hits.")

    def work() -> None:
        inc = c.inc
        for _ in range(OPS):
            inc()

    _run_together([work] * THREADS)
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

    _run_together([work_for(n + 1) for n in range(THREADS)])
    assert c.get() == OPS * sum(range(1, THREADS + 1))


class _YieldingFloat(float):
    """A float whose additions run Python code, so the interpreter may switch threads in the
    middle of a read-modify-write, as a free-threaded build can at any point."""

    def __radd__(self, other: object) -> float:
        return float(other) + float(self)  # type: ignore[arg-type]


def test_counter_exact_when_threads_switch_inside_an_update(registry: MetricsRegistry) -> None:
    """Increments that run Python code mid-update (a float subclass) still lose nothing."""
    c = registry.counter("hits_total", "Hits.")
    one = _YieldingFloat(1.0)

    def work() -> None:
        for _ in range(OPS // 2):
            c.inc(one)

    _run_together([work] * THREADS)
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

    _run_together([work] * THREADS)
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

    _run_together([work] * THREADS)
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

    _run_together([work] * THREADS)
    for key in range(10):
        assert family.labels(str(key)).get() == 2 * THREADS * (OPS // 2) // 10


def test_histogram_has_no_lost_observation(registry: MetricsRegistry) -> None:
    """8 threads observing integers end with exact count, bucket counts and sum."""
    h = registry.histogram("size", "Size.", buckets=(1, 2, 5))

    def work() -> None:
        observe = h.observe
        for i in range(OPS):
            observe(i % 10)

    _run_together([work] * THREADS)
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

    _run_together([read] + [write] * writers)
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
        _run_together([write(str(n % 2)) for n in range(4)])
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
        _run_together([create_children, clear_children, register_families(0), register_families(1)])
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
