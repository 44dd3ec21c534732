"""Exemplars: the latest per counter series and per histogram bucket, with value and time.

Rules from the exposition checklist: OM-19 (syntax, allowed only on counter ``_total`` and
bucket samples, at most 128 Unicode code points of label names plus values), TRICK-24
(code points, not bytes: 127 times ``é`` fits) and PB-02 (protobuf ``Exemplar``). Text 0.0.4 has
no place for exemplars: ``promtool`` rejects them there (VAL-01).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)

from metrics_proto import metric_family_class, split_delimited
from promtool import check_metrics
from tachikoma_metrics import Counter, MetricsRegistry
from tachikoma_metrics.model import Exemplar, HistogramValue
from tachikoma_metrics.values import make_exemplar


class Clock:
    """Wall-clock readings around a block, to bound exemplar timestamps."""

    def __enter__(self) -> Clock:
        self.before = time.time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.after = time.time()

    def check(self, exemplar: Exemplar | None) -> None:
        assert exemplar is not None and exemplar.timestamp is not None
        assert self.before <= exemplar.timestamp <= self.after


def _counter_exemplars(registry: MetricsRegistry, name: str) -> list[Exemplar | None]:
    (family,) = [f for f in registry.collect() if f.name == name]
    return list(family.exemplars) or [None] * len(family.samples)


def _histogram_value(registry: MetricsRegistry, name: str, index: int = 0) -> HistogramValue:
    (family,) = [f for f in registry.collect() if f.name == name]
    return family.histograms[index][1]


# -- counters ---------------------------------------------------------------------------------


def test_counter_keeps_the_latest_exemplar_with_value_and_timestamp() -> None:
    """Each ``inc(amount, exemplar=...)`` replaces the series' exemplar: its labels as
    given, the increment as its value, and the current time as its timestamp."""
    registry = MetricsRegistry()
    counter = registry.counter("jobs_total", "Jobs.")
    with Clock() as first_clock:
        counter.inc(1, exemplar={"trace_id": "first"})
    with Clock() as clock:
        counter.inc(2.5, exemplar={"trace_id": "second", "user": "alice"})
    (exemplar,) = _counter_exemplars(registry, "jobs")
    assert exemplar is not None
    assert exemplar.labels == (("trace_id", "second"), ("user", "alice"))
    assert exemplar.value == 2.5
    clock.check(exemplar)
    assert exemplar.timestamp is not None and exemplar.timestamp >= first_clock.before
    assert counter.get() == 3.5


def test_inc_without_exemplar_keeps_the_previous_one() -> None:
    """An increment without an exemplar leaves the latest exemplar in place."""
    registry = MetricsRegistry()
    counter = registry.counter("jobs_total", "Jobs.")
    counter.inc(1, exemplar={"trace_id": "kept"})
    counter.inc(4)
    counter.inc_by(2)
    (exemplar,) = _counter_exemplars(registry, "jobs")
    assert exemplar is not None and exemplar.labels == (("trace_id", "kept"),)
    assert exemplar.value == 1.0
    assert counter.get() == 7.0


def test_exemplars_are_kept_per_counter_child() -> None:
    """Each labelled child has its own exemplar; a child that never got one has none."""
    registry = MetricsRegistry()
    counter = registry.counter("requests_total", "Requests.", labelnames=("code",))
    counter.labels("200").inc(1, exemplar={"trace_id": "ok"})
    counter.labels("500").inc(3, exemplar={"trace_id": "bad"})
    counter.labels("404").inc(1)
    counter.labels("200").inc(2, exemplar={"trace_id": "ok2"})
    exemplars = _counter_exemplars(registry, "requests")  # children sorted: 200, 404, 500
    assert [(e.labels, e.value) if e else None for e in exemplars] == [
        ((("trace_id", "ok2"),), 2.0),
        None,
        ((("trace_id", "bad"),), 3.0),
    ]


def test_latest_exemplar_wins_across_threads() -> None:
    """Exemplars recorded from different threads replace each other: the last one stays."""
    registry = MetricsRegistry()
    counter = registry.counter("jobs_total", "Jobs.")
    worker = threading.Thread(target=lambda: counter.inc(1, exemplar={"trace_id": "worker"}))
    worker.start()
    worker.join()
    counter.inc(1, exemplar={"trace_id": "main"})
    (exemplar,) = _counter_exemplars(registry, "jobs")
    assert exemplar is not None and exemplar.labels == (("trace_id", "main"),)
    assert counter.get() == 2.0


# -- histograms -------------------------------------------------------------------------------


def test_histogram_keeps_the_latest_exemplar_per_bucket() -> None:
    """``observe(v, exemplar=...)`` replaces the exemplar of ``v``'s bucket only, with ``v``
    as its value; buckets never given one have none; ``+Inf`` has its own."""
    registry = MetricsRegistry()
    histogram = registry.histogram("latency_seconds", "Latency.", buckets=(0.1, 1, 10))
    with Clock() as clock:
        histogram.observe(0.05, exemplar={"trace_id": "a"})
        histogram.observe(0.5, exemplar={"trace_id": "b"})
        histogram.observe(0.07, exemplar={"trace_id": "c"})  # same bucket as "a": replaces it
        histogram.observe(50, exemplar={"trace_id": "d"})  # +Inf bucket
        histogram.observe(5)  # bucket 10, no exemplar
        histogram.observe(0.5)  # bucket 1 keeps "b"
    value = _histogram_value(registry, "latency_seconds")
    assert value.buckets == ((0.1, 2), (1.0, 4), (10.0, 5), (math.inf, 6))
    assert value.exemplars is not None
    summary = [(e.labels, e.value) if e else None for e in value.exemplars]
    assert summary == [
        ((("trace_id", "c"),), 0.07),
        ((("trace_id", "b"),), 0.5),
        None,
        ((("trace_id", "d"),), 50.0),
    ]
    for exemplar in value.exemplars:
        if exemplar is not None:
            clock.check(exemplar)


def test_histogram_exemplar_on_a_bucket_bound_goes_to_that_bucket() -> None:
    """An observation equal to an upper bound belongs to that bucket (``le`` is ``<=``),
    and so does its exemplar."""
    registry = MetricsRegistry()
    histogram = registry.histogram("size_bytes", "Size.", buckets=(1, 2))
    histogram.observe(1, exemplar={"trace_id": "edge"})
    value = _histogram_value(registry, "size_bytes")
    assert value.exemplars is not None
    first = value.exemplars[0]
    assert first is not None and first.labels == (("trace_id", "edge"),)
    assert value.exemplars[1:] == (None, None)


def test_histogram_exemplars_are_kept_per_child() -> None:
    """Labelled histogram children keep separate per-bucket exemplars."""
    registry = MetricsRegistry()
    histogram = registry.histogram("latency_seconds", "L.", labelnames=("route",), buckets=(1,))
    histogram.labels("/a").observe(0.5, exemplar={"trace_id": "a"})
    histogram.labels("/b").observe(0.5)
    a = _histogram_value(registry, "latency_seconds", 0)
    b = _histogram_value(registry, "latency_seconds", 1)
    assert a.exemplars is not None and a.exemplars[0] is not None
    assert a.exemplars[0].labels == (("trace_id", "a"),)
    assert b.exemplars is None or all(e is None for e in b.exemplars)


# -- the 128 code point limit (TRICK-24) ------------------------------------------------------


@pytest.mark.parametrize(
    "labels",
    [
        {"a": "x" * 127},  # 1 + 127 = 128
        {"a": "\u00e9" * 127},  # 128 code points, 255 bytes
        {"ab": "x" * 60, "cd": "y" * 64},  # names count too: 2 + 60 + 2 + 64 = 128
        {"n": 10**126},  # values are converted with str(): "1" + 126 zeros
        {"trace_id": "\u2603" * 120},  # snowmen: 3 bytes each (corpus exemplars_wide_chars)
        {},
    ],
    ids=["127x", "127e-acute", "two-labels", "int-value", "snowmen", "empty"],
)
def test_exemplar_of_at_most_128_code_points_is_accepted(labels: dict[str, Any]) -> None:
    """Label names plus values of at most 128 code points are accepted, whatever their size
    in bytes; values are kept as ``str()`` of what was given."""
    exemplar = make_exemplar(labels, 1.0)
    assert exemplar.labels == tuple((k, str(v)) for k, v in labels.items())
    assert exemplar.value == 1.0


@pytest.mark.parametrize(
    "labels",
    [
        {"a": "x" * 128},
        {"a": "\u00e9" * 128},
        {"ab": "x" * 60, "cd": "y" * 65},
        {"n": 10**127},
    ],
    ids=["128x", "128e-acute", "two-labels", "int-value"],
)
def test_exemplar_of_129_code_points_is_rejected(labels: dict[str, Any]) -> None:
    """One code point over the limit is a ValueError saying how many there are and the
    limit."""
    with pytest.raises(ValueError, match=r"129.*128"):
        make_exemplar(labels, 1.0)


@pytest.mark.parametrize("name", ["1bad", "a.b", "", "a-b", "é", "with space"])
def test_invalid_exemplar_label_names_are_rejected(name: str) -> None:
    """Exemplar label names follow the label-name rules; a bad one is a ValueError naming
    it."""
    with pytest.raises(ValueError, match="label name") as caught:
        make_exemplar({name: "v"}, 1.0)
    assert repr(name) in str(caught.value)


def test_non_string_exemplar_label_name_is_rejected() -> None:
    """A label name that is not a string is refused, naming it."""
    with pytest.raises((TypeError, ValueError)) as caught:
        make_exemplar({1: "v"}, 1.0)  # type: ignore[dict-item]
    assert str(caught.value).endswith(" 1")


@pytest.mark.parametrize("bad", [[("trace_id", "x")], "trace_id=x", {"trace_id"}, 42])
def test_non_mapping_exemplar_is_rejected(bad: Any) -> None:
    """An exemplar that is not a mapping is a TypeError naming the value given."""
    with pytest.raises(TypeError, match="mapping") as caught:
        make_exemplar(bad, 1.0)
    assert repr(bad) in str(caught.value)


# -- a rejected exemplar changes nothing -------------------------------------------------------

BAD_EXEMPLARS: list[tuple[Any, type[Exception]]] = [
    ({"a": "x" * 128}, ValueError),
    ({"a.b": "v"}, ValueError),
    ([("trace_id", "x")], TypeError),
    ("trace_id", TypeError),
]


@pytest.mark.parametrize(("bad", "error"), BAD_EXEMPLARS)
@pytest.mark.parametrize("labelled", [False, True])
def test_rejected_exemplar_leaves_the_counter_unchanged(
    bad: Any, error: type[Exception], labelled: bool
) -> None:
    """``inc(5, exemplar=<invalid>)`` raises and neither the value nor the previous exemplar
    changes."""
    registry = MetricsRegistry()
    family = registry.counter("jobs_total", "Jobs.", labelnames=("k",) if labelled else ())
    counter: Any = family.labels("v") if labelled else family
    counter.inc(1, exemplar={"trace_id": "kept"})
    with pytest.raises(error):
        counter.inc(5, exemplar=bad)
    assert counter.get() == 1.0
    (exemplar,) = _counter_exemplars(registry, "jobs")
    assert exemplar is not None and exemplar.labels == (("trace_id", "kept"),)
    assert exemplar.value == 1.0


def test_invalid_increment_with_valid_exemplar_changes_nothing() -> None:
    """A negative increment is refused even with a valid exemplar, which is not recorded."""
    registry = MetricsRegistry()
    counter = registry.counter("jobs_total", "Jobs.")
    with pytest.raises(ValueError):
        counter.inc(-1, exemplar={"trace_id": "never"})
    assert counter.get() == 0.0
    assert _counter_exemplars(registry, "jobs") == [None]


@pytest.mark.parametrize(("bad", "error"), BAD_EXEMPLARS)
def test_rejected_exemplar_leaves_the_histogram_unchanged(bad: Any, error: type[Exception]) -> None:
    """``observe(v, exemplar=<invalid>)`` raises; buckets, sum, count and exemplars stay as
    they were."""
    registry = MetricsRegistry()
    histogram = registry.histogram("latency_seconds", "L.", buckets=(1,))
    histogram.observe(0.5, exemplar={"trace_id": "kept"})
    before = _histogram_value(registry, "latency_seconds")
    with pytest.raises(error):
        histogram.observe(0.25, exemplar=bad)
    with pytest.raises(error):
        histogram.observe(7, exemplar=bad)
    after = _histogram_value(registry, "latency_seconds")
    assert (after.buckets, after.sum, after.count) == (before.buckets, before.sum, before.count)
    assert after.exemplars == before.exemplars


def test_nan_observation_with_exemplar_changes_nothing() -> None:
    """A NaN observation is refused, exemplar or not, and records nothing."""
    registry = MetricsRegistry()
    histogram = registry.histogram("latency_seconds", "L.", buckets=(1,))
    with pytest.raises(ValueError):
        histogram.observe(math.nan, exemplar={"trace_id": "never"})
    value = _histogram_value(registry, "latency_seconds")
    assert value.count == 0
    assert value.exemplars is None or all(e is None for e in value.exemplars)


# -- where exemplars are written ------------------------------------------------------------


def _traced_registry() -> MetricsRegistry:
    registry = MetricsRegistry()
    registry.counter("jobs_total", "Jobs.", labelnames=("queue",)).labels("fast").inc(
        2, exemplar={"trace_id": "abc"}
    )
    registry.histogram("latency_seconds", "Latency.", buckets=(0.1, 1)).observe(
        0.5, exemplar={"trace_id": "def"}
    )
    registry.gauge("depth", "Depth.").set(3)
    return registry


def test_exemplars_never_appear_in_text_0_0_4() -> None:
    """Text 0.0.4 has no exemplar syntax: none is written (every sample line is name, value),
    and ``promtool``, which rejects exemplars there, accepts the body."""
    registry = _traced_registry()
    body = registry.export_prometheus()
    assert "trace_id" not in body and "abc" not in body
    for line in body.splitlines():
        if not line.startswith("#"):
            assert len(line.split(" ")) == 2, line
    result = check_metrics(body.encode())
    assert result.returncode == 0, result.stderr.decode()
    assert "trace_id" not in registry.export_prometheus(escaping="allow-utf-8")


def test_exemplars_appear_in_openmetrics_on_total_and_bucket_lines_only() -> None:
    """OpenMetrics carries them on the counter's ``_total`` and on the bucket of the
    observation, with a timestamp in seconds; the strict parser reads them back."""
    registry = _traced_registry()
    with Clock() as clock:
        registry.counter("jobs_total", "Jobs.", labelnames=("queue",)).labels("slow").inc(
            1, exemplar={"trace_id": "ghi"}
        )
    body = registry.export_openmetrics(created=False)
    lines_with = [line for line in body.splitlines() if " # {" in line]
    assert [line.split(" ")[0] for line in lines_with] == [
        'jobs_total{queue="fast"}',
        'jobs_total{queue="slow"}',
        'latency_seconds_bucket{le="1.0"}',
    ]
    families = {f.name: f for f in parse_openmetrics(body)}
    slow = next(s for s in families["jobs"].samples if s.labels == {"queue": "slow"})
    assert slow.exemplar.labels == {"trace_id": "ghi"} and slow.exemplar.value == 1.0
    assert clock.before <= float(slow.exemplar.timestamp) <= clock.after
    bucket = next(s for s in families["latency_seconds"].samples if s.labels.get("le") == "1.0")
    assert bucket.exemplar.labels == {"trace_id": "def"} and bucket.exemplar.value == 0.5


def test_exemplars_appear_in_protobuf() -> None:
    """Protobuf carries the counter's exemplar and the bucket's, decoded by the official
    ``protobuf`` library."""
    body = _traced_registry().export_protobuf()
    cls: Callable[[], Any] = metric_family_class()
    families = {}
    for chunk in split_delimited(body):
        family = cls()
        family.ParseFromString(chunk)
        families[family.name] = family
    counter = families["jobs_total"].metric[0].counter
    assert [(p.name, p.value) for p in counter.exemplar.label] == [("trace_id", "abc")]
    assert counter.exemplar.value == 2.0
    assert counter.exemplar.HasField("timestamp")
    buckets = families["latency_seconds"].metric[0].histogram.bucket
    with_exemplar = [b for b in buckets if b.HasField("exemplar")]
    assert [(b.upper_bound, b.exemplar.value) for b in with_exemplar] == [(1.0, 0.5)]


# -- label names by the registry's naming rule ---------------------------------------------------

UTF8_EXEMPLAR_NAMES = [
    {"trace.id": "abc"},
    {"trace_id": "abc", "span-id": "7"},
    {"svc.\u670d\u52a1": "web"},  # non-ASCII
    {"with space": "x", "a/b": "y"},
]


@pytest.mark.parametrize(
    "labels", UTF8_EXEMPLAR_NAMES, ids=["dotted", "dash", "cjk", "space-slash"]
)
def test_utf8_registry_accepts_and_stores_utf8_exemplar_label_names(
    labels: dict[str, str],
) -> None:
    """In a registry made with ``utf8_names=True``, exemplar label names follow the UTF-8
    rule: counters (unlabelled and children) and histograms (compiled observe and its slow
    path) store them as given."""
    registry = MetricsRegistry(utf8_names=True)
    counter = registry.counter("jobs_total", "Jobs.")
    child = registry.counter("calls_total", "Calls.", labelnames=("op",)).labels("read")
    histogram = registry.histogram("latency_seconds", "L.", buckets=(0.1, 1))
    counter.inc(2, exemplar=labels)
    child.inc(3, exemplar=labels)
    histogram.observe(0.5, exemplar=labels)
    expected = tuple(labels.items())
    (stored,) = _counter_exemplars(registry, "jobs")
    assert stored is not None and stored.labels == expected and stored.value == 2.0
    (stored,) = _counter_exemplars(registry, "calls")
    assert stored is not None and stored.labels == expected and stored.value == 3.0
    value = _histogram_value(registry, "latency_seconds")
    assert value.exemplars is not None and value.exemplars[1] is not None
    assert value.exemplars[1].labels == expected
    assert (value.count, counter.get(), child.get()) == (1, 2.0, 3.0)


@pytest.mark.parametrize("utf8", [False, True])
def test_legacy_rule_where_the_registry_has_it(utf8: bool) -> None:
    """The same dotted name is refused in a legacy registry, by a family built on its own
    (legacy) and by the module function's default, and accepted in a UTF-8 registry."""
    registry = MetricsRegistry(utf8_names=utf8)
    counters = [registry.counter("jobs_total", "Jobs."), Counter("solo_total", "Solo.")]
    for counter, accepts in zip(counters, [utf8, False], strict=True):
        if accepts:
            counter.inc(1, exemplar={"trace.id": "x"})
        else:
            with pytest.raises(ValueError, match=r"'trace\.id'"):
                counter.inc(1, exemplar={"trace.id": "x"})
        assert counter.get() == (1.0 if accepts else 0.0)
    with pytest.raises(ValueError, match=r"'trace\.id'"):
        make_exemplar({"trace.id": "x"}, 1.0)
    assert make_exemplar({"trace.id": "x"}, 1.0, utf8_names=True).labels == (("trace.id", "x"),)


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ({"": "v"}, "empty"),
        ({"\ud800": "v"}, "UTF-8"),
        ({"__trace": "v"}, "reserved"),
        ({"__tr.ace": "v"}, "reserved"),
        ({"a.b": "1", "a_b": "2"}, "both be written"),
        ({"a.b": "1", "a-b": "2"}, "both be written"),
        ({"_.x": "v"}, "reserved"),  # written '__x' with underscores
        ({"\u670d\u52a1": "v"}, "reserved"),  # written '__' with underscores
        ({"1st": "v"}, "reserved"),  # written '__st' with dots
    ],
    ids=[
        "empty",
        "surrogate",
        "reserved",
        "reserved-utf8",
        "escape-clash",
        "utf8-clash",
        "escapes-reserved",
        "cjk-only",
        "digit-first",
    ],
)
def test_utf8_registry_refuses_bad_exemplar_label_names(
    labels: dict[str, str], message: str
) -> None:
    """Even under the UTF-8 rule a name must be non-empty valid UTF-8, must not start with
    ``__``, and must not be written like another one (or like a reserved name) once
    escaped: ``ValueError`` naming it, and neither value nor exemplar changes."""
    registry = MetricsRegistry(utf8_names=True)
    counter = registry.counter("jobs_total", "Jobs.")
    histogram = registry.histogram("latency_seconds", "L.", buckets=(1,))
    counter.inc(1, exemplar={"kept.id": "k"})
    for record in (
        lambda: counter.inc(5, exemplar=labels),
        lambda: histogram.observe(0.5, exemplar=labels),
    ):
        with pytest.raises(ValueError, match=message) as caught:
            record()
        assert "exemplar" in str(caught.value)
        assert any(repr(name) in str(caught.value) for name in labels)
    assert counter.get() == 1.0
    (stored,) = _counter_exemplars(registry, "jobs")
    assert stored is not None and stored.labels == (("kept.id", "k"),)
    assert _histogram_value(registry, "latency_seconds").count == 0


def test_reserved_exemplar_label_names_are_refused_under_the_legacy_rule_too() -> None:
    """``__`` names are reserved in both rules, as ``prometheus_client`` and
    ``client_golang`` have it; the counter does not change."""
    registry = MetricsRegistry()
    counter = registry.counter("jobs_total", "Jobs.")
    with pytest.raises(ValueError, match=r"'__trace_id'.*reserved"):
        counter.inc(1, exemplar={"__trace_id": "x"})
    assert counter.get() == 0.0
    assert _counter_exemplars(registry, "jobs") == [None]


@pytest.mark.parametrize("utf8", [False, True])
def test_paused_instruments_validate_with_their_registry_rule(utf8: bool) -> None:
    """A paused family (the facade's state before ``init()``) validates exemplars with its
    registry's rule and records nothing."""
    registry = MetricsRegistry(utf8_names=utf8)
    counter = registry.counter("jobs_total", "Jobs.")
    histogram = registry.histogram("latency_seconds", "L.", buckets=(1,))
    for family in (counter, histogram):
        family._suspend()
    for record in (
        lambda: counter.inc(1, exemplar={"trace.id": "x"}),
        lambda: histogram.observe(0.5, exemplar={"trace.id": "x"}),
    ):
        if utf8:
            record()
        else:
            with pytest.raises(ValueError, match=r"'trace\.id'"):
                record()
    assert counter.get() == 0.0
    assert histogram.get().count == 0
