"""Histograms with native buckets: options, definitions, every format, threads, bad input.

The bucket arithmetic itself is tested in test_native_buckets.py, and against client_golang
in test_native_vs_client_golang.py; this module checks the instrument around it.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text

import tachikoma_metrics as metrics
from metrics_proto import decode_families
from promtool import check_metrics
from tachikoma_metrics import Histogram, MetricsRegistry, NativeBuckets, RegistrationError
from tachikoma_metrics.native import decode_spans
from thread_helpers import run_together


def _native(value: metrics.HistogramValue) -> NativeBuckets:
    assert value.native is not None
    return value.native


def _populated(native: NativeBuckets) -> tuple[dict[int, int], dict[int, int]]:
    return (
        decode_spans(native.positive_spans, native.positive_deltas),
        decode_spans(native.negative_spans, native.negative_deltas),
    )


def test_native_only_histogram_has_one_classic_bucket(registry: MetricsRegistry) -> None:
    """``native=True`` alone: native buckets, and of the classic ones only ``+Inf`` (as
    client_golang writes a native-only histogram in text)."""
    h = registry.histogram("api_call_seconds", "API call latency.", native=True)
    for value in (0.25, 0.5, 1.0, 3.0):
        h.observe(value)
    value = h.get()
    assert value.buckets == ((math.inf, 4),)
    assert (value.count, value.sum) == (4, 4.75)
    native = _native(value)
    assert native.schema == 3  # factor 1.1
    assert native.zero_threshold == 2.0**-128
    positive, negative = _populated(native)
    # Bucket i at schema 3 covers (2^((i-1)/8), 2^(i/8)]: 0.25 -> -16, 0.5 -> -8, 1 -> 0.
    assert positive == {-16: 1, -8: 1, 0: 1, 13: 1}
    assert negative == {} and native.zero_count == 0
    text = registry.export_prometheus()
    assert text.endswith(
        'api_call_seconds_bucket{le="+Inf"} 4\n'
        "api_call_seconds_sum 4.75\n"
        "api_call_seconds_count 4\n"
    )
    checked = check_metrics(text.encode())
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_classic_and_native_together(registry: MetricsRegistry) -> None:
    """With ``buckets=`` and ``native=True`` both are recorded from the same observations,
    and every format writes the classic buckets; protobuf carries the native ones too."""
    h = registry.histogram(
        "tool_seconds", "Tool latency.", ["tool"], buckets=(0.1, 0.5, 1.0), native=True
    )
    for value in (0.05, 0.3, 0.3, 2.0, 0.0, -1.0):
        h.labels("grep").observe(value)
    value = h.labels("grep").get()
    assert value.buckets == ((0.1, 3), (0.5, 5), (1.0, 5), (math.inf, 6))
    native = _native(value)
    positive, negative = _populated(native)
    assert native.zero_count == 1
    assert sum(positive.values()) + sum(negative.values()) + native.zero_count == value.count
    assert negative == {0: 1}  # -1 is bucket 0 of the negative side
    for parse in (parse_text, parse_openmetrics):
        body = (
            registry.export_prometheus() if parse is parse_text else registry.export_openmetrics()
        )
        samples = {
            (s.name, s.labels.get("le")): s.value for family in parse(body) for s in family.samples
        }
        assert samples[("tool_seconds_bucket", "0.5")] == 5
        assert samples[("tool_seconds_count", None)] == 6
    checked = check_metrics(registry.export_prometheus().encode())
    assert checked.returncode == 0, checked.stdout + checked.stderr

    (family,) = decode_families(registry.export_protobuf())
    histogram = family.metric[0].histogram
    assert histogram.sample_count == 6
    assert [b.cumulative_count for b in histogram.bucket] == [3, 5, 5]
    assert histogram.schema == 3
    assert histogram.zero_threshold == 2.0**-128
    assert histogram.zero_count == 1
    spans = tuple((s.offset, s.length) for s in histogram.positive_span)
    assert decode_spans(spans, tuple(histogram.positive_delta)) == positive
    spans = tuple((s.offset, s.length) for s in histogram.negative_span)
    assert decode_spans(spans, tuple(histogram.negative_delta)) == negative


def test_options_pick_schema_threshold_and_limit(registry: MetricsRegistry) -> None:
    """``native_bucket_factor`` picks the schema, ``native_zero_threshold`` the zero bucket,
    ``native_max_buckets`` halves the resolution once it is exceeded."""
    h = registry.histogram(
        "coarse_seconds",
        "Coarse.",
        native=True,
        native_bucket_factor=2.0,
        native_zero_threshold=0.01,
        native_max_buckets=4,
    )
    h.observe(0.005)  # within the zero threshold
    for value in (1.0, 2.0, 4.0, 8.0):
        h.observe(value)
    native = _native(h.get())
    assert native.schema == 0 and native.zero_threshold == 0.01 and native.zero_count == 1
    assert _populated(native)[0] == {0: 1, 1: 1, 2: 1, 3: 1}
    h.observe(16.0)  # a fifth bucket: the resolution is halved once
    native = _native(h.get())
    assert native.schema == -1
    assert _populated(native)[0] == {0: 1, 1: 2, 2: 2}
    assert h.get().count == 6


def test_native_options_are_part_of_the_definition(registry: MetricsRegistry) -> None:
    """Get-or-create returns the same native histogram for the same options, and names the
    option that differs otherwise; a classic histogram is not a native one."""
    h = registry.histogram("lat_seconds", "Latency.", native=True)
    assert registry.histogram("lat_seconds", "Latency.", native=True) is h
    assert h.native and not registry.histogram("other_seconds", "Other.").native
    for options, named in (
        ({}, "native"),
        ({"native": True, "native_bucket_factor": 2}, "native_bucket_factor"),
        ({"native": True, "native_zero_threshold": 0.0}, "native_zero_threshold"),
        ({"native": True, "native_max_buckets": 10}, "native_max_buckets"),
        ({"native": True, "buckets": (1.0,)}, "buckets"),
    ):
        with pytest.raises(RegistrationError, match=named):
            registry.histogram("lat_seconds", "Latency.", **options)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"native": 1}, TypeError, "native must be True or False, got 1"),
        ({"native_bucket_factor": 1.0}, ValueError, "native_bucket_factor.*got 1.0"),
        ({"native_bucket_factor": math.nan}, ValueError, "native_bucket_factor.*nan"),
        ({"native_bucket_factor": "2"}, TypeError, "native_bucket_factor"),
        ({"native_zero_threshold": -1.0}, ValueError, "native_zero_threshold.*-1.0"),
        ({"native_zero_threshold": math.inf}, ValueError, "native_zero_threshold.*inf"),
        ({"native_max_buckets": 0}, ValueError, "native_max_buckets.*0"),
        ({"native_max_buckets": 2.5}, TypeError, "native_max_buckets.*2.5"),
    ],
)
def test_bad_native_options_are_refused(
    registry: MetricsRegistry, options: dict[str, Any], error: type[Exception], message: str
) -> None:
    """Each bad option raises naming it and its value, and nothing is registered."""
    options = {"native": True, **options} if "native" not in options else options
    with pytest.raises(error, match=message):
        registry.histogram("bad_seconds", "Bad.", **options)
    assert registry.get("bad_seconds") is None


def test_bad_observations_change_nothing(registry: MetricsRegistry) -> None:
    """NaN and non-numbers are refused before either the classic or the native part moves."""
    h = registry.histogram("op_seconds", "Op.", native=True)
    h.observe(1.0)
    before = h.get()
    for bad, error in ((math.nan, ValueError), ("1", TypeError), (None, TypeError)):
        with pytest.raises(error):
            h.observe(bad)
    assert h.get() == before


def test_infinities_and_other_numbers(registry: MetricsRegistry) -> None:
    """+Inf and -Inf are counted (in the outermost buckets); ints, bools and other reals
    are converted as for classic histograms."""
    h = registry.histogram("edge_seconds", "Edges.", native=True)
    for value in (math.inf, -math.inf, 1, True, 2.0):
        h.observe(value)
    value = h.get()
    assert value.count == 5
    positive, negative = _populated(_native(value))
    assert sum(positive.values()) == 4 and sum(negative.values()) == 1
    assert max(positive) > 1024 * 8  # above every finite float's bucket at schema 3


def test_iterator_buckets_are_read_once(registry: MetricsRegistry) -> None:
    """Buckets given as an iterator are all kept (they were read twice, and the family
    ended with the +Inf bucket alone)."""
    h = registry.histogram("it_seconds", "It.", buckets=iter([1, 2]))
    assert h.buckets == (1.0, 2.0, math.inf)
    h.observe(1.5)
    assert h.get().buckets == ((1.0, 0), (2.0, 1), (math.inf, 1))


def test_exact_counts_and_consistent_reads_under_threads(registry: MetricsRegistry) -> None:
    """8 writer threads: the count is exact, and every read (taken while they write) has
    zero count plus native bucket counts equal to its count and its +Inf bucket."""
    h = registry.histogram("busy_seconds", "Busy.", ["w"], native=True, buckets=(1.0,))
    child = h.labels("x")
    per_thread = 5_000
    done = threading.Event()
    bad: list[metrics.HistogramValue] = []

    def write(seed: int) -> None:
        for i in range(per_thread):
            child.observe(((i * 7919 + seed) % 1000) / 100.0 - 1.0)

    def read() -> None:
        while not done.is_set():
            value = child.get()
            positive, negative = _populated(_native(value))
            native_total = sum(positive.values()) + sum(negative.values())
            if native_total + _native(value).zero_count != value.count:
                bad.append(value)
            if value.buckets[-1][1] != value.count:
                bad.append(value)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        run_together([lambda s=seed: write(s) for seed in range(8)])
    finally:
        done.set()
        reader.join(30)
    assert not bad, bad[:1]
    assert child.get().count == 8 * per_thread


@pytest.mark.usefixtures("fresh_facade")
def test_paused_facade_drops_and_comes_alive() -> None:
    """Before ``init()`` a native histogram validates and drops; after, it records."""
    h = metrics.histogram("facade_native_seconds", "F.", native=True)
    h.observe(1.0)
    with pytest.raises(ValueError):
        h.observe(math.nan)
    metrics.init()
    assert h.get().count == 0
    h.observe(1.0)
    assert h.get().count == 1 and _native(h.get()).zero_count == 0


def test_classic_histograms_have_no_native_part(registry: MetricsRegistry) -> None:
    """A histogram without ``native=True`` is exactly as before: no native buckets."""
    h = Histogram("plain_seconds", "Plain.", registry=registry)
    h.observe(0.2)
    assert h.get().native is None
    (family,) = decode_families(registry.export_protobuf())
    assert not family.metric[0].histogram.HasField("schema")


def test_exemplars_of_a_native_histogram(registry: MetricsRegistry) -> None:
    """An exemplar recorded on a native histogram rides on its classic bucket (the ``+Inf``
    one of a native-only histogram) and in the histogram's native ``exemplars`` field, as
    client_golang keeps them; OpenMetrics shows it on the bucket."""
    h = registry.histogram("traced_seconds", "Traced.", native=True)
    h.observe(0.25, exemplar={"trace_id": "abc"})
    h.observe(0.5)
    (family,) = decode_families(registry.export_protobuf())
    histogram = family.metric[0].histogram
    (native,) = histogram.exemplars
    assert [(p.name, p.value) for p in native.label] == [("trace_id", "abc")]
    assert native.value == 0.25 and native.timestamp.seconds > 0
    (bucket,) = histogram.bucket  # the +Inf bucket, written for its exemplar
    assert bucket.upper_bound == math.inf and bucket.cumulative_count == 2
    assert bucket.exemplar == native
    assert histogram.schema == 3 and histogram.sample_count == 2
    body = registry.export_openmetrics()
    assert 'traced_seconds_bucket{le="+Inf"} 2 # {trace_id="abc"} 0.25 ' in body
    (parsed,) = [f for f in parse_openmetrics(body) if f.name == "traced_seconds"]
    (bucket_sample,) = [s for s in parsed.samples if s.name == "traced_seconds_bucket"]
    assert bucket_sample.exemplar is not None and bucket_sample.exemplar.value == 0.25
