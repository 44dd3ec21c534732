"""A real Prometheus stores our native histograms and answers the queries users will run.

One registry, recorded once before anything starts, holds three native histograms with
seeded observations:

* ``tk_native_seconds``: native only (default options: schema 3), 3,000 lognormal values;
* ``tk_both_seconds``: classic buckets and native ones (``buckets=BOTH_BUCKETS,
  native=True``), 3,000 other lognormal values;
* ``tk_native_route_seconds``: a labelled native-only family with a 40-bucket limit, so its
  series halve their resolution while recording: ``route="wide"`` (values over ten orders of
  magnitude) and ``route="mixed"`` (positive values plus zeros and some negative ones: a
  zero bucket and negative buckets, the sum still positive).

Two targets serve that registry through ``tachikoma_metrics.negotiate``, one to each of two
Debian Prometheus 2.42 servers started together (their first scrapes come about 6 s later):

* started with ``--enable-feature=native-histograms``, Prometheus asks for protobuf and gets
  it. Through the query API, for every series: the stored native histogram has exactly the
  recorded buckets (bounds and counts, zero bucket and negative buckets included);
  ``histogram_count`` and ``histogram_sum`` equal the recorded count and sum exactly; and
  ``histogram_quantile(q, ...)`` for q in 0.5, 0.9, 0.99 is within the schema's relative
  error bound of the exact quantile of the observations (see ``_assert_quantile``). Prometheus
  2.42 keeps only the native part of a both-kinds histogram: no ``_bucket``/``_count``/
  ``_sum`` series is stored for it there.
* started without the flag, Prometheus asks for OpenMetrics and stores the classic series:
  for ``tk_both_seconds`` the cumulative count per ``le``, ``_count`` and ``_sum``, exactly
  as recorded; for the native-only histograms their ``+Inf`` bucket, ``_count`` and
  ``_sum``, and nothing native.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pytest

import tachikoma_metrics
from prometheus_harness import MetricsTarget, PrometheusServer, negotiated
from tachikoma_metrics.native import decode_spans, schema_bounds

PROTOBUF_MEDIA_TYPE = "application/vnd.google.protobuf"
OPENMETRICS_MEDIA_TYPE = "application/openmetrics-text"
NATIVE_FLAG = "--enable-feature=native-histograms"
JOB = "native"

QUANTILES = (0.5, 0.9, 0.99)

NATIVE_ONLY = "tk_native_seconds"
BOTH = "tk_both_seconds"
LABELLED = "tk_native_route_seconds"
LABELLED_MAX_BUCKETS = 40

BOTH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# ``le`` as OpenMetrics writes the bounds (integral ones as ``1.0``), and Prometheus stores.
BOTH_LE_LABELS = ("0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "+Inf")


def _lognormal(seed: int, n: int, mu: float, sigma: float) -> tuple[float, ...]:
    rng = random.Random(seed)
    return tuple(rng.lognormvariate(mu, sigma) for _ in range(n))


def _mixed() -> tuple[float, ...]:
    rng = random.Random(14)
    values = [rng.lognormvariate(-2.0, 0.5) for _ in range(1500)]
    values += [0.0] * 100
    values += [-rng.lognormvariate(-2.5, 0.4) for _ in range(60)]
    rng.shuffle(values)
    return tuple(values)


# (family name, label values) -> observations, in the order they are observed.
OBSERVATIONS: dict[tuple[str, tuple[str, ...]], tuple[float, ...]] = {
    (NATIVE_ONLY, ()): _lognormal(11, 3000, -1.0, 0.8),
    (BOTH, ()): _lognormal(12, 3000, -0.5, 1.0),
    (LABELLED, ("wide",)): _lognormal(13, 2000, 0.0, 2.5),
    (LABELLED, ("mixed",)): _mixed(),
}


def _record() -> tachikoma_metrics.MetricsRegistry:
    registry = tachikoma_metrics.MetricsRegistry()
    native_only = registry.histogram(NATIVE_ONLY, "Native only.", native=True)
    both = registry.histogram(BOTH, "Classic and native.", buckets=BOTH_BUCKETS, native=True)
    labelled = registry.histogram(
        LABELLED,
        "Native only, by route.",
        labelnames=("route",),
        native=True,
        native_max_buckets=LABELLED_MAX_BUCKETS,
    )
    for (name, labels), values in OBSERVATIONS.items():
        series = {NATIVE_ONLY: native_only, BOTH: both}.get(name) or labelled.labels(*labels)
        for value in values:
            series.observe(value)
    return registry


def _recorded(
    registry: tachikoma_metrics.MetricsRegistry, name: str, labels: tuple[str, ...]
) -> tachikoma_metrics.HistogramValue:
    family = registry.get(name)
    value: tachikoma_metrics.HistogramValue = (
        family.labels(*labels).get() if labels else family.get()
    )
    return value


# -- targets and servers -------------------------------------------------------------------------


@dataclass
class Scrapes:
    native: PrometheusServer  # --enable-feature=native-histograms: asks for protobuf
    classic: PrometheusServer  # default flags: asks for OpenMetrics
    native_target: MetricsTarget
    classic_target: MetricsTarget
    registry: tachikoma_metrics.MetricsRegistry


@pytest.fixture(scope="module")
def scrapes() -> Iterator[Scrapes]:
    """Both servers and their targets, started together and stopped after the module."""
    registry = _record()
    with ExitStack() as stack:
        native_target = stack.enter_context(
            MetricsTarget(lambda headers: negotiated(registry, headers))
        )
        classic_target = stack.enter_context(
            MetricsTarget(lambda headers: negotiated(registry, headers))
        )
        native = stack.enter_context(
            PrometheusServer([(JOB, native_target.address)], extra_flags=(NATIVE_FLAG,))
        )
        classic = stack.enter_context(PrometheusServer([(JOB, classic_target.address)]))
        yield Scrapes(native, classic, native_target, classic_target, registry)


def _wait_until_up(server: PrometheusServer, target: MetricsTarget) -> None:
    """Wait for the first scrape; fail with the target's own error, or unless ``up`` is 1."""
    query = f'up{{job="{JOB}"}}'
    server.wait_for(query, lambda result: len(result) == 1)
    target.raise_errors()
    server.wait_for(query, lambda result: result[0]["value"][1] == "1", timeout=5)


def _media_type(content_type: str) -> tuple[str, dict[str, str]]:
    media_type, *params = (part.strip() for part in content_type.split(";"))
    parameters = dict(param.split("=", 1) for param in params if "=" in param)
    return media_type.lower(), parameters


# -- reading back ------------------------------------------------------------------------------

_TARGET_LABELS = frozenset({"__name__", "job", "instance"})
Key = tuple[str, tuple[str, ...]]  # (series name, label values: route, then le)


def _by_series(result: list[dict[str, Any]]) -> dict[tuple[str, ...], dict[str, Any]]:
    """Samples of one family by label values (the ``route`` label, if any)."""
    by_labels: dict[tuple[str, ...], dict[str, Any]] = {}
    for sample in result:
        route = sample["metric"].get("route")
        by_labels[() if route is None else (route,)] = sample
    return by_labels


def _family_series(name: str) -> list[tuple[str, ...]]:
    return [labels for family, labels in OBSERVATIONS if family == name]


def _bound(key: int, schema: int) -> float:
    """The upper bound of positive bucket ``key`` at ``schema``: ``2^(key / 2^schema)``,
    computed as Prometheus and client_golang do (a table of fractions for schemas > 0)."""
    if schema > 0:
        fractions = schema_bounds(schema)
        return math.ldexp(fractions[key & ((1 << schema) - 1)], (key >> schema) + 1)
    return math.ldexp(1.0, key << -schema)


# One native bucket as the query API shows it: (boundary rule, lower, upper, count).
# Rules: 0 = (lower, upper], 1 = [lower, upper), 3 = [lower, upper].
Bucket = tuple[int, float, float, int]


def _expected_buckets(value: tachikoma_metrics.HistogramValue) -> list[Bucket]:
    """The recorded native buckets in increasing order, as Prometheus lists them: negative
    buckets, the zero bucket, positive buckets; only buckets with observations."""
    native = value.native
    assert native is not None
    schema = native.schema
    negative = decode_spans(native.negative_spans, native.negative_deltas)
    positive = decode_spans(native.positive_spans, native.positive_deltas)
    buckets: list[Bucket] = [
        (1, -_bound(key, schema), -_bound(key - 1, schema), negative[key])
        for key in sorted(negative, reverse=True)
    ]
    if native.zero_count:
        threshold = native.zero_threshold
        buckets.append((3, -threshold, threshold, native.zero_count))
    buckets += [
        (0, _bound(key - 1, schema), _bound(key, schema), positive[key]) for key in sorted(positive)
    ]
    return buckets


def _stored_buckets(sample: Mapping[str, Any]) -> tuple[int, float, list[Bucket]]:
    """Count, sum and buckets of a native histogram sample from the query API."""
    histogram = sample["histogram"][1]
    buckets = [
        (int(rule), float(lower), float(upper), int(count))
        for rule, lower, upper, count in histogram.get("buckets", [])
    ]
    return int(histogram["count"]), float(histogram["sum"]), buckets


def _nearest_rank(values: tuple[float, ...], q: float) -> tuple[int, float]:
    """``k`` and the ``k``-th smallest value, ``k = ceil(q * n)`` with ``q * n`` rounded as
    Prometheus computes its rank (a float64 product)."""
    k = max(1, math.ceil(q * len(values)))
    return k, sorted(values)[k - 1]


def _assert_quantile(
    q: float, estimate: float, values: tuple[float, ...], schema: int, buckets: list[Bucket]
) -> None:
    """``estimate`` (``histogram_quantile(q, ...)``) is within the schema's bound of the exact
    ``q`` quantile of ``values``.

    The bound. Prometheus computes ``rank = q * count`` and walks the buckets in increasing
    order to the first one whose cumulative count reaches ``rank``; counts are integers, so
    that is the bucket holding the ``k``-th smallest observation, ``k = ceil(rank)`` (the
    exact nearest-rank quantile ``x``). It then interpolates inside that bucket (2.42:
    linearly), so the estimate lies in the same bucket as ``x``: both in ``[L, U]``. At
    schema ``s`` a positive bucket spans a factor ``g = 2^(2^-s)`` (``U = g * L``), so
    ``|estimate - x| <= U - L = (g - 1) * L < (g - 1) * x``: a relative error below
    ``g - 1``, about 9.05% at schema 3 (and 41.4% at schema 1, 100% at schema 0). The bound
    is tight: ``x`` just above ``L`` with the estimate at ``U``. It holds for a positive
    ``x`` only (the zero bucket has no such ratio), so these quantiles are kept in the
    positive buckets; the schema is the series' own, after any halving. A factor 1e-12 on
    top absorbs the rounding of the bucket bounds and of the interpolation.

    Checked directly too: ``x`` lies in the bucket where the cumulative count reaches ``k``,
    and so does the estimate.
    """
    k, exact = _nearest_rank(values, q)
    assert exact > 0, (q, exact)
    cumulative = 0
    holding: Bucket | None = None
    for bucket in buckets:
        cumulative += bucket[3]
        if cumulative >= k:
            holding = bucket
            break
    assert holding is not None, f"the stored buckets hold {cumulative} < {k} observations"
    rule, lower, upper, _ = holding
    assert rule == 0 and lower < exact <= upper, (q, exact, holding)
    slack = 1e-12 * upper
    assert lower - slack <= estimate <= upper + slack, (q, estimate, exact, (lower, upper))
    growth = 2.0 ** (2.0**-schema)
    assert abs(estimate - exact) <= (growth - 1.0) * exact * (1 + 1e-12), (
        q,
        estimate,
        exact,
        schema,
    )


def _native_sample(scrapes: Scrapes, name: str) -> dict[tuple[str, ...], dict[str, Any]]:
    """The native histogram samples of family ``name`` on the native server, by labels,
    waiting for every series of the family to be there."""
    wanted = set(_family_series(name))

    def complete(result: list[dict[str, Any]]) -> bool:
        return set(_by_series(result)) >= wanted and all("histogram" in s for s in result)

    _wait_until_up(scrapes.native, scrapes.native_target)
    return _by_series(scrapes.native.wait_for(f'{name}{{job="{JOB}"}}', complete, timeout=5))


# -- the native server -------------------------------------------------------------------------


def test_native_server_asked_for_protobuf_and_got_it(scrapes: Scrapes) -> None:
    """With the feature flag Prometheus 2.42 asks for protobuf first, and ``negotiate``
    answers delimited ``MetricFamily`` protobuf (the only format carrying native buckets)."""
    _wait_until_up(scrapes.native, scrapes.native_target)
    target = scrapes.native_target
    assert target.accept_headers, "the target recorded no request"
    for accept in target.accept_headers:
        assert accept is not None and accept.startswith(PROTOBUF_MEDIA_TYPE), accept
    assert target.responses
    for response in target.responses:
        media_type, params = _media_type(response["content-type"])
        assert media_type == PROTOBUF_MEDIA_TYPE, response
        assert params.get("proto") == "io.prometheus.client.MetricFamily", response
        assert params.get("encoding") == "delimited", response


@pytest.mark.parametrize("name", [NATIVE_ONLY, BOTH, LABELLED])
def test_native_buckets_stored_exactly(scrapes: Scrapes, name: str) -> None:
    """Each series is stored as one native histogram with the recorded count, sum, zero
    bucket and buckets: every bound and count as recorded."""
    samples = _native_sample(scrapes, name)
    assert set(samples) == set(_family_series(name))
    for labels, sample in samples.items():
        recorded = _recorded(scrapes.registry, name, labels)
        count, total, buckets = _stored_buckets(sample)
        assert (count, total) == (recorded.count, recorded.sum), labels
        assert buckets == _expected_buckets(recorded), labels


@pytest.mark.parametrize("name", [NATIVE_ONLY, BOTH, LABELLED])
def test_histogram_count_and_sum_exact(scrapes: Scrapes, name: str) -> None:
    """``histogram_count`` and ``histogram_sum`` return the recorded count and sum exactly
    (the sum as the library added it, which is the observations added in order)."""
    _native_sample(scrapes, name)
    selector = f'{name}{{job="{JOB}"}}'
    counts = _by_series(scrapes.native.query(f"histogram_count({selector})"))
    sums = _by_series(scrapes.native.query(f"histogram_sum({selector})"))
    assert set(counts) == set(sums) == set(_family_series(name))
    for labels in _family_series(name):
        values = OBSERVATIONS[name, labels]
        recorded = _recorded(scrapes.registry, name, labels)
        in_order = 0.0
        for value in values:
            in_order += value
        assert (recorded.count, recorded.sum) == (len(values), in_order)
        assert float(counts[labels]["value"][1]) == len(values), labels
        assert float(sums[labels]["value"][1]) == recorded.sum, labels


@pytest.mark.parametrize("q", QUANTILES)
@pytest.mark.parametrize("name", [NATIVE_ONLY, BOTH, LABELLED])
def test_histogram_quantile_within_schema_bound(scrapes: Scrapes, name: str, q: float) -> None:
    """``histogram_quantile(q, ...)`` is within the relative error bound of the series'
    schema of the exact quantile of the observations (see ``_assert_quantile``)."""
    samples = _native_sample(scrapes, name)
    result = scrapes.native.query(f'histogram_quantile({q}, {name}{{job="{JOB}"}})')
    estimates = _by_series(result)
    assert set(estimates) == set(_family_series(name))
    for labels, sample in estimates.items():
        recorded = _recorded(scrapes.registry, name, labels)
        assert recorded.native is not None
        _, _, buckets = _stored_buckets(samples[labels])
        _assert_quantile(
            q,
            float(sample["value"][1]),
            OBSERVATIONS[name, labels],
            recorded.native.schema,
            buckets,
        )


def test_labelled_series_halved_their_resolution(scrapes: Scrapes) -> None:
    """The labelled family's bucket limit made its series drop below schema 3, so the
    quantile checks above ran at coarser schemas too; the default-option ones kept 3."""
    schemas = {}
    for name, labels in OBSERVATIONS:
        native = _recorded(scrapes.registry, name, labels).native
        assert native is not None
        schemas[name, labels] = native.schema
    assert schemas[NATIVE_ONLY, ()] == schemas[BOTH, ()] == 3
    assert schemas[LABELLED, ("wide",)] < 3 and schemas[LABELLED, ("mixed",)] < 3, schemas


def test_native_server_drops_classic_part(scrapes: Scrapes) -> None:
    """Prometheus 2.42 with the flag keeps only the native part of a both-kinds histogram:
    no ``_bucket``, ``_count`` or ``_sum`` series, for any of the histograms."""
    _native_sample(scrapes, BOTH)
    classic = scrapes.native.query(f'{{__name__=~"tk_.+_(bucket|count|sum)",job="{JOB}"}}')
    assert classic == []


# -- the classic server --------------------------------------------------------------------------


def _classic_expected(registry: tachikoma_metrics.MetricsRegistry) -> dict[Key, float]:
    """Every classic series the server without the flag must store, with its exact value;
    keys are (series name, label values)."""
    expected: dict[Key, float] = {}
    for name, labels in OBSERVATIONS:
        values = OBSERVATIONS[name, labels]
        recorded = _recorded(registry, name, labels)
        if name == BOTH:
            bounds = [*BOTH_BUCKETS, math.inf]
            cumulative = [sum(1 for v in values if v <= bound) for bound in bounds]
            assert [count for _, count in recorded.buckets] == cumulative
            for le, count in zip(BOTH_LE_LABELS, cumulative, strict=True):
                expected[f"{name}_bucket", (*labels, le)] = count
        else:
            expected[f"{name}_bucket", (*labels, "+Inf")] = len(values)
        expected[f"{name}_count", labels] = len(values)
        expected[f"{name}_sum", labels] = recorded.sum
    return expected


def _classic_stored(result: list[dict[str, Any]]) -> dict[Key, float]:
    stored: dict[Key, float] = {}
    for sample in result:
        metric = sample["metric"]
        assert set(metric) <= {*_TARGET_LABELS, "route", "le"}, metric
        if metric["__name__"].endswith("_created"):
            continue
        labels = tuple(metric[label] for label in ("route", "le") if label in metric)
        stored[metric["__name__"], labels] = float(sample["value"][1])
    return stored


def test_classic_server_stores_classic_series_exactly(scrapes: Scrapes) -> None:
    """Without the flag, Prometheus asks for OpenMetrics and stores the both-kinds
    histogram's cumulative bucket counts, count and sum, and each native-only series as
    its ``+Inf`` bucket, count and sum: exactly the recorded values, nothing else."""
    _wait_until_up(scrapes.classic, scrapes.classic_target)
    for accept in scrapes.classic_target.accept_headers:
        assert accept is not None and accept.startswith(OPENMETRICS_MEDIA_TYPE), accept
    for response in scrapes.classic_target.responses:
        assert _media_type(response["content-type"])[0] == OPENMETRICS_MEDIA_TYPE, response

    expected = _classic_expected(scrapes.registry)
    query = f'{{__name__=~"tk_.+",job="{JOB}"}}'
    try:
        result = scrapes.classic.wait_for(
            query, lambda result: expected.keys() <= _classic_stored(result).keys(), timeout=5
        )
    except AssertionError:
        result = scrapes.classic.query(query)  # the comparison below shows what differs
    assert all("value" in sample for sample in result), "a native sample without the flag"
    assert _classic_stored(result) == expected
    assert scrapes.classic.query(f'histogram_count({{__name__=~"tk_.+",job="{JOB}"}})') == []
