"""The client_golang oracle (tests/client_golang.py, tests/go_oracle/) works, and the facts about
client_golang 1.14's native histograms that the comparison tests rely on, pinned by hand.

Bucket ``i`` at schema ``s`` covers ``(2**((i-1)/2**s), 2**(i/2**s)]`` for positive values,
mirrored for negative ones; ``|v| <= zero_threshold`` counts in the zero bucket.
"""

from __future__ import annotations

import bisect
import math
import random
from fractions import Fraction

import pytest

from client_golang import (
    DEFAULT_ZERO_THRESHOLD,
    bucket_counts,
    client_golang_bounds,
    client_golang_buckets_of,
    client_golang_histogram,
    client_golang_metric,
    native_buckets,
    run_request,
)

INF = math.inf
# factor -> the schema client_golang picks for it
FACTOR_OF_SCHEMA = {-4: 65536.0, -1: 4.0, 0: 2.0, 3: 1.1, 8: 1.005}


def spans_of(histogram: object, sign: str = "positive") -> list[tuple[int, int]]:
    return [(s.offset, s.length) for s in getattr(histogram, f"{sign}_span")]


@pytest.mark.parametrize(
    ("factor", "schema"),
    [
        (1.1, 3),
        (2.0, 0),
        (4.0, -1),
        (1.005, 8),
        (1.0001, 8),  # finer than schema 8 can go: still 8
        (65536.0, -4),
        (1e300, -4),  # coarser than schema -4 can go: still -4
        (1.5, 1),  # 2**(1/2) <= 1.5 < 2
    ],
)
def test_schema_from_factor(factor: float, schema: int) -> None:
    h = client_golang_histogram([], factor=factor)
    assert h.schema == schema
    assert h.sample_count == 0
    assert h.zero_threshold == DEFAULT_ZERO_THRESHOLD == 2.938735877055719e-39
    assert list(h.positive_span) == list(h.negative_span) == []
    assert list(h.bucket) == []  # native only: no classic buckets at all


def test_schema_from_factors_on_the_boundaries() -> None:
    # The factor 2**(2**-s) is exactly schema s's growth factor, but pickSchema computes
    # floor(log2(log2(factor))) with Go's math.Log2 and the rounded float of 2**(2**-s), so
    # several land one schema finer. Python's math.log2 differs from Go's in the last bit: at
    # s=5 it would give schema 6.
    factors = [2.0 ** (2.0**-s) for s in range(-4, 9)]
    schemas = [client_golang_histogram([], factor=f).schema for f in factors]
    assert schemas == [-4, -3, -2, -1, 0, 1, 3, 3, 5, 5, 6, 8, 8]
    assert -math.floor(math.log2(math.log2(factors[5 + 4]))) == 6


def test_powers_of_two_at_schema_0() -> None:
    h = client_golang_histogram([1.0, 2.0, 4.0], factor=2.0)
    assert h.schema == 0
    assert spans_of(h) == [(0, 3)]
    assert list(h.positive_delta) == [1, 0, 0]
    assert native_buckets(h) == ({0: 1, 1: 1, 2: 1}, {})
    assert h.zero_count == 0
    assert h.sample_count == 3
    assert h.sample_sum == 7.0


@pytest.mark.parametrize(
    ("value", "index"),
    [
        (1.0, 0),  # upper bounds are inclusive
        (math.nextafter(1.0, INF), 1),
        (math.nextafter(1.0, 0.0), 0),
        (0.75, 0),
        (0.5, -1),
        (3.0, 2),
        (2.0**-1074, -1074),  # the smallest subnormal, with a zero threshold of 0 width
        (2.0**-1022, -1022),
        (math.nextafter(2.0**-1022, 0.0), -1022),  # largest subnormal
        (2.0**1023, 1023),
        (math.nextafter(2.0**1023, INF), 1024),
        (1.7976931348623157e308, 1024),  # the largest float
        (INF, 1025),  # one above the largest float's bucket
    ],
)
def test_bucket_index_at_schema_0(value: float, index: int) -> None:
    for sign in (1.0, -1.0):
        h = client_golang_histogram([sign * value], factor=2.0, zero_threshold=-1.0)
        positive, negative = native_buckets(h)
        assert (positive if sign > 0 else negative) == {index: 1}
        assert (negative if sign > 0 else positive) == {}
        assert h.zero_count == 0


@pytest.mark.parametrize(
    ("value", "index"),
    [
        (1.0, 0),
        (2.0, 8),
        (0.5, -8),
        (2.0**-1074, -1074 * 8),
        (math.nextafter(1.0, INF), 1),
        (math.nextafter(2.0, 0.0), 8),
        (math.nextafter(2.0, INF), 9),
        (1.09, 1),
        (1.1, 2),  # 2**(1/8) = 1.0905...
    ],
)
def test_bucket_index_at_schema_3(value: float, index: int) -> None:
    h = client_golang_histogram([value], factor=1.1, zero_threshold=-1.0)
    assert h.schema == 3
    assert native_buckets(h) == ({index: 1}, {})


def above_real_bound(f: float, schema: int, k: int) -> bool:
    """Whether the fraction ``f`` exceeds the real number ``0.5 * 2**(k / 2**schema)``,
    decided exactly (``f**(2**s)`` against ``2**(k - 2**s)``)."""
    n = 2**schema
    return Fraction(f) ** n > Fraction(2) ** (k - n)


def table_bucket(value: float, schema: int) -> int:
    """client_golang's bucket of a positive finite value at a positive schema: by its table."""
    fraction, exponent = math.frexp(value)
    return bisect.bisect_left(client_golang_bounds()[schema], fraction) + (exponent - 1) * 2**schema


def test_client_golang_buckets_follow_its_table_not_the_real_bounds() -> None:
    # The nearest float to 2**(1/8) lies above the real number, so by the real-number
    # definition it belongs to bucket 2 at schema 3; client_golang's table holds that float as
    # bound 1, and puts it in bucket 1. 2**0.75 (nearest float, below the real number) belongs
    # to bucket 3 at schema 2, but the table's bound is one float lower: bucket 4.
    assert above_real_bound(2.0 ** (1 / 8) / 2, 3, 1)
    assert client_golang_bounds()[3][1] == 2.0 ** (1 / 8) / 2
    assert not above_real_bound(2.0**0.75 / 2, 2, 3)
    assert client_golang_bounds()[2][3] == math.nextafter(2.0**0.75 / 2, 0.0)
    assert client_golang_buckets_of([2.0 ** (1 / 8)], factor=1.1) == [("positive", 1)]
    assert client_golang_buckets_of([2.0**0.75], factor=1.2) == [("positive", 4)]

    # Over the whole table: the entries where some float lands in another bucket than the
    # real-number definition says (the table value above the real bound, or a float between
    # the table value and the real bound below it).
    differing = []
    for schema, bounds in client_golang_bounds().items():
        for k, t in enumerate(bounds[1:], start=1):
            if above_real_bound(t, schema, k):
                differing.append((schema, k))  # t itself lands one bucket low
            elif not above_real_bound(math.nextafter(t, 1.0), schema, k):
                differing.append((schema, k))  # the floats above t up to the bound: one high
    assert len(differing) == 253  # of 511 entries; none at schemas 0 and 1
    assert {schema for schema, _ in differing} == set(range(2, 9))


@pytest.mark.parametrize("schema", range(1, 9))
def test_every_table_bound_and_its_neighbours(schema: int) -> None:
    # Each bound (scaled into three binades), the floats either side of it, and the float
    # nearest the real bound land where client_golang's table says.
    values = []
    for k, t in enumerate(client_golang_bounds()[schema]):
        nearest = 2.0 ** (k / 2**schema) / 2
        for f in {t, math.nextafter(t, 0), math.nextafter(t, 1), nearest}:
            values += [f * 2.0, f * 2.0**-600, f * 2.0**900]
    factor = 2.0 ** (1.5 * 2.0**-schema)  # well inside the range of factors of schema
    places = client_golang_buckets_of(values, factor=factor, zero_threshold=-1.0)
    assert places == [("positive", table_bucket(v, schema)) for v in values]
    negatives = client_golang_buckets_of([-v for v in values], factor=factor, zero_threshold=-1.0)
    assert negatives == [("negative", table_bucket(v, schema)) for v in values]


def test_zero_bucket() -> None:
    t = DEFAULT_ZERO_THRESHOLD
    inside = [0.0, -0.0, t, -t, 2.0**-130, -(2.0**-200), 5e-324]
    above = math.nextafter(t, INF)
    h = client_golang_histogram([*inside, above, -above], factor=1.1)
    assert h.zero_threshold == t == 2.0**-128
    assert h.zero_count == len(inside)
    # 2**-128 is the upper bound of bucket -128 * 8 at schema 3: just above it is the next one.
    assert native_buckets(h) == ({-1023: 1}, {-1023: 1})
    assert h.sample_count == len(inside) + 2


def test_zero_threshold_options() -> None:
    # A positive threshold is used as given, bounds included.
    h = client_golang_histogram([0.5, -0.5, 0.25, math.nextafter(0.5, 1.0)], zero_threshold=0.5)
    assert h.zero_threshold == 0.5
    assert h.zero_count == 3
    assert native_buckets(h) == ({-7: 1}, {})
    # 0 means client_golang's default, a negative value a zero bucket of width 0.
    assert client_golang_histogram([], zero_threshold=0.0).zero_threshold == 2.0**-128
    h = client_golang_histogram([0.0, -0.0, 5e-324], factor=2.0, zero_threshold=-1.0)
    assert h.zero_threshold == 0.0
    assert h.zero_count == 2
    assert native_buckets(h) == ({-1074: 1}, {})


def test_count_and_sum_follow_the_observations_in_order() -> None:
    rng = random.Random(10)
    values = [rng.lognormvariate(0.0, 2.0) * rng.choice((1, -1)) for _ in range(2000)]
    h = client_golang_histogram(values)
    total = 0.0
    for v in values:  # client_golang adds each observation to a float64 sum, in order
        total += v
    assert h.sample_count == len(values)
    assert h.sample_sum == total
    positive, negative = native_buckets(h)
    assert h.zero_count + sum(positive.values()) + sum(negative.values()) == len(values)


@pytest.mark.parametrize(("schema", "index"), [(-4, 65), (0, 1025), (3, 8193), (8, 262145)])
def test_infinities(schema: int, index: int) -> None:
    h = client_golang_histogram([INF, -INF, INF], factor=FACTOR_OF_SCHEMA[schema])
    assert h.schema == schema
    assert native_buckets(h) == ({index: 2}, {index: 1})
    assert h.sample_count == 3
    assert math.isnan(h.sample_sum)
    assert client_golang_histogram([INF]).sample_sum == INF


def test_nan_counts_but_lands_in_no_bucket() -> None:
    # client_golang accepts NaN: the count goes up, the sum becomes NaN, no bucket gets it.
    h = client_golang_histogram([1.0, math.nan], factor=2.0)
    assert h.sample_count == 2
    assert math.isnan(h.sample_sum)
    assert h.zero_count == 0
    assert native_buckets(h) == ({0: 1}, {})


def test_small_gaps_are_filled_and_longer_ones_start_a_span() -> None:
    # indexes 0, 2 (gap of one), 5 (gap of two), 9 (gap of three) at schema 0
    h = client_golang_histogram([1.0, 4.0, 32.0, 2.0**9, -1.0], factor=2.0)
    assert spans_of(h) == [(0, 6), (3, 1)]
    assert list(h.positive_delta) == [1, -1, 1, -1, 0, 1, 0]
    assert bucket_counts(h.positive_span, h.positive_delta) == {
        0: 1,
        1: 0,
        2: 1,
        3: 0,
        4: 0,
        5: 1,
        9: 1,
    }
    # The first span's offset is the first index itself, negative ones included.
    h = client_golang_histogram([-0.25, -0.25, -(2.0**-10)], factor=2.0)
    assert spans_of(h, "negative") == [(-10, 1), (7, 1)]
    assert list(h.negative_delta) == [1, 1]
    assert native_buckets(h) == ({}, {-10: 1, -2: 2})


def test_too_many_buckets_halve_the_resolution_once() -> None:
    # Four buckets are allowed at max_buckets=4; the fifth halves the resolution, merging
    # neighbours as the definition says: at schema -1, bucket i covers (4**(i-1), 4**i].
    h = client_golang_histogram([1.0, 2.0, 4.0, 8.0], factor=2.0, max_buckets=4)
    assert (h.schema, native_buckets(h)) == (0, ({0: 1, 1: 1, 2: 1, 3: 1}, {}))
    values = [1.0, 2.0, 4.0, 8.0, 16.0, -16.0]
    h = client_golang_histogram(values, factor=2.0, max_buckets=4)
    assert h.schema == -1
    assert native_buckets(h) == ({0: 1, 1: 2, 2: 2}, {2: 1})
    assert (h.sample_count, h.sample_sum) == (6, 15.0)

    # One halving per observation, even when the buckets still exceed the limit.
    h = client_golang_histogram([1.0, 2.0**10, 2.0**20], factor=2.0, max_buckets=2)
    assert h.schema == -1
    assert native_buckets(h) == ({0: 1, 5: 1, 10: 1}, {})
    # Each further observation over the limit halves it again.
    h = client_golang_histogram([1.0, 2.0**10, 2.0**20, 2.0**20], factor=2.0, max_buckets=2)
    assert h.schema == -2
    assert native_buckets(h) == ({0: 1, 3: 1, 5: 2}, {})

    # Never below schema -4.
    h = client_golang_histogram([1.0, 2.0**100, 2.0**200, 2.0**300], factor=65536.0, max_buckets=1)
    assert h.schema == -4
    assert native_buckets(h) == ({0: 1, 7: 1, 13: 1, 19: 1}, {})


def test_two_reductions_from_schema_3() -> None:
    # 1.0 .. 2**5 at schema 3 fill 41 buckets; with max_buckets=20 the 21st bucket halves the
    # resolution to schema 2, and the next bucket over 20 at schema 2 halves it to schema 1.
    values = [2.0 ** (k / 8) for k in range(41)]
    h = client_golang_histogram(values, factor=1.1, max_buckets=20)
    assert h.schema == 1
    positive, negative = native_buckets(h)
    assert negative == {}
    assert sum(positive.values()) == h.sample_count == 41
    assert min(positive) == 0
    assert max(positive) == 10  # 2**5 is the upper bound of bucket 5 * 2 at schema 1


def test_known_deviation_of_client_golang_1_14_at_negative_schemas() -> None:
    # client_golang 1.14 rounds the bucket index of tiny values towards zero at negative
    # schemas, one bucket too high (fixed upstream in v1.16, commit 77e97da5). The definition,
    # which the library follows, is the truth; comparisons must expect this difference.
    h = client_golang_histogram([0.25], factor=4.0)  # schema -1: (4**-2, 4**-1] is bucket -1
    assert h.schema == -1
    assert native_buckets(h) == ({0: 1}, {})  # the definition says {-1: 1}
    h = client_golang_histogram([0.125], factor=4.0)  # (4**-2, 4**-1]: bucket -1, right here
    assert native_buckets(h) == ({-1: 1}, {})
    h = client_golang_histogram([2.0**-20], factor=65536.0)  # schema -4: bucket -1
    assert h.schema == -4
    assert native_buckets(h) == ({0: 1}, {})  # the definition says {-1: 1}
    h = client_golang_histogram([2.0**-10], factor=65536.0)  # bucket 0 by the definition too
    assert native_buckets(h) == ({0: 1}, {})


def test_classic_buckets_alongside() -> None:
    m = client_golang_metric([0.5, 1.0, 3.0], factor=2.0, classic_buckets=[1.0, 2.0])
    h = m.histogram
    assert [(b.upper_bound, b.cumulative_count) for b in h.bucket] == [(1.0, 2), (2.0, 2)]
    assert native_buckets(h) == ({-1: 1, 0: 1, 2: 1}, {})


def test_json_observations_are_read_exactly() -> None:
    # The Go program also reads observations as JSON numbers and ParseFloat strings.
    values = ["+Inf", "-Inf", "0x1p-1074", "0.1", 1, "1e-300", "NaN"]
    m = run_request({"factor": 2.0, "zero_threshold": -1.0, "observations": values})
    packed = client_golang_metric(
        [INF, -INF, 5e-324, 0.1, 1.0, 1e-300, math.nan], factor=2.0, zero_threshold=-1.0
    )
    assert m.histogram.sample_count == 7
    # Equal messages but for the NaN sum, which compares unequal to itself.
    assert math.isnan(m.histogram.sample_sum) and math.isnan(packed.histogram.sample_sum)
    m.histogram.ClearField("sample_sum")
    packed.histogram.ClearField("sample_sum")
    assert m == packed
    assert native_buckets(m.histogram) == ({-1074: 1, -3: 1, 0: 1, -996: 1, 1025: 1}, {1025: 1})


def test_bad_request_is_a_clear_error() -> None:
    with pytest.raises(AssertionError, match=r'observation 0 \("one"\)'):
        run_request({"factor": 2.0, "observations": ["one"]})
