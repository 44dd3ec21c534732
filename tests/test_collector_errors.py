"""The collector-error self-metric: ``tachikoma_metrics_collector_errors_total{collector=
"<type name>"}`` counts every failed collection, appears from the first failure on, in every
format, and never breaks an export (a user metric of that name wins; UTF-8 registries
work); failures are still logged once per distinct message."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any

import pytest
from prometheus_client.openmetrics import parser as om_parser
from prometheus_client.parser import text_string_to_metric_families

from metrics_proto import decode_families
from promtool import check_metrics
from tachikoma_metrics import LabelSet, MetricFamily, MetricsRegistry, MetricType
from tachikoma_metrics.collectors import GaugeMetricFamily

ERRORS = "tachikoma_metrics_collector_errors"
SCHEMES = ("underscores", "dots", "values", "allow-utf-8")


class Flaky:
    """Fails while ``failing`` is set, with ``message``; else yields one gauge."""

    def __init__(self, name: str = "flaky_value", message: str = "backend down") -> None:
        self.name = name
        self.message = message
        self.failing = True

    def collect(self) -> list[MetricFamily]:
        if self.failing:
            raise RuntimeError(self.message)
        return [GaugeMetricFamily(self.name, "Flaky.", value=1)]


class OtherFailure(Flaky):
    pass


class Static:
    def __init__(self, *families: MetricFamily) -> None:
        self.families = families

    def collect(self) -> list[MetricFamily]:
        return list(self.families)


def _counts_from_text(registry: MetricsRegistry) -> dict[str, float]:
    return {
        s.labels["collector"]: s.value
        for f in text_string_to_metric_families(registry.export_prometheus())
        for s in f.samples
        if s.name == ERRORS + "_total"
    }


def _counts(families: Iterable[MetricFamily]) -> dict[str, float]:
    return {
        labels.label_values[0]: value
        for family in families
        if family.name == ERRORS
        for labels, value in family.samples
    }


def test_absent_until_the_first_failure(registry: MetricsRegistry) -> None:
    """A registry whose collectors never failed exports exactly what it did before the
    self-metric existed: no family of that name in any format."""
    registry.gauge("depth", "Depth.").set(2)
    registry.register(Static(GaugeMetricFamily("fine", "Fine.", value=1)))
    assert [f.name for f in registry.collect()] == ["depth", "fine"]
    assert ERRORS not in registry.export_prometheus()
    assert ERRORS not in registry.export_openmetrics()
    assert ERRORS.encode() not in registry.export_protobuf()


def test_every_failure_is_counted_per_collector_type(
    registry: MetricsRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    """Each failed collection adds one for the collector's type name, however often the
    same message repeats; the message itself is logged once. A collector that recovers
    keeps its count; its metrics come back."""
    flaky, other = Flaky(), OtherFailure("other_value")
    registry.register(flaky)
    registry.register(other)
    with caplog.at_level(logging.WARNING, logger="tachikoma_metrics"):
        assert _counts(registry.collect()) == {"Flaky": 1, "OtherFailure": 1}
        other.failing = False
        for _ in range(4):
            registry.collect()
    assert _counts(registry.collect()) == {"Flaky": 6, "OtherFailure": 1}
    records = [r for r in caplog.records if r.name == "tachikoma_metrics"]
    assert sorted(r.getMessage().split(":")[0] for r in records) == [
        "collector Flaky failed",
        "collector OtherFailure failed",
    ]
    assert "other_value" in [f.name for f in registry.collect()]
    flaky.message = "a new message"
    with caplog.at_level(logging.WARNING, logger="tachikoma_metrics"):
        registry.collect()
    assert "a new message" in caplog.records[-1].getMessage()
    assert _counts(registry.collect()) == {"Flaky": 9, "OtherFailure": 1}


def test_exposed_in_every_format(registry: MetricsRegistry) -> None:
    """Text (promtool accepts it), OpenMetrics (with its created time: the first
    failure's, unchanged by later ones) and protobuf all carry the counts."""
    registry.register(Flaky())
    registry.gauge("depth", "Depth.").set(1)
    registry.collect()
    registry.collect()
    assert _counts_from_text(registry) == {"Flaky": 3.0}
    body = registry.export_prometheus()
    assert f'{ERRORS}_total{{collector="Flaky"}} 4' in body.splitlines()  # this export fails too
    result = check_metrics(body.encode())
    assert result.returncode == 0, (result.stdout + result.stderr).decode()
    om = list(om_parser.text_string_to_metric_families(registry.export_openmetrics()))
    (family,) = [f for f in om if f.name == ERRORS]
    assert family.type == "counter"
    samples = {s.name: s for s in family.samples}
    assert samples[ERRORS + "_total"].value == 5.0
    assert samples[ERRORS + "_total"].labels == {"collector": "Flaky"}
    first = samples[ERRORS + "_created"].value
    (protobuf,) = [
        f for f in decode_families(registry.export_protobuf()) if f.name.startswith(ERRORS)
    ]
    assert protobuf.name == ERRORS + "_total" and protobuf.type == 0
    (metric,) = protobuf.metric
    assert metric.counter.value == 6.0
    assert [(p.name, p.value) for p in metric.label] == [("collector", "Flaky")]
    created = metric.counter.created_timestamp
    assert created.seconds + created.nanos / 1e9 == pytest.approx(first, abs=1e-3)
    again = om_parser.text_string_to_metric_families(registry.export_openmetrics())
    assert [s.value for f in again for s in f.samples if s.name == ERRORS + "_created"] == [first]


def test_every_kind_of_failure_counts(registry: MetricsRegistry) -> None:
    """Raising, returning something other than families, exposing a taken name, or
    yielding a family that cannot be written: each is one failure of that collector."""

    class WrongType:
        def collect(self) -> Any:
            return ["not a family"]

    class Intruder:
        def collect(self) -> list[MetricFamily]:
            return [GaugeMetricFamily("depth", "Mine.", value=1)]

    class Unwritable:
        def collect(self) -> list[MetricFamily]:
            return [MetricFamily("x", MetricType.GAUGE, "bad \ud800", "", (), [(LabelSet(()), 1)])]

    registry.gauge("depth", "Depth.").set(1)
    for collector in (WrongType(), Intruder(), Unwritable(), Flaky()):
        registry.register(collector)
    assert _counts(registry.collect()) == {
        "Flaky": 1,
        "Intruder": 1,
        "Unwritable": 1,
        "WrongType": 1,
    }


def test_a_failing_gauge_callback_is_counted_as_its_type(registry: MetricsRegistry) -> None:
    """A ``set_function`` callback that raises or returns a non-number fails its family's
    collection: counted under the family's type name, the rest served."""
    broken = registry.gauge("broken", "Broken.")
    broken.set_function(lambda: 1 / 0)
    odd = registry.gauge("odd", "Odd.")
    odd.set_function(lambda: "not a number")
    registry.counter("jobs_total", "Jobs.").inc()
    families = registry.collect()
    assert [f.name for f in families] == ["jobs", ERRORS]
    assert _counts(families) == {"Gauge": 2}


def test_name_filter(registry: MetricsRegistry) -> None:
    """``?name[]=``: the self-metric is served when asked for by any of its names, and
    left out otherwise (the failing collector is still collected and counted)."""
    registry.register(Flaky())
    registry.gauge("depth", "Depth.").set(1)
    assert [f.name for f in registry.collect({"depth"})] == ["depth"]
    assert [f.name for f in registry.collect({ERRORS + "_total"})] == [ERRORS]
    assert _counts(registry.collect({ERRORS + "_created"})) == {"Flaky": 3}


def test_a_user_metric_of_the_same_name_wins(caplog: pytest.LogCaptureFixture) -> None:
    """A registered counter, or an undescribed collector, exposing that name is served
    as it is; the self-metric is left out (logged once), and every format still exports."""
    for make in (
        lambda r: r.counter(ERRORS + "_total", "Mine.").inc(7),
        lambda r: r.register(Static(GaugeMetricFamily(ERRORS, "Mine.", value=7))),
    ):
        registry = MetricsRegistry()
        registry.register(Flaky())
        make(registry)
        with caplog.at_level(logging.WARNING, logger="tachikoma_metrics"):
            families = registry.collect()
            registry.collect()
        (mine,) = [f for f in families if f.name == ERRORS]
        assert mine.help == "Mine."
        assert [value for _, value in mine.samples] == [7.0]
        assert registry.export_openmetrics().count(f"# TYPE {ERRORS} ") == 1
        result = check_metrics(registry.export_prometheus().encode())
        assert result.returncode == 0, (result.stdout + result.stderr).decode()
        registry.export_protobuf()
        left_out = [r for r in caplog.records if f"{ERRORS}_total is left out" in r.getMessage()]
        assert len(left_out) == 1
        caplog.clear()


def test_utf8_registries(caplog: pytest.LogCaptureFixture) -> None:
    """In a UTF-8 registry the self-metric is exported under every escaping scheme; a
    UTF-8 user metric that some scheme would write as its name wins instead of making
    every export under that scheme fail."""
    registry = MetricsRegistry(utf8_names=True)
    registry.register(Flaky())
    registry.gauge("café.temp", "Temp.").set(1)
    for scheme in SCHEMES:
        assert f"{ERRORS}_total" in registry.export_openmetrics(escaping=scheme)
        assert f"{ERRORS}_total" in registry.export_prometheus(escaping=scheme)
        registry.export_protobuf(escaping=scheme)
    clash = MetricsRegistry(utf8_names=True)
    clash.register(Flaky())
    clash.counter("tachikoma.metrics.collector.errors_total", "Mine.").inc(7)
    with caplog.at_level(logging.WARNING, logger="tachikoma_metrics"):
        for scheme in SCHEMES:
            text = clash.export_prometheus(escaping=scheme)
            assert "Mine." in text and "Collections that failed" not in text
            clash.export_openmetrics(escaping=scheme)
            clash.export_protobuf(escaping=scheme)
    assert f"{ERRORS}_total is left out" in caplog.text


def test_counts_are_exact_under_threads(registry: MetricsRegistry) -> None:
    """Eight threads collecting at once, two failing collector types: every failed
    collection is counted once, none lost."""
    flaky, other = Flaky(), OtherFailure()
    registry.register(flaky)
    registry.register(other)
    threads, rounds = 8, 200
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def scrape() -> None:
        try:
            start.wait()
            for _ in range(rounds):
                registry.collect()
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    workers = [threading.Thread(target=scrape) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    assert _counts(registry.collect()) == {
        "Flaky": threads * rounds + 1,
        "OtherFailure": threads * rounds + 1,
    }
