"""Native histograms recorded a batch at a time give exactly the sequential result.

``Histogram(native=True)`` buffers observations and records them in bulk
(``values_native``, ``native.PackedState``, ``native.bucket_runs``). These tests prove the
bulk path against the plain value-by-value ``native.NativeState`` (itself checked against
client_golang in test_native_vs_client_golang.py): the bucket upper bounds it bisects at,
the bucket runs, random sequences with halvings, reads and exemplars in between, and
8 writer threads.
"""

from __future__ import annotations

import math
import random
import threading
from functools import reduce
from operator import add

import pytest

from tachikoma_metrics import MetricsRegistry, NativeBuckets
from tachikoma_metrics.native import (
    MAX_SCHEMA,
    MIN_SCHEMA,
    NativeState,
    PackedState,
    _upper,
    bucket_key,
    bucket_runs,
    decode_spans,
    dense_runs,
    encode_spans,
    schema_bounds,
)
from tachikoma_metrics.values_native import FLUSH_AT
from thread_helpers import run_together

SCHEMAS = range(MIN_SCHEMA, MAX_SCHEMA + 1)
MAX_FLOAT = 1.7976931348623157e308
SMALLEST = 5e-324


def _random_positive(rng: random.Random) -> float:
    """A float > 0 from every corner: any binade (subnormals included), powers of two and
    their neighbours, the neighbours of table bounds, the largest floats."""
    kind = rng.randrange(6)
    if kind == 0:
        return math.ldexp(0.5 + rng.random() / 2, rng.randrange(-1074, 1025)) or SMALLEST
    if kind == 1:
        power = math.ldexp(1.0, rng.randrange(-1074, 1024))
        return rng.choice(
            [power, math.nextafter(power, 0.0) or power, math.nextafter(power, 2 * power)]
        )
    if kind == 2:
        bound = rng.choice(schema_bounds(8))
        frac = bound + rng.randrange(-3, 4) * math.ulp(bound)
        return math.ldexp(frac, rng.randrange(-1060, 1024))
    if kind == 3:
        return rng.randrange(1, 1 << 20) * SMALLEST  # subnormal
    if kind == 4:
        return MAX_FLOAT - rng.randrange(1 << 20) * math.ulp(MAX_FLOAT)
    return rng.lognormvariate(0.0, 3.0)


@pytest.mark.parametrize("schema", SCHEMAS)
def test_upper_bound_is_the_largest_float_of_its_bucket(schema: int) -> None:
    """``_upper(key)`` holds ``key`` and its next float does not: checked on random floats
    of every kind, at every schema, against ``bucket_key`` value by value."""
    rng = random.Random(1000 + schema)
    for _ in range(4000):
        value = _random_positive(rng)
        key = bucket_key(value, schema)
        upper = _upper(key, schema)
        if upper is None:  # not exact there: only subnormal bounds at schemas > 0
            assert schema > 0 and value < 2.3e-308
            continue
        assert value <= upper
        assert bucket_key(upper, schema) == key
        if upper < MAX_FLOAT:
            above = bucket_key(math.nextafter(upper, math.inf), schema)
            # Among subnormals one float step can skip buckets that hold no float at all.
            assert above == key + 1 if upper > 1e-300 else above > key


@pytest.mark.parametrize("schema", SCHEMAS)
def test_bucket_runs_count_as_bucket_key_does(schema: int) -> None:
    rng = random.Random(2000 + schema)
    for size in (1, 2, 17, 300):
        values = sorted(_random_positive(rng) for _ in range(size))
        values += [math.inf] * rng.randrange(3)
        expected: dict[int, int] = {}
        for value in values:
            key = bucket_key(value, schema)
            expected[key] = expected.get(key, 0) + 1
        keys, counts = bucket_runs(values, 0, len(values), schema)
        assert keys == sorted(expected)
        assert dict(zip(keys, counts, strict=True)) == expected
    # A slice in the middle of a list.
    values = sorted(_random_positive(rng) for _ in range(50))
    keys, counts = bucket_runs(values, 10, 40, schema)
    assert sum(counts) == 30 and keys == sorted({bucket_key(v, schema) for v in values[10:40]})


@pytest.mark.parametrize("schema", SCHEMAS)
def test_dense_runs_count_as_bucket_key_does(schema: int) -> None:
    """Every bucket from the first value's to the last one's, empty ones included, or
    ``None`` (too sparse, or subnormal bounds at schemas > 0)."""
    rng = random.Random(3000 + schema)
    answered = 0
    for trial in range(300):
        size = rng.choice([1, 2, 30, 256])
        if trial % 3 == 0:
            values = sorted(_random_positive(rng) for _ in range(size))
        else:
            centre = math.ldexp(1.0, rng.randrange(-1070, 1020))
            values = sorted(
                min(centre * rng.lognormvariate(0, 0.5), MAX_FLOAT) for _ in range(size)
            )
        low = rng.randrange(size)
        got = dense_runs(values, low, size, schema)
        if got is None:
            continue
        answered += 1
        first, sizes = got
        keys = [bucket_key(v, schema) for v in values[low:]]
        assert first == keys[0] and first + len(sizes) - 1 == keys[-1]
        assert sizes == [keys.count(first + i) for i in range(len(sizes))]
    assert answered > 100


def _random_value(rng: random.Random, spread: float) -> float:
    kind = rng.randrange(12)
    if kind == 0:
        return rng.choice([0.0, -0.0, math.inf, -math.inf])
    if kind == 1:
        return rng.choice([1.0, -1.0]) * rng.randrange(1, 50) * SMALLEST
    if kind == 2:
        return rng.choice([1.0, -1.0]) * _random_positive(rng)
    if kind == 3:
        return rng.choice([2.0**-128, -(2.0**-128), 1e-3, -1e-3])
    sign = -1.0 if kind < 6 else 1.0
    return sign * rng.lognormvariate(0.0, spread)


def _sequential(values: list[float], schema: int, threshold: float, limit: int) -> NativeState:
    state = NativeState(schema, threshold, limit)
    for value in values:
        state.add(value)
    return state


def _same(native: NativeBuckets | None, state: NativeState) -> None:
    assert native is not None
    assert native == state.snapshot()
    assert decode_spans(native.positive_spans, native.positive_deltas) == state.positive
    assert decode_spans(native.negative_spans, native.negative_deltas) == state.negative


CASES = [
    # (factor, threshold, max_buckets, spread)
    (1.1, 2.0**-128, 160, 1.0),
    (1.1, 2.0**-128, 8, 2.0),  # halves often
    (1.005, 0.0, 20, 4.0),  # schema 8, zero-width zero bucket, subnormals in buckets
    (1.005, 0.0, 1, 1.0),  # limit 1: over the limit after nearly every observation
    (2.0, 1e-3, 5, 6.0),
    (65536.0, 0.5, 2, 50.0),  # schema -4: never halves
]


@pytest.mark.parametrize(("factor", "threshold", "limit", "spread"), CASES)
def test_random_sequences_equal_sequential_state(
    factor: float, threshold: float, limit: int, spread: float
) -> None:
    """Sizes around and across the buffer size, reads and exemplars at random points (each
    flushes a batch of whatever size is buffered): schema, zero count, buckets, count and
    sum are exactly what the value-by-value ``NativeState`` gives."""
    rng = random.Random(hash((factor, threshold, limit, spread)) & 0xFFFF)
    for size in (0, 1, FLUSH_AT - 1, FLUSH_AT, FLUSH_AT + 1, 3 * FLUSH_AT + 17, 2000):
        registry = MetricsRegistry()
        histogram = registry.histogram(
            "batch_seconds",
            "batch",
            buckets=(-1.0, 0.0, 0.5, 2.0),
            native=True,
            native_bucket_factor=factor,
            native_zero_threshold=threshold,
            native_max_buckets=limit,
        )
        values = [_random_value(rng, spread) for _ in range(size)]
        reads = set(rng.sample(range(size), min(size, 5)))
        exemplars = set(rng.sample(range(size), min(size, 3)))
        for index, value in enumerate(values):
            if index in exemplars:
                histogram.observe(value, {"i": str(index)})
            elif index % 7 == 3:
                histogram.observe(int(value) if math.isfinite(value) else value)
                values[index] = float(int(value)) if math.isfinite(value) else value
            else:
                histogram.observe(value)
            if index in reads:
                partial = histogram.get()
                assert partial.count == index + 1
                _same(partial.native, _sequential(values[: index + 1], *_options(histogram)))
        got = histogram.get()
        state = _sequential(values, *_options(histogram))
        _same(got.native, state)
        assert got.count == state.count == len(values)
        total = reduce(add, values, 0.0)
        assert got.sum == total or (math.isnan(got.sum) and math.isnan(total))
        classic = [sum(1 for v in values if v <= bound) for bound in (-1.0, 0.0, 0.5, 2.0)]
        assert [count for _, count in got.buckets[:-1]] == classic
        assert got.buckets[-1][1] == len(values)


def _options(histogram: object) -> tuple[int, float, int]:
    spec = histogram._native_spec  # type: ignore[attr-defined]
    return spec.schema, spec.zero_threshold, spec.max_buckets


@pytest.mark.parametrize("limit", [1, 3, 10, 160])
def test_packed_state_in_random_batches(limit: int) -> None:
    """``PackedState.add_batch`` with batches of random sizes equals ``NativeState``
    fed the same values one by one, after every batch."""
    rng = random.Random(limit)
    for schema in (8, 3, 0, -3):
        packed = PackedState(schema, 1e-300, limit)
        state = NativeState(schema, 1e-300, limit)
        for _ in range(40):
            batch = [_random_value(rng, 3.0) for _ in range(rng.choice([0, 1, 2, 5, 64, 300]))]
            packed.add_batch(batch, sorted(batch))
            for value in batch:
                state.add(value)
            assert packed.snapshot() == state.snapshot()
            assert (packed.schema, packed.zero_count) == (state.schema, state.zero_count)


def test_infinite_zero_threshold_takes_everything() -> None:
    packed = PackedState(3, math.inf, 4)
    packed.add_batch([1.0, -math.inf, math.inf, 5e-324], [-math.inf, 5e-324, 1.0, math.inf])
    state = _sequential([1.0, -math.inf, math.inf, 5e-324], 3, math.inf, 4)
    assert packed.snapshot() == state.snapshot()
    assert packed.zero_count == 4


def test_nan_changes_nothing_with_values_buffered(registry: MetricsRegistry) -> None:
    histogram = registry.histogram("nan_seconds", "nan", native=True)
    for value in (0.5, 1.5, -2.0):
        histogram.observe(value)
    before = histogram.get()
    for bad in (math.nan, float("nan"), "1.0", None):
        with pytest.raises((ValueError, TypeError)):
            histogram.observe(bad)  # type: ignore[arg-type]
    assert histogram.get() == before
    assert before.count == 3


def test_memory_of_a_series_is_compact(registry: MetricsRegistry) -> None:
    """100 populated buckets: two arrays per side, about 12 bytes a bucket (a dict of 100
    int keys alone would be about 4.7 KB)."""
    import sys

    histogram = registry.histogram("mem_seconds", "mem", native=True)
    for k in range(-50, 50):
        histogram.observe(2 ** ((k - 0.5) / 8))
    native = histogram.get().native
    assert native is not None and sum(native.positive_deltas[:1]) == 1
    packed = histogram._native  # type: ignore[attr-defined]
    assert len(packed.positive_keys) == 100
    assert sys.getsizeof(packed.positive_keys) + sys.getsizeof(packed.positive_counts) < 1400


def test_threads_keep_exact_counts_and_consistent_reads(
    registry: MetricsRegistry, frequent_thread_switches: None
) -> None:
    """8 writers (each its own values), a reader meanwhile: every read is consistent, and
    the end result holds every observation (the sum exactly: the values are integers)."""
    histogram = registry.histogram(
        "threads_seconds", "threads", buckets=(1.0, 10.0), native=True, native_max_buckets=6
    )
    per_thread = 5000
    stop = threading.Event()
    problems: list[str] = []

    def reader() -> None:
        last = 0
        while not stop.is_set():
            value = histogram.get()
            native = value.native
            assert native is not None
            populated = sum(decode_spans(native.positive_spans, native.positive_deltas).values())
            populated += sum(decode_spans(native.negative_spans, native.negative_deltas).values())
            if native.zero_count + populated != value.count or value.buckets[-1][1] != value.count:
                problems.append(f"inconsistent read {value}")
            if value.count < last:
                problems.append("count went down")
            last = value.count

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        observe = histogram.observe
        for _ in range(per_thread):
            observe(float(rng.randrange(-50, 200)))

    watcher = threading.Thread(target=reader)
    watcher.start()
    try:
        run_together([lambda s=seed: writer(s) for seed in range(8)])  # type: ignore[misc]
    finally:
        stop.set()
        watcher.join()
    assert not problems
    value = histogram.get()
    assert value.count == 8 * per_thread
    expected = 0
    for seed in range(8):
        rng = random.Random(seed)
        expected += sum(rng.randrange(-50, 200) for _ in range(per_thread))
    assert value.sum == expected
    native = value.native
    assert native is not None
    populated = sum(decode_spans(native.positive_spans, native.positive_deltas).values())
    populated += sum(decode_spans(native.negative_spans, native.negative_deltas).values())
    assert native.zero_count + populated == value.count


def test_spans_of_consecutive_keys() -> None:
    """The one-span fast path of the encoder: same answer as the general path would give
    (one span at the first key, deltas against the previous count), and it decodes back."""
    rng = random.Random(7)
    for _ in range(200):
        first = rng.randrange(-3000, 3000)
        counts = [rng.randrange(1, 1000) for _ in range(rng.randrange(1, 60))]
        buckets = {first + i: count for i, count in enumerate(counts)}
        spans, deltas = encode_spans(buckets)
        assert spans == ((first, len(counts)),)
        assert list(deltas) == [b - a for a, b in zip([0, *counts], counts, strict=False)]
        assert decode_spans(spans, deltas) == buckets
        gapped = {**buckets, first + len(counts) + 5: 3}
        assert decode_spans(*encode_spans(gapped)) == gapped
        assert len(encode_spans(gapped)[0]) == 2


@pytest.mark.parametrize("schema", SCHEMAS)
def test_runs_at_the_ends_of_the_floats(schema: int) -> None:
    """The largest floats (the top bucket, whose bound is the largest float, and +Inf) and
    the smallest (subnormals, bounds that would round), dense and sparse."""
    top = [MAX_FLOAT - i * math.ulp(MAX_FLOAT) for i in range(200)][::-1]
    bottom = [i * SMALLEST for i in range(1, 200)]
    for values in (top, [*top, math.inf, math.inf], bottom, [*bottom, 1.0, *top]):
        expected: dict[int, int] = {}
        for value in values:
            key = bucket_key(value, schema)
            expected[key] = expected.get(key, 0) + 1
        keys, counts = bucket_runs(values, 0, len(values), schema)
        assert dict(zip(keys, counts, strict=True)) == expected
        finite = [v for v in values if v < math.inf]
        got = dense_runs(finite, 0, len(finite), schema)
        if got is not None:
            first, sizes = got
            assert {first + i: n for i, n in enumerate(sizes) if n} == {
                k: n for k, n in expected.items() if k != bucket_key(math.inf, schema)
            }
        packed = PackedState(schema, 0.0, 1000)
        packed.add_batch(values, sorted(values))
        assert packed.snapshot() == _sequential(values, schema, 0.0, 1000).snapshot()
