"""Summaries and native histograms in multi-process mode (``multiprocess/_summary.py`` and
``_native.py``): forked pool workers with 8 threads each merge into exactly what one
process fed the same observations exports (sum, count, classic and native buckets, and
the quantiles, which are also within 1% of the exact nearest-rank ones); a worker killed
by SIGKILL leaves exactly what it finished, whatever instant it died at; dead workers'
values stay in the archive, their windows until they age out; the merged native
resolution follows the rule in ``_native``'s docstring."""

from __future__ import annotations

import math
import multiprocessing
import os
import random
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tachikoma_metrics import HistogramValue, MetricsRegistry, SummaryValue
from tachikoma_metrics.multiprocess import _native, _summary
from tachikoma_metrics.native import NativeState, decode_spans, encode_spans

FORK = multiprocessing.get_context("fork")
DEADLINE = 60.0
THREADS = 8
TASKS = 9
OPS = 60
QUANTILES = (0.01, 0.1, 0.5, 0.9, 0.99)


@pytest.fixture
def directory(tmp_path: Path) -> Iterator[str]:
    path = tmp_path / "mp"
    path.mkdir()
    yield str(path)


# -- what the workers record -------------------------------------------------------------------


def define(registry: MetricsRegistry) -> dict[str, Any]:
    return {
        "summary": registry.summary("lat_seconds", "Quantiles.", ["kind"], quantiles=QUANTILES),
        "plain": registry.summary("size_bytes", "No quantiles."),
        "native": registry.histogram(
            "wait_seconds", "Native and classic.", buckets=[0.0, 1.0, 100.0], native=True
        ),
        # A small bucket limit: the merged result must reduce its resolution as one
        # process would; a zero bucket of its own.
        "narrow": registry.histogram(
            "spread", "Halving.", native=True, native_max_buckets=12, native_zero_threshold=0.01
        ),
    }


def value_of(task: int, thread: int, op: int) -> float:
    """Multiples of 1/64 from about -2**10 to 2**12 (exact sums in any order), zeros among
    them; every thread a different mix."""
    step = (task * 131 + thread * 17 + op * 29) % 257
    magnitude = 2.0 ** ((step % 23) - 6) * (1 + (step % 7) / 8)
    if step % 11 == 0:
        return 0.0
    return -magnitude if step % 5 == 0 else magnitude


def observations(task: int) -> list[tuple[int, list[float]]]:
    return [
        (thread, [value_of(task, thread, op) for op in range(OPS)]) for thread in range(THREADS)
    ]


def record(instruments: dict[str, Any], thread: int, values: list[float]) -> None:
    for number, value in enumerate(values):
        instruments["summary"].labels("ab"[(thread + number) % 2]).observe(value)
        instruments["plain"].observe(abs(value))
        instruments["native"].observe(value)
        instruments["narrow"].observe(value)


_instruments: dict[str, Any] = {}


def task(number: int) -> int:
    """One pool task: 8 threads recording their share at once."""
    threads = [
        threading.Thread(target=record, args=(_instruments, thread, values))
        for thread, values in observations(number)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return os.getpid()


def replay(tasks: range) -> MetricsRegistry:
    """One process fed every observation."""
    registry = MetricsRegistry()
    instruments = define(registry)
    for number in tasks:
        for thread, values in observations(number):
            record(instruments, thread, values)
    return registry


# -- comparing exports -------------------------------------------------------------------------


def without_created(text: str) -> str:
    return "".join(line for line in text.splitlines(True) if "_created" not in line)


def series(registry: MetricsRegistry) -> dict[tuple[str, tuple[str, ...]], Any]:
    found: dict[tuple[str, tuple[str, ...]], Any] = {}
    for family in registry.collect():
        for labels, value in [*family.histograms, *family.summaries]:
            found[(family.name, labels.label_values)] = value
    return found


def drop_created(value: Any) -> Any:
    if isinstance(value, HistogramValue):
        return HistogramValue(value.buckets, value.sum, value.count, None, None, value.native)
    assert isinstance(value, SummaryValue)
    return SummaryValue(value.quantiles, value.sum, value.count, None)


def assert_same(merged: MetricsRegistry, single: MetricsRegistry) -> None:
    """Every export identical but for ``_created``; each series' values equal."""
    got, want = series(merged), series(single)
    assert got.keys() == want.keys()
    for key in want:
        assert drop_created(got[key]) == drop_created(want[key]), key
    assert without_created(merged.export_prometheus()) == without_created(
        single.export_prometheus()
    )
    assert merged.export_openmetrics(created=False) == single.export_openmetrics(created=False)
    assert merged.export_protobuf(created=False) == single.export_protobuf(created=False)


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def assert_quantiles_close(merged: MetricsRegistry, tasks: range) -> None:
    by_kind: dict[str, list[float]] = {"a": [], "b": []}
    for number in tasks:
        for thread, values in observations(number):
            for op, value in enumerate(values):
                by_kind["ab"[(thread + op) % 2]].append(value)
    found = series(merged)
    for kind, values in by_kind.items():
        summary = found[("lat_seconds", (kind,))]
        assert summary.count == len(values) and summary.sum == sum(values)
        for q, got in summary.quantiles:
            exact = nearest_rank(values, q)
            assert abs(got - exact) <= 0.01 * abs(exact), (kind, q, got, exact)


def within_limit(single: MetricsRegistry, name: str) -> None:
    """The single process's native buckets are within its limit (so the merge's rule
    says they are what the merge must give)."""
    native = series(single)[(name, ())].native
    positive = decode_spans(native.positive_spans, native.positive_deltas)
    negative = decode_spans(native.negative_spans, native.negative_deltas)
    assert len(positive) + len(negative) <= 12


# -- tests -------------------------------------------------------------------------------------


def test_pool_workers_with_threads_merge_into_one_process_exports(directory: str) -> None:
    """3 forked workers, 9 tasks of 8 threads: the merged exports equal one process's fed
    every observation, while the workers live and once they are dead (the archive)."""
    registry = MetricsRegistry(multiprocess_dir=directory)
    _instruments.clear()
    _instruments.update(define(registry))
    tasks = range(TASKS)
    with FORK.Pool(3) as pool:
        pids = set(pool.map(task, tasks, chunksize=1))
        assert os.getpid() not in pids
        single = replay(tasks)
        within_limit(single, "spread")
        assert_same(registry, single)
        assert_quantiles_close(registry, tasks)
        pool.close()
        pool.join()
    registry.storage.compact()  # type: ignore[attr-defined]
    assert [n for n in os.listdir(directory) if n.endswith(".tkm")] == ["archive.tkm"]
    assert_same(registry, single)
    assert_quantiles_close(registry, tasks)
    # The narrow histogram did halve: the merged schema is below the starting one.
    merged = series(registry)[("spread", ())].native
    assert merged.schema < 3


def test_a_worker_killed_at_any_instant_leaves_exactly_what_it_finished(
    directory: str,
) -> None:
    """SIGKILL, three times, at a random instant of a run of 8 threads: each per-thread
    series counts exactly the observations its thread finished (at most the one under
    way besides), and sum, count, classic and native buckets agree exactly."""
    registry = MetricsRegistry(multiprocess_dir=directory)
    summary = registry.summary("killed_summary", "S.", ["run", "thread"], quantiles=(0.5,))
    native = registry.histogram(
        "killed_native", "N.", ["run", "thread"], buckets=[0.3, 0.6], native=True
    )
    shared = registry.histogram("killed_shared", "N.", ["run"], native=True)
    rng = random.Random(11)
    for run in range(3):
        progress = FORK.Array("q", THREADS, lock=False)

        def worker(run: int = run, progress: Any = progress) -> None:
            def loop(thread: int) -> None:
                value = (thread + 1) / 8  # each thread its own native bucket
                labels = (str(run), str(thread))
                done = 0
                while True:
                    summary.labels(*labels).observe(value)
                    native.labels(*labels).observe(value)
                    shared.labels(str(run)).observe(value)
                    done += 1
                    progress[thread] = done

            threads = [threading.Thread(target=loop, args=(n,)) for n in range(THREADS)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()

        process = FORK.Process(target=worker)
        process.start()
        deadline = time.monotonic() + DEADLINE
        wanted = rng.randrange(200, 2000)
        while min(progress) < wanted and time.monotonic() < deadline:
            time.sleep(0.001)
        time.sleep(rng.random() / 100)
        os.kill(process.pid or 0, signal.SIGKILL)
        process.join(DEADLINE)
        found = series(registry)
        shared_value = found[("killed_shared", (str(run),))]
        shared_buckets = decode_spans(
            shared_value.native.positive_spans, shared_value.native.positive_deltas
        )
        total = 0
        for thread in range(THREADS):
            value = (thread + 1) / 8
            labels = (str(run), str(thread))
            done = progress[thread]
            got = found[("killed_summary", labels)]
            assert done <= got.count <= done + 1
            assert got.sum == got.count * value
            histogram = found[("killed_native", labels)]
            assert done <= histogram.count <= done + 1
            assert histogram.sum == histogram.count * value
            assert histogram.buckets[-1][1] == histogram.count
            buckets = decode_spans(
                histogram.native.positive_spans, histogram.native.positive_deltas
            )
            assert list(buckets.values()) == [histogram.count]
            # The shared series: each thread's bucket holds what that thread finished.
            key = next(iter(buckets))
            assert done <= shared_buckets[key] <= done + 1
            total += shared_buckets[key] * value
        assert shared_value.count == sum(shared_buckets.values())
        assert shared_value.sum == total
    assert registry.storage.compact() == 0  # type: ignore[attr-defined]  # folded already


def observe_halfway(cell: Any, value: float, stage: int) -> None:
    """Do the first ``stage`` of the six steps of a native observation of ``value`` by
    hand, as a kill would leave them: old sum, value, mark, classic bucket, native
    bucket, new sum (the count is the seventh)."""
    part = next(iter(cell._others.values()))
    totals = part.totals
    classic = next(i for i, bound in enumerate(cell._native.bounds) if value <= bound)
    place = _native._place(value, part.schema, part.threshold)
    for step in range(stage):
        if step == 0:
            totals[_summary.OLD] = totals[_summary.SUM]
        elif step == 1:
            totals[_summary.PENDING] = value
        elif step == 2:
            totals[_summary.MARK] = totals[_summary.COUNT] + 1
        elif step == 3:
            totals[_native.CLASSIC + classic] += 1
        elif step == 4 and place is None:
            totals[_native.ZERO] += 1
        elif step == 4:
            view = part.blocks.get(place[0]) or part.block(place[0])
            view[place[1]] += 1
        elif step == 5:
            totals[_summary.SUM] = totals[_summary.OLD] + value


@pytest.mark.parametrize("stage", range(7))
@pytest.mark.parametrize("value", [0.75, 0.0, -3.5, math.inf])
def test_an_observation_cut_short_counts_in_nothing(
    directory: str, stage: int, value: float
) -> None:
    """Whichever step a kill stops an observation at, the merged series is what it was
    before that observation (or, all steps done but the count, still before it)."""
    registry = MetricsRegistry(multiprocess_dir=directory)
    histogram = registry.histogram("cut", "C.", buckets=[0.5, 1.0], native=True)
    summary = registry.summary("cut_summary", "S.", quantiles=(0.5,))
    for number in range(20):
        histogram.observe(number / 4 - 1)
        summary.observe(number / 4)
    before = series(registry)
    observe_halfway(histogram, value, stage)
    part = next(iter(summary._head.values()))
    totals = part.totals
    if stage >= 1:
        totals[_summary.OLD] = totals[_summary.SUM]
    if stage >= 3:
        totals[_summary.MARK] = totals[_summary.COUNT] + 1
    if stage >= 6:
        totals[_summary.SUM] = totals[_summary.OLD] + value
    registry.storage.close()  # type: ignore[attr-defined]  # this process now counts as dead
    reader = MetricsRegistry(multiprocess_dir=directory)
    after = series(reader)
    assert after[("cut", ())] == before[("cut", ())]
    got, want = after[("cut_summary", ())], before[("cut_summary", ())]
    assert (got.sum, got.count) == (want.sum, want.count)


def test_native_merge_rule_against_one_process(directory: str) -> None:
    """Observations spread over several processes, for layouts from schema -4 to 8, zero
    thresholds 0 to +Inf and bucket limits 1 to 160: the merged buckets are one process's
    (fed them all, in any order) whenever that process ends within its limit, and that
    process's halved until within it otherwise."""
    rng = random.Random(5)
    layouts = [
        (1.1, 2.0**-128, 160),
        (2.0, 0.0, 3),
        (1.005, 1e-3, 20),
        (65536.0, 0.5, 1),
        (1.5, 1.7976931348623157e308, 4),
        (1.02, 0.0, 7),
    ]
    values = [
        0.0,
        -0.0,
        math.inf,
        -math.inf,
        5e-324,
        -1e-300,
        1e300,
        2.0**-1022,
        *(rng.lognormvariate(0, 3) * rng.choice((1, -1)) for _ in range(300)),
        *(float(2**k) for k in range(-30, 30, 3)),
    ]
    registry = MetricsRegistry(multiprocess_dir=directory)
    families = [
        registry.histogram(
            f"rule_{n}",
            "R.",
            native=True,
            native_bucket_factor=f,
            native_zero_threshold=z,
            native_max_buckets=m,
        )
        for n, (f, z, m) in enumerate(layouts)
    ]
    shares = [values[i::3] for i in range(3)]

    def child(share: list[float]) -> None:
        for family in families:
            for value in share:
                family.observe(value)

    children = [FORK.Process(target=child, args=(share,)) for share in shares]
    for process in children:
        process.start()
    for process in children:
        process.join(DEADLINE)
        assert process.exitcode == 0
    merged = series(registry)
    for n, (factor, threshold, limit) in enumerate(layouts):
        order = values[:]
        rng.shuffle(order)
        single = MetricsRegistry()
        family = single.histogram(
            "x",
            "X.",
            native=True,
            native_bucket_factor=factor,
            native_zero_threshold=threshold,
            native_max_buckets=limit,
        )
        for value in order:
            family.observe(value)
        one = family.get()
        got = merged[(f"rule_{n}", ())]
        assert (got.count, got.buckets) == (one.count, one.buckets)
        assert one.native is not None and got.native is not None
        state = NativeState(one.native.schema, one.native.zero_threshold, limit)
        state.zero_count = one.native.zero_count
        state.positive = decode_spans(one.native.positive_spans, one.native.positive_deltas)
        state.negative = decode_spans(one.native.negative_spans, one.native.negative_deltas)
        while len(state.positive) + len(state.negative) > limit and state.schema > -4:
            state.halve_resolution()
        assert got.native == state.snapshot(), (n, one.native)
        assert encode_spans(state.positive) == (
            got.native.positive_spans,
            got.native.positive_deltas,
        )


def test_summary_windows_follow_the_wall_clock_and_age_out(
    directory: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows are numbered on the wall clock, so a dead process's observations count in
    the quantiles until their window ages out; sum and count stay for good; a ring
    position reused for a new window starts from zero."""
    now = [1_000_000.0]
    monkeypatch.setattr(_summary, "_time", lambda: now[0])
    registry = MetricsRegistry(multiprocess_dir=directory)
    summary = registry.summary("aging", "A.", quantiles=(0.5,), max_age=10.0, age_buckets=5)

    def child(values: list[float]) -> None:
        for value in values:
            summary.observe(value)

    worker = FORK.Process(target=child, args=([1.0] * 5,))
    worker.start()
    worker.join(DEADLINE)
    summary.observe(100.0)
    median = series(registry)[("aging", ())].quantiles[0][1]
    assert median == pytest.approx(1.0, rel=1 / 128)
    now[0] += 6.0  # three windows later: the dead worker's values still count
    assert series(registry)[("aging", ())].quantiles == ((0.5, median),)
    now[0] += 4.0  # five windows after: aged out, both processes'
    value = series(registry)[("aging", ())]
    assert math.isnan(value.quantiles[0][1])
    assert (value.sum, value.count) == (105.0, 6)
    summary.observe(7.0)  # the same ring position as the first window: reset, then counted
    assert series(registry)[("aging", ())].quantiles == ((0.5, 7.0),)
    assert summary.get().quantiles == ((0.5, 7.0),)


def test_threads_that_exit_hand_their_entries_on(directory: str) -> None:
    """Threads come and go: each new thread takes over an exited one's entries, so a
    series has as many groups of entries as threads ever wrote it at once."""
    registry = MetricsRegistry(multiprocess_dir=directory)
    summary = registry.summary("handed", "H.", quantiles=(0.5,))
    native = registry.histogram("handed_native", "H.", native=True)

    def both() -> None:
        summary.observe(1.0)
        native.observe(1.0)

    for _ in range(20):
        pair = [threading.Thread(target=both) for _ in range(2)]
        for thread in pair:
            thread.start()
        for thread in pair:
            thread.join()
    assert len(summary._head) + len(summary._closed) <= 2
    assert len(native._others) + len(native._buffer) <= 2
    found = series(registry)
    assert found[("handed", ())].count == found[("handed_native", ())].count == 40
    assert summary.get().count == 40 and native.get().count == 40


def test_removal_applies_to_every_process(directory: str) -> None:
    """remove() in the parent drops a summary's and a native histogram's series in every
    process; recording again starts them from zero."""
    registry = MetricsRegistry(multiprocess_dir=directory)
    summary = registry.summary("gone", "G.", ["k"], quantiles=(0.5,))
    native = registry.histogram("gone_native", "G.", ["k"], native=True)

    def child() -> None:
        for _ in range(5):
            summary.labels("x").observe(2.0)
            native.labels("x").observe(2.0)

    worker = FORK.Process(target=child)
    worker.start()
    worker.join(DEADLINE)
    assert series(registry)[("gone", ("x",))].count == 5
    summary.labels("x"), native.labels("x")  # the parent holds them too (unwritten)
    summary.remove("x")
    native.remove("x")
    assert ("gone", ("x",)) not in series(registry)
    assert ("gone_native", ("x",)) not in series(registry)
    summary.labels("x").observe(3.0)
    native.labels("x").observe(3.0)
    found = series(registry)
    assert (found[("gone", ("x",))].count, found[("gone", ("x",))].sum) == (1, 3.0)
    assert (found[("gone_native", ("x",))].count, found[("gone_native", ("x",))].sum) == (1, 3.0)


def test_scrapes_during_busy_writers_are_consistent(directory: str) -> None:
    """Two workers with 8 threads each observe as fast as they can while the parent
    scrapes: every scrape's native histogram agrees with itself (zero bucket plus native
    buckets = count = the classic +Inf bucket), and each per-thread summary's sum is its
    count times its thread's one value."""
    registry = MetricsRegistry(multiprocess_dir=directory)
    native = registry.histogram("busy", "B.", buckets=[0.5, 2.0], native=True)
    summary = registry.summary("busy_summary", "B.", ["thread"], quantiles=(0.5,))

    def worker() -> None:
        def loop(thread: int) -> None:
            value = (thread + 1) / 4
            child = summary.labels(str(thread))
            number = 0
            while True:
                native.observe(((number * 7 + thread) % 50) / 10 - 1)
                child.observe(value)
                number += 1

        threads = [threading.Thread(target=loop, args=(n,), daemon=True) for n in range(8)]
        for thread in threads:
            thread.start()
        time.sleep(DEADLINE)

    workers = [FORK.Process(target=worker) for _ in range(2)]
    for process in workers:
        process.start()
    try:
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline and ("busy", ()) not in series(registry):
            time.sleep(0.01)
        for _ in range(40):
            found = series(registry)
            histogram = found[("busy", ())]
            buckets = histogram.native
            total = buckets.zero_count
            total += sum(decode_spans(buckets.positive_spans, buckets.positive_deltas).values())
            total += sum(decode_spans(buckets.negative_spans, buckets.negative_deltas).values())
            assert total == histogram.count == histogram.buckets[-1][1]
            for thread in range(8):
                one = found.get(("busy_summary", (str(thread),)))
                if one is not None:
                    assert one.sum == one.count * (thread + 1) / 4
    finally:
        for process in workers:
            process.kill()
            process.join(DEADLINE)


@pytest.fixture
def fresh_facade() -> Iterator[None]:
    from tachikoma_metrics import _global

    saved = _global._registry, _global._initialized
    _global._registry, _global._initialized = None, False
    try:
        yield
    finally:
        _global._registry, _global._initialized = saved


def test_facade_instruments_made_before_init_move_and_exemplars_cross(
    directory: str, fresh_facade: None
) -> None:
    """A summary and a native histogram made before ``init(multiprocess_dir=...)`` record
    into the directory afterwards, in the parent and in a forked child; a native
    histogram's exemplar made in the child shows in the merged classic bucket."""
    import tachikoma_metrics as metrics

    summary = metrics.summary("early_summary", "S.", quantiles=(0.5,))
    native = metrics.histogram("early_native", "N.", buckets=[1.0], native=True)
    registry = metrics.init(multiprocess_dir=directory)
    summary.observe(2.0)
    native.observe(0.5)

    def child() -> None:
        summary.observe(4.0)
        native.observe(3.0, exemplar={"trace": "abc"})

    process = FORK.Process(target=child)
    process.start()
    process.join(DEADLINE)
    assert process.exitcode == 0
    found = series(registry)
    assert (found[("early_summary", ())].count, found[("early_summary", ())].sum) == (2, 6.0)
    histogram = found[("early_native", ())]
    assert (histogram.count, histogram.sum, histogram.buckets) == (
        2,
        3.5,
        ((1.0, 1), (math.inf, 2)),
    )
    assert histogram.exemplars is not None and histogram.exemplars[0] is None
    exemplar = histogram.exemplars[1]
    assert exemplar is not None and exemplar.labels == (("trace", "abc"),)
    assert exemplar.value == 3.0
    assert summary.get().count == 1 and native.get().count == 1  # this process's own


def test_nan_is_rejected_and_infinities_counted_as_in_one_process(directory: str) -> None:
    """NaN raises and records nothing; +-Inf and ints are observed as one process
    observes them (same export)."""
    merged = MetricsRegistry(multiprocess_dir=directory)
    single = MetricsRegistry()
    for registry in (merged, single):
        summary = registry.summary("edge", "E.", ["sign"], quantiles=(0.01, 0.5, 0.99))
        native = registry.histogram("edge_native", "E.", ["sign"], buckets=[0.0], native=True)
        for family in (summary, native):
            for sign, infinity in (("+", math.inf), ("-", -math.inf)):
                series = family.labels(sign)
                with pytest.raises(ValueError, match="NaN"):
                    series.observe(math.nan)
                with pytest.raises(TypeError):
                    series.observe("1")
                for value in (infinity, 3, 0.0, -0.0, 5e-324, -2.5, True):
                    series.observe(value)
    assert_same(merged, single)
