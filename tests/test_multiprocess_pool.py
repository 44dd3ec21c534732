"""Multi-process mode with ``multiprocessing`` pools, fork and spawn: every metric type
recorded by 8 threads in each of several worker processes merges into exactly the totals
one process recording the same operations holds.

The parent defines the instruments in a registry kept in a fresh directory; with fork the
workers inherit them (each gets its own file), with spawn the pool's initializer defines
them again in each worker. Once every task is done, while the workers still run (``livesum``
counts live processes only), the parent's exports (Prometheus text, OpenMetrics, protobuf)
are compared with those of a plain registry fed the same operations: identical but for the
``_created`` series (every process has its own creation time). Native buckets are compared
as ``NativeBuckets``; the summary's quantiles must also lie within 1% of the exact
nearest-rank quantiles over all the observations. After the workers have exited, their
counts stay (folded into the archive) and the ``livesum`` gauge loses their share.
"""

from __future__ import annotations

import difflib
import math
import multiprocessing
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import metrics_proto
from mp_apps import pool_work
from tachikoma_metrics import HistogramValue, MetricsRegistry, SummaryValue
from tachikoma_metrics.testing import sample_value

PROCESSES = 3
TASKS = 12
TIMEOUT = 60.0  # for all the tasks; never reached when tests pass


def _without_created(text: str) -> str:
    return "".join(line for line in text.splitlines(keepends=True) if "_created" not in line)


def _diff(got: str, want: str) -> str:
    return "".join(difflib.unified_diff(want.splitlines(True), got.splitlines(True), "want", "got"))


def _decoded(body: bytes) -> str:
    return "".join(str(family) for family in metrics_proto.decode_families(body))


def _histograms(registry: MetricsRegistry) -> dict[tuple[str, tuple[str, ...]], HistogramValue]:
    found = {}
    for family in registry.collect():
        for labels, value in family.histograms:
            found[(family.name, labels.label_values)] = value
    return found


def _summaries(registry: MetricsRegistry) -> dict[str, SummaryValue]:
    found = {}
    for family in registry.collect():
        for _, value in family.summaries:
            found[family.name] = value
    return found


def _nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def _compare(merged: MetricsRegistry, expected: MetricsRegistry, leave_out: str = "") -> None:
    """The merged registry's exports equal the expected ones, ``_created`` aside (and
    the family ``leave_out``)."""

    def plain(registry: MetricsRegistry) -> MetricsRegistry:
        if not leave_out:
            return registry
        view = MetricsRegistry()

        class Filtered:
            def collect(self) -> list[Any]:
                return [f for f in registry.collect() if f.name != leave_out]

        view.register(Filtered())
        return view

    got, want = plain(merged), plain(expected)
    got_text = _without_created(got.export_prometheus())
    want_text = _without_created(want.export_prometheus())
    assert got_text == want_text, _diff(got_text, want_text)
    got_om = got.export_openmetrics(created=False)
    want_om = want.export_openmetrics(created=False)
    assert got_om == want_om, _diff(got_om, want_om)
    got_pb, want_pb = got.export_protobuf(created=False), want.export_protobuf(created=False)
    assert got_pb == want_pb, _diff(_decoded(got_pb), _decoded(want_pb))
    got_histograms, want_histograms = _histograms(merged), _histograms(expected)
    assert got_histograms.keys() == want_histograms.keys()
    for key, value in want_histograms.items():
        assert got_histograms[key].native == value.native, key
        assert got_histograms[key].buckets == value.buckets, key
        assert (got_histograms[key].count, got_histograms[key].sum) == (value.count, value.sum)
    native = got_histograms[("pool_native_seconds", ())].native
    assert native is not None and native.positive_deltas and native.negative_deltas


def _check_quantiles(merged: MetricsRegistry) -> None:
    values = pool_work.all_observations(TASKS)
    summary = _summaries(merged)["pool_summary_seconds"]
    assert summary.count == len(values)
    assert summary.sum == sum(values)
    assert [q for q, _ in summary.quantiles] == list(pool_work.QUANTILES)
    for q, got in summary.quantiles:
        exact = _nearest_rank(values, q)
        assert abs(got - exact) <= 0.01 * abs(exact), (q, got, exact)


@pytest.fixture
def directory(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "metrics"
    path.mkdir()
    try:
        yield path
    finally:
        pool_work.teardown()


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_pool_merges_every_type_exactly(method: str, directory: Path) -> None:
    """Fork or spawn, 3 workers, 12 tasks of 8 threads each: the merged exports equal a
    single-process registry's, while the workers run and after they have exited."""
    pool_work.setup(str(directory))
    parent = pool_work.instruments()
    context = multiprocessing.get_context(method)
    if method == "fork":
        pool = context.Pool(PROCESSES)
    else:
        pool = context.Pool(PROCESSES, initializer=pool_work.setup, initargs=(str(directory),))
    try:
        done = pool.map_async(pool_work.task, range(TASKS), chunksize=1).get(TIMEOUT)
        last: dict[int, float] = {}
        for pid, number in done:
            last[pid] = max(last.get(pid, -math.inf), pool_work.task_value(number))
        assert os.getpid() not in last
        expected = pool_work.replay(TASKS, last)
        _compare(parent.registry, expected.registry)
        _check_quantiles(parent.registry)
        pool.close()
        pool.join()
    finally:
        pool.terminate()
        pool.join()
    # The workers are gone: everything but the livesum gauge is unchanged, and that shows
    # the only live process's value: the parent's, which never changed it.
    _compare(parent.registry, expected.registry, leave_out="pool_livesum")
    _check_quantiles(parent.registry)
    assert sample_value(parent.registry, "pool_livesum") == 0.0
