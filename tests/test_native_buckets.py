"""native.py: bucket keys, schema choice, the bucket limit and spans, against the bucket
definition (in exact arithmetic) and against answers client_golang gave.

Definition: at schema ``s`` positive bucket ``k`` covers ``(2^((k-1)/2^s), 2^(k/2^s)]``.
Expectations written as literals were either worked out by hand from that definition or,
where the comment says so, printed by Debian's client_golang 1.14 (the full comparison with
client_golang is the oracle suite's job).
"""

from __future__ import annotations

import math
import random
import re
from fractions import Fraction
from pathlib import Path

import pytest

from tachikoma_metrics.model import NativeBuckets
from tachikoma_metrics.native import (
    DEFAULT_MAX_BUCKETS,
    DEFAULT_ZERO_THRESHOLD,
    NativeState,
    bucket_key,
    decode_spans,
    definition_deviations,
    encode_spans,
    exact_key,
    pick_schema,
    schema_bounds,
)

INF = math.inf
MAX = 1.7976931348623157e308
TINY = 5e-324  # the smallest subnormal, 2^-1074
SCHEMAS = range(-4, 9)


def up(x: float) -> float:
    return math.nextafter(x, INF)


def down(x: float) -> float:
    return math.nextafter(x, -INF)


def in_bucket(value: float, key: int, schema: int) -> bool:
    """2^((key-1)/2^s) < value <= 2^(key/2^s), decided exactly (independent of native.py).

    s >= 0: raise both sides to the power 2^s: 2^(key-1) < value^(2^s) <= 2^key.
    s < 0: the bounds are powers of two, 2^((key-1)*2^-s) and 2^(key*2^-s).
    """
    exact = Fraction(value)
    if schema >= 0:
        raised = exact ** (1 << schema)
        return Fraction(2) ** (key - 1) < raised <= Fraction(2) ** key
    width = 1 << -schema
    return Fraction(2) ** ((key - 1) * width) < exact <= Fraction(2) ** (key * width)


def state_of(values: list[float], schema: int = 3, **options: float) -> NativeState:
    state = NativeState(schema, **options)  # type: ignore[arg-type]
    for value in values:
        state.add(value)
    return state


# --- pick_schema ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("factor", "schema"),
    [
        (1.1, 3),
        (2, 0),
        (2.0, 0),
        (1.005, 8),
        (65536, -4),
        (1e300, -4),
        (INF, -4),
        (10**400, -4),
        (Fraction(11, 10), 3),
        (1.0000001, 8),  # below 2^(1/256): still 8
        (up(1.0), 8),
        (1.5, 1),  # sqrt(2) <= 1.5 < 2
        (3.0, 0),
        (4.0, -1),
        (15.0, -1),
        (16.0, -2),
        (256.0, -3),
        (1.01, 7),  # 2^(1/64) = 1.01089 > 1.01 >= 2^(1/128) = 1.00543
        (1.0108, 7),
        (1.0109, 6),
        (1.011, 6),
        # Floats next to the boundaries where exact mathematics and Go differ: Go's Log2 of
        # the float just below 16 is 4.0 exactly, so the answer is -2 where exact logarithms
        # give -1 (answers printed by client_golang 1.14 on amd64).
        (down(16.0), -2),
        (down(down(16.0)), -1),
        (down(256.0), -3),
        (float.fromhex("0x1.ffffffffffffap+7"), -3),
        (down(65536.0), -4),
        (float.fromhex("0x1.ffffffffffffap+15"), -4),
        (float.fromhex("0x1.059b0d3158574p+0"), 5),  # exact: 6 (just below 2^(1/32))
        (float.fromhex("0x1.059b0d3158573p+0"), 6),
        # Where Go and exact arithmetic agree, both sides of each boundary.
        (down(2.0), 1),
        (down(4.0), 0),
        (float.fromhex("0x1.6a09e667f3bccp+0"), 2),  # just below sqrt(2)
        (float.fromhex("0x1.6a09e667f3bcdp+0"), 1),  # just above sqrt(2)
        (float.fromhex("0x1.306fe0a31b715p+0"), 3),  # either side of 2^(1/4)
        (float.fromhex("0x1.306fe0a31b716p+0"), 2),
        (float.fromhex("0x1.172b83c7d517ap+0"), 4),  # 2^(1/8)
        (float.fromhex("0x1.172b83c7d517bp+0"), 3),
        (float.fromhex("0x1.02c9a3e778060p+0"), 7),  # 2^(1/64)
        (float.fromhex("0x1.02c9a3e778061p+0"), 6),
    ],
)
def test_pick_schema(factor: float, schema: int) -> None:
    assert pick_schema(factor) == schema


def test_pick_schema_matches_the_definition_away_from_boundaries() -> None:
    """Apart from a few floats next to a boundary, the schema is the smallest s whose growth
    factor 2^(2^-s) does not exceed the factor (clamped to -4..8)."""
    rng = random.Random(10)
    for _ in range(2000):
        factor = math.exp(rng.uniform(1e-6, 12.0))
        expected = 8
        for schema in SCHEMAS:
            # 2^(2^-s) <= factor, decided exactly
            if schema >= 0:
                ok = Fraction(factor) ** (1 << schema) >= 2
            else:
                ok = factor >= 2.0 ** (1 << -schema)
            if ok:
                expected = schema
                break
        assert pick_schema(factor) == expected, factor


@pytest.mark.parametrize("factor", [1, 1.0, 0.5, 0, -2, math.nan, -INF, "1.1", None, True, 1j])
def test_pick_schema_rejects(factor: object) -> None:
    with pytest.raises(ValueError, match="native bucket factor") as caught:
        pick_schema(factor)  # type: ignore[arg-type]
    assert repr(factor) in str(caught.value)


# --- the table client_golang searches ------------------------------------------------------


def test_table_is_client_golangs() -> None:
    assert schema_bounds(1) == (0.5, 0.7071067811865475)
    assert schema_bounds(2) == (0.5, 0.5946035575013605, 0.7071067811865475, 0.8408964152537144)
    assert schema_bounds(3) == (
        0.5,
        0.5452538663326288,
        0.5946035575013605,
        0.6484197773255048,
        0.7071067811865475,
        0.7711054127039704,
        0.8408964152537144,
        0.9170040432046711,
    )
    assert schema_bounds(4)[:4] == (
        0.5,
        0.5221368912137069,
        0.5452538663326288,
        0.5693943173783458,
    )
    assert schema_bounds(8)[-4:] == (
        0.9892280131939752,
        0.9919100824251095,
        0.9945994234836328,
        0.9972960560854698,
    )


def test_table_shape_and_accuracy() -> None:
    """Each schema's table is every other entry of the next one's; entry j is within four
    units in the last place of 2^(j/2^s - 1), compared exactly."""
    for schema in range(1, 9):
        bounds = schema_bounds(schema)
        assert len(bounds) == 1 << schema
        assert bounds[0] == 0.5
        assert list(bounds) == sorted(set(bounds))
        if schema < 8:
            assert bounds == schema_bounds(schema + 1)[::2]
        power = 1 << schema
        for j, bound in enumerate(bounds):
            # 2^(j/power - 1) is between bound - 4ulp and bound + 4ulp:
            # (x)^power versus 2^(j - power), exactly.
            low = Fraction(bound - 4 * math.ulp(bound)) ** power
            high = Fraction(bound + 4 * math.ulp(bound)) ** power
            target = Fraction(2) ** (j - power)
            assert low < target <= high, (schema, j)


_DEBIAN_HISTOGRAM_GO = Path(
    "/usr/share/gocode/src/github.com/prometheus/client_golang/prometheus/histogram.go"
)


def test_table_equals_debian_client_golang_source() -> None:
    """Every bound, bit for bit, against the table in client_golang's source (Debian's
    package, which the test command installs: its absence is a failure, not a skip)."""
    assert _DEBIAN_HISTOGRAM_GO.exists(), "run scripts/test.sh: it installs client_golang"
    text = _DEBIAN_HISTOGRAM_GO.read_text()
    table = text[text.index("var nativeHistogramBounds") :]
    table = table[: table.index("\n}\n")]
    rows = re.split(r"// Schema [\"0-9]+:", table)[1:]
    assert len(rows) == 9
    for schema, row in enumerate(rows):
        numbers = tuple(float(x) for x in re.findall(r"\d\.\d+(?:e-?\d+)?", row))
        if schema == 0:
            assert numbers == (0.5,)
        else:
            assert numbers == schema_bounds(schema), schema


def test_schema_bounds_rejects() -> None:
    for schema in (0, -1, 9, True, 1.0):
        with pytest.raises(ValueError):
            schema_bounds(schema)  # type: ignore[arg-type]


# --- bucket_key: hand-computed -------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "schema", "key"),
    [
        # schema 0: bucket k covers (2^(k-1), 2^k]
        (1.0, 0, 0),
        (up(1.0), 0, 1),
        (down(1.0), 0, 0),
        (2.0, 0, 1),
        (up(2.0), 0, 2),
        (3.0, 0, 2),
        (4.0, 0, 2),
        (0.5, 0, -1),
        (down(0.5), 0, -1),
        (up(0.5), 0, 0),
        (2.0**-1022, 0, -1022),  # smallest normal
        (down(2.0**-1022), 0, -1022),  # largest subnormal
        (TINY, 0, -1074),
        (2 * TINY, 0, -1073),
        (3 * TINY, 0, -1072),
        (2.0**1023, 0, 1023),
        (up(2.0**1023), 0, 1024),
        (MAX, 0, 1024),
        (INF, 0, 1025),
        # schema 3: eight buckets per doubling
        (1.0, 3, 0),
        (up(1.0), 3, 1),
        (1.1, 3, 2),  # 2^(1/8) = 1.0905 < 1.1 <= 2^(2/8) = 1.1892
        (2.0, 3, 8),
        (up(2.0), 3, 9),
        (down(2.0), 3, 8),
        (math.sqrt(2.0), 3, 5),  # the float sqrt(2) is just above the true one
        (down(math.sqrt(2.0)), 3, 4),
        (0.5, 3, -8),
        (TINY, 3, -1074 * 8),
        (MAX, 3, 8192),
        (INF, 3, 8193),
        (1e-300, 3, -7972),
        (1e300, 3, 7973),
        # schema 8
        (1.0, 8, 0),
        (up(1.0), 8, 1),
        (2.0, 8, 256),
        (up(2.0), 8, 257),
        (0.5, 8, -256),
        (TINY, 8, -1074 * 256),
        (MAX, 8, 262144),
        (INF, 8, 262145),
        # schema -4: bucket k covers (2^(16k-16), 2^(16k)]
        (1.0, -4, 0),
        (down(1.0), -4, 0),
        (up(1.0), -4, 1),
        (2.0, -4, 1),
        (65536.0, -4, 1),
        (up(65536.0), -4, 2),
        (2.0**-16, -4, -1),  # the upper bound of bucket -1
        (up(2.0**-16), -4, 0),
        (2.0**-20, -4, -1),  # client_golang 1.14 says 0 here (its bug, fixed in 1.16)
        (2.0**-32, -4, -2),
        (up(2.0**-32), -4, -1),
        (TINY, -4, -67),  # -1074/16 = -67.125, rounded up
        (MAX, -4, 64),
        (INF, -4, 65),
        # schema -1: bucket k covers (4^(k-1), 4^k]
        (0.25, -1, -1),  # client_golang 1.14 says 0 here
        (up(0.25), -1, 0),
        (1.0, -1, 0),
        (4.0, -1, 1),
        (INF, -1, 513),
    ],
)
def test_bucket_key(value: float, schema: int, key: int) -> None:
    assert bucket_key(value, schema) == key
    if value != INF:
        assert in_bucket(value, key, schema)


def test_inf_key_is_one_above_the_largest_float() -> None:
    for schema in SCHEMAS:
        assert bucket_key(INF, schema) == bucket_key(MAX, schema) + 1 == 1024 * 2**schema + 1


def test_powers_of_two_land_on_their_bucket_exactly() -> None:
    """2^e is the upper bound of bucket e * 2^s (s >= 0) or e / 2^-s (s < 0, e a multiple);
    its float neighbours are on either side of the bound."""
    for schema in SCHEMAS:
        for e in range(-1074, 1024):
            power = 2.0**e
            key = bucket_key(power, schema)
            if schema >= 0:
                assert key == e << schema
            else:
                assert key == -(-e // (1 << -schema))
            if e >= -1021 and (schema >= 0 or e % (1 << -schema) == 0):
                # Normal floats: the neighbours are one unit in the last place away, far
                # closer than the next bound.
                assert bucket_key(up(power), schema) == key + 1
                assert bucket_key(down(power), schema) == key


@pytest.mark.parametrize("value", [0.0, -0.0, -1.0, -INF, math.nan])
def test_bucket_key_rejects_non_positive(value: float) -> None:
    with pytest.raises(ValueError):
        bucket_key(value, 0)


@pytest.mark.parametrize("schema", [-5, 9, True, 3.0, "3"])
def test_bucket_key_rejects_bad_schema(schema: object) -> None:
    with pytest.raises(ValueError, match="schema"):
        bucket_key(1.0, schema)  # type: ignore[arg-type]


# --- bucket_key: brute force against the definition ----------------------------------------


def _random_positive(rng: random.Random) -> float:
    kind = rng.random()
    if kind < 0.05:
        return rng.randrange(1, 1 << 52) * TINY  # a subnormal
    if kind < 0.1:
        return rng.uniform(0.5, 2.0)
    return math.ldexp(rng.uniform(0.5, 1.0), rng.randint(-1021, 1024))


@pytest.mark.parametrize("schema", SCHEMAS)
def test_random_values_satisfy_the_definition(schema: int) -> None:
    rng = random.Random(1000 + schema)
    deviating = {frac for frac, _, _ in definition_deviations(schema)}
    count = 400 if schema > 5 else 1500  # v^(2^s) is a big fraction at schema 8
    for _ in range(count):
        value = _random_positive(rng)
        key = bucket_key(value, schema)
        if math.frexp(value)[0] in deviating:
            continue
        assert in_bucket(value, key, schema), (value.hex(), schema, key)
        assert exact_key(value, schema) == key


@pytest.mark.parametrize("schema", [1, 2, 3, 5, 8])
def test_floats_next_to_every_bound(schema: int) -> None:
    """Within eight units in the last place of every irrational bound (in the binade
    [4, 8)): the definition holds, except exactly at the listed deviations, where the key
    is one away, as client_golang's table makes it."""
    deviating = {frac: (mine, exact) for frac, mine, exact in definition_deviations(schema)}
    for bound in schema_bounds(schema)[1:]:
        frac = bound - 8 * math.ulp(bound)
        while frac <= bound + 8 * math.ulp(bound):
            value = frac * 8.0
            key = bucket_key(value, schema)
            if frac in deviating:
                mine, exact = deviating[frac]
                assert key == mine + (2 << schema)  # the same offsets, two binades up
                assert abs(key - exact - (2 << schema)) == 1
                assert not in_bucket(value, key, schema)
                assert in_bucket(value, exact + (2 << schema), schema)
            else:
                assert in_bucket(value, key, schema), (value.hex(), schema, key)
            frac = up(frac)


def test_definition_deviations_are_few_and_one_bucket_off() -> None:
    """client_golang's table is not correctly rounded at many irrational bounds: the floats
    between a table entry and the true bound go one bucket off the definition. We follow
    client_golang there (same histogram, bit for bit); this is where and how many."""
    counts = {schema: len(definition_deviations(schema)) for schema in SCHEMAS}
    by_schema = (0, 0, 0, 0, 0, 0, 1, 3, 7, 16, 33, 97, 186)  # schemas -4..8
    assert counts == dict(zip(SCHEMAS, by_schema, strict=True))
    for schema in range(2, 9):
        for frac, mine, exact in definition_deviations(schema):
            assert abs(mine - exact) == 1
            assert not in_bucket(2.0 * frac, mine, schema)
            assert in_bucket(2.0 * frac, exact, schema)
    # The one at schema 2: the float just below 2^(3/4) / 2 that the table's bound leaves out.
    ((frac, mine, exact),) = definition_deviations(2)
    assert frac == float.fromhex("0x1.ae89f995ad3adp-1")
    assert (mine, exact) == (4, 3)


def test_exact_key_rejects() -> None:
    for value in (0.0, -1.0, INF, math.nan):
        with pytest.raises(ValueError):
            exact_key(value, 0)


# --- NativeState ---------------------------------------------------------------------------


def test_defaults() -> None:
    state = NativeState()
    assert (state.schema, state.zero_threshold, state.max_buckets) == (3, 2.0**-128, 160)
    assert DEFAULT_ZERO_THRESHOLD == 2.938735877055719e-39  # client_golang's default
    assert DEFAULT_MAX_BUCKETS == 160
    assert state.snapshot() == NativeBuckets(3, 2.0**-128, 0)


def test_positive_negative_and_zero() -> None:
    state = state_of([1.0, 2.0, 2.0, -2.0, -3.0, 0.0, -0.0, 1.1], schema=3)
    assert state.positive == {0: 1, 8: 2, 2: 1}
    assert state.negative == {8: 1, 13: 1}  # 3 is in (2^(12/8), 2^(13/8)] = (2.83, 3.08]
    assert state.zero_count == 2
    assert state.count == 8
    assert state.sum == 1.0 + 2.0 + 2.0 - 2.0 - 3.0 + 1.1
    snapshot = state.snapshot()
    assert snapshot.positive_spans == ((0, 3), (5, 1))
    assert snapshot.positive_deltas == (1, -1, 1, 1)
    assert snapshot.negative_spans == ((8, 1), (4, 1))
    assert snapshot.negative_deltas == (1, 0)


def test_values_at_and_near_the_zero_threshold() -> None:
    threshold = 2.0**-128
    state = state_of(
        [threshold, -threshold, down(threshold), TINY, -TINY, up(threshold), -up(threshold)],
        schema=0,
    )
    assert state.zero_count == 5
    assert state.positive == {-127: 1}  # just above 2^-128: bucket (2^-128, 2^-127]
    assert state.negative == {-127: 1}

    wider = state_of([1e-3, -1e-3, up(1e-3), 0.0], schema=0, zero_threshold=1e-3)
    assert wider.zero_count == 3
    assert wider.positive == {bucket_key(up(1e-3), 0): 1}


def test_zero_width_zero_bucket() -> None:
    state = state_of([0.0, -0.0, TINY, -TINY], schema=0, zero_threshold=0.0)
    assert state.zero_count == 2
    assert state.positive == {-1074: 1}
    assert state.negative == {-1074: 1}


def test_infinities() -> None:
    state = state_of([INF, -INF, MAX, -MAX], schema=3)
    assert state.positive == {8193: 1, 8192: 1}
    assert state.negative == {8193: 1, 8192: 1}
    assert state.count == 4
    assert math.isnan(state.sum)
    snapshot = state.snapshot()
    assert snapshot.positive_spans == ((8192, 2),)
    assert snapshot.positive_deltas == (1, 0)

    for schema in (-4, 0, 8):
        only = state_of([INF, -INF], schema=schema)
        assert only.positive == only.negative == {1024 * 2**schema + 1: 1}


def test_infinite_zero_threshold_takes_everything() -> None:
    """client_golang compares +-Inf as +-MaxFloat64, so even they fall in an infinite zero
    bucket."""
    state = state_of([INF, -INF, 1.0, -MAX], schema=0, zero_threshold=INF)
    assert state.zero_count == 4
    assert state.positive == state.negative == {}


def test_large_values() -> None:
    state = state_of([1e300, 1e308, MAX, 2.0**1023], schema=0)
    assert state.positive == {997: 1, 1023: 1, 1024: 2}  # 1e300 <= 2^997 = 1.34e300
    assert state.sum == INF  # as a float sum does
    assert state.count == 4


def test_nan_and_bad_values_change_nothing() -> None:
    state = state_of([1.0, -1.0, 0.0], schema=0)
    before = (state.snapshot(), state.count, state.sum)
    with pytest.raises(ValueError, match="NaN"):
        state.add(math.nan)
    with pytest.raises(ValueError):
        state.add("x")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        state.add(None)  # type: ignore[arg-type]
    with pytest.raises(OverflowError):
        state.add(10**400)
    assert (state.snapshot(), state.count, state.sum) == before


def test_ints_are_observed_as_floats() -> None:
    state = state_of([1, 2, -4, 0], schema=0)
    assert state.positive == {0: 1, 1: 1}
    assert state.negative == {2: 1}
    assert state.sum == -1.0 and isinstance(state.sum, float)


@pytest.mark.parametrize(
    "options",
    [
        {"schema": 9},
        {"schema": -5},
        {"schema": 3.0},
        {"schema": True},
        {"zero_threshold": -1e-9},
        {"zero_threshold": math.nan},
        {"zero_threshold": "0"},
        {"zero_threshold": None},
        {"max_buckets": 0},
        {"max_buckets": -1},
        {"max_buckets": 1.0},
        {"max_buckets": True},
    ],
)
def test_bad_options(options: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        NativeState(**options)  # type: ignore[arg-type]


# --- the bucket limit ----------------------------------------------------------------------


def test_two_resolution_reductions() -> None:
    """Schema 0, limit 4: the fifth bucket halves to -1, the fifth bucket again to -2."""
    state = NativeState(0, max_buckets=4)
    for value in (1.0, 2.0, 4.0, 8.0):
        state.add(value)
    assert (state.schema, state.positive) == (0, {0: 1, 1: 1, 2: 1, 3: 1})
    state.add(16.0)  # key 4: five buckets
    # schema -1, bucket k covers (4^(k-1), 4^k]: 1 | 2, 4 | 8, 16
    assert (state.schema, state.positive) == (-1, {0: 1, 1: 2, 2: 2})
    state.add(32.0)  # (16, 64]: key 3, four buckets
    assert state.schema == -1
    state.add(-128.0)  # (64, 256]: negative key 4, five buckets in all: halves again
    # schema -2, bucket k covers (16^(k-1), 16^k]: 1 | 2..16 | 32 ; -128
    assert (state.schema, state.positive, state.negative) == (-2, {0: 1, 1: 4, 2: 1}, {2: 1})
    state.add(0.0)  # the zero bucket is not one of the limited buckets
    assert state.schema == -2
    assert state.zero_count == 1
    assert state.count == 8
    assert state.sum == 1.0 + 2 + 4 + 8 + 16 + 32 - 128 + 0
    total = state.zero_count + sum(state.positive.values()) + sum(state.negative.values())
    assert total == state.count
    assert state.snapshot() == NativeBuckets(
        -2, 2.0**-128, 1, ((0, 3),), (1, 3, -3), ((2, 1),), (1,)
    )


def test_halving_once_per_observation_and_never_below_minus_4() -> None:
    state = NativeState(8, max_buckets=1)
    state.add(1.0)
    state.add(1e300)  # two buckets: one halving, though still over the limit
    assert state.schema == 7
    state.add(0.0)  # any observation checks again
    assert state.schema == 6
    for _ in range(20):
        state.add(0.0)
    assert state.schema == -4
    assert state.positive == {0: 1, bucket_key(1e300, -4): 1}
    state.halve_resolution()  # does nothing at -4
    assert state.schema == -4


@pytest.mark.parametrize("schema", SCHEMAS)
def test_halving_equals_recording_at_the_lower_schema(schema: int) -> None:
    """Merging keys to ceil(k/2) gives exactly what recording at schema - 1 gives (client_golang's
    tables agree at the shared bounds, so this holds bit for bit, deviations included)."""
    if schema == -4:
        return
    rng = random.Random(schema)
    values = [_random_positive(rng) * rng.choice((1, -1)) for _ in range(3000)]
    values += [INF, -INF, MAX, 1.0, 2.0, 0.5, TINY, -TINY]
    values += [frac * 2.0 for frac, _, _ in definition_deviations(max(schema, 1))]
    high = state_of(values, schema=schema, max_buckets=10**9)
    high.halve_resolution()
    low = state_of(values, schema=schema - 1, max_buckets=10**9)
    assert high.schema == low.schema
    assert high.positive == low.positive
    assert high.negative == low.negative


def test_reductions_keep_every_observation() -> None:
    rng = random.Random(5)
    state = NativeState(8, zero_threshold=1e-6, max_buckets=20)
    values = [rng.lognormvariate(0.0, 8.0) * rng.choice((1, -1)) for _ in range(5000)]
    values += [0.0, 1e-7, -1e-7, INF]
    for value in values:
        state.add(value)
    assert state.schema < 0
    assert state.count == len(values)
    expected_sum = 0.0
    for value in values:
        expected_sum += value
    assert state.sum == expected_sum
    total = state.zero_count + sum(state.positive.values()) + sum(state.negative.values())
    assert total == len(values)
    assert state.zero_count == sum(1 for v in values if abs(v) <= 1e-6)
    # and every bucket holds what the definition puts there at the final schema
    direct = state_of(values, schema=state.schema, zero_threshold=1e-6, max_buckets=10**9)
    assert (direct.positive, direct.negative) == (state.positive, state.negative)


def _deltas(text: str) -> tuple[int, ...]:
    return tuple(int(delta) for delta in text.split())


def _seq() -> list[float]:
    return [
        ((i * 7919) % 1000 + 1) * 1e-3 * 10.0 ** (i % 7 - 3) * (-1 if i % 5 == 0 else 1)
        for i in range(2000)
    ]


def test_same_as_client_golang_schema_8_reduced_to_1() -> None:
    """Printed by client_golang 1.14 (NativeHistogramBucketFactor 1.0028, max bucket
    number 160, default zero threshold) for the same 2000 observations."""
    state = state_of(_seq(), schema=pick_schema(1.0028))
    assert state.snapshot() == NativeBuckets(
        1,
        2.938735877055719e-39,
        0,
        ((-37, 2), (3, 53)),
        _deltas(
            "1 0 2 -3 4 1 1 1 -1 6 9 1 15 13 21 -57 3 1 13 9 16 6 -51 3 13 5 17 16 -28 -27 12 "
            "1 15 14 24 -69 13 -4 17 8 14 2 -43 0 12 4 22 9 -24 -27 7 6 12 13 16"
        ),
        ((-39, 1), (11, 48)),
        _deltas(
            "1 1 1 2 -4 9 1 2 6 -15 -3 8 -4 5 8 -7 -10 6 -5 7 1 8 -11 -2 -3 7 -1 6 6 -14 -6 8 "
            "-3 6 7 -4 -14 7 -3 6 0 7 -13 1 -2 5 0 6 -1"
        ),
    )
    assert state.count == 2000


def test_same_as_client_golang_with_a_zero_threshold() -> None:
    """Printed by client_golang 1.14 (factor 1.02, so schema 5, max bucket number 40,
    zero threshold 1e-3): five halvings down to schema 0."""
    state = state_of(_seq(), schema=pick_schema(1.02), zero_threshold=1e-3, max_buckets=40)
    assert state.snapshot() == NativeBuckets(
        0,
        0.001,
        318,
        ((-9, 20),),
        _deltas("26 23 47 -23 -32 40 21 -70 29 67 -101 22 47 -25 -31 42 16 -71 31 54"),
        ((-9, 20),),
        _deltas("3 11 14 -16 -3 10 6 -18 10 17 -28 7 16 -15 -3 9 1 -13 8 11"),
    )


# --- spans and deltas ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("buckets", "spans", "deltas"),
    [
        ({}, (), ()),
        ({0: 1}, ((0, 1),), (1,)),
        ({5: 3}, ((5, 1),), (3,)),
        ({-3: 2}, ((-3, 1),), (2,)),
        ({1: 1, 2: 1}, ((1, 2),), (1, 0)),
        ({1: 4, 3: 1}, ((1, 3),), (4, -4, 1)),  # a gap of one: filled
        ({1: 4, 4: 1}, ((1, 4),), (4, -4, 0, 1)),  # a gap of two: filled
        ({1: 4, 5: 1}, ((1, 1), (3, 1)), (4, -3)),  # a gap of three: a new span
        (
            {-3: 2, -2: 5, 0: 1, 1: 1, 5: 3},
            ((-3, 5), (3, 1)),
            (2, 3, -5, 1, 0, 2),
        ),
        ({10: 1, 0: 2, -10: 3}, ((-10, 1), (9, 1), (9, 1)), (3, -1, -1)),
    ],
)
def test_encode_spans(
    buckets: dict[int, int], spans: tuple[tuple[int, int], ...], deltas: tuple[int, ...]
) -> None:
    assert encode_spans(buckets) == (spans, deltas)
    assert decode_spans(spans, deltas) == buckets


def test_spans_round_trip_random() -> None:
    rng = random.Random(3)
    for _ in range(500):
        keys = rng.sample(range(-300, 300), rng.randint(0, 60))
        buckets = {key: rng.randint(1, 1000) for key in keys}
        spans, deltas = encode_spans(buckets)
        assert decode_spans(spans, deltas) == buckets
        assert sum(length for _, length in spans) == len(deltas)
        assert all(offset > 2 for offset, _ in spans[1:])  # gaps of 1 or 2 never split


def test_snapshot_round_trip() -> None:
    rng = random.Random(4)
    values = [rng.lognormvariate(0.0, 3.0) * rng.choice((1, -1)) for _ in range(3000)]
    state = state_of(values, schema=3)
    snapshot = state.snapshot()
    assert decode_spans(snapshot.positive_spans, snapshot.positive_deltas) == state.positive
    assert decode_spans(snapshot.negative_spans, snapshot.negative_deltas) == state.negative
    assert (snapshot.schema, snapshot.zero_threshold, snapshot.zero_count) == (
        state.schema,
        state.zero_threshold,
        state.zero_count,
    )


def test_decode_spans_rejects() -> None:
    with pytest.raises(ValueError, match="cover"):
        decode_spans(((0, 2),), (1,))
    with pytest.raises(ValueError, match="negative"):
        decode_spans(((0, 2),), (1, -2))
