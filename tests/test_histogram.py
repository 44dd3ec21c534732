"""Histograms: bucket validation, observations, snapshots and timing."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import itertools
import math
import time

import prometheus_client
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tachikoma_metrics import DEFAULT_BUCKETS, Histogram, HistogramValue, MetricsRegistry

INF = math.inf


def test_default_buckets_are_prometheus_clients() -> None:
    """``DEFAULT_BUCKETS`` are prometheus_client's, ``+Inf`` included, and the default."""
    expected = (
        0.005,
        0.01,
        0.025,
        0.05,
        0.075,
        0.1,
        0.25,
        0.5,
        0.75,
        1.0,
        2.5,
        5.0,
        7.5,
        10.0,
        INF,
    )
    assert tuple(DEFAULT_BUCKETS) == expected
    assert tuple(prometheus_client.Histogram.DEFAULT_BUCKETS) == expected
    assert Histogram("lat_seconds", "Latency.").buckets == expected


def test_inf_bucket_is_added_when_missing() -> None:
    """Buckets without ``+Inf`` get it appended; buckets with it are kept as given."""
    assert Histogram("a", "A.", buckets=(0.1, 0.5, 1)).buckets == (0.1, 0.5, 1.0, INF)
    assert Histogram("b", "B.", buckets=(0.1, INF)).buckets == (0.1, INF)
    assert Histogram("c", "C.", buckets=()).buckets == (INF,)


@pytest.mark.parametrize(
    "buckets",
    [(1.0, 0.5), (0.1, 0.5, 0.3), (1.0, 1.0), (0.5, 1, 1.0), (1.0, INF, 5.0), (INF, INF)],
)
def test_unsorted_or_duplicate_buckets_raise(buckets: tuple[float, ...]) -> None:
    """Buckets must be strictly increasing: unsorted or repeated bounds raise ``ValueError``."""
    with pytest.raises(ValueError, match="sorted"):
        Histogram("lat_seconds", "Latency.", buckets=buckets)


@pytest.mark.parametrize("buckets", [(math.nan,), (0.1, math.nan, 1.0), (0.1, 1.0, math.nan)])
def test_nan_bucket_raises(buckets: tuple[float, ...]) -> None:
    """A NaN bucket bound raises ``ValueError``."""
    with pytest.raises(ValueError, match="NaN"):
        Histogram("lat_seconds", "Latency.", buckets=buckets)


def test_non_number_bucket_raises_type_error() -> None:
    """A bucket bound that is not a number raises ``TypeError``."""
    with pytest.raises(TypeError):
        Histogram("lat_seconds", "Latency.", buckets=(0.1, "1"))  # type: ignore[arg-type]


@pytest.mark.parametrize("labelnames", [("le",), ("route", "le")])
def test_le_label_is_rejected(labelnames: tuple[str, ...], registry: MetricsRegistry) -> None:
    """``le`` is reserved for bucket bounds: a histogram may not use it as a label name."""
    with pytest.raises(ValueError, match="'le'"):
        Histogram("lat_seconds", "Latency.", labelnames=labelnames)
    with pytest.raises(ValueError, match="'le'"):
        registry.histogram("lat_seconds", "Latency.", labelnames=labelnames)


def test_snapshot_fields_and_cumulative_buckets() -> None:
    """``get()`` gives cumulative ``(bound, count)`` pairs ending in ``+Inf``, sum and count.

    A value equal to a bound lands in that bound's bucket (``le`` is inclusive).
    """
    h = Histogram("lat_seconds", "Latency.", buckets=(0.5, 1, 2.5))
    for value in (0.25, 0.5, 0.75, 1.0, 2.0, 3.0, 100.0):
        h.observe(value)
    snap = h.get()
    assert isinstance(snap, HistogramValue)
    assert tuple(snap.buckets) == ((0.5, 2), (1.0, 4), (2.5, 5), (INF, 7))
    assert snap.count == 7
    assert snap.sum == 107.5


def test_empty_histogram_snapshot() -> None:
    """A histogram with no observations has every bucket at 0, sum 0 and count 0."""
    snap = Histogram("lat_seconds", "Latency.", buckets=(1, 2)).get()
    assert tuple(snap.buckets) == ((1.0, 0), (2.0, 0), (INF, 0))
    assert snap.sum == 0.0
    assert snap.count == 0


def test_infinite_and_negative_observations() -> None:
    """``+Inf`` goes in the ``+Inf`` bucket only; a negative value in the lowest bucket."""
    h = Histogram("delta", "Delta.", buckets=(0, 1))
    h.observe(-3)
    h.observe(INF)
    snap = h.get()
    assert tuple(snap.buckets) == ((0.0, 1), (1.0, 1), (INF, 2))
    assert snap.count == 2
    assert snap.sum == INF


def test_snapshot_is_immutable_and_taken_at_one_instant() -> None:
    """A snapshot cannot be modified and does not change when later values are observed."""
    h = Histogram("lat_seconds", "Latency.", buckets=(1,))
    h.observe(0.5)
    snap = h.get()
    h.observe(0.5)
    h.observe(5)
    assert tuple(snap.buckets) == ((1.0, 1), (INF, 1))
    assert (snap.sum, snap.count) == (0.5, 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.count = 10  # type: ignore[misc]
    with pytest.raises(TypeError):
        snap.buckets[0] = (1.0, 10)  # type: ignore[index]
    assert h.get().count == 3


def test_nan_observation_rejected_and_nothing_changes() -> None:
    """Observing NaN raises ``ValueError`` naming it; count, sum and buckets are unchanged."""
    h = Histogram("lat_seconds", "Latency.", buckets=(1,))
    h.observe(0.5)
    with pytest.raises(ValueError, match="nan"):
        h.observe(math.nan)
    snap = h.get()
    assert snap.count == 1
    assert snap.sum == 0.5
    assert tuple(snap.buckets) == ((1.0, 1), (INF, 1))


def test_nan_as_very_first_observation_is_rejected() -> None:
    """NaN is rejected on the first call too, before any thread owns the cell."""
    h = Histogram("lat_seconds", "Latency.", buckets=(1,))
    with pytest.raises(ValueError):
        h.observe(math.nan)
    assert h.get().count == 0


@pytest.mark.parametrize("bad", ["1", None, 1j, b"1"])
def test_non_number_observation_raises_type_error(bad: object) -> None:
    """Observing a non-number raises ``TypeError`` naming it and records nothing."""
    h = Histogram("lat_seconds", "Latency.", buckets=(1,))
    h.observe(2)
    with pytest.raises(TypeError) as info:
        h.observe(bad)  # type: ignore[arg-type]
    assert repr(bad) in str(info.value)
    snap = h.get()
    assert (snap.count, snap.sum) == (1, 2.0)
    assert tuple(snap.buckets) == ((1.0, 0), (INF, 1))


def test_labelled_children_observe_separately(registry: MetricsRegistry) -> None:
    """Each labelled child has its own buckets, sum and count."""
    h = registry.histogram("lat_seconds", "Latency.", labelnames=("route",), buckets=(1,))
    h.labels("/a").observe(0.5)
    h.labels("/a").observe(2)
    h.labels("/b").observe(3)
    a, b = h.labels("/a").get(), h.labels("/b").get()
    assert (tuple(a.buckets), a.sum, a.count) == (((1.0, 1), (INF, 2)), 2.5, 2)
    assert (tuple(b.buckets), b.sum, b.count) == (((1.0, 0), (INF, 1)), 3.0, 1)


def test_time_context_manager_observes_duration(registry: MetricsRegistry) -> None:
    """``with h.time()`` observes the block's duration in seconds once."""
    h = registry.histogram("op_seconds", "Op.", buckets=(10,))
    outer_start = time.perf_counter()
    with h.time():
        time.sleep(0.02)
    outer = time.perf_counter() - outer_start
    snap = h.get()
    assert snap.count == 1
    assert 0.02 <= snap.sum <= outer


def test_time_context_manager_observes_on_exception(registry: MetricsRegistry) -> None:
    """A block that raises is still timed."""
    h = registry.histogram("op_seconds", "Op.")
    with pytest.raises(KeyError), h.time():
        raise KeyError("x")
    assert h.get().count == 1


def test_time_decorator_sync(registry: MetricsRegistry) -> None:
    """As a decorator, ``h.time()`` observes each call's duration, passing args and result."""
    h = registry.histogram("op_seconds", "Op.", buckets=(10,))

    @h.time()
    def work(pause: float, *, tag: str) -> str:
        time.sleep(pause)
        return tag

    assert work.__name__ == "work"
    assert work(0.02, tag="a") == "a"
    assert work(0.0, tag="b") == "b"
    snap = h.get()
    assert snap.count == 2
    assert snap.sum >= 0.02


def test_time_decorator_async_measures_until_the_coroutine_finishes(
    registry: MetricsRegistry,
) -> None:
    """On an ``async def``, ``h.time()`` times the whole awaited run, not coroutine creation."""
    h = registry.histogram("op_seconds", "Op.", buckets=(0.01, 10))

    @h.time()
    async def work() -> str:
        await asyncio.sleep(0.05)
        return "done"

    assert inspect.iscoroutinefunction(work)
    coroutine = work()
    assert h.get().count == 0  # nothing observed before the coroutine runs
    start = time.perf_counter()
    assert asyncio.run(coroutine) == "done"
    outer = time.perf_counter() - start
    snap = h.get()
    assert snap.count == 1
    assert 0.05 <= snap.sum <= outer
    assert snap.buckets[0] == (0.01, 0)  # finished after 0.05 s: not in le=0.01


def test_time_on_labelled_child(registry: MetricsRegistry) -> None:
    """A labelled child's ``time()`` observes into that child only."""
    h = registry.histogram("op_seconds", "Op.", labelnames=("op",))
    with h.labels("read").time():
        pass
    assert h.labels("read").get().count == 1
    assert h.labels("write").get().count == 0


def test_labelled_histogram_without_labels_raises(registry: MetricsRegistry) -> None:
    """``observe``/``time``/``get`` on a labelled histogram without ``labels()`` raise."""
    h = registry.histogram("op_seconds", "Op.", labelnames=("op",))
    with pytest.raises(ValueError, match="'op'"):
        h.observe(1)
    with pytest.raises(ValueError, match="'op'"), h.time():
        pass  # a block must choose the child with .labels(...) on the timer
    with pytest.raises(ValueError, match="'op'"):
        h.get()


def test_negative_infinite_bound_and_values_on_every_bound() -> None:
    """A ``-Inf`` bound is allowed; a value equal to a bound counts in that bucket."""
    h = Histogram("delta", "Delta.", buckets=(-INF, -1, 0, 1e-05, 1))
    for value in (-INF, -1, -0.5, 0, -0.0, 1e-05, 1, 1.5, INF):
        h.observe(value)
    snap = h.get()
    assert tuple(snap.buckets) == (
        (-INF, 1),
        (-1.0, 2),
        (0.0, 5),
        (1e-05, 6),
        (1.0, 7),
        (INF, 9),
    )
    assert snap.count == 9
    assert math.isnan(snap.sum)  # -inf + inf


def test_many_buckets() -> None:
    """A histogram with thousands of buckets counts exactly like one with a few."""
    bounds = tuple(float(i) for i in range(2000))
    h = Histogram("wide", "Wide.", buckets=bounds)
    for value in (-1, 0, 0.5, 999, 1998.5, 1999, 2000):
        h.observe(value)
    buckets = dict(h.get().buckets)
    assert len(buckets) == 2001
    assert buckets[0.0] == 2
    assert buckets[1.0] == 3
    assert buckets[998.0] == 3
    assert buckets[999.0] == 4
    assert buckets[1998.0] == 4
    assert buckets[1999.0] == 6
    assert buckets[INF] == 7


any_bounds = st.lists(st.floats(allow_nan=False), max_size=20, unique=True).map(sorted)
observations = st.lists(st.floats(allow_nan=False), max_size=50)


@settings(max_examples=200, deadline=None, database=None)
@given(bounds=any_bounds, values=observations)
def test_buckets_match_a_reference_count(bounds: list[float], values: list[float]) -> None:
    """For any sorted bounds and observations, bucket ``b`` counts the values ``<= b``."""
    if any(a == b for a, b in itertools.pairwise(bounds)):  # -0.0 and 0.0 are one bound
        return
    h = Histogram("h", "H.", buckets=bounds)
    for value in values:
        h.observe(value)
    snap = h.get()
    upper = bounds if bounds and bounds[-1] == INF else [*bounds, INF]
    assert list(snap.buckets) == [(b, sum(1 for v in values if v <= b)) for b in upper]
    assert snap.count == len(values)
