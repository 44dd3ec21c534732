"""Custom-collector builders (``tachikoma_metrics.collectors``): prometheus_client's names,
signatures and ``add_metric`` habits, every builder exported in every format and compared
with prometheus_client's own builders fed the same calls, and bad input refused where it
enters."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import FrozenInstanceError
from types import ModuleType
from typing import Any

import prometheus_client
import prometheus_client.core as pc
import pytest
from prometheus_client.openmetrics import exposition as pc_openmetrics
from prometheus_client.openmetrics import parser as om_parser
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Exemplar as PcExemplar
from prometheus_client.samples import Timestamp

from metrics_proto import decode_families
from promtool import check_metrics
from tachikoma_metrics import Exemplar, LabelSet, MetricFamily, MetricsRegistry, MetricType
from tachikoma_metrics import collectors as ours
from tachikoma_metrics.collectors import (
    CounterMetricFamily,
    GaugeHistogramMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    StateSetMetricFamily,
    SummaryMetricFamily,
    UnknownMetricFamily,
)
from tachikoma_metrics.exposition import encode_openmetrics, encode_protobuf, encode_text

TRACE = {"trace_id": "abc123"}


def build(m: ModuleType) -> list[Any]:
    """The same calls on either module's builders (ours, or ``prometheus_client.core``):
    every type, labelled and unlabelled, with timestamps, created times and exemplars."""
    jobs = m.CounterMetricFamily("jobs_total", "Jobs done.", labels=["queue"])
    jobs.add_metric(["fast"], 3, created=1700000000.5)
    jobs.add_metric(
        ["slow"],
        0.5,
        created=1700000001.25,
        timestamp=1700000100.25,
        exemplar=PcExemplar(TRACE, 0.5, 1700000099.5),
    )
    restarts = m.CounterMetricFamily("restarts", "Restarts.", value=2)
    temperature = m.GaugeMetricFamily(
        "temperature_celsius", "Temp.", labels=["room"], unit="celsius"
    )
    temperature.add_metric(["a"], 21.5)
    temperature.add_metric(["b"], -3, timestamp=1700000200.5)
    up = m.GaugeMetricFamily("up", "Up.", value=1)
    latency = m.HistogramMetricFamily(
        "latency_seconds", "Latency.", labels=["path"], unit="seconds"
    )
    latency.add_metric(
        ["/"], [("0.1", 2), ("0.5", 5, PcExemplar(TRACE, 0.25, 1700000000.0)), ("+Inf", 7)], 2.5
    )
    latency.add_metric(["/x"], [("1.0", 0), ("+Inf", 1)], 4.0, timestamp=1700000300.0)
    size = m.HistogramMetricFamily("size", "Size.", buckets=[("10", 1), ("+Inf", 1)], sum_value=3)
    rpc = m.SummaryMetricFamily("rpc_seconds", "RPC.", count_value=4, sum_value=1.5)
    calls = m.SummaryMetricFamily("calls", "Calls.", labels=["kind"])
    calls.add_metric(["read"], 10, 2.0, timestamp=1700000600.75)
    build_info = m.InfoMetricFamily("build", "Build.", value={"version": "1.2.3", "commit": "abc"})
    hosts = m.InfoMetricFamily("host", "Hosts.", labels=["dc"])
    hosts.add_metric(["eu"], {"os": "linux"}, timestamp=1700000700.0)
    mode = m.StateSetMetricFamily("mode", "Mode.", labels=["svc"])
    mode.add_metric(["api"], {"on": True, "off": False}, timestamp=1700000400.0)
    mode.add_metric(["db"], {"on": False, "off": True})
    power = m.StateSetMetricFamily("power", "Power.", value={"battery": True})
    queue = m.GaugeHistogramMetricFamily("queue_bytes", "Queue.", labels=["q"], unit="bytes")
    queue.add_metric(["a"], [("1024.0", 3), ("+Inf", 5)], 4096.0, timestamp=1700000500.0)
    queue.add_metric(["b"], [("-1.0", 1), ("+Inf", 2)], -7.5)
    depth = m.GaugeHistogramMetricFamily(
        "depth", "Depth.", buckets=[("1.0", 0), ("+Inf", 4)], gsum_value=9
    )
    mystery = m.UnknownMetricFamily("mystery", "Mystery.", value=7)
    odd = m.UnknownMetricFamily("odd", "Odd.", labels=["k"])
    odd.add_metric(["v"], -1.5, timestamp=1700000800.0)
    return [
        jobs,
        restarts,
        temperature,
        up,
        latency,
        size,
        rpc,
        calls,
        build_info,
        hosts,
        mode,
        power,
        queue,
        depth,
        mystery,
        odd,
    ]


class Custom:
    """A custom collector building its families with ``module``'s builders."""

    def __init__(self, module: ModuleType) -> None:
        self.module = module

    def collect(self) -> list[Any]:
        return build(self.module)


def _registries() -> tuple[MetricsRegistry, prometheus_client.CollectorRegistry]:
    mine = MetricsRegistry()
    mine.register(Custom(ours))
    theirs = prometheus_client.CollectorRegistry()
    theirs.register(Custom(pc))  # type: ignore[arg-type]
    return mine, theirs


def _le(labels: dict[str, str]) -> tuple[tuple[str, Any], ...]:
    """Labels with ``le`` and ``quantile`` as numbers ("1" and "1.0" are one bound)."""
    return tuple(sorted((k, float(v) if k in ("le", "quantile") else v) for k, v in labels.items()))


def _stamp(value: Any) -> float | None:
    return None if value is None else float(value)


def _exemplar_key(exemplar: Any) -> tuple[Any, ...] | None:
    if exemplar is None:
        return None
    return (tuple(sorted(exemplar.labels.items())), exemplar.value, _stamp(exemplar.timestamp))


def _sample_set(families: Iterable[Any]) -> set[tuple[Any, ...]]:
    """Every parsed sample as (name, labels, value, timestamp, exemplar)."""
    return {
        (s.name, _le(s.labels), float(s.value), _stamp(s.timestamp), _exemplar_key(s.exemplar))
        for family in families
        for s in family.samples
    }


def _types(families: Iterable[Any]) -> dict[str, str]:
    return {family.name: family.type for family in families}


# -- the builders are snapshots ----------------------------------------------------------------


def test_every_builder_is_a_metric_family_of_its_type() -> None:
    """Each builder is a ``MetricFamily`` of its type, named as OpenMetrics names the
    family: a counter without ``_total``, an info family without ``_info``, a unit
    appended where the name lacks it (prometheus_client's habit)."""
    expected = {
        "jobs": MetricType.COUNTER,
        "restarts": MetricType.COUNTER,
        "temperature_celsius": MetricType.GAUGE,
        "up": MetricType.GAUGE,
        "latency_seconds": MetricType.HISTOGRAM,
        "size": MetricType.HISTOGRAM,
        "rpc_seconds": MetricType.SUMMARY,
        "calls": MetricType.SUMMARY,
        "build": MetricType.INFO,
        "host": MetricType.INFO,
        "mode": MetricType.STATESET,
        "power": MetricType.STATESET,
        "queue_bytes": MetricType.GAUGE_HISTOGRAM,
        "depth": MetricType.GAUGE_HISTOGRAM,
        "mystery": MetricType.UNKNOWN,
        "odd": MetricType.UNKNOWN,
    }
    families = build(ours)
    assert all(isinstance(f, MetricFamily) for f in families)
    assert {f.name: f.type for f in families} == expected
    assert CounterMetricFamily("x_total", "X.").name == "x"
    assert CounterMetricFamily("x_total", "X.", unit="bytes").name == "x_bytes"
    assert GaugeMetricFamily("x", "X.", unit="bytes").name == "x_bytes"
    assert GaugeMetricFamily("x_bytes", "X.", unit="bytes").unit == "bytes"
    assert InfoMetricFamily("build_info", "B.").name == "build"
    with pytest.raises(FrozenInstanceError):
        families[0].name = "other"


def test_series_shapes() -> None:
    """What ``add_metric`` records, per type, in the snapshot's fields."""
    jobs, restarts, _, _, latency, *_ = build(ours)
    assert [(s.label_values, v) for s, v in jobs.samples] == [(("fast",), 3.0), (("slow",), 0.5)]
    assert list(jobs.created) == [1700000000.5, 1700000001.25]
    assert list(jobs.timestamps) == [None, 1700000100.25]
    assert jobs.exemplars[0] is None
    assert jobs.exemplars[1] == Exemplar((("trace_id", "abc123"),), 0.5, 1700000099.5)
    assert (restarts.created, restarts.exemplars, restarts.timestamps) == ((), (), ())
    (_, first), (_, second) = latency.histograms
    assert first.buckets == ((0.1, 2), (0.5, 5), (math.inf, 7))
    assert (first.sum, first.count) == (2.5, 7)
    assert first.exemplars is not None
    assert first.exemplars[1] == Exemplar((("trace_id", "abc123"),), 0.25, 1700000000.0)
    assert second.exemplars is None
    summary = SummaryMetricFamily("s", "S.", 3, 1.5, quantiles=[(0.9, 2.0), ("0.5", 1.0)])
    assert summary.summaries[0][1].quantiles == ((0.5, 1.0), (0.9, 2.0))
    info = InfoMetricFamily("node", "N.", labels=["host"])
    info.add_metric(["h1"], {"os": "linux"})
    info.add_metric(["h2"], {"kernel": "6.1"})
    assert info.labelnames == ("host", "kernel", "os")
    assert [s.label_values for s, _ in info.samples] == [("h1", "", "linux"), ("h2", "6.1", "")]
    states = StateSetMetricFamily("mode", "M.", labels=["svc"])
    states.add_metric(["api"], {"on": 1, "off": 0}, timestamp=5.0)
    assert states.labelnames == ("svc", "mode")
    assert [(s.label_values, v) for s, v in states.samples] == [
        (("api", "on"), 1.0),
        (("api", "off"), 0.0),
    ]
    assert list(states.timestamps) == [5.0, 5.0]  # one per sample: a series per state


def test_series_come_in_the_order_added() -> None:
    """Unlike instrument families (sorted by label values), a builder's series are
    exported in the order they were added, as prometheus_client does."""
    gauge = GaugeMetricFamily("g", "G.", labels=["k"])
    for key in ("b", "c", "a"):
        gauge.add_metric([key], 1)
    lines = encode_text([gauge]).splitlines()
    assert [line.split()[0] for line in lines if line.startswith("g{")] == [
        'g{k="b"}',
        'g{k="c"}',
        'g{k="a"}',
    ]


def test_label_values_are_converted_with_str() -> None:
    """As ``labels()`` does: ``add_metric([1], ...)`` is the series ``k="1"``."""
    gauge = GaugeMetricFamily("g", "G.", labels=["k"])
    gauge.add_metric([1], 2)
    gauge.add_metric(("café",), 3)
    assert [labels.label_values for labels, _ in gauge.samples] == [("1",), ("café",)]
    with pytest.raises(ValueError, match=r"already has a series with labels \{'k': '1'\}"):
        gauge.add_metric(["1"], 4)


def test_registry_copies_builders_into_plain_snapshots(registry: MetricsRegistry) -> None:
    """The registry hands encoders plain ``MetricFamily`` objects: a builder kept and
    grown by its collector after a collect does not change that snapshot."""
    gauge = GaugeMetricFamily("g", "G.", labels=["k"])
    gauge.add_metric(["a"], 1)

    class Keeper:
        def __init__(self) -> None:
            self.families: list[MetricFamily] = [gauge]

        def collect(self) -> list[MetricFamily]:
            return self.families

    keeper = Keeper()
    registry.register(keeper)
    (snapshot,) = registry.collect()
    assert snapshot.__class__ is MetricFamily
    assert keeper.families[0] is gauge  # the collector's own list is left alone
    gauge.add_metric(["b"], 2)
    assert [s.label_values for s, _ in snapshot.samples] == [("a",)]
    assert len(registry.collect()[0].samples) == 2


# -- every format, checked by independent readers ----------------------------------------------


def test_text_export_is_what_prometheus_client_writes_and_promtool_accepts() -> None:
    """Text 0.0.4: the same families, types and samples (timestamps included) as
    prometheus_client's ``generate_latest`` of its own builders fed the same calls, but
    for its ``_created`` gauges (text has no created series here, as in Go); promtool
    accepts the body, also as text 1.0.0 (``escaping=allow-utf-8``)."""
    mine, theirs = _registries()
    body = mine.export_prometheus()
    reference = [
        f
        for f in text_string_to_metric_families(prometheus_client.generate_latest(theirs).decode())
        if not f.name.endswith("_created")
    ]
    parsed = list(text_string_to_metric_families(body))
    assert _sample_set(parsed) == _sample_set(reference)
    assert _types(parsed) == _types(reference)
    assert len(_sample_set(parsed)) == sum(len(f.samples) for f in parsed)  # no duplicates
    for text in (body, mine.export_prometheus(escaping="allow-utf-8")):
        result = check_metrics(text.encode())
        assert result.returncode == 0, (result.stdout + result.stderr).decode()


def test_openmetrics_export_is_what_prometheus_client_writes() -> None:
    """OpenMetrics: the strict parser reads our export as prometheus_client's own
    OpenMetrics exposition of the same calls: families, types, units, samples,
    timestamps, created series and exemplars. Without ``created``, the ``_created``
    samples are all that goes."""
    mine, theirs = _registries()
    body = mine.export_openmetrics()
    parsed = list(om_parser.text_string_to_metric_families(body))
    reference = list(
        om_parser.text_string_to_metric_families(pc_openmetrics.generate_latest(theirs).decode())
    )
    assert _sample_set(parsed) == _sample_set(reference)
    assert _types(parsed) == _types(reference)
    assert {f.name: f.unit for f in parsed} == {f.name: f.unit for f in reference}
    bare = list(om_parser.text_string_to_metric_families(mine.export_openmetrics(created=False)))
    assert _sample_set(bare) == {s for s in _sample_set(parsed) if not s[0].endswith("_created")}
    exemplars = [s for s in _sample_set(parsed) if s[4] is not None]
    assert len(exemplars) == 2


def _protobuf_samples(body: bytes) -> set[tuple[Any, ...]]:
    """The decoded protobuf families as text-format samples (name, labels, value, time)."""
    out: set[tuple[Any, ...]] = set()
    for family in decode_families(body):
        name = family.name
        for metric in family.metric:
            labels = {pair.name: pair.value for pair in metric.label}
            stamp = metric.timestamp_ms / 1000 if metric.HasField("timestamp_ms") else None

            def add(sample: str, value: float, extra: dict[str, str] | None = None) -> None:
                out.add((sample, _le({**labels, **(extra or {})}), float(value), stamp))  # noqa: B023

            if family.type == 0:
                add(name, metric.counter.value)
            elif family.type == 1:
                add(name, metric.gauge.value)
            elif family.type == 3:
                add(name, metric.untyped.value)
            elif family.type == 2:
                for q in metric.summary.quantile:
                    add(name, q.value, {"quantile": repr(q.quantile)})
                add(name + "_sum", metric.summary.sample_sum)
                add(name + "_count", metric.summary.sample_count)
            else:  # 4 histogram, 5 gauge histogram
                histogram = metric.histogram
                for bucket in histogram.bucket:
                    add(name + "_bucket", bucket.cumulative_count, {"le": repr(bucket.upper_bound)})
                # The +Inf bucket is implicit (the count), as client_golang writes it.
                assert all(b.upper_bound != math.inf for b in histogram.bucket)
                add(name + "_bucket", histogram.sample_count, {"le": "inf"})
                gauge = family.type == 5
                add(name + ("_gsum" if gauge else "_sum"), histogram.sample_sum)
                add(name + ("_gcount" if gauge else "_count"), histogram.sample_count)
    return out


def test_protobuf_export_carries_the_same_samples() -> None:
    """Protobuf, decoded by the official package: every sample prometheus_client writes
    as text (gauge histograms as type GAUGE_HISTOGRAM, info and statesets as gauges),
    with each timestamped series' ``timestamp_ms``, and exemplars on the counter and the
    bucket."""
    mine, theirs = _registries()
    body = mine.export_protobuf()
    reference = {
        sample[:4]
        for sample in _sample_set(
            text_string_to_metric_families(prometheus_client.generate_latest(theirs).decode())
        )
        if not sample[0].endswith("_created")
    }
    assert _protobuf_samples(body) == reference
    types = {f.name: f.type for f in decode_families(body)}
    assert types["queue_bytes"] == types["depth"] == 5
    assert types["build_info"] == types["mode"] == 1
    families = {f.name: f for f in decode_families(body)}
    slow = next(m for m in families["jobs_total"].metric if m.label[0].value == "slow")
    assert slow.counter.exemplar.value == 0.5
    assert slow.counter.HasField("created_timestamp")
    bucket = families["latency_seconds"].metric[0].histogram.bucket[1]
    assert (bucket.upper_bound, bucket.exemplar.value) == (0.5, 0.25)


def test_encoders_take_builders_directly() -> None:
    """A builder is a snapshot the encoders accept without a registry too."""
    families = build(ours)
    assert "jobs_total" in encode_text(families)
    assert encode_openmetrics(families).endswith("# EOF\n")
    assert len(decode_families(encode_protobuf(families))) == len(families)


# -- naming rules come from the registry ------------------------------------------------------


class _Yields:
    def __init__(self, *families: MetricFamily) -> None:
        self.families = families

    def collect(self) -> list[MetricFamily]:
        return list(self.families)


def test_utf8_names_follow_the_registry_rules(caplog: pytest.LogCaptureFixture) -> None:
    """A builder takes any UTF-8 name; a UTF-8 registry exports it under every escaping
    scheme, a legacy registry leaves that collector out (logged) and serves the rest."""

    def families() -> tuple[MetricFamily, ...]:
        dotted = CounterMetricFamily("my.jobs_total", "Jobs.", labels=["k.v"])
        dotted.add_metric(["x"], 2)
        return (dotted,)

    utf8 = MetricsRegistry(utf8_names=True)
    utf8.register(_Yields(*families()))
    assert 'my_jobs_total{k_v="x"} 2' in utf8.export_prometheus().splitlines()
    assert '{"my.jobs_total","k.v"="x"} 2' in utf8.export_prometheus(escaping="allow-utf-8")
    assert 'U__my_2e_jobs__total{U__k_2e_v="x"} 2.0' in utf8.export_openmetrics(escaping="values")
    assert decode_families(utf8.export_protobuf(escaping="dots"))[0].name == "my_dot_jobs__total"
    legacy = MetricsRegistry()
    legacy.register(_Yields(*families()))
    legacy.gauge("fine", "Fine.").set(1)
    with caplog.at_level(logging.WARNING, logger="tachikoma_metrics"):
        assert [f.name for f in legacy.collect()] == [
            "fine",
            "tachikoma_metrics_collector_errors",
        ]
    assert "invalid metric name 'my.jobs'" in caplog.text


def test_hand_built_families_with_mismatched_lists_fail_alone(
    registry: MetricsRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    """A collector's family whose timestamps (or created times, exemplars) are not one
    per series, or whose time no format can write, fails that collector, not the
    export: encoders would otherwise drop series or raise for everyone."""
    series = [(LabelSet(("a",)), 1.0), (LabelSet(("b",)), 2.0)]
    short = MetricFamily("short", MetricType.GAUGE, "", "", ("k",), series, timestamps=[1.0])
    far = MetricFamily("far", MetricType.COUNTER, "", "", ("k",), series, created=[1.0, 1e300])
    registry.register(_Yields(short))
    registry.register(_Yields(far))
    registry.gauge("fine", "Fine.").set(1)
    with caplog.at_level(logging.WARNING, logger="tachikoma_metrics"):
        body = registry.export_openmetrics()
    assert "fine 1.0" in body
    assert "short" not in body and "far" not in body
    assert "has 2 series but 1 timestamps" in caplog.text
    assert "not within the years 1 to 9999" in caplog.text


# -- bad input ---------------------------------------------------------------------------------


BUILDERS_WITH_VALUE = [
    (CounterMetricFamily, 1),
    (GaugeMetricFamily, 1),
    (UnknownMetricFamily, 1),
    (InfoMetricFamily, {"a": "b"}),
    (StateSetMetricFamily, {"a": True}),
]


@pytest.mark.parametrize(("builder", "value"), BUILDERS_WITH_VALUE)
def test_value_and_labels_together_are_refused(builder: Any, value: Any) -> None:
    """``value=`` makes the unlabelled series, ``labels=`` names labels: not both, as
    prometheus_client says."""
    with pytest.raises(ValueError, match="at most one of value and labels"):
        builder("x", "X.", value=value, labels=["k"])
    with pytest.raises(ValueError, match="at most one of buckets and labels"):
        HistogramMetricFamily("x", "X.", buckets=[("+Inf", 1)], sum_value=1, labels=["k"])
    with pytest.raises(ValueError, match="at most one of buckets and labels"):
        GaugeHistogramMetricFamily("x", "X.", buckets=[("+Inf", 1)], gsum_value=1, labels=["k"])
    with pytest.raises(ValueError, match="at most one of count_value and labels"):
        SummaryMetricFamily("x", "X.", count_value=1, sum_value=1, labels=["k"])


def _unchanged(family: MetricFamily) -> tuple[Any, ...]:
    return (
        family.labelnames,
        list(family.samples),
        list(family.histograms),
        list(family.summaries),
        list(family.created),
        list(family.exemplars),
        list(family.timestamps),
    )


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda f: f.add_metric(["a", "b"], 1), ValueError, r"got 2 label values: \('a', 'b'\)"),
        (lambda f: f.add_metric([], 1), ValueError, r"label names \('k',\) but add_metric got 0"),
        (lambda f: f.add_metric("a", 1), TypeError, "sequence of label values, got 'a'"),
        (lambda f: f.add_metric(["taken"], 1), ValueError, "already has a series with labels"),
        (lambda f: f.add_metric(["\ud800"], 1), ValueError, "not valid UTF-8"),
        (lambda f: f.add_metric(["a"], "1"), TypeError, "must be a real number, got '1'"),
        (lambda f: f.add_metric(["a"], -1), ValueError, "finite and >= 0, got -1"),
        (lambda f: f.add_metric(["a"], math.inf), ValueError, "finite and >= 0, got inf"),
        (lambda f: f.add_metric(["a"], math.nan), ValueError, "finite and >= 0, got nan"),
        (lambda f: f.add_metric(["a"], 1, timestamp=math.nan), ValueError, "timestamp.*nan"),
        (lambda f: f.add_metric(["a"], 1, timestamp=1e20), ValueError, "years 1 to 9999"),
        (lambda f: f.add_metric(["a"], 1, timestamp="now"), TypeError, "got 'now'"),
        (lambda f: f.add_metric(["a"], 1, created=5.0), ValueError, "every series or for none"),
        (lambda f: f.add_metric(["a"], 1, exemplar={"t": "x"}), TypeError, "exemplar of 'jobs'"),
        (
            lambda f: f.add_metric(["a"], 1, exemplar=PcExemplar({"bad-name": "x"}, 1)),
            ValueError,
            "invalid exemplar label name 'bad-name'",
        ),
    ],
)
def test_counter_bad_input_changes_nothing(call: Any, error: type[Exception], match: str) -> None:
    """Each bad ``add_metric`` raises naming the offending value; the family is as it was."""
    family = CounterMetricFamily("jobs_total", "Jobs.", labels=["k"])
    family.add_metric(["taken"], 1)
    before = _unchanged(family)
    with pytest.raises(error, match=match):
        call(family)
    assert _unchanged(family) == before
    family.add_metric(["a"], 2)  # still usable
    assert len(family.samples) == 2


def test_counter_created_for_every_series_or_none() -> None:
    """Created times go with every series or none (the model has no per-series gap)."""
    with_created = CounterMetricFamily("a", "A.", labels=["k"])
    with_created.add_metric(["x"], 1, created=10.0)
    with pytest.raises(ValueError, match="every series or for none"):
        with_created.add_metric(["y"], 1)
    with pytest.raises(ValueError, match="created= and exemplar= go with value="):
        CounterMetricFamily("b", "B.", created=10.0)


@pytest.mark.parametrize(
    ("buckets", "error", "match"),
    [
        ([("0.5", 3), ("+Inf", 2)], ValueError, "must not decrease: le='\\+Inf' has 2"),
        ([("1", 1), ("0.5", 2), ("+Inf", 3)], ValueError, "must increase: le='0.5' follows"),
        ([("0.5", 1), ("1", 2)], ValueError, "must end with the '\\+Inf' bucket"),
        ([], ValueError, "must end with the '\\+Inf' bucket"),
        ([("half", 1), ("+Inf", 1)], ValueError, "bucket bound of 'h' 'half' is not a number"),
        ([("NaN", 1), ("+Inf", 1)], ValueError, "'NaN' is not a number"),
        ([("0.5", 1.5), ("+Inf", 2)], ValueError, "whole number >= 0, got 1.5"),
        ([("0.5", -1), ("+Inf", 2)], ValueError, "whole number >= 0, got -1"),
        ([("0.5", "1"), ("+Inf", 2)], TypeError, "must be a real number, got '1'"),
        ([("+Inf",)], TypeError, "expected \\(le, cumulative_count\\)"),
        (["+Inf"], TypeError, "bucket '\\+Inf'"),
        ({"+Inf": 1}, TypeError, "sequence of \\(le, cumulative_count\\) pairs"),
        ([("+Inf", 1, "not an exemplar")], TypeError, "exemplar of 'h'"),
    ],
)
def test_histogram_bad_buckets_change_nothing(
    buckets: Any, error: type[Exception], match: str
) -> None:
    """Buckets must be cumulative, strictly increasing, end with +Inf, whole counts;
    each error names the offending bucket or value and nothing is added."""
    for family in (
        HistogramMetricFamily("h", "H.", labels=["k"]),
        GaugeHistogramMetricFamily("h", "H.", labels=["k"]),
    ):
        with pytest.raises(error, match=match):
            family.add_metric(["a"], buckets, 1.0)
        assert _unchanged(family) == ((("k",), [], [], [], [], [], []))


def test_histogram_sums_and_counts() -> None:
    """``sum_value`` is required (prometheus_client's ``None`` writes no _sum/_count: every
    format here writes them); the count is the ``+Inf`` bucket's; bounds may be numbers."""
    with pytest.raises(ValueError, match="sum_value is required"):
        HistogramMetricFamily("h", "H.", buckets=[("+Inf", 1)])
    with pytest.raises(ValueError, match="gsum_value is required"):
        GaugeHistogramMetricFamily("g", "G.", buckets=[("+Inf", 1)])
    with pytest.raises(ValueError, match="sum value cannot be provided without buckets"):
        HistogramMetricFamily("h", "H.", sum_value=1.0)
    with pytest.raises(TypeError, match="sum_value of 'h' must be a real number"):
        HistogramMetricFamily("h", "H.", buckets=[("+Inf", 1)], sum_value="3")
    numeric = HistogramMetricFamily("h", "H.", buckets=[(0.5, 1), (math.inf, 3.0)], sum_value=2)
    value = numeric.histograms[0][1]
    assert (value.buckets, value.count, value.sum) == (((0.5, 1), (math.inf, 3)), 3, 2.0)
    assert isinstance(value.count, int)
    timed = HistogramMetricFamily("t", "T.", labels=["k"])
    timed.add_metric(["a"], [("+Inf", 1)], 1.0, created=1700000000.0)
    assert timed.histograms[0][1].created == 1700000000.0
    assert "t_created" in encode_openmetrics([timed])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"count_value": -1}, ValueError, "count_value of 's' must be a whole number"),
        ({"count_value": 2.5}, ValueError, "whole number >= 0, got 2.5"),
        ({"sum_value": "x"}, TypeError, "sum_value of 's' must be a real number"),
        ({"quantiles": [(1.5, 1)]}, ValueError, "quantile 1.5 of 's' is not within"),
        ({"quantiles": [(0.5, 1), ("0.5", 2)]}, ValueError, "quantile '0.5' of 's' is given twice"),
        ({"quantiles": [(0.5,)]}, TypeError, "expected a \\(q, value\\) pair"),
        ({"quantiles": [(0.5, "x")]}, TypeError, "value of quantile 0.5"),
        ({"quantiles": {0.5: 1}}, TypeError, "sequence of \\(q, value\\) pairs"),
    ],
)
def test_summary_bad_input_changes_nothing(
    kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    family = SummaryMetricFamily("s", "S.", labels=["k"])
    arguments: dict[str, Any] = {"count_value": 1, "sum_value": 1.0, **kwargs}
    with pytest.raises(error, match=match):
        family.add_metric(["a"], **arguments)
    assert family.summaries == []


def test_summary_constructor_rules() -> None:
    with pytest.raises(ValueError, match="count_value and sum_value must be provided together"):
        SummaryMetricFamily("s", "S.", count_value=1)
    with pytest.raises(ValueError, match="quantiles= goes with count_value="):
        SummaryMetricFamily("s", "S.", quantiles=[(0.5, 1)])


def test_info_bad_input_changes_nothing() -> None:
    """Info values must be str, keys valid label names other than the declared ones."""
    family = InfoMetricFamily("node", "N.", labels=["host"])
    family.add_metric(["h1"], {"os": "linux"})
    before = _unchanged(family)
    for value, error, match in [
        ({"os": 1}, TypeError, "value of 'os' must be a str, got 1"),
        ({"host": "x"}, ValueError, "'host' is already one of its label names"),
        ({"__x": "y"}, ValueError, "invalid label name '__x'"),
        ({3: "y"}, TypeError, "label name must be a str, got 3"),
        (["os"], TypeError, "must be a mapping of label names to str"),
    ]:
        with pytest.raises(error, match=match):
            family.add_metric(["h2"], value)
        assert _unchanged(family) == before
    legacy = MetricsRegistry()
    dotted = InfoMetricFamily("node", "N.", value={"os.name": "linux"})
    legacy.register(_Yields(dotted))
    assert [f.name for f in legacy.collect()] == ["tachikoma_metrics_collector_errors"]


def test_stateset_bad_input_changes_nothing() -> None:
    """States are str names with True/False (or 1/0); the family name is a label name."""
    family = StateSetMetricFamily("mode", "M.", labels=["svc"])
    for value, error, match in [
        ({"on": "yes"}, TypeError, "state 'on' of 'mode' must be a real number"),
        ({"on": 2}, ValueError, "state 'on' of 'mode' must be True or False, got 2"),
        ({}, ValueError, "needs at least one state"),
        ({1: True}, TypeError, "state of 'mode' must be a str, got 1"),
        (["on"], TypeError, "must be a mapping of state names to booleans"),
    ]:
        with pytest.raises(error, match=match):
            family.add_metric(["api"], value)
        assert family.samples == []
    with pytest.raises(ValueError, match="invalid label name 'mode'"):
        StateSetMetricFamily("mode", "M.", labels=["mode"])
    with pytest.raises(ValueError, match="invalid label name '__mode'"):
        StateSetMetricFamily("__mode", "M.")


def test_names_and_labels_refused_where_they_enter() -> None:
    with pytest.raises(TypeError, match="metric name must be a str"):
        GaugeMetricFamily(b"x", "X.")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must not be empty"):
        GaugeMetricFamily("", "X.")
    with pytest.raises(TypeError, match="help of 'x' must be a str"):
        GaugeMetricFamily("x", None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not the str 'k'"):
        GaugeMetricFamily("x", "X.", labels="k")
    with pytest.raises(ValueError, match="duplicate label name 'k'"):
        GaugeMetricFamily("x", "X.", labels=["k", "k"])
    with pytest.raises(ValueError, match="invalid label name 'le'"):
        HistogramMetricFamily("x", "X.", labels=["le"])
    with pytest.raises(ValueError, match="invalid label name 'quantile'"):
        SummaryMetricFamily("x", "X.", labels=["quantile"])
    with pytest.raises(ValueError, match="invalid unit 'b-s'"):
        GaugeMetricFamily("x", "X.", unit="b-s")
    with pytest.raises(TypeError, match="must be a real number, got 'x'"):
        GaugeMetricFamily("x", "X.", value="x")  # type: ignore[arg-type]


def test_exemplars_of_either_library_and_their_times() -> None:
    """Exemplars may be ours or prometheus_client's (its ``Timestamp`` too); their labels
    are checked as recorded exemplars' are; the time stays the one given."""
    family = CounterMetricFamily("c", "C.", labels=["k"])
    family.add_metric(["a"], 1, exemplar=Exemplar((("t", "1"),), 1.0, 5.0))
    family.add_metric(["b"], 1, exemplar=PcExemplar({"t": "2"}, 1, Timestamp(6, 500000000)))
    family.add_metric(["c"], 1, timestamp=Timestamp(7, 0))
    assert list(family.exemplars) == [
        Exemplar((("t", "1"),), 1.0, 5.0),
        Exemplar((("t", "2"),), 1.0, 6.5),
        None,
    ]
    assert list(family.timestamps) == [None, None, 7.0]
    with pytest.raises(ValueError, match="128"):
        family.add_metric(["d"], 1, exemplar=PcExemplar({"t": "x" * 200}, 1))
    assert len(family.samples) == 3
