"""The summary's claims, proven at scale: quantile accuracy over a million observations of
three distributions, bounded memory whatever the number of observations, and no lost
observation under eight writer threads."""

from __future__ import annotations

import gc
import itertools
import math
import threading
import tracemalloc
from collections.abc import Iterator
from fractions import Fraction

import numpy as np
import pytest

from tachikoma_metrics import quantiles
from tachikoma_metrics.instruments.summary import Summary
from tachikoma_metrics.quantiles import RELATIVE_ACCURACY, memory_bound

QUANTILES = (0.01, 0.1, 0.5, 0.9, 0.99, 0.999)
N = 1_000_000
# The bar: within 1% relative error of the exact quantile, or within 0.005 in rank.
RELATIVE_BAR = 0.01
RANK_BAR = 0.005


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """A clock that moves only when the test says: ``now[0]``."""
    now = [5000.0]
    monkeypatch.setattr(quantiles, "_clock", lambda: now[0])
    yield now


def exact_quantile(ordered: np.ndarray, q: float) -> float:
    """Nearest rank: the ceil(q * n)-th smallest, with q read as the decimal it is written as."""
    rank = math.ceil(Fraction(repr(q)) * len(ordered))
    return float(ordered[rank - 1])


def check_against_exact(data: np.ndarray, reported: tuple[tuple[float, float], ...]) -> None:
    ordered = np.sort(data)
    n = len(ordered)
    for q, estimate in reported:
        exact = exact_quantile(ordered, q)
        relative = abs(estimate - exact) / abs(exact) if exact else abs(estimate)
        # The rank of the estimate: the fraction of observations at or below it.
        rank = np.searchsorted(ordered, estimate, side="right") / n
        assert relative <= RELATIVE_BAR or abs(rank - q) <= RANK_BAR, (q, estimate, exact)
        # What the sketch guarantees is stronger: relative error within 1/128.
        assert relative <= RELATIVE_ACCURACY, (q, estimate, exact, relative)


def distributions() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(20240611)
    bimodal = np.concatenate([rng.normal(-3.0, 1.0, 400_000), rng.lognormal(3.0, 0.5, 600_000)])
    return {
        "uniform": rng.uniform(0.0, 1.0, N),
        "lognormal": rng.lognormal(0.0, 1.5, N),
        "bimodal": rng.permutation(bimodal),
    }


DATA = distributions()


@pytest.mark.parametrize("name", list(DATA))
def test_a_million_observations_within_one_percent_of_exact(
    name: str, frozen_clock: list[float]
) -> None:
    """Every quantile of a million seeded observations (uniform on [0, 1), lognormal with
    sigma 1.5, and a bimodal mixture of a negative normal and a positive lognormal) is
    within 1% of the exact nearest-rank quantile of the same data."""
    data = DATA[name]
    s = Summary("x", "X.", ("l",), quantiles=QUANTILES)
    child = s.labels("a")
    observe = child.observe
    for value in data.tolist():
        observe(value)
    snap = child.get()
    assert snap.count == N
    assert math.isclose(snap.sum, math.fsum(data.tolist()), rel_tol=1e-9)
    assert [q for q, _ in snap.quantiles] == list(QUANTILES)
    check_against_exact(data, snap.quantiles)


def test_a_window_reports_only_its_own_million(frozen_clock: list[float]) -> None:
    """Two million observations a window apart: the quantiles are those of the second
    million alone, within the same bar; sum and count are of both."""
    s = Summary("x", "X.", quantiles=QUANTILES, max_age=60.0, age_buckets=3)
    for value in DATA["uniform"].tolist():
        s.observe(value)
    frozen_clock[0] += 60.0
    for value in DATA["bimodal"].tolist():
        s.observe(value)
    snap = s.get()
    assert snap.count == 2 * N
    check_against_exact(DATA["bimodal"], snap.quantiles)


def fill(values: list[float], clock: list[float], traced: int) -> tuple[int, int]:
    """Observe ``values`` (a million) on a new series over ten age buckets of 10 s (the
    window: 50 s in 5 age buckets) and return what the series holds: the traced memory of
    creating it and of its first observation, then the traced growth over the last five
    age buckets, which make every age bucket of the final window anew, with ``traced``
    observations each (tracing a million observations would take far longer)."""
    family = Summary("x", "X.", ("l",), quantiles=(0.5, 0.99), max_age=50.0, age_buckets=5)
    family.labels("warm-up").observe(1.0)
    gc.collect()
    tracemalloc.start()
    try:
        child = family.labels("measured")
        child.observe(values[0])
        gc.collect()
        fixed = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    untraced = len(values) - 5 * traced
    bounds = [1 + untraced * i // 5 for i in range(6)]
    bounds += [untraced + traced * i for i in range(1, 6)]
    for i, (begin, end) in enumerate(itertools.pairwise(bounds)):
        if i == 5:
            gc.collect()
            tracemalloc.start()
        clock[0] += 10.0  # a new age bucket
        for value in values[begin:end]:
            child.observe(value)
        child.get()
    gc.collect()
    window = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert child.get().count == len(values)
    return fixed, window


def test_memory_is_bounded_in_the_worst_case(frozen_clock: list[float]) -> None:
    """A million observations spread over 140 powers of two in both signs, so that every
    age bucket's two stores are full: the series holds no more than
    ``memory_bound(age_buckets)``, and not much less (the bound is not loose)."""
    rng = np.random.default_rng(7)
    signs = rng.choice((-1.0, 1.0), N)
    spread = (signs * np.exp2(rng.uniform(-70.0, 70.0, N))).tolist()
    fixed, window = fill(spread, frozen_clock, traced=20_000)
    assert fixed <= 4096
    assert fixed + window <= memory_bound(5), (fixed, window, memory_bound(5))
    assert fixed + window >= 0.9 * memory_bound(5), (fixed, window)


def test_memory_of_ordinary_latencies_is_a_few_kb_per_age_bucket(
    frozen_clock: list[float],
) -> None:
    """A million lognormal latencies (about 14 powers of two): a few KB per age bucket,
    whatever the number of observations."""
    latencies = np.random.default_rng(8).lognormal(-3.0, 1.0, N).tolist()
    fixed, window = fill(latencies, frozen_clock, traced=20_000)
    assert fixed + window <= 5 * 10_000 + 16_000, (fixed, window)


@pytest.mark.usefixtures("frequent_thread_switches")
def test_eight_writer_threads_lose_nothing() -> None:
    """Eight threads observe integers while another reads: the count and the sum are exact,
    and the quantiles are those of all the values together, within the bar."""
    per_thread = 40_000
    threads_n = 8
    values = [np.arange(t, t + per_thread * 7, 7) % 1000 + 1 for t in range(threads_n)]
    s = Summary("x", "X.", ("l",), quantiles=QUANTILES)
    child = s.labels("a")
    start = threading.Barrier(threads_n + 1)
    done = threading.Event()
    reads: list[int] = []

    def writer(mine: list[int]) -> None:
        observe = child.observe
        start.wait()
        for value in mine:
            observe(value)

    def reader() -> None:
        start.wait()
        while not done.is_set():
            reads.append(child.get().count)

    writers = [threading.Thread(target=writer, args=(v.tolist(),)) for v in values]
    watcher = threading.Thread(target=reader)
    for thread in (*writers, watcher):
        thread.start()
    for thread in writers:
        thread.join(timeout=120)
    done.set()
    watcher.join(timeout=120)
    assert not any(t.is_alive() for t in (*writers, watcher))
    everything = np.concatenate(values)
    snap = child.get()
    assert snap.count == threads_n * per_thread
    assert snap.sum == float(everything.sum())
    check_against_exact(everything.astype(float), snap.quantiles)
    assert reads == sorted(reads), "a read saw fewer observations than an earlier one"
    assert len(reads) > 1


class RacingBuffer(list):  # type: ignore[type-arg]
    """A series' buffer into which "another thread" appends 1000.0 right after each flush
    has copied the values it takes: an interleaving a free-threaded build can produce at
    any time, and the GIL almost never."""

    raced = 0

    def __getitem__(self, index: object) -> object:
        taken = super().__getitem__(index)  # type: ignore[index]
        if isinstance(index, slice):
            self.append(1000.0)
            self.raced += 1
        return taken


def test_a_value_appended_while_a_flush_copies_is_kept() -> None:
    """A flush deletes exactly the values it copied: one appended meanwhile stays for the
    next flush and is counted then, never lost (flushes by a full buffer and by reads)."""
    s = Summary("x", "X.", quantiles=(0.5, 0.999))
    buffer = RacingBuffer()
    s._buffer = buffer
    observed = 3 * quantiles.FLUSH_AT + 5
    for _ in range(observed):
        s.observe(1.0)
    for _ in range(3):
        snap = s.get()
        # Everything observed so far is counted, but the value raced into this read's
        # own flush, which waits in the buffer.
        assert buffer == [1000.0]
        assert snap.count == observed + buffer.raced - 1
        assert snap.sum == observed + 1000.0 * (buffer.raced - 1)
    assert buffer.raced == 3 + 3  # three flushes by a full buffer, three by reads
    # The largest observation, exactly: its bucket's midpoint (1004) is clamped to it.
    assert dict(snap.quantiles)[0.999] == 1000.0
