"""Forking: a child forked while other threads hold the library's locks can still record
and export (the locks are reinitialised in the child)."""

from __future__ import annotations

import os
import signal
import threading
import time
import warnings
from collections.abc import Iterator

import pytest

import tachikoma_metrics as metrics
from tachikoma_metrics import MetricsRegistry

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX fork only")

FORKS = 100
CHILD_DEADLINE = 10.0  # seconds for a child to record, export and exit


def _fork() -> int:
    with warnings.catch_warnings():
        # Python 3.12+ warns that forking a multi-threaded process may deadlock: that is
        # exactly the situation under test.
        warnings.simplefilter("ignore", DeprecationWarning)
        return os.fork()


def _wait(pid: int) -> int | None:
    """The child's exit status, or ``None`` (and the child killed) after the deadline."""
    deadline = time.monotonic() + CHILD_DEADLINE
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.005)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None


@pytest.fixture
def busy_registry() -> Iterator[MetricsRegistry]:
    """A registry whose families and registry lock are taken all the time by two
    threads: one creating label sets, one creating families and exporting."""
    registry = MetricsRegistry()
    family = registry.counter("calls_total", "Calls.", ["n"])
    stop = threading.Event()

    def create_label_sets() -> None:
        n = 0
        while not stop.is_set():
            family.labels(str(n)).inc()
            family.remove(str(n))
            n += 1

    def create_families() -> None:
        n = 0
        while not stop.is_set():
            registry.gauge(f"g{n % 50}", "G.", ["x"]).labels(str(n)).set(n)
            registry.collect()
            n += 1

    threads = [threading.Thread(target=f) for f in (create_label_sets, create_families)]
    for thread in threads:
        thread.start()
    try:
        yield registry
    finally:
        stop.set()
        for thread in threads:
            thread.join()


def test_forked_children_record_and_export(busy_registry: MetricsRegistry) -> None:
    """100 forks while other threads create label sets and families: every child creates
    new label sets and families, records, exports, and exits in time."""
    failures = []
    for i in range(FORKS):
        pid = _fork()
        if pid == 0:  # the child: never return into pytest
            code = 1
            try:
                family = busy_registry.counter("calls_total", "Calls.", ["n"])
                family.labels(f"child-{i}").inc()
                busy_registry.gauge(f"child_{i}", "Child.").set(1)
                text = busy_registry.export_prometheus()
                code = 0 if f'calls_total{{n="child-{i}"}} 1' in text else 2
            finally:
                os._exit(code)
        status = _wait(pid)
        if status != 0:
            failures.append((i, status))
    assert failures == [], f"children that hung (None) or failed: {failures}"


def test_forked_child_uses_the_facade(fresh_facade: None) -> None:
    """The facade's lock is reinitialised too: a child can define and export."""
    metrics.init()
    hold = threading.Event()
    release = threading.Event()

    def hold_facade_lock() -> None:
        from tachikoma_metrics import _global

        with _global._lock:
            hold.set()
            release.wait(5)

    holder = threading.Thread(target=hold_facade_lock)
    holder.start()
    try:
        assert hold.wait(5)
        pid = _fork()
        if pid == 0:
            code = 1
            try:
                metrics.counter("child_total", "Child.").inc()
                code = 0 if "child_total 1" in metrics.export_prometheus() else 2
            finally:
                os._exit(code)
        assert _wait(pid) == 0
    finally:
        release.set()
        holder.join()
