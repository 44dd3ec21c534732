"""``MetricsRegistry(target_info={...})``: the OpenMetrics ``target_info`` family (an info
family named ``target``), in every format, its names under the registry's rules."""

from __future__ import annotations

from typing import Any

import prometheus_client
import pytest
from prometheus_client.core import InfoMetricFamily as PcInfoMetricFamily
from prometheus_client.openmetrics import exposition as pc_openmetrics
from prometheus_client.openmetrics import parser as om_parser
from prometheus_client.parser import text_string_to_metric_families

from metrics_proto import decode_families
from promtool import check_metrics
from tachikoma_metrics import MetricsRegistry, MetricType, RegistrationError
from tachikoma_metrics.testing import sample_value

TARGET = {"service_name": "api", "deployment_environment": "prod"}


class _PcTarget:
    def collect(self) -> list[Any]:
        return [PcInfoMetricFamily("target", "Target metadata", value=TARGET)]


def _reference() -> prometheus_client.CollectorRegistry:
    theirs = prometheus_client.CollectorRegistry()
    theirs.register(_PcTarget())  # type: ignore[arg-type]
    return theirs


def _samples(families: Any) -> list[tuple[Any, ...]]:
    return sorted(
        (f.name, f.type, tuple(sorted(s.labels.items())), float(s.value))
        for f in families
        for s in f.samples
    )


def test_snapshot_and_default() -> None:
    """One INFO family ``target``, labels sorted by name, one series of value 1; none
    without ``target_info`` (the default registry is unchanged)."""
    registry = MetricsRegistry(target_info=TARGET)
    (family,) = registry.collect()
    assert (family.name, family.type, family.help) == ("target", MetricType.INFO, "Target metadata")
    assert family.labelnames == ("deployment_environment", "service_name")
    ((series, value),) = family.samples
    assert (series.label_values, value) == (("prod", "api"), 1.0)
    assert registry.get_target_info() == TARGET
    assert MetricsRegistry().collect() == []
    assert MetricsRegistry().get_target_info() is None


def test_openmetrics_is_what_prometheus_client_writes() -> None:
    """``# TYPE target info`` and ``target_info{...} 1.0``; the strict parser reads it as
    prometheus_client's exposition of ``InfoMetricFamily("target", ...)``."""
    registry = MetricsRegistry(target_info=TARGET)
    registry.counter("jobs_total", "Jobs.").inc()
    body = registry.export_openmetrics()
    lines = body.splitlines()
    assert "# TYPE target info" in lines
    assert 'target_info{deployment_environment="prod",service_name="api"} 1.0' in lines
    ours = [f for f in om_parser.text_string_to_metric_families(body) if f.name == "target"]
    reference = om_parser.text_string_to_metric_families(
        pc_openmetrics.generate_latest(_reference()).decode()
    )
    assert _samples(ours) == _samples(reference)


def test_text_is_a_gauge_that_promtool_accepts() -> None:
    """Text 0.0.4: a gauge ``target_info`` of value 1, as prometheus_client writes it."""
    registry = MetricsRegistry(target_info=TARGET)
    body = registry.export_prometheus()
    assert "# TYPE target_info gauge" in body.splitlines()
    reference = prometheus_client.generate_latest(_reference()).decode()
    assert _samples(text_string_to_metric_families(body)) == _samples(
        text_string_to_metric_families(reference)
    )
    result = check_metrics(body.encode())
    assert result.returncode == 0, (result.stdout + result.stderr).decode()


def test_protobuf_is_a_gauge_family() -> None:
    registry = MetricsRegistry(target_info=TARGET)
    (family,) = decode_families(registry.export_protobuf())
    assert (family.name, family.type, family.help) == ("target_info", 1, "Target metadata")
    (metric,) = family.metric
    assert {p.name: p.value for p in metric.label} == TARGET
    assert metric.gauge.value == 1.0


def test_its_names_are_taken(registry: MetricsRegistry) -> None:
    """``target`` and ``target_info`` belong to it: instruments and described collectors
    of those names are refused; ``?name[]=target_info`` finds it; ``sample_value`` too."""
    with_target = MetricsRegistry(target_info=TARGET)
    with pytest.raises(RegistrationError, match="'target_info' is already used"):
        with_target.gauge("target_info", "Mine.")
    with pytest.raises(RegistrationError, match="'target' is already used"):
        with_target.counter("target_total", "Mine.")
    with_target.gauge("other", "Other.").set(1)
    assert [f.name for f in with_target.collect({"target_info"})] == ["target"]
    assert sample_value(with_target, "target_info", TARGET) == 1.0
    assert sample_value(with_target, "target_info", {"service_name": "api"}) is None


def test_names_follow_the_registry_rules() -> None:
    """Label names legacy by default, any UTF-8 in a UTF-8 registry (escaped or quoted as
    the scrape asks); values must be ``str``; the given mapping is copied."""
    with pytest.raises(ValueError, match=r"invalid label name 'service\.name'"):
        MetricsRegistry(target_info={"service.name": "api"})
    utf8 = MetricsRegistry(utf8_names=True, target_info={"service.name": "api"})
    assert 'target_info{service_name="api"} 1.0' in utf8.export_openmetrics()
    assert '{"service.name"="api"} 1.0' in utf8.export_openmetrics(escaping="allow-utf-8")
    given = dict(TARGET)
    registry = MetricsRegistry(target_info=given)
    given["service_name"] = "changed"
    copy = registry.get_target_info()
    assert copy == TARGET
    assert copy is not None
    copy["service_name"] = "changed too"
    assert registry.get_target_info() == TARGET


def test_set_and_remove_later(registry: MetricsRegistry) -> None:
    """``set_target_info`` adds, replaces or (``None``) removes the family, as
    prometheus_client's ``set_target_info`` does; bad labels, or the names taken by
    another collector, change nothing."""
    registry.set_target_info({"service_name": "api"})
    assert sample_value(registry, "target_info", {"service_name": "api"}) == 1.0
    registry.set_target_info({"service_name": "worker", "zone": "b"})
    assert sample_value(registry, "target_info", {"service_name": "api"}) is None
    assert sample_value(registry, "target_info", {"service_name": "worker", "zone": "b"}) == 1.0
    with pytest.raises(ValueError, match="invalid label name '__zone'"):
        registry.set_target_info({"__zone": "c"})
    assert registry.get_target_info() == {"service_name": "worker", "zone": "b"}
    registry.set_target_info(None)
    assert registry.get_target_info() is None
    assert registry.collect() == []
    registry.gauge("target_info", "Mine.").set(3)
    with pytest.raises(RegistrationError, match="'target_info' is already used"):
        registry.set_target_info({"service_name": "api"})
    assert registry.get_target_info() is None
    assert sample_value(registry, "target_info") == 3.0
    unregistered = MetricsRegistry(target_info={"a": "b"})
    unregistered.unregister(unregistered.get("target_info"))
    assert unregistered.get_target_info() is None
    unregistered.set_target_info({"a": "c"})
    assert unregistered.get_target_info() == {"a": "c"}


@pytest.mark.parametrize(
    ("target", "error", "match"),
    [
        ({"service_name": 1}, TypeError, "target_info value of 'service_name' must be a str"),
        ({"__name": "x"}, ValueError, "invalid label name '__name'"),
        ({1: "x"}, TypeError, "label name must be a str, got 1"),
        ({}, ValueError, "needs at least one label"),
        ([("service_name", "api")], TypeError, "target_info must be a mapping"),
        ({"service_name": "\udc80"}, ValueError, "not valid UTF-8"),
    ],
)
def test_bad_target_info(target: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        MetricsRegistry(target_info=target)
