"""Work for ``multiprocessing`` pools (``tests/test_multiprocess_pool.py``): every metric
type, recorded from 8 threads per task, with values whose sums are exact in any order
(multiples of 1/8, far below 2**53), so the merged totals can be compared exactly.

``setup(directory)`` defines the instruments in a registry kept in that directory (the
parent calls it before forking; with spawn, the pool's initializer calls it in each
worker); ``task(i)`` records task ``i``'s share and returns ``(pid, i)``. ``replay`` records
the same operations in one process, for the expected totals.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import tachikoma_metrics as metrics

THREADS = 8
OPS = 40  # operations per thread per task
KINDS = ("a", "b", "c")
BUCKETS = (0.0, 0.5, 1.0, 2.5, 5.0)
QUANTILES = (0.1, 0.5, 0.9, 0.99)
STATES = ("idle", "busy", "done")


@dataclass
class Instruments:
    registry: metrics.MetricsRegistry
    events: Any  # counter, labelled by kind
    plain: Any  # counter, unlabelled, fractional increments
    livesum: Any
    summed: Any
    maximum: Any
    every: Any  # gauge mode "all" (a pid label per process)
    classic: Any  # histogram, labelled by kind
    native: Any  # native histogram
    summary: Any
    build: Any  # info
    state: Any  # stateset


def define(registry: metrics.MetricsRegistry, *, expected: bool = False) -> Instruments:
    """The instruments, in ``registry``. ``expected``: for a single-process registry that
    is to hold the merged totals (gauge modes are not options there; the ``all`` gauge is
    then labelled by ``pid`` explicitly)."""

    def gauge(name: str, mode: str) -> Any:
        if expected:
            return registry.gauge(name, f"Gauge, mode {mode}.")
        return registry.gauge(name, f"Gauge, mode {mode}.", multiprocess_mode=mode)

    if expected:
        every = registry.gauge("pool_all", "Gauge, mode all.", ["pid"])
    else:
        every = registry.gauge("pool_all", "Gauge, mode all.", multiprocess_mode="all")
    return Instruments(
        registry=registry,
        events=registry.counter("pool_events_total", "Events by kind.", ["kind"]),
        plain=registry.counter("pool_plain_total", "Fractional increments."),
        livesum=gauge("pool_livesum", "livesum"),
        summed=gauge("pool_sum", "sum"),
        maximum=gauge("pool_max", "max"),
        every=every,
        classic=registry.histogram(
            "pool_classic_seconds", "Classic buckets.", ["kind"], buckets=BUCKETS
        ),
        native=registry.histogram("pool_native_seconds", "Native buckets.", native=True),
        summary=registry.summary("pool_summary_seconds", "Quantiles.", quantiles=QUANTILES),
        build=registry.info("pool_build", "Build."),
        state=registry.stateset("pool_state", "State.", states=STATES),
    )


def observations(task: int, thread: int) -> Iterator[tuple[str, float, float]]:
    """Thread ``thread`` of task ``task``: (kind, observed value, increment) per operation.
    Values from -1.25 to 10.75 in steps of 1/8 (zero included), increments 0 to 0.75."""
    for op in range(OPS):
        kind = KINDS[(task + thread + op) % len(KINDS)]
        value = ((task * 7 + thread * 13 + op * 5) % 97 - 10) / 8
        increment = ((task + op) % 4) / 4
        yield kind, value, increment


def all_observations(tasks: int) -> list[float]:
    return [
        value
        for task in range(tasks)
        for thread in range(THREADS)
        for _, value, _ in observations(task, thread)
    ]


def record_thread(instruments: Instruments, task: int, thread: int) -> None:
    for kind, value, increment in observations(task, thread):
        instruments.events.labels(kind).inc()
        instruments.plain.inc(increment)
        instruments.livesum.inc(0.25)
        instruments.summed.inc(1)
        instruments.classic.labels(kind).observe(value)
        instruments.native.observe(value)
        instruments.summary.observe(value)
    instruments.summed.dec(0.5)


def task_value(task: int) -> float:
    """What task ``task`` sets the ``max`` and ``all`` gauges to: growing with ``task``,
    and a pool worker runs its tasks in order, so each process's last value is its largest."""
    return task + 0.5


def record_task(instruments: Instruments, task: int, *, threaded: bool = True) -> None:
    """Task ``task``'s share: ``THREADS`` threads recording (or one after another)."""
    if threaded:
        threads = [
            threading.Thread(target=record_thread, args=(instruments, task, n))
            for n in range(THREADS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    else:
        for n in range(THREADS):
            record_thread(instruments, task, n)
    instruments.maximum.set(task_value(task))
    instruments.build.info({"version": "1.2.3", "flavour": "pool"})
    instruments.state.state("busy")


_instruments: Instruments | None = None


def setup(directory: str) -> None:
    """Define the instruments in a registry kept in ``directory`` (once per process)."""
    global _instruments
    _instruments = define(metrics.MetricsRegistry(multiprocess_dir=directory))


def teardown() -> None:
    """Forget this process's registry, and release its file (the process then counts as
    dead there), so nothing of it outlives a test."""
    global _instruments
    if _instruments is not None:
        storage = _instruments.registry.storage
        _instruments = None
        close = getattr(storage, "close", None)
        if close is not None:
            close()


def instruments() -> Instruments:
    assert _instruments is not None, "setup() has not run in this process"
    return _instruments


def task(number: int) -> tuple[int, int]:
    """Record task ``number`` in this process; ``(this process's id, number)``."""
    own = instruments()
    record_task(own, number)
    own.every.set(task_value(number))
    return os.getpid(), number


def replay(tasks: int, pids: dict[int, float]) -> Instruments:
    """A single-process registry holding what ``tasks`` tasks recorded in total, and the
    ``all`` gauge's value ``pids[pid]`` per process."""
    expected = define(metrics.MetricsRegistry(), expected=True)
    for number in range(tasks):
        record_task(expected, number, threaded=False)
    expected.maximum.set(max(task_value(number) for number in range(tasks)))
    for pid, value in pids.items():
        expected.every.labels(str(pid)).set(value)
    return expected
