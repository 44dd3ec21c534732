"""Protobuf exposition: exact bytes from the checklist, and bodies read back by the official
``protobuf`` package through a descriptor built from ``metrics.proto``'s field numbers
(``metrics_proto.py``).

The expected bytes come from the exposition checklist (PB-03, NH-06, NH-07), which produced
them with protoc-generated classes; none of them was produced by this library.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pytest

from metrics_proto import decode_families, message_classes
from tachikoma_metrics import MetricsRegistry
from tachikoma_metrics.exposition._escaping import ExpositionError
from tachikoma_metrics.exposition.protobuf import CONTENT_TYPE, encode_protobuf
from tachikoma_metrics.model import (
    Exemplar,
    HistogramValue,
    LabelSet,
    MetricFamily,
    MetricType,
    NativeBuckets,
    SummaryValue,
)

_TYPES = {
    MetricType.COUNTER: 0,
    MetricType.GAUGE: 1,
    MetricType.SUMMARY: 2,
    MetricType.UNKNOWN: 3,
    MetricType.HISTOGRAM: 4,
}


def _same_float(got: float, want: float) -> bool:
    return (math.isnan(got) and math.isnan(want)) or got == want


def _seconds(timestamp: Any) -> float:
    return float(timestamp.seconds) + timestamp.nanos / 1e9


def _assert_exemplar(got: Any, want: Exemplar) -> None:
    assert [(pair.name, pair.value) for pair in got.label] == list(want.labels)
    assert _same_float(got.value, want.value)
    if want.timestamp is None:
        assert not got.HasField("timestamp")
    else:
        assert _seconds(got.timestamp) == pytest.approx(want.timestamp, abs=1e-6)


def _assert_labels(got: Any, labelnames: Sequence[str], values: Sequence[str]) -> None:
    assert [(pair.name, pair.value) for pair in got.label] == sorted(
        zip(labelnames, values, strict=True)
    )


def _assert_family(got: Any, want: MetricFamily, created: bool = True) -> None:
    """Compare one decoded family with its snapshot, field by field (legacy names)."""
    suffix = "_total" if want.type is MetricType.COUNTER else ""
    assert got.name == want.name + suffix
    assert got.HasField("help") and got.help == want.help
    assert got.HasField("type") and got.type == _TYPES[want.type]
    assert got.unit == want.unit and got.HasField("unit") == bool(want.unit)
    if want.type is MetricType.HISTOGRAM:
        assert len(got.metric) == len(want.histograms)
        for metric, (labels, value) in zip(got.metric, want.histograms, strict=True):
            _assert_labels(metric, want.labelnames, labels.label_values)
            assert metric.HasField("histogram")
            _assert_histogram(metric.histogram, value, created)
        return
    if want.type is MetricType.SUMMARY:
        assert len(got.metric) == len(want.summaries)
        for metric, (labels, summary) in zip(got.metric, want.summaries, strict=True):
            _assert_labels(metric, want.labelnames, labels.label_values)
            got_summary = metric.summary
            assert got_summary.sample_count == summary.count
            assert _same_float(got_summary.sample_sum, summary.sum)
            assert len(got_summary.quantile) == len(summary.quantiles)
            for q, (quantile, estimate) in zip(
                got_summary.quantile, summary.quantiles, strict=True
            ):
                assert q.quantile == quantile and _same_float(q.value, estimate)
            has_created = created and summary.created is not None
            assert got_summary.HasField("created_timestamp") == has_created
            if has_created:
                assert summary.created is not None
                got_created = _seconds(got_summary.created_timestamp)
                assert got_created == pytest.approx(summary.created, abs=1e-6)
        return
    assert len(got.metric) == len(want.samples)
    field = {MetricType.COUNTER: "counter", MetricType.GAUGE: "gauge"}.get(want.type, "untyped")
    for i, (metric, (labels, value)) in enumerate(zip(got.metric, want.samples, strict=True)):
        _assert_labels(metric, want.labelnames, labels.label_values)
        assert [f.name for f, _ in metric.ListFields()] == (
            ["label", field] if labels.label_values else [field]
        )
        number = getattr(metric, field)
        assert number.HasField("value") and _same_float(number.value, value)
        if want.type is not MetricType.COUNTER:
            continue
        exemplar = want.exemplars[i] if want.exemplars else None
        assert number.HasField("exemplar") == (exemplar is not None)
        if exemplar is not None:
            _assert_exemplar(number.exemplar, exemplar)
        has_created = created and bool(want.created)
        assert number.HasField("created_timestamp") == has_created
        if has_created:
            got_created = _seconds(number.created_timestamp)
            assert got_created == pytest.approx(want.created[i], abs=1e-6)


def _assert_histogram(got: Any, want: HistogramValue, created: bool) -> None:
    assert got.HasField("sample_count") and got.sample_count == want.count
    assert got.HasField("sample_sum") and _same_float(got.sample_sum, want.sum)
    expected = []
    for i, (bound, cumulative) in enumerate(want.buckets):
        exemplar = want.exemplars[i] if want.exemplars is not None else None
        if bound != math.inf or exemplar is not None:
            expected.append((bound, cumulative, exemplar))
    assert len(got.bucket) == len(expected)
    for bucket, (bound, cumulative, exemplar) in zip(got.bucket, expected, strict=True):
        assert bucket.upper_bound == bound
        assert bucket.HasField("cumulative_count") and bucket.cumulative_count == cumulative
        assert bucket.HasField("exemplar") == (exemplar is not None)
        if exemplar is not None:
            _assert_exemplar(bucket.exemplar, exemplar)
    has_created = created and want.created is not None
    assert got.HasField("created_timestamp") == has_created
    if has_created:
        assert want.created is not None
        assert _seconds(got.created_timestamp) == pytest.approx(want.created, abs=1e-6)
    assert not got.exemplars
    assert got.HasField("schema") == (want.native is not None)


def _one(name: str, kind: MetricType, **fields: Any) -> MetricFamily:
    fields.setdefault("help", "Help.")
    fields.setdefault("unit", "")
    fields.setdefault("labelnames", ())
    return MetricFamily(name=name, type=kind, **fields)


# -- exact bytes ---------------------------------------------------------------------------


def test_content_type() -> None:
    """The content type is the delimited MetricFamily stream Prometheus asks for (PB-01)."""
    assert CONTENT_TYPE == (
        "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily;"
        " encoding=delimited"
    )


def test_pb03_counter_exact_bytes() -> None:
    """PB-03: a labelled counter is the 42 bytes protoc writes, ``_total`` in the name and the
    explicit ``type: COUNTER`` (0) included."""
    family = MetricFamily(
        name="foo",
        type=MetricType.COUNTER,
        help="Help.",
        unit="",
        labelnames=("a",),
        samples=[(LabelSet(("b",)), 1.0)],
    )
    expected = bytes.fromhex(
        "29 0a 09 66 6f 6f 5f 74 6f 74 61 6c 12 05 48 65 6c 70 2e 18 00 22 13 0a 06 0a 01 61"
        " 12 01 62 1a 09 09 00 00 00 00 00 00 f0 3f"
    )
    assert encode_protobuf([family]) == expected
    assert len(expected) == 42


_NH06 = NativeBuckets(
    schema=3,
    zero_threshold=2.0**-128,
    zero_count=1,
    positive_spans=((1, 2), (10, 1)),
    positive_deltas=(1, 1, -1),
    negative_spans=((5, 1),),
    negative_deltas=(1,),
)


def _nh06_family(created: float | None = None) -> MetricFamily:
    value = HistogramValue(
        buckets=((math.inf, 6),), sum=4.8125, count=6, created=created, native=_NH06
    )
    return _one(
        "rpc_seconds",
        MetricType.HISTOGRAM,
        help="RPC latency.",
        histograms=[(LabelSet(()), value)],
    )


def test_nh06_native_histogram_exact_bytes() -> None:
    """NH-06: a native histogram (schema 3, zero bucket, a negative and two positive spans,
    unpacked zigzag deltas) is the 84 bytes of the checklist; the bare ``+Inf`` bucket is
    not written."""
    expected = bytes.fromhex(
        "53 0a 0b 72 70 63 5f 73 65 63 6f 6e 64 73 12 0c 52 50 43 20 6c 61 74 65 6e 63 79 2e"
        " 18 04 22 34 3a 32 08 06 11 00 00 00 00 00 40 13 40 28 06 31 00 00 00 00 00 00 f0 37"
        " 38 01 4a 04 08 0a 10 01 50 02 62 04 08 02 10 02 62 04 08 14 10 01 68 02 68 02 68 01"
    )
    assert len(expected) == 84
    assert encode_protobuf([_nh06_family()]) == expected
    # created=False leaves the same bytes when a created time is known.
    assert encode_protobuf([_nh06_family(created=1.5)], created=False) == expected


def test_nh06_created_timestamp_follows_native_fields() -> None:
    """The histogram's created timestamp is field 15 (``7a``), written last, after the native
    fields, as ``Timestamp{seconds, nanos}``."""
    body = encode_protobuf([_nh06_family(created=1700000000.25)])
    timestamp = b"\x08" + bytes.fromhex("80 e2 cf aa 06") + b"\x10" + bytes.fromhex("80 e5 9a 77")
    assert body.endswith(b"\x68\x01\x7a" + bytes([len(timestamp)]) + timestamp)
    (family,) = decode_families(body)
    histogram = family.metric[0].histogram
    assert histogram.created_timestamp.seconds == 1700000000
    assert histogram.created_timestamp.nanos == 250_000_000


def test_nh07_empty_native_histogram_has_noop_span() -> None:
    """NH-07: an empty native histogram with zero threshold 0 carries the no-op span
    ``positive_span {offset: 0, length: 0}``; the Histogram message is the checklist's bytes."""
    native = NativeBuckets(schema=3, zero_threshold=0.0, zero_count=0)
    value = HistogramValue(buckets=((math.inf, 0),), sum=0.0, count=0, native=native)
    family = _one("e", MetricType.HISTOGRAM, help="", histograms=[(LabelSet(()), value)])
    histogram = bytes.fromhex(
        "08 00 11 00 00 00 00 00 00 00 00 28 06 31 00 00 00 00 00 00 00 00 38 00 62 04 08 00 10 00"
    )
    metric = b"\x3a" + bytes([len(histogram)]) + histogram
    message = b"\x0a\x01e\x12\x00\x18\x04\x22" + bytes([len(metric)]) + metric
    assert encode_protobuf([family]) == bytes([len(message)]) + message
    (decoded,) = decode_families(encode_protobuf([family]))
    spans = decoded.metric[0].histogram.positive_span
    assert [(s.offset, s.length) for s in spans] == [(0, 0)]
    assert spans[0].HasField("offset") and spans[0].HasField("length")


def test_no_noop_span_when_native_histogram_has_a_zero_bucket() -> None:
    """The no-op span is only for a native histogram nothing else marks as native: one with a
    zero threshold, or zero-bucket observations, gets no extra span."""
    for native in (
        NativeBuckets(schema=0, zero_threshold=2.0**-128, zero_count=0),
        NativeBuckets(schema=0, zero_threshold=0.0, zero_count=2),
    ):
        value = HistogramValue(buckets=((math.inf, 2),), sum=0.0, count=2, native=native)
        family = _one("h", MetricType.HISTOGRAM, histograms=[(LabelSet(()), value)])
        (decoded,) = decode_families(encode_protobuf([family]))
        histogram = decoded.metric[0].histogram
        assert not histogram.positive_span and not histogram.negative_span
        assert histogram.zero_count == native.zero_count
        assert histogram.zero_threshold == native.zero_threshold


def test_native_histogram_decodes_with_negative_offsets_and_large_deltas() -> None:
    """Native fields decode to the values given: a negative schema and first offset (zigzag
    ``sint32``), deltas beyond one varint byte and negative (zigzag ``sint64``)."""
    native = NativeBuckets(
        schema=-2,
        zero_threshold=0.001,
        zero_count=300,
        positive_spans=((-70, 2), (3, 1)),
        positive_deltas=(5000, -4999, 2**40),
        negative_spans=((-1, 1),),
        negative_deltas=(-(2**40),),
    )
    value = HistogramValue(
        buckets=((0.5, 1), (math.inf, 10**12)), sum=-3.5, count=10**12, native=native
    )
    family = _one("n", MetricType.HISTOGRAM, histograms=[(LabelSet(()), value)])
    (decoded,) = decode_families(encode_protobuf([family]))
    histogram = decoded.metric[0].histogram
    assert histogram.schema == -2
    assert histogram.zero_threshold == 0.001
    assert histogram.zero_count == 300
    assert [(s.offset, s.length) for s in histogram.positive_span] == [(-70, 2), (3, 1)]
    assert list(histogram.positive_delta) == [5000, -4999, 2**40]
    assert [(s.offset, s.length) for s in histogram.negative_span] == [(-1, 1)]
    assert list(histogram.negative_delta) == [-(2**40)]
    assert histogram.sample_count == 10**12
    assert [(b.upper_bound, b.cumulative_count) for b in histogram.bucket] == [(0.5, 1)]


# -- read back by the official parser --------------------------------------------------------


def _realistic_registry() -> MetricsRegistry:
    registry = MetricsRegistry()
    requests = registry.counter(
        "app_requests_total", "Requests handled.", labelnames=("method", "code")
    )
    requests.labels("post", "500").inc()
    requests.labels("get", "200").inc(3)
    requests.labels(method="get", code="404").inc(0.5)
    requests.labels("get", "201").inc(2**53)
    requests.labels("get", "200").inc(2, exemplar={"trace_id": "abc", "span_id": "7"})
    registry.counter("app_errors", "Errors.").inc(7)
    registry.counter("app_idle", "No series yet.", labelnames=("kind",))
    temps = registry.gauge(
        "app_temperature_celsius", 'Temperature "now".\nSecond line é.', labelnames=("room",)
    )
    for room, value in (
        ("attic", math.nan),
        ("hot", math.inf),
        ("cold", -math.inf),
        ("cellar", -12.75),
        ("zero", 0.0),
        ("tiny", 5e-324),
        ("big", 1.7976931348623157e308),
        ("x" * 200, 1.0),
        ("ünïcødé ☃", 2.0),
        ("", 3.0),
    ):
        temps.labels(room).set(value)
    registry.gauge("app_up", "").set(1)
    latency = registry.histogram(
        "app_latency_seconds",
        "Latency.",
        labelnames=("route", "method"),
        buckets=(0.005, 0.1, 1, 2.5, 1000),
    )
    for value in (0.0625, 0.5, 3, 0.001, 2000):
        latency.labels("/b", "GET").observe(value)
    latency.labels("/a", "POST").observe(1, exemplar={"trace_id": "t1"})
    latency.labels("/a", "POST").observe(5000, exemplar={"trace_id": "t-inf"})
    latency.labels("/empty", "GET")
    sizes = registry.histogram("app_size_bytes", "Sizes.", buckets=(100, 1e6))
    for _ in range(300):
        sizes.observe(50)
    return registry


def test_registry_round_trips_through_official_parser() -> None:
    """A realistic registry (labelled counters, gauges holding NaN, infinities, negatives,
    subnormals, long and non-ASCII label values, labelled histograms with custom buckets,
    exemplars recorded through the instruments) decodes with the official parser to exactly
    its snapshot: names, help, type, sorted label pairs, values, bucket bounds and counts,
    sum and count, exemplars and created times. Empty families are skipped."""
    snapshot = _realistic_registry().collect()
    decoded = decode_families(encode_protobuf(snapshot))
    written = [family for family in snapshot if family.samples or family.histograms]
    assert [f.name for f in snapshot if f not in written] == ["app_idle"]
    assert len(decoded) == len(written)
    for got, want in zip(decoded, written, strict=True):
        _assert_family(got, want)
    by_name = {family.name: family for family in decoded}
    assert by_name["app_requests_total"].type == 0
    assert by_name["app_temperature_celsius"].help == 'Temperature "now".\nSecond line é.'
    assert by_name["app_up"].HasField("help") and by_name["app_up"].help == ""
    latency = {
        tuple((p.name, p.value) for p in m.label): m.histogram
        for m in by_name["app_latency_seconds"].metric
    }
    assert sorted(latency) == [
        (("method", "GET"), ("route", "/b")),
        (("method", "GET"), ("route", "/empty")),
        (("method", "POST"), ("route", "/a")),
    ]
    b = latency[("method", "GET"), ("route", "/b")]
    assert [(x.upper_bound, x.cumulative_count) for x in b.bucket] == [
        (0.005, 1),
        (0.1, 2),
        (1.0, 3),
        (2.5, 3),
        (1000.0, 4),
    ]
    assert (b.sample_count, b.sample_sum) == (5, 2003.5635)
    sizes = by_name["app_size_bytes"].metric[0].histogram
    assert (sizes.sample_count, [x.cumulative_count for x in sizes.bucket]) == (300, [300, 300])


def test_registry_created_false_omits_created_timestamps() -> None:
    """``created=False`` leaves every created timestamp out and changes nothing else."""
    registry = _realistic_registry()
    snapshot = registry.collect()
    decoded = decode_families(encode_protobuf(snapshot, created=False))
    written = [family for family in snapshot if family.samples or family.histograms]
    for got, want in zip(decoded, written, strict=True):
        _assert_family(got, want, created=False)


def test_gauge_and_untyped_values() -> None:
    """Gauges are GAUGE with ``Metric.gauge``; UNKNOWN families are UNTYPED with
    ``Metric.untyped``; special doubles survive exactly, including the sign of zero."""
    values = [math.nan, math.inf, -math.inf, -0.0, -1.5e-300, 123456789.0]
    gauge = _one("g", MetricType.GAUGE, samples=[(LabelSet(()), v) for v in values])
    unknown = _one("u", MetricType.UNKNOWN, samples=[(LabelSet(()), v) for v in values])
    got_gauge, got_unknown = decode_families(encode_protobuf([gauge, unknown]))
    assert got_gauge.type == 1 and got_unknown.type == 3
    for got, field in ((got_gauge, "gauge"), (got_unknown, "untyped")):
        decoded = [getattr(m, field).value for m in got.metric]
        assert all(_same_float(a, b) for a, b in zip(decoded, values, strict=True))
        assert math.copysign(1.0, decoded[3]) == -1.0
        assert all([f.name for f, _ in m.ListFields()] == [field] for m in got.metric)


def test_summary_round_trips() -> None:
    """Summaries are SUMMARY with count, sum, quantiles (NaN allowed) and created time."""
    value = SummaryValue(
        quantiles=((0.5, 0.25), (0.99, math.nan)), sum=12.5, count=40, created=1234.5
    )
    family = _one(
        "rpc", MetricType.SUMMARY, labelnames=("svc",), summaries=[(LabelSet(("x",)), value)]
    )
    (decoded,) = decode_families(encode_protobuf([family]))
    _assert_family(decoded, family)
    assert decoded.type == 2
    (dropped,) = decode_families(encode_protobuf([family], created=False))
    _assert_family(dropped, family, created=False)


def test_unit_written_only_when_given() -> None:
    """``unit`` (field 5) is written when the family has one, after the metrics."""
    family = _one("t_seconds", MetricType.GAUGE, unit="seconds", samples=[(LabelSet(()), 1.0)])
    body = encode_protobuf([family])
    assert body.endswith(b"\x2a\x07seconds")
    (decoded,) = decode_families(body)
    assert decoded.unit == "seconds"


def test_empty_families_are_skipped() -> None:
    """A family with no series writes nothing (as client_golang does; Prometheus skips such
    families); an all-empty snapshot is the empty body."""
    empty = _one("idle", MetricType.COUNTER, labelnames=("a",))
    hist = _one("idle_h", MetricType.HISTOGRAM, labelnames=("a",))
    assert encode_protobuf([empty, hist]) == b""
    assert encode_protobuf([]) == b""


def test_many_series_use_multibyte_lengths() -> None:
    """Families and metrics longer than 127 bytes get multi-byte varint length prefixes,
    and several families follow one another with nothing between them."""
    series = [(LabelSet((f"v{i}", "y" * (i % 300))), float(i)) for i in range(2000)]
    big = _one("big", MetricType.GAUGE, labelnames=("b", "a"), samples=series)
    small = _one("small", MetricType.COUNTER, samples=[(LabelSet(()), 2.0)])
    got_big, got_small = decode_families(encode_protobuf([big, small]))
    _assert_family(got_big, big)
    _assert_family(got_small, small)


# -- exemplars and created timestamps ---------------------------------------------------------


_EXEMPLAR = Exemplar(labels=(("trace_id", "abc"), ("span", "z")), value=0.3, timestamp=1.5)


def test_counter_exemplars_and_created_round_trip() -> None:
    """Counter exemplars (labels in the order given, value, timestamp) and created
    timestamps decode to the values given; a ``None`` exemplar writes none."""
    bare = Exemplar(labels=(), value=2.0)
    family = _one(
        "c",
        MetricType.COUNTER,
        labelnames=("k",),
        samples=[(LabelSet(("a",)), 1.0), (LabelSet(("b",)), 2.0), (LabelSet(("c",)), 3.0)],
        created=[1700000000.125, 0.0, -1.25],
        exemplars=[_EXEMPLAR, None, bare],
    )
    (decoded,) = decode_families(encode_protobuf([family]))
    _assert_family(decoded, family)
    counters = [m.counter for m in decoded.metric]
    assert [(c.created_timestamp.seconds, c.created_timestamp.nanos) for c in counters] == [
        (1700000000, 125_000_000),
        (0, 0),
        (-2, 750_000_000),
    ]
    assert [(p.name, p.value) for p in counters[0].exemplar.label] == [
        ("trace_id", "abc"),
        ("span", "z"),
    ]
    assert not counters[2].exemplar.HasField("timestamp")


def test_counter_created_false_keeps_exemplars() -> None:
    """``created=False`` drops counter created timestamps but keeps exemplars."""
    family = _one(
        "c",
        MetricType.COUNTER,
        samples=[(LabelSet(()), 1.0)],
        created=[10.0],
        exemplars=[_EXEMPLAR],
    )
    (decoded,) = decode_families(encode_protobuf([family], created=False))
    counter = decoded.metric[0].counter
    assert not counter.HasField("created_timestamp")
    _assert_exemplar(counter.exemplar, _EXEMPLAR)
    (with_created,) = decode_families(encode_protobuf([family]))
    assert with_created.metric[0].counter.created_timestamp.seconds == 10


def test_counter_without_created_or_exemplars_writes_only_value() -> None:
    """A counter series with neither created time nor exemplar is just ``Counter.value``."""
    family = _one("c", MetricType.COUNTER, samples=[(LabelSet(()), 4.0)])
    (decoded,) = decode_families(encode_protobuf([family]))
    assert [f.name for f, _ in decoded.metric[0].counter.ListFields()] == ["value"]


def test_histogram_bucket_exemplars_and_inf_bucket() -> None:
    """Bucket exemplars decode to the values given; the ``+Inf`` bucket is written only when it
    carries an exemplar, with the total count as its cumulative count."""
    late = Exemplar(labels=(("trace_id", "inf"),), value=99.0, timestamp=1700000000.5)
    value = HistogramValue(
        buckets=((0.1, 1), (1.0, 1), (math.inf, 3)),
        sum=99.4,
        count=3,
        created=5.0,
        exemplars=(_EXEMPLAR, None, late),
    )
    quiet = HistogramValue(
        buckets=((0.1, 0), (1.0, 0), (math.inf, 0)),
        sum=0.0,
        count=0,
        exemplars=(None, None, None),
    )
    family = _one(
        "h",
        MetricType.HISTOGRAM,
        labelnames=("r",),
        histograms=[(LabelSet(("x",)), value), (LabelSet(("y",)), quiet)],
    )
    (decoded,) = decode_families(encode_protobuf([family]))
    _assert_family(decoded, family)
    buckets = decoded.metric[0].histogram.bucket
    assert [(b.upper_bound, b.cumulative_count) for b in buckets] == [
        (0.1, 1),
        (1.0, 1),
        (math.inf, 3),
    ]
    assert buckets[2].exemplar.value == 99.0
    assert len(decoded.metric[1].histogram.bucket) == 2
    (no_created,) = decode_families(encode_protobuf([family], created=False))
    _assert_family(no_created, family, created=False)


def test_timestamps_keep_sub_second_precision() -> None:
    """Timestamps are split into whole seconds (floored) and nanoseconds in [0, 1e9), taken
    from the shortest decimal form of the float (``1700000000.001`` is exactly 1 ms)."""
    cases = [
        (0.0, 0, 0),
        (1.0, 1, 0),
        (0.5, 0, 500_000_000),
        (-0.5, -1, 500_000_000),
        (1700000000.001, 1700000000, 1_000_000),
        (1700000000.123456, 1700000000, 123_456_000),
        (1.9999999999, 2, 0),
        (1e-07, 0, 100),
        (-1e-07, -1, 999_999_900),
    ]
    for stamp, seconds, nanos in cases:
        family = _one("c", MetricType.COUNTER, samples=[(LabelSet(()), 1.0)], created=[stamp])
        (decoded,) = decode_families(encode_protobuf([family]))
        got = decoded.metric[0].counter.created_timestamp
        assert (got.seconds, got.nanos) == (seconds, nanos), stamp


@pytest.mark.parametrize("stamp", [math.nan, math.inf, -math.inf, 1e300, -1e11])
def test_unwritable_timestamp_is_an_exposition_error(stamp: float) -> None:
    """A created time that is not finite, or outside Timestamp's years 1 to 9999, cannot be
    written: ``ExpositionError`` (and nothing is wrong with ``created=False``)."""
    family = _one("c", MetricType.COUNTER, samples=[(LabelSet(()), 1.0)], created=[stamp])
    with pytest.raises(ExpositionError):
        encode_protobuf([family])
    assert encode_protobuf([family], created=False)
    exemplar = Exemplar(labels=(), value=1.0, timestamp=stamp)
    with pytest.raises(ExpositionError):
        encode_protobuf(
            [_one("d", MetricType.COUNTER, samples=[(LabelSet(()), 1.0)], exemplars=[exemplar])]
        )


# -- names and escaping -------------------------------------------------------------------------


def _dotted() -> list[MetricFamily]:
    return [
        _one(
            "my.metric",
            MetricType.GAUGE,
            labelnames=("a.b", "code"),
            samples=[(LabelSet(("x.y", "200")), 1.0)],
        ),
        _one("http.requests", MetricType.COUNTER, samples=[(LabelSet(()), 2.0)]),
    ]


def test_names_escaped_with_underscores_by_default() -> None:
    """By default names are escaped with ``underscores``: ``my.metric``/``a.b`` become
    ``my_metric``/``a_b``; label values are never escaped; pairs are sorted by written name."""
    gauge, counter = decode_families(encode_protobuf(_dotted()))
    assert gauge.name == "my_metric"
    assert [(p.name, p.value) for p in gauge.metric[0].label] == [("a_b", "x.y"), ("code", "200")]
    assert counter.name == "http_requests_total"


def test_allow_utf8_keeps_names_raw() -> None:
    """With ``allow-utf-8`` names are written raw (never quoted) as UTF-8."""
    gauge, counter = decode_families(encode_protobuf(_dotted(), escaping="allow-utf-8"))
    assert gauge.name == "my.metric"
    assert [(p.name, p.value) for p in gauge.metric[0].label] == [("a.b", "x.y"), ("code", "200")]
    assert counter.name == "http.requests_total"
    family = _one("花火", MetricType.GAUGE, labelnames=("é",), samples=[(LabelSet(("☃",)), 1.0)])
    (decoded,) = decode_families(encode_protobuf([family], escaping="allow-utf-8"))
    assert decoded.name == "花火"
    assert (decoded.metric[0].label[0].name, decoded.metric[0].label[0].value) == ("é", "☃")


def test_dots_and_values_schemes_escape_the_whole_counter_name() -> None:
    """Under ``dots`` and ``values`` the counter's full name, ``_total`` included, is escaped,
    as Go escapes the family it is given (UTF-03 vectors); legacy names stay as they are."""
    plain = _one("plain_metric", MetricType.GAUGE, samples=[(LabelSet(()), 1.0)])
    dots = decode_families(encode_protobuf([*_dotted(), plain], escaping="dots"))
    assert [f.name for f in dots] == [
        "my_dot_metric",
        "http_dot_requests__total",
        "plain_metric",
    ]
    assert dots[0].metric[0].label[0].name == "a_dot_b"
    values = decode_families(encode_protobuf([*_dotted(), plain], escaping="values"))
    assert [f.name for f in values] == [
        "U__my_2e_metric",
        "U__http_2e_requests__total",
        "plain_metric",
    ]


def test_label_pairs_sorted_by_escaped_name() -> None:
    """Label pairs are sorted by the name as written, whatever the declared order."""
    family = _one(
        "m",
        MetricType.GAUGE,
        labelnames=("zeta", "b.x", "alpha"),
        samples=[(LabelSet(("1", "2", "3")), 1.0)],
    )
    (decoded,) = decode_families(encode_protobuf([family]))
    assert [(p.name, p.value) for p in decoded.metric[0].label] == [
        ("alpha", "3"),
        ("b_x", "2"),
        ("zeta", "1"),
    ]


def test_colliding_names_raise() -> None:
    """Two families that escape to one name are an ``ExpositionError``, never merged; so are
    two label names of one family. Under ``allow-utf-8`` they do not collide."""
    families = [
        _one("a.b", MetricType.GAUGE, samples=[(LabelSet(()), 1.0)]),
        _one("a_b", MetricType.GAUGE, samples=[(LabelSet(()), 2.0)]),
    ]
    with pytest.raises(ExpositionError):
        encode_protobuf(families)
    assert len(decode_families(encode_protobuf(families, escaping="allow-utf-8"))) == 2
    labels = _one(
        "m", MetricType.GAUGE, labelnames=("a.b", "a_b"), samples=[(LabelSet(("1", "2")), 1.0)]
    )
    with pytest.raises(ExpositionError):
        encode_protobuf([labels])


def test_counter_total_collision_raises() -> None:
    """A counter ``x`` and a gauge ``x_total`` would both be written as ``x_total``."""
    families = [
        _one("x", MetricType.COUNTER, samples=[(LabelSet(()), 1.0)]),
        _one("x_total", MetricType.GAUGE, samples=[(LabelSet(()), 2.0)]),
    ]
    with pytest.raises(ExpositionError):
        encode_protobuf(families)


def test_unknown_scheme_is_rejected() -> None:
    """An escaping scheme that does not exist is a ``ValueError``, even for legacy names."""
    family = _one("ok", MetricType.GAUGE, samples=[(LabelSet(()), 1.0)])
    with pytest.raises(ValueError, match="escaping scheme"):
        encode_protobuf([family], escaping="bogus")


def test_invalid_utf8_text_is_an_exposition_error() -> None:
    """A label value holding a lone surrogate is not UTF-8: ``ExpositionError``."""
    family = _one("m", MetricType.GAUGE, labelnames=("a",), samples=[(LabelSet(("\ud800",)), 1.0)])
    with pytest.raises(ExpositionError):
        encode_protobuf([family])


def test_families_accept_any_iterable() -> None:
    """``families`` may be a one-shot iterator; the collision check does not consume it."""
    body = encode_protobuf(iter(_dotted()))
    assert [f.name for f in decode_families(body)] == ["my_metric", "http_requests_total"]


# -- the label memo (SeriesLabels.encoded_labels) ----------------------------------------------


def _label_fields(*pairs: tuple[str, str]) -> bytes:
    """The ``Metric.label`` fields of ``pairs`` as the official library writes them."""
    metric = message_classes()["Metric"]()
    for name, value in pairs:
        metric.label.add(name=name, value=value)
    return bytes(metric.SerializeToString(deterministic=True))


@pytest.mark.parametrize("created", [True, False])
def test_registry_series_memoise_their_label_fields(created: bool) -> None:
    """The first export fills each child's ``encoded_labels`` with exactly its encoded label
    pairs (sorted by name); the body decodes to the snapshot, and later exports show new
    values and new series while the memo stays as it was."""
    registry = MetricsRegistry(created_series=created)
    family = registry.counter("jobs_total", "Jobs.", labelnames=("queue", "host"))
    first = family.labels("q1", "h1")
    first.inc(2)
    assert first.encoded_labels is None
    (decoded,) = decode_families(registry.export_protobuf())
    _assert_family(decoded, registry.collect()[0], created=created)
    memo = first.encoded_labels
    assert memo == _label_fields(("host", "h1"), ("queue", "q1"))
    first.inc(3)
    family.labels("q2", "h2").inc()
    (decoded,) = decode_families(registry.export_protobuf())
    _assert_family(decoded, registry.collect()[0], created=created)
    assert [m.counter.value for m in decoded.metric] == [5.0, 1.0]
    assert first.encoded_labels is memo


@pytest.mark.parametrize("kind", [MetricType.COUNTER, MetricType.GAUGE, MetricType.HISTOGRAM])
def test_a_filled_memo_is_reused(kind: MetricType) -> None:
    """Once filled, the memo is what every later export writes for the series, whatever the
    scheme (legacy label names are written as they are under all of them): a memo changed by
    hand shows in the next body, decoded by the official parser."""
    labels = LabelSet(("x",))
    histogram = HistogramValue(buckets=((1.0, 1), (math.inf, 1)), sum=0.5, count=1)
    family = _one(
        "m",
        kind,
        labelnames=("code",),
        samples=[(labels, 1.0)] if kind is not MetricType.HISTOGRAM else (),
        histograms=[(labels, histogram)] if kind is MetricType.HISTOGRAM else (),
        created=[5.0] if kind is MetricType.COUNTER else (),
    )
    (decoded,) = decode_families(encode_protobuf([family], escaping="allow-utf-8"))
    assert [(p.name, p.value) for p in decoded.metric[0].label] == [("code", "x")]
    assert labels.encoded_labels == _label_fields(("code", "x"))
    labels.encoded_labels = _label_fields(("code", "from the memo"))
    for scheme in ("underscores", "dots", "values", "allow-utf-8"):
        (decoded,) = decode_families(encode_protobuf([family], escaping=scheme))
        assert [(p.name, p.value) for p in decoded.metric[0].label] == [("code", "from the memo")]


# scheme -> the label pairs of one series with label names ("b.x", "a") once escaped
ESCAPED_PAIRS = {
    "underscores": [("a", "2"), ("b_x", "1")],
    "dots": [("a", "2"), ("b_dot_x", "1")],
    "values": [("U__b_2e_x", "1"), ("a", "2")],
    "allow-utf-8": [("a", "2"), ("b.x", "1")],
}


@pytest.mark.parametrize("kind", [MetricType.COUNTER, MetricType.GAUGE, MetricType.SUMMARY])
def test_utf8_label_names_are_encoded_per_scheme_and_never_memoised(kind: MetricType) -> None:
    """A series whose family has a UTF-8 label name, exported under every scheme in turn (twice
    round): each body carries the names of its own scheme, so nothing written under one
    scheme leaks into another, and the memo stays empty."""
    labels = LabelSet(("1", "2"))
    summary = SummaryValue(quantiles=((0.5, 1.0),), sum=1.0, count=1)
    family = _one(
        "m",
        kind,
        labelnames=("b.x", "a"),
        samples=[(labels, 1.0)] if kind is not MetricType.SUMMARY else (),
        summaries=[(labels, summary)] if kind is MetricType.SUMMARY else (),
        created=[5.0] if kind is MetricType.COUNTER else (),
    )
    for scheme in [*ESCAPED_PAIRS, *ESCAPED_PAIRS]:
        (decoded,) = decode_families(encode_protobuf([family], escaping=scheme))
        assert [(p.name, p.value) for p in decoded.metric[0].label] == ESCAPED_PAIRS[scheme]
    assert labels.encoded_labels is None


@pytest.mark.parametrize("created", [True, False])
def test_long_label_values_get_multibyte_metric_lengths_on_the_fast_path(created: bool) -> None:
    """A counter series of 128 bytes or more (its length needs two varint bytes) next to short
    ones, with and without created times: the memoised fast path frames each correctly."""
    rows = [("a", 1.0), ("b" * 150, 2.0), ("c" * 20_000, 3.0), ("d", 4.0)]
    family = _one(
        "c",
        MetricType.COUNTER,
        labelnames=("k",),
        samples=[(LabelSet((value,)), number) for value, number in rows],
        created=[1700000000.25 + i for i in range(len(rows))],
    )
    for _ in range(2):  # the first export fills the memos, the second reads them
        (decoded,) = decode_families(encode_protobuf([family], created=created))
        _assert_family(decoded, family, created=created)


def test_fast_path_frames_the_longest_created_timestamps() -> None:
    """Created times at both ends of google.protobuf.Timestamp's range (the year-1 seconds
    are a ten-byte varint) go through the memoised counter path and decode exactly."""
    family = _one(
        "c",
        MetricType.COUNTER,
        labelnames=("k",),
        samples=[(LabelSet(("a",)), 1.0), (LabelSet(("b",)), 2.0)],
        created=[-62_135_596_799.5, 253_402_300_799.25],
    )
    for _ in range(2):
        (decoded,) = decode_families(encode_protobuf([family]))
        _assert_family(decoded, family)
    assert [m.counter.created_timestamp.seconds for m in decoded.metric] == [
        -62_135_596_800,
        253_402_300_799,
    ]
