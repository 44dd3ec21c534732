"""Native (sparse exponential) histogram buckets, computed exactly as client_golang does.

Pure and single-threaded (``values_native`` serialises it per series). What is here:

* ``pick_schema(factor)``: the schema for a bucket growth factor, as client_golang's
  ``pickSchema`` computes it (including its floating-point behaviour near the boundaries).
* ``exact_key`` and ``definition_deviations``: the definition in exact arithmetic, for checks.
* ``bucket_key(value, schema)``: the index of the bucket holding a positive value.
* ``NativeState``: zero bucket, positive and negative bucket counts, count and sum, with
  client_golang's bucket limit (halve the resolution once when an observation leaves more
  than ``max_buckets`` buckets populated); ``snapshot()`` gives a ``model.NativeBuckets``.
* ``PackedState``: the same buckets in compact storage (sorted ``array``s of keys and
  counts), recording a whole batch of observations at once, with exactly the result
  ``NativeState`` gives for the same values added one by one in the same order (see its
  docstring for how, and ``dense_runs`` / ``bucket_runs`` for the bulk bucket counts).
* ``encode_spans`` / ``decode_spans``: the protobuf's spans and delta-encoded counts.

The bucket definition (Prometheus): at schema ``s`` (-4..8) the growth factor is
``2^(2^-s)`` and positive bucket ``i`` covers ``(2^((i-1)/2^s), 2^(i/2^s)]``; negative values
go to the negative buckets by absolute value; ``|v| <= zero_threshold`` goes to the zero
bucket.

How a key is computed (as client_golang does, never with ``log``): ``math.frexp`` splits
``v`` into ``frac * 2^exp`` with ``frac`` in ``[0.5, 1)``. For ``s > 0`` the key is the index
of the first table bound ``>= frac`` plus ``(exp - 1) * 2^s``; for ``s <= 0`` it is ``exp``
(``exp - 1`` when ``frac == 0.5``, an exact power of two) divided by ``2^-s`` rounding up.
Exact powers of two therefore land exactly on the bucket they bound.

The table for ``s > 0`` is client_golang's ``nativeHistogramBounds``, bit for bit (the
schema-8 table holds every other schema's bounds). Its entries are not all correctly
rounded: of the 256 at schema 8, 176 are 1 to 4 units in the last place below the correctly
rounded ``2^(j/256 - 1)`` and 2 are one unit above. For the few floats between a table
entry and the true bound, client_golang, and so this module, put the value one bucket away
from the mathematical definition. Being identical to client_golang is the contract
here; ``definition_deviations`` lists those floats (see the tests).

For ``s < 0`` the key follows the definition (client_golang >= 1.16). client_golang 1.14
(Debian's) divides with truncation instead and so puts tiny values
(``|v| <= 2^(-2^-s)``, e.g. ``2**-20`` at schema -4) one bucket too high; fixed upstream in
v1.16 (commit 77e97da5).

+Inf goes to the bucket one above the one holding the largest float (key
``1024 * 2^s + 1``: 1025 at schema 0, 8193 at 3, 262145 at 8, 65 at -4) and -Inf to the
same key among the negative buckets, as client_golang does.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from itertools import chain, compress, islice, repeat
from numbers import Real
from operator import add, sub

from .model import NativeBuckets

__all__ = [
    "DEFAULT_MAX_BUCKETS",
    "DEFAULT_ZERO_THRESHOLD",
    "MAX_SCHEMA",
    "MIN_SCHEMA",
    "NativeState",
    "PackedState",
    "bucket_key",
    "bucket_runs",
    "dense_runs",
    "decode_spans",
    "definition_deviations",
    "encode_spans",
    "exact_key",
    "pick_schema",
    "schema_bounds",
]

MIN_SCHEMA = -4
MAX_SCHEMA = 8
# client_golang's DefNativeHistogramZeroThreshold (2.938735877055719e-39).
DEFAULT_ZERO_THRESHOLD = 2.0**-128
DEFAULT_MAX_BUCKETS = 160

_MAX_FLOAT = 1.7976931348623157e308
# 1/ln(2) rounded to a float, as Go's constant expression ``1/Ln2`` is.
_INV_LN2 = float.fromhex("0x1.71547652b82fep+0")

# client_golang's bounds for schema 8: ``frac`` bounds in [0.5, 1), stored as the 13 hex
# digits of each one's significand (each is 0x1.<digits>p-1). The table of schema s < 8 is
# every 2^(8-s)-th entry of this one, which is how client_golang's own table is built.
_SCHEMA8_DIGITS = (
    "000000000000000b1afa5abcbf0163da9fb333502168143b028102c9a3e778061037d42e11bbcc"
    "04315e86e7f8404e5f72f654b1059b0d31585740650a0e3c1f890706b29ddf6dd07bd42b72a836"
    "0874518759bc8092bdf66607e009e3ecac6f3830a9c79b1f39190b5586cf9890f0c0f145e46c85"
    "0cc922b7247f60d83b23395dea0e3ec32d3d1a20efa55fdfa9c50fb66affed31a1073028d7233d"
    "11301d0125b5011edbab5e2ab512abdc06c31cb136a814f204aa1429aaea92ddf14e95934f312d"
    "15a98c8a58e50166a45471c3c1172b83c7d517b17ed48695bbc018af9388c8de91972658375d2f"
    "1a35beb6fcb751af99f8138a1c1bbe084045cd31c82f95281c6b1d4873168b9aa1e0e75eb44026"
    "1ed5022fcd91c1f9c18438ce4c2063b88628cd6212be3578a81921f49917ddc9522bdda27912d0"
    "2387a6e7562382451ffb82140a251ce4fb2a63e25e85711ece7426b4565e27cdd2780e341ddf2a"
    "284dfe1f56380291ba7591bb6f29e9df51fdee12ab8a66d10f132b87fd0dad98f2c57e39771b2e"
    "2d285a6e4030b2df961f6415892ecafa93e2f552f9d24abd886a306fe0a31b71531432edeeb2fd"
    "32170fc4cd83132eb83ba8ea3233c08b26416ff3496266e3fa2d356c55f929ff036431a2de883a"
    "371a7373aa9ca37f26231e754938cae6d05d86439a401b7140ed3a7db34e59ff63b57fbfec6cf4"
    "3c32dc313a8e33d0e544ede1723dea64c1234223ec70df1c51753fa4504ac801b40822c367a024"
    "4160a21f72e2a423fb2709468a431f5d950a89643ffa3f84b9d444e086061892d45c2042a7d232"
    "46a41ed1d00574786d668b3236486a2b5c13cd0494e1e192aed24a32af0d7d3de4b17dea6db7d7"
    "4bfdad5362a274ce41b817c1144dcb299fddd0d4eb2d81d8abfe4f9b2769d2ca7508417f4531ef"
    "516daa2cf66425257de83f4eef5342b569d4f81542e2f4f6ad27551a4ca5d920d56070dde910d0"
    "56f4736b527da57e27dbe2c4cf58d12d497c7fc59c0827ff07cb5ab07dd4854295ba11fba87a02"
    "5c9268a5946b65d84590998b925e76f15ad21485f6a320dceb71605e1b976dc086152ae6cdf6f4"
    "6247eb03a5584633dd1d1929fd6434634ccc31e652b9febc8fb56623882552224671c1c70833f5"
    "68155d44ca972690f4b19e95376a09e667f3bcc6b052fa75173e6c012750bdabe6cfdcddd47645"
    "6dfb23c651a2e6ef9298593ae46ff7df951948270f7466f42e8571f75e8ec5f7372f8286ead089"
    "73f9a48a5817274fbd35d7cbfc75feb564267c877024b1ab6e09780694fde5d3e790b938ac1cf5"
    "7a11473eb01867b17b0976cfda7c1ed0130c1317d26a62ff86ef7e2f336cf4e617f3878491c490"
    "80427543e1a10814d2add106d882589994cce118364c1eb941f68471a4623c7ab857f4179f5b1f"
    "868d99b4492eb879cad931a43588ac7d98a669789bd0a478580d8ace5422aa0db8be05bad61778"
    "8cf3216b5448b8e06a5e0866d88f1ae99157736902fed0282c8a9145b0b91ffc5925c353aa2fe2"
    "93737b0cdc5e4948b82b5f98e495a44cbc8520d96bdd9a7670b197d829fde4e4f98f33e47a22a2"
    "9a0f170ca07b89b2bb4d53fe0b9c49182a3f08f9d674194bb8d49e86319e323219fa5e8d07f29c"
    "a0c667b5de564a1e7aed8eb8bba309bec4a2d32a42c980460ad7a5503b23e255ba674a8af46051"
    "a799e1330b356a8bfe53c12e57a9e6b5579fdbeab0e521356eb9ac36bbfd3f378ad5ff3a3c2773"
    "ae89f995ad3acafb4ce622f2feb0e07298db663b20ce6c9a8950b33a2b84f15fab468415b749b0"
    "b59728de55938b6c6e29f1c529b7f76f2fb5e45b928cf22749e2ba5b030a10647bb8e0b79a6f1d"
    "bcc1e904bc1d0bdf69c3f3a205bf2c25bd71e06c06286141b33bc199bdd85529ac2d1cd9fa652a"
    "c40ab5fffd078c544778fafb20c67f12e57d149c7ba88988c931c8f6d9406e7b2ca3405751c4d8"
    "cb720dcef9066ccb0f2e6d1672cdf0b555dc3f6cf3155b5bab70d072d4a078979d1b532b08c966"
    "d2f87080d89eed43c8eacaa1d3d5818dcfba486d6c76e862e6d2d80e316c98396d955d71ff6074"
    "da9e603db3284dbe7cd63a8313dd321f301b45ede7d5641c0656dfc97337b9b5de11676b197d16"
    "e264614f5a126e3b333b16ee0fe502ee78b3ff5e653924676d75e7a51fbc74c81e8f7977cdb73e"
    "ea4afa2a490d8eb9f4867cca6decf482d8e67eeee4aaa218850eefa1bee615a26f0f9c1cb64129"
    "f252b376bba95f3ac948dd7272f50765b6e453ef6632798844f6f7bfdad9cbe10f91d802243c86"
    "fa7c1819e90d6fbdba3692d512fd3c22b8f71eefe9d96b2a23d6"
)


def _schema8_bounds() -> tuple[float, ...]:
    digits = _SCHEMA8_DIGITS
    return tuple(float.fromhex(f"0x1.{digits[i : i + 13]}p-1") for i in range(0, 256 * 13, 13))


_BOUNDS8 = _schema8_bounds()
# _BOUNDS[s] for s in 1..8 (index 0 unused, as in client_golang).
_BOUNDS: tuple[tuple[float, ...], ...] = tuple(
    _BOUNDS8[:: 1 << (MAX_SCHEMA - s)] for s in range(MAX_SCHEMA + 1)
)


def schema_bounds(schema: int) -> tuple[float, ...]:
    """The ``frac`` bounds client_golang searches at ``schema`` (1..8): ``2^s`` floats in
    ``[0.5, 1)``, increasing, the first 0.5; entry ``j`` stands for ``2^(j/2^s - 1)``."""
    _check_schema(schema)
    if schema <= 0:
        raise ValueError(f"schemas <= 0 use no table of bounds, got schema {schema}")
    return _BOUNDS[schema]


def _check_schema(schema: object) -> int:
    if (
        not isinstance(schema, int)
        or isinstance(schema, bool)
        or not MIN_SCHEMA <= schema <= MAX_SCHEMA
    ):
        raise ValueError(f"schema must be an int from {MIN_SCHEMA} to {MAX_SCHEMA}, got {schema!r}")
    return schema


def _go_log2(x: float) -> float:
    """Go's ``math.Log2`` as computed on amd64: ``frexp``; an exact power of two gives its
    exponent exactly; otherwise ``Log(frac) * (1/Ln2) + exp``, two roundings."""
    frac, exp = math.frexp(x)
    if frac == 0.5:
        return float(exp - 1)
    return math.log(frac) * _INV_LN2 + exp


def pick_schema(factor: float) -> int:
    """The schema for a bucket growth factor, as client_golang's ``pickSchema`` computes it:
    ``-floor(log2(log2(factor)))`` clamped to -4..8, with Go's ``Log2``.

    Mathematically that is the coarsest resolution (smallest schema) whose growth factor
    ``2^(2^-s)`` does not exceed ``factor``: the largest such growth factor, so buckets are
    never wider than asked (client_golang's own comment says "largest number n", which is
    not what it computes; 1.1 gives 3 although schemas 4..8 also have factors <= 1.1).

    Near the exact boundaries this follows Go's arithmetic, not exact mathematics: e.g.
    the float just below 16 gives -2, as in Go (``log2`` of it rounds to 4.0).
    ``factor`` 1.1 gives 3, 2 gives 0, 1.005 gives 8, 65536 and above (also +Inf) give -4.
    A factor that is not a real number, NaN, or ``<= 1`` raises ``ValueError``.
    """
    if not isinstance(factor, Real) or isinstance(factor, bool):
        raise ValueError(f"native bucket factor must be a number > 1, got {factor!r}")
    try:
        value = float(factor)
    except OverflowError:  # an int beyond the floats: far above 65536
        value = math.inf
    if not value > 1.0:  # also NaN
        raise ValueError(f"native bucket factor must be a number > 1, got {factor!r}")
    if value == math.inf:
        return MIN_SCHEMA  # Go: Log2(+Inf) is +Inf, whose floor is above every clamp
    floor = math.floor(_go_log2(_go_log2(value)))
    if floor <= -MAX_SCHEMA:
        return MAX_SCHEMA
    if floor >= -MIN_SCHEMA:
        return MIN_SCHEMA
    return -floor


def _key(value: float, schema: int) -> int:
    """The key of ``value`` (> 0, finite) at ``schema``; no checks."""
    frac, exp = math.frexp(value)
    if schema > 0:
        return bisect_left(_BOUNDS[schema], frac) + ((exp - 1) << schema)
    if frac == 0.5:
        exp -= 1
    shift = -schema
    # Rounds up (a floor shift of exp + 2^shift - 1): exact at every sign of exp.
    return (exp + (1 << shift) - 1) >> shift


def _inf_key(schema: int) -> int:
    # The largest float's bucket plus one: its frac is just below 1 and exp is 1024, so its
    # key is 1024 * 2^s at every schema (1024 is divisible by 2^4).
    return (1024 << schema if schema >= 0 else 1024 >> -schema) + 1


def bucket_key(value: float, schema: int) -> int:
    """The index of the positive bucket holding ``value`` (> 0, may be +Inf) at ``schema``.

    For a negative value, pass its absolute value: the negative buckets mirror the positive
    ones. Zero, negative values and NaN raise ``ValueError`` (zero belongs to the zero
    bucket), as does a schema outside -4..8.
    """
    _check_schema(schema)
    number = float(value)
    if not number > 0.0:
        raise ValueError(f"bucket_key takes a value > 0, got {value!r}")
    if number == math.inf:
        return _inf_key(schema)
    return _key(number, schema)


def encode_spans(
    buckets: Mapping[int, int],
) -> tuple[tuple[tuple[int, int], ...], tuple[int, ...]]:
    """Spans ``(offset, length)`` and delta-encoded counts for ``buckets`` (key -> count),
    as client_golang's ``makeBuckets`` builds them.

    Keys are taken in increasing order. The first span's offset is the first key; a gap of
    one or two keys is filled with zero counts inside the current span; a longer gap starts
    a new span whose offset is the number of keys skipped. Each delta is a bucket's count
    minus the previous bucket's (the first against 0). Buckets with count 0 are encoded like
    any other. No buckets: no spans, no deltas.
    """
    ordered = sorted(buckets)
    return _encode_sorted(ordered, [buckets[key] for key in ordered])


def _encode_sorted(
    keys: Sequence[int], counts: Sequence[int]
) -> tuple[tuple[tuple[int, int], ...], tuple[int, ...]]:
    """``encode_spans`` of the buckets ``keys[i] -> counts[i]``, keys ascending."""
    if keys and keys[-1] - keys[0] == len(keys) - 1:
        # Consecutive keys (the usual case): one span, the deltas computed in C.
        return ((keys[0], len(keys)),), tuple(map(sub, counts, chain((0,), counts)))
    spans: list[list[int]] = []
    deltas: list[int] = []
    previous = 0
    next_key = 0
    for key, count in zip(keys, counts, strict=True):
        gap = key - next_key
        if not spans or gap > 2:
            spans.append([gap, 0])
        else:
            for _ in range(gap):
                deltas.append(-previous)
                previous = 0
            spans[-1][1] += gap
        deltas.append(count - previous)
        previous = count
        spans[-1][1] += 1
        next_key = key + 1
    return tuple((offset, length) for offset, length in spans), tuple(deltas)


def decode_spans(spans: Sequence[tuple[int, int]], deltas: Sequence[int]) -> dict[int, int]:
    """The inverse of ``encode_spans``: key -> count for every bucket with a count other
    than 0 (the zero counts that fill small gaps are dropped).

    ``ValueError`` if the spans' lengths do not add up to the number of deltas, or a count
    comes out negative.
    """
    if sum(length for _, length in spans) != len(deltas):
        raise ValueError(f"spans {spans!r} do not cover {len(deltas)} deltas")
    result: dict[int, int] = {}
    key = 0
    count = 0
    position = 0
    for offset, length in spans:
        key += offset
        for _ in range(length):
            count += deltas[position]
            position += 1
            if count < 0:
                raise ValueError(f"negative bucket count {count} at key {key}")
            if count:
                result[key] = count
            key += 1
    return result


def definition_deviations(schema: int) -> tuple[tuple[float, int, int], ...]:
    """The ``frac`` values in ``[0.5, 1)`` whose key at ``schema`` differs from the bucket
    definition because client_golang's table bound is not the float the definition calls
    for: ``(frac, key_as_client_golang, key_by_definition)``, keys for exponent 1 (the value
    ``frac * 2`` in ``[1, 2)``; the same fractions deviate in every binade).

    Computed in exact integer arithmetic; empty for schemas <= 0.
    """
    _check_schema(schema)
    if schema <= 0:
        return ()
    found: list[tuple[float, int, int]] = []
    bounds = _BOUNDS[schema]
    for j in range(1, 1 << schema):
        # The true bound lies within a few units in the last place of the table entry.
        frac = bounds[j] - 8 * math.ulp(bounds[j])
        end = bounds[j] + 8 * math.ulp(bounds[j])
        while frac <= end:
            mine = _key(2.0 * frac, schema)
            exact = exact_key(2.0 * frac, schema)
            if mine != exact:
                found.append((frac, mine, exact))
            frac = math.nextafter(frac, 1.0)
    return tuple(found)


def exact_key(value: float, schema: int) -> int:
    """The key of ``value`` (> 0, finite) by the definition alone, in exact integer
    arithmetic: the least ``k`` with ``value <= 2^(k/2^s)``. Slow; for checks, not for
    recording (``bucket_key`` is what client_golang computes)."""
    _check_schema(schema)
    if not 0.0 < value < math.inf:
        raise ValueError(f"exact_key takes a finite value > 0, got {value!r}")
    numerator, denominator = value.as_integer_ratio()  # denominator: a power of two
    if schema <= 0:
        # value <= 2^(k * width)  <=>  value <= 2^e with e = k * width: the least such e,
        # rounded up to a multiple of width.
        width = 1 << -schema
        e = _least_power(numerator, denominator)
        return -(-e // width)
    power = 1 << schema
    # value <= 2^(k / power)  <=>  value^power <= 2^k.
    return _least_power(numerator**power, denominator**power)


def _least_power(numerator: int, denominator: int) -> int:
    """The least integer ``e`` with ``numerator / denominator <= 2^e`` (both > 0)."""
    e = numerator.bit_length() - denominator.bit_length() + 1  # numerator < d * 2^e
    while _at_most_power(numerator, denominator, e - 1):
        e -= 1
    return e


def _at_most_power(numerator: int, denominator: int, e: int) -> bool:
    if e >= 0:
        return numerator <= denominator << e
    return numerator << -e <= denominator


class NativeState:
    """One native histogram's buckets, count and sum, recorded as client_golang records them
    (with no reset duration and no zero-threshold widening configured).

    Not thread-safe: the owner serialises ``add``, ``halve_resolution`` and ``snapshot``
    (one lock per series, say). One state per writer thread, merged on read, would not give
    client_golang's result: its bucket limit counts the buckets of the whole series.

    ``zero_threshold`` (>= 0, may be +Inf): ``|v| <= zero_threshold`` counts in the zero
    bucket (0 makes a zero-width zero bucket: only zeros). ``max_buckets`` (>= 1): after an
    observation leaves more than that many buckets populated (positive and negative
    together), the resolution is halved once (``schema - 1``, bucket ``k`` merged into
    ``ceil(k/2)``), never below schema -4; it is not repeated until under the limit (the
    next observation halves again if still over). Count and sum are exact throughout.
    """

    __slots__ = (
        "count",
        "max_buckets",
        "negative",
        "positive",
        "schema",
        "sum",
        "zero_count",
        "zero_threshold",
    )

    schema: int
    zero_threshold: float
    max_buckets: int
    zero_count: int
    positive: dict[int, int]
    negative: dict[int, int]
    count: int
    sum: float

    def __init__(
        self,
        schema: int = 3,
        zero_threshold: float = DEFAULT_ZERO_THRESHOLD,
        max_buckets: int = DEFAULT_MAX_BUCKETS,
    ) -> None:
        """``ValueError`` for a schema outside -4..8, a negative or NaN ``zero_threshold``
        or a ``max_buckets`` below 1."""
        self.schema = _check_schema(schema)
        if (
            not isinstance(zero_threshold, Real)
            or isinstance(zero_threshold, bool)
            or not float(zero_threshold) >= 0.0
        ):
            raise ValueError(f"native zero threshold must be a number >= 0, got {zero_threshold!r}")
        if not isinstance(max_buckets, int) or isinstance(max_buckets, bool) or max_buckets < 1:
            raise ValueError(f"native max buckets must be an int >= 1, got {max_buckets!r}")
        self.zero_threshold = float(zero_threshold)
        self.max_buckets = max_buckets
        self.zero_count = 0
        self.positive = {}
        self.negative = {}
        self.count = 0
        self.sum = 0.0

    def add(self, value: float) -> None:
        """Record one observation. NaN raises ``ValueError`` (client_golang would count it
        and make the sum NaN; we reject it, as our classic histograms do), as does anything
        ``float()`` cannot convert; nothing changes then."""
        number = float(value)
        if number != number:
            raise ValueError(f"native histogram observation must not be NaN, got {value!r}")
        schema = self.schema
        if number == math.inf or number == -math.inf:
            # client_golang treats +-Inf as +-MaxFloat64 (for the zero bucket test as well),
            # one bucket higher.
            compared = _MAX_FLOAT if number > 0 else -_MAX_FLOAT
            key = _inf_key(schema)
        else:
            compared = number
            key = _key(-number if number < 0 else number, schema) if number else 0
        threshold = self.zero_threshold
        if compared > threshold:
            buckets = self.positive
            buckets[key] = buckets.get(key, 0) + 1
        elif compared < -threshold:
            buckets = self.negative
            buckets[key] = buckets.get(key, 0) + 1
        else:
            self.zero_count += 1
        self.sum += number
        self.count += 1
        if len(self.positive) + len(self.negative) > self.max_buckets and schema > MIN_SCHEMA:
            self.halve_resolution()

    def halve_resolution(self) -> None:
        """Schema minus one, merging each pair of buckets: key ``k`` goes to ``ceil(k/2)``
        (bucket ``j`` at the new schema covers buckets ``2j-1`` and ``2j`` at the old one).
        Does nothing at schema -4."""
        if self.schema <= MIN_SCHEMA:
            return
        self.schema -= 1
        self.positive = _halved(self.positive)
        self.negative = _halved(self.negative)

    def snapshot(self) -> NativeBuckets:
        """Schema, zero threshold, zero count and both bucket sets as spans and deltas."""
        positive_spans, positive_deltas = encode_spans(self.positive)
        negative_spans, negative_deltas = encode_spans(self.negative)
        return NativeBuckets(
            self.schema,
            self.zero_threshold,
            self.zero_count,
            positive_spans,
            positive_deltas,
            negative_spans,
            negative_deltas,
        )


def _halved(buckets: dict[int, int]) -> dict[int, int]:
    merged: dict[int, int] = {}
    for key, count in buckets.items():
        wider = (key + 1) >> 1  # ceil(key / 2) at every sign
        merged[wider] = merged.get(wider, 0) + count
    return merged


# -- batches --------------------------------------------------------------------------------
#
# Recording one observation at a time costs a frexp, a table search and a dict update per
# value. A batch sorted first costs that once per distinct bucket: the bucket's inclusive
# upper bound, computed exactly, gives the end of its run of values by one bisection.

_MIN_NORMAL = 2.2250738585072014e-308  # 2^-1022


def _upper(key: int, schema: int) -> float | None:
    """The largest float whose key at ``schema`` is ``key`` (a key of a finite value > 0),
    or ``None`` where that bound would not be exact (a subnormal table bound).

    Schema ``s > 0``: with ``key = j + q * 2^s`` (``0 <= j < 2^s``) the values are
    ``frac * 2^(q+1)`` with ``bounds[j-1] < frac <= bounds[j]`` for ``j > 0``: the bound is
    ``bounds[j] * 2^(q+1)``, exact while it is a normal float; for ``j == 0`` they are
    ``2^q`` itself and the floats just below it (``frac > bounds[-1]`` one binade lower):
    the bound is ``2^q``, the largest float for ``q == 1024``. Schema ``s <= 0``: key ``k``
    holds ``(2^((k-1)w), 2^(kw)]`` with ``w = 2^-s``; ``kw >= -1074`` for every key a float
    has, so the bound is exact, and the largest float for ``kw >= 1024``.
    """
    if schema > 0:
        j = key & ((1 << schema) - 1)
        q = key >> schema
        if j == 0:
            return _MAX_FLOAT if q >= 1024 else math.ldexp(1.0, q)
        if q < -1022:
            return None
        return math.ldexp(_BOUNDS[schema][j], q + 1)
    top = key << -schema
    return _MAX_FLOAT if top >= 1024 else math.ldexp(1.0, top)


# A group of buckets is counted with one bisection per bound when it holds at least one
# value per _DENSE bounds (else bucket by bucket, one key computation each).
_DENSE = 4


@lru_cache(maxsize=256)
def _group_uppers(schema: int, group: int) -> tuple[float, ...]:
    """The upper bounds of the buckets ``group * 2^s + j`` (``j`` from 0 to ``2^s - 1``)
    at ``schema`` > 0: ``2^group`` for ``j = 0``, ``bounds[j] * 2^(group+1)`` after (see
    ``_upper``); exact for ``-1022 <= group <= 1023``. Shared by every series."""
    scaled = tuple(map(math.ldexp, _BOUNDS[schema], repeat(group + 1)))
    return (math.ldexp(1.0, group), *scaled[1:])


def bucket_runs(
    values: Sequence[float], low: int, high: int, schema: int
) -> tuple[list[int], list[int]]:
    """Keys (ascending) and counts of the buckets holding ``values[low:high]`` at
    ``schema``: the values sorted ascending, all ``> 0`` (``+Inf`` allowed, at the end).

    The same keys ``bucket_key`` gives value by value: one key computation per distinct
    bucket, whose values are then counted by bisecting at its exact upper bound (see
    ``_upper``; computed here from the ``frexp`` already at hand); where that bound is not
    exact (subnormal values at schemas > 0) the run is found value by value.
    """
    keys: list[int] = []
    counts: list[int] = []
    end = bisect_left(values, math.inf, low, high)
    index = low
    frexp = math.frexp
    ldexp = math.ldexp
    if schema > 0:
        bounds = _BOUNDS[schema]
        top = 1 << schema
        while index < end:
            value = values[index]
            frac, exp = frexp(value)
            j = bisect_left(bounds, frac)
            group = exp if j == top else exp - 1
            if -1022 <= group <= 1023:
                # Every bucket of this group of 2^s (one per table bound) at once, when
                # the group holds values enough: one bisection per bound, in C.
                first = 0 if j == top else j
                group_end = bisect_right(values, _group_uppers(schema, group)[-1], index, end)
                if (group_end - index) * _DENSE >= top - first:
                    ends = list(
                        map(
                            bisect_right,
                            repeat(values),
                            islice(_group_uppers(schema, group), first, None),
                            repeat(index),
                            repeat(group_end),
                        )
                    )
                    sizes = list(map(sub, ends, chain((index,), ends)))
                    base = group << schema
                    keys.extend(compress(range(base + first, base + top), sizes))
                    counts.extend(filter(None, sizes))
                    index = group_end
                    continue
            if j == 0:  # frac == 0.5: an exact power of two, the top of its bucket
                key = (exp - 1) << schema
                upper: float | None = value
            elif j == top:  # above the last bound: the bucket up to 2^exp
                key = exp << schema
                upper = ldexp(1.0, exp) if exp < 1024 else _MAX_FLOAT
            else:
                key = j + ((exp - 1) << schema)
                upper = ldexp(bounds[j], exp) if exp > -1021 else None
            if upper is None:
                after = index + 1
                while after < end and _key(values[after], schema) == key:
                    after += 1
            else:
                after = bisect_right(values, upper, index + 1, end)
            keys.append(key)
            counts.append(after - index)
            index = after
    else:
        shift = -schema
        while index < end:
            frac, exp = frexp(values[index])
            if frac == 0.5:
                exp -= 1
            key = (exp + (1 << shift) - 1) >> shift
            power = key << shift
            upper = ldexp(1.0, power) if power < 1024 else _MAX_FLOAT
            after = bisect_right(values, upper, index + 1, end)
            keys.append(key)
            counts.append(after - index)
            index = after
    if end < high:
        keys.append(_inf_key(schema))
        counts.append(high - end)
    return keys, counts


def dense_runs(
    values: Sequence[float], low: int, high: int, schema: int
) -> tuple[int, list[int]] | None:
    """``(first_key, sizes)``: how many of ``values[low:high]`` (sorted ascending, finite,
    ``> 0``, at least one) each bucket from ``first_key`` to the last value's holds, zeros
    included; one bisection per bucket bound, all in C. ``None`` where that would not pay
    (many more buckets in the range than values) or the bounds would not be exact
    (subnormal values at schemas > 0): ``bucket_runs`` then."""
    first = _key(values[low], schema)
    last = _key(values[high - 1], schema)
    width = last - first + 1
    if width > 4 * (high - low) + 16:
        return None
    uppers: Iterable[float]
    if schema > 0:
        if first >> schema < -1022:
            return None
        groups = map(
            _group_uppers, repeat(schema), range(first >> schema, ((last - 1) >> schema) + 1)
        )
        start = first & ((1 << schema) - 1)
        uppers = islice(chain.from_iterable(groups), start, start + width - 1)
    else:
        step = 1 << -schema
        uppers = map(math.ldexp, repeat(1.0), range(first * step, last * step, step))
    ends = list(map(bisect_right, repeat(values), uppers, repeat(low), repeat(high)))
    ends.append(high)
    return first, list(map(sub, ends, chain((low,), ends)))


def _side_plan(
    values: Sequence[float], low: int, high: int, schema: int, keys: array[int]
) -> tuple[int, list[int], list[int], int]:
    """How to add ``values[low:high]`` (sorted, ``> 0``, ``+Inf`` allowed at the end) to a
    side whose populated keys are ``keys``: ``(place, sizes, [], 0)`` when the batch's
    buckets are a run of consecutive populated keys starting at ``keys[place]`` (add
    ``sizes`` there), else ``(-1, batch_keys, batch_counts, how_many_new)``."""
    end = bisect_left(values, math.inf, low, high)
    dense = dense_runs(values, low, end, schema) if end > low else None
    if dense is None:
        added, more = bucket_runs(values, low, high, schema)
    else:
        first, sizes = dense
        if end == high:
            place = bisect_left(keys, first)
            stop = place + len(sizes) - 1
            if stop < len(keys) and keys[place] == first and keys[stop] - first == stop - place:
                return place, sizes, [], 0
        added = list(compress(range(first, first + len(sizes)), sizes))
        more = list(filter(None, sizes))
        if end < high:
            added.append(_inf_key(schema))
            more.append(high - end)
    return -1, added, more, len(set(added).difference(keys))


def _apply(
    keys: array[int], counts: array[int], plan: tuple[int, list[int], list[int], int]
) -> tuple[array[int], array[int]] | None:
    """Carry out a ``_side_plan``: in place (returns ``None``), or the merged arrays."""
    place, added, more, new = plan
    if place >= 0:
        stop = place + len(added)
        counts[place:stop] = array("q", map(add, counts[place:stop], added))
        return None
    if not added:
        return None
    if not new:
        for key, count in zip(added, more, strict=True):
            counts[bisect_left(keys, key)] += count
        return None
    buckets = dict(zip(keys, counts, strict=True))
    get = buckets.get
    for key, count in zip(added, more, strict=True):
        buckets[key] = get(key, 0) + count
    return _packed(buckets)


def _packed(buckets: Mapping[int, int]) -> tuple[array[int], array[int]]:
    ordered = sorted(buckets)
    return array("i", ordered), array("q", [buckets[key] for key in ordered])


class PackedState:
    """``NativeState``'s buckets (not its count and sum) in compact storage, recorded a
    batch at a time, with exactly the result of ``NativeState.add`` value by value.

    Each side is two ``array``s, keys (``int32``: every key of every schema fits) and
    counts (``int64``), sorted by key: about 12 bytes a populated bucket, where a dict
    takes about 47. Not thread-safe: the owner serialises every call.

    ``add_batch(values, ordered)`` takes the values in the order they were observed and
    the same values sorted. The zero bucket and both sides are counted in bulk on the
    sorted copy: ``dense_runs`` over a dense key range (one C bisection per bucket bound),
    ``bucket_runs`` otherwise (one key computation per distinct bucket). When the batch's
    buckets are a run of populated keys, its counts are added to that slice of the counts
    array in C; otherwise the arrays are merged. The bucket limit makes order matter: client_golang
    halves the resolution after the observation that leaves more than ``max_buckets``
    buckets populated, and after each later one while still over. Within a batch recorded
    at one schema the populated count only grows, so if it is within the limit before the
    batch and still within it after, no observation of the batch would have halved and
    the bulk result is exact; otherwise (and only then) the batch is replayed value by
    value, in its order, through ``NativeState.add``. At schema -4 nothing halves: bulk.
    """

    __slots__ = (
        "max_buckets",
        "negative_counts",
        "negative_keys",
        "positive_counts",
        "positive_keys",
        "schema",
        "zero_count",
        "zero_threshold",
    )

    schema: int
    zero_threshold: float
    max_buckets: int
    zero_count: int
    positive_keys: array[int]
    positive_counts: array[int]
    negative_keys: array[int]
    negative_counts: array[int]

    def __init__(
        self,
        schema: int = 3,
        zero_threshold: float = DEFAULT_ZERO_THRESHOLD,
        max_buckets: int = DEFAULT_MAX_BUCKETS,
    ) -> None:
        """Same arguments and checks as ``NativeState``."""
        checked = NativeState(schema, zero_threshold, max_buckets)
        self.schema = checked.schema
        self.zero_threshold = checked.zero_threshold
        self.max_buckets = checked.max_buckets
        self.zero_count = 0
        self.positive_keys, self.positive_counts = array("i"), array("q")
        self.negative_keys, self.negative_counts = array("i"), array("q")

    def populated(self) -> int:
        """How many buckets are populated, positive and negative together."""
        return len(self.positive_keys) + len(self.negative_keys)

    def add_batch(self, values: Sequence[float], ordered: Sequence[float]) -> None:
        """Record ``values`` (plain floats, no NaN, in observation order); ``ordered`` is
        ``sorted(values)``."""
        size = len(ordered)
        if not size:
            return
        threshold = self.zero_threshold
        schema = self.schema
        if threshold >= _MAX_FLOAT:  # +-Inf count as +-MaxFloat64: all in the zero bucket
            self.zero_count += size
            return
        negative_end = bisect_left(ordered, -threshold)
        positive_start = bisect_right(ordered, threshold, negative_end)
        plans = [
            _side_plan(ordered, positive_start, size, schema, self.positive_keys),
            _side_plan(
                [-value for value in reversed(ordered[:negative_end])],
                0,
                negative_end,
                schema,
                self.negative_keys,
            )
            if negative_end
            else (-1, [], [], 0),
        ]
        if schema > MIN_SCHEMA:
            before = len(self.positive_keys) + len(self.negative_keys)
            new = plans[0][3] + plans[1][3]
            if before > self.max_buckets or before + new > self.max_buckets:
                self._replay(values)
                return
        self.zero_count += positive_start - negative_end
        merged = _apply(self.positive_keys, self.positive_counts, plans[0])
        if merged is not None:
            self.positive_keys, self.positive_counts = merged
        merged = _apply(self.negative_keys, self.negative_counts, plans[1])
        if merged is not None:
            self.negative_keys, self.negative_counts = merged

    def _replay(self, values: Sequence[float]) -> None:
        state = self.unpacked()
        add = state.add
        for value in values:
            add(value)
        self.schema = state.schema
        self.zero_count = state.zero_count
        self.positive_keys, self.positive_counts = _packed(state.positive)
        self.negative_keys, self.negative_counts = _packed(state.negative)

    def unpacked(self) -> NativeState:
        """A ``NativeState`` with these buckets (its count and sum: those of the buckets
        and 0.0, as this state keeps neither)."""
        state = NativeState(self.schema, self.zero_threshold, self.max_buckets)
        state.zero_count = self.zero_count
        state.positive = dict(zip(self.positive_keys, self.positive_counts, strict=True))
        state.negative = dict(zip(self.negative_keys, self.negative_counts, strict=True))
        state.count = self.zero_count + sum(self.positive_counts) + sum(self.negative_counts)
        return state

    def snapshot(self) -> NativeBuckets:
        """As ``NativeState.snapshot``."""
        positive_spans, positive_deltas = _encode_sorted(self.positive_keys, self.positive_counts)
        negative_spans, negative_deltas = _encode_sorted(self.negative_keys, self.negative_counts)
        return NativeBuckets(
            self.schema,
            self.zero_threshold,
            self.zero_count,
            positive_spans,
            positive_deltas,
            negative_spans,
            negative_deltas,
        )
