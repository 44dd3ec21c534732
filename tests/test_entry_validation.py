"""Text is checked where it enters: nothing a call accepts can break a later scrape.

A lone surrogate cannot be written as UTF-8, so help text, label values and the strings
of collector-built families that carry one are refused (or, for a collector, left out of
the export) instead of turning every later scrape into a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from prometheus_client.parser import text_string_to_metric_families

import tachikoma_metrics as metrics
from tachikoma_metrics import LabelSet, MetricFamily, MetricsRegistry, MetricType
from tachikoma_metrics.model import Exemplar

SURROGATE = "bad \ud800 text"


def _exports_work(registry: MetricsRegistry) -> dict[str, float]:
    """Every format exports; the text body's samples, parsed independently."""
    registry.export_openmetrics()
    registry.export_protobuf()
    text = registry.export_prometheus()
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}


@pytest.mark.parametrize("make", [metrics.Counter, metrics.Gauge, metrics.Histogram])
def test_help_with_a_lone_surrogate_is_refused(make: Callable[..., object]) -> None:
    """Help text that is not valid UTF-8 is refused when the family is defined, through
    the class, the registry and the facade, and nothing is registered."""
    registry = MetricsRegistry()
    with pytest.raises(ValueError, match=r"help for 'x_total'.*not valid UTF-8"):
        make("x_total", SURROGATE, registry=registry)
    method = getattr(registry, make.__name__.lower())  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="not valid UTF-8"):
        method("x_total", SURROGATE)
    with pytest.raises(TypeError, match="must be a str"):
        method("x_total", b"bytes help")
    assert registry.collect() == []
    registry.counter("ok_total", "Fine.").inc()
    assert _exports_work(registry) == {"ok_total": 1.0}


def test_label_value_with_a_lone_surrogate_is_refused() -> None:
    """A label value that is not valid UTF-8 creates no series."""
    registry = MetricsRegistry()
    family = registry.counter("calls_total", "Calls.", ["p"])
    with pytest.raises(ValueError, match="not valid UTF-8"):
        family.labels(SURROGATE)
    with pytest.raises(ValueError, match="not valid UTF-8"):
        family.labels(p=SURROGATE)
    family.labels("ok").inc()
    assert _exports_work(registry) == {"calls_total": 1.0}


def _gauge(
    name: str = "depth", help: str = "Depth.", values: tuple[str, ...] = ("a",)
) -> MetricFamily:
    labelnames = tuple(f"l{i}" for i in range(len(values)))
    return MetricFamily(name, MetricType.GAUGE, help, "", labelnames, [(LabelSet(values), 1.0)])


@pytest.mark.parametrize(
    ("family", "message"),
    [
        (_gauge(help=SURROGATE), "help of 'depth'"),
        (_gauge(values=(SURROGATE,)), "label value of 'depth'"),
        (_gauge(name="dépth\udfff"), "metric name"),
        (
            MetricFamily("depth", MetricType.GAUGE, "D.", "", ("a", "b"), [(LabelSet(("x",)), 1)]),
            "but a series with label values",
        ),
        (
            MetricFamily(
                "jobs",
                MetricType.COUNTER,
                "J.",
                "",
                (),
                [(LabelSet(()), 1.0)],
                exemplars=[Exemplar((("trace", SURROGATE),), 1.0)],
            ),
            "exemplar label of 'jobs'",
        ),
    ],
    ids=["help", "label-value", "name", "label-count", "exemplar"],
)
def test_collector_family_that_cannot_be_written_is_left_out(
    family: MetricFamily, message: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A collector's family with text that cannot be written (or series that do not
    match its label names) leaves that collector out of the export, logged; every format
    still serves the rest."""

    class Broken:
        def collect(self) -> list[MetricFamily]:
            return [family]

    registry = MetricsRegistry()
    registry.register(Broken())
    registry.gauge("fine", "Fine.").set(2)
    with caplog.at_level(logging.WARNING, logger="tachikoma_metrics"):
        assert _exports_work(registry) == {
            "fine": 2.0,
            # Broken failed once in each of the three exports, and says so in the next ones.
            "tachikoma_metrics_collector_errors_total": 3.0,
        }
    assert message in caplog.text
