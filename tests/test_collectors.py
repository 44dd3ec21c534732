"""The collector protocol: the registry exports any object whose ``collect()`` returns
``MetricFamily`` snapshots, checks names across instruments and collectors, and leaves a
failing collector out of an export without failing the rest."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import pytest
from prometheus_client.parser import text_string_to_metric_families

import tachikoma_metrics as metrics
from tachikoma_metrics import LabelSet, MetricFamily, MetricsRegistry, MetricType
from tachikoma_metrics.errors import RegistrationError
from tachikoma_metrics.registry import Collector


def _gauge(name: str, value: float, labelnames: tuple[str, ...] = ()) -> MetricFamily:
    labels = LabelSet(tuple(f"v{i}" for i in range(len(labelnames))))
    return MetricFamily(name, MetricType.GAUGE, f"{name} help", "", labelnames, [(labels, value)])


class Static:
    """Yields fixed families; describes them only if asked to."""

    def __init__(self, *families: MetricFamily) -> None:
        self.families = families
        self.collected = 0

    def collect(self) -> Iterable[MetricFamily]:
        self.collected += 1
        return iter(self.families)  # any iterable will do


class Described(Static):
    def describe(self) -> list[MetricFamily]:
        return [MetricFamily(f.name, f.type, f.help, f.unit, f.labelnames) for f in self.families]


class Failing:
    def __init__(self, message: str = "backend down") -> None:
        self.message = message

    def collect(self) -> list[MetricFamily]:
        raise RuntimeError(self.message)


ERRORS = "tachikoma_metrics_collector_errors_total"


def _samples(registry: MetricsRegistry) -> dict[str, float]:
    text = registry.export_prometheus()
    return {
        s.name + str(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _user_samples(registry: MetricsRegistry) -> dict[str, float]:
    """``_samples`` without the registry's self-metric counting failed collections."""
    return {k: v for k, v in _samples(registry).items() if not k.startswith(ERRORS)}


def test_any_collector_is_exported_with_the_instruments(registry: MetricsRegistry) -> None:
    """A registered collector's families appear in every format, sorted by name among
    the instrument families."""
    registry.counter("b_total", "B.").inc(2)
    registry.register(Static(_gauge("a_temperature", 21.5), _gauge("c_depth", 3, ("q",))))
    names = [family.name for family in registry.collect()]
    assert names == ["a_temperature", "b", "c_depth"]
    assert _samples(registry) == {
        "a_temperature[]": 21.5,
        "b_total[]": 2.0,
        "c_depth[('q', 'v0')]": 3.0,
    }
    assert "a_temperature 21.5" in registry.export_openmetrics()
    assert b"a_temperature" in registry.export_protobuf()


def test_families_are_collectors(registry: MetricsRegistry) -> None:
    """Instrument families implement the protocol the registry depends on."""
    family = registry.counter("jobs_total", "Jobs.")
    assert isinstance(family, Collector)
    (snapshot,) = family.collect()
    assert snapshot.name == "jobs"
    (described,) = family.describe()
    assert (described.name, described.type, described.samples) == ("jobs", MetricType.COUNTER, ())


def test_described_names_clash_at_registration(registry: MetricsRegistry) -> None:
    """A collector that describes itself is checked against instruments (and the other way
    round) when registered, with every sample name a type implies."""
    registry.counter("jobs_total", "Jobs.")
    with pytest.raises(RegistrationError, match="'jobs_total' is already used"):
        registry.register(Described(_gauge("jobs_total", 1)))
    registry.register(Described(_gauge("depth", 1)))
    with pytest.raises(RegistrationError, match="'depth' is already used"):
        registry.gauge("depth", "Depth.")
    with pytest.raises(RegistrationError, match="already used"):
        registry.histogram("depth", "Depth.")
    assert [f.name for f in registry.collect()] == ["depth", "jobs"]


def test_undescribed_clash_is_left_out_of_the_export(
    registry: MetricsRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    """A collector without ``describe()`` is checked at each export: one that exposes a
    name an instrument owns is left out, logged, and the rest is served."""
    registry.counter("jobs_total", "Jobs.").inc()
    intruder = Static(_gauge("jobs_total", 99), _gauge("fine", 1))
    registry.register(intruder)
    with caplog.at_level(logging.WARNING, logger="tachikoma_metrics"):
        assert _samples(registry) == {
            "jobs_total[]": 1.0,
            f"{ERRORS}[('collector', 'Static')]": 1.0,
        }
    assert "exposes 'jobs_total'" in caplog.text
    assert intruder.collected == 1


def test_two_undescribed_collectors_exposing_one_name(registry: MetricsRegistry) -> None:
    """Between two collectors that cannot describe themselves, the first one collected
    keeps a name; the other is left out of that export."""
    first, second = Static(_gauge("depth", 1)), Static(_gauge("depth", 2))
    registry.register(first)
    registry.register(second)
    assert _user_samples(registry) == {"depth[]": 1.0}
    assert first.collected == second.collected == 1


def test_failing_collector_is_left_out_and_logged_once(
    registry: MetricsRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    """A collector that raises is left out of the export; the error is logged once per
    distinct message (logger ``tachikoma_metrics``), and every other family is served."""
    registry.gauge("depth", "Depth.").set(3)
    failing = Failing()
    registry.register(failing)
    with caplog.at_level(logging.WARNING, logger="tachikoma_metrics"):
        for _ in range(3):
            assert _user_samples(registry) == {"depth[]": 3.0}
            assert "depth 3.0" in registry.export_openmetrics()
        failing.message = "another failure"
        assert _user_samples(registry) == {"depth[]": 3.0}
    records = [r for r in caplog.records if r.name == "tachikoma_metrics"]
    assert [r.levelno for r in records] == [logging.WARNING, logging.WARNING]
    assert "Failing failed: RuntimeError: backend down" in records[0].getMessage()
    assert "another failure" in records[1].getMessage()
    assert records[0].exc_info is not None


@pytest.mark.parametrize(
    "result",
    [[42], ["not a family"], None, [_gauge("ok", 1), object()]],
    ids=["int", "str", "none", "mixed"],
)
def test_collector_returning_something_else_is_left_out(
    registry: MetricsRegistry, result: object, caplog: pytest.LogCaptureFixture
) -> None:
    """``collect()`` must return ``MetricFamily`` objects; anything else leaves that
    collector out of the export (all of its families), logged."""

    class Odd:
        def collect(self) -> object:
            return result

    registry.register(Odd())  # type: ignore[arg-type]
    registry.gauge("depth", "Depth.").set(1)
    with caplog.at_level(logging.WARNING, logger="tachikoma_metrics"):
        assert [f.name for f in registry.collect()] == ["depth", ERRORS[: -len("_total")]]
    assert "collector Odd failed" in caplog.text


def test_only_collectors_can_be_registered(registry: MetricsRegistry) -> None:
    """An object without ``collect()`` is refused with ``TypeError`` naming it; so is one
    whose ``describe()`` returns something other than families."""
    with pytest.raises(TypeError, match="collect\\(\\) method"):
        registry.register(object())  # type: ignore[arg-type]

    class BadDescribe(Static):
        def describe(self) -> list[str]:
            return ["depth"]

    with pytest.raises(TypeError, match="describe\\(\\) must return MetricFamily"):
        registry.register(BadDescribe(_gauge("depth", 1)))
    assert registry.collect() == []


def test_described_names_follow_the_registry_rules() -> None:
    """A described family name outside the legacy charset needs a UTF-8 registry."""
    with pytest.raises(ValueError, match=r"invalid metric name 'a\.b'"):
        MetricsRegistry().register(Described(_gauge("a.b", 1)))
    MetricsRegistry(utf8_names=True).register(Described(_gauge("a.b", 1)))


def test_name_filter_skips_described_collectors_without_collecting(
    registry: MetricsRegistry,
) -> None:
    """``?name[]=`` filtering: a described collector whose names are not asked for is not
    even collected; the others are collected and only the families asked for kept."""
    described = Described(_gauge("wanted", 1), _gauge("other", 2))
    skipped = Described(_gauge("skipped", 3))
    undescribed = Static(_gauge("also_wanted", 4), _gauge("not_this", 5))
    for collector in (described, skipped, undescribed):
        registry.register(collector)
    names = [f.name for f in registry.collect({"wanted", "also_wanted"})]
    assert names == ["also_wanted", "wanted"]
    assert skipped.collected == 0


def test_unregister_and_get(registry: MetricsRegistry) -> None:
    """``get()`` finds the collector by any name it exposes; ``unregister()`` frees them."""
    collector = Described(_gauge("depth", 1))
    registry.register(collector)
    assert registry.get("depth") is collector
    with pytest.raises(RegistrationError, match="already registered"):
        registry.register(collector)
    registry.unregister(collector)
    assert registry.get("depth") is None
    assert registry.collect() == []
    with pytest.raises(KeyError):
        registry.unregister(collector)
    registry.gauge("depth", "Now an instrument.").set(2)
    assert _samples(registry) == {"depth[]": 2.0}


def test_collector_in_the_global_registry(fresh_facade: None) -> None:
    """The global registry takes collectors like any other."""
    registry = metrics.init()
    registry.register(Static(_gauge("depth", 7)))
    assert "depth 7" in metrics.export_prometheus()
