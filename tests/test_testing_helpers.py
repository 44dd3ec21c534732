"""``tachikoma_metrics.testing``: ``sample_value`` reads exactly what the exports carry
(cross-checked against prometheus_client's OpenMetrics parser run on our export), and
``isolated()`` gives the facade a fresh registry and restores the previous state."""

from __future__ import annotations

import math
import threading
from typing import Any

import pytest
from prometheus_client.openmetrics import parser as om_parser

import tachikoma_metrics as metrics
from tachikoma_metrics import MetricsRegistry, _global
from tachikoma_metrics import collectors as ours
from tachikoma_metrics.collectors import (
    CounterMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    SummaryMetricFamily,
)
from tachikoma_metrics.instruments.info import Info
from tachikoma_metrics.instruments.stateset import StateSet
from tachikoma_metrics.testing import _samples, isolated, sample_value
from test_collector_builders import Custom, build


class _Yields:
    def __init__(self, *families: Any) -> None:
        self.families = families

    def collect(self) -> list[Any]:
        return list(self.families)


def _recorded() -> MetricsRegistry:
    """A registry with instruments of every built-in type and every builder."""
    registry = MetricsRegistry()
    tasks = registry.counter("tasks_total", "Tasks.", ["queue"])
    tasks.labels("fast").inc(3)
    tasks.labels("slow").inc()
    registry.gauge("level", "Level.").set(-2.5)
    latency = registry.histogram("wait_seconds", "Latency.", buckets=(0.1, 0.5, 1.0))
    for value in (0.05, 0.3, 0.3, 2.0):
        latency.observe(value)
    registry.get_or_create(Info, "release", "Release.").info({"version": "1.2"})
    registry.get_or_create(StateSet, "phase", "Phase.", states=("idle", "busy")).state("busy")
    registry.register(Custom(ours))
    quantiles = [(0.5, 0.3), (0.99, 1.5)]
    registry.register(_Yields(SummaryMetricFamily("rpc", "R.", 4, 2.0, quantiles=quantiles)))
    return registry


def test_every_exported_sample_is_found_with_its_value() -> None:
    """Every sample prometheus_client's OpenMetrics parser reads from our export (every
    type, created series included) is what ``sample_value`` returns for its name and
    labels; and there are as many of them as the snapshot has."""
    registry = _recorded()
    parsed = [
        s
        for family in om_parser.text_string_to_metric_families(registry.export_openmetrics())
        for s in family.samples
    ]
    every_kind = {
        "tasks_total",
        "tasks_created",
        "level",
        "wait_seconds_bucket",
        "wait_seconds_sum",
        "wait_seconds_count",
        "wait_seconds_created",
        "release_info",
        "phase",
        "rpc",
        "rpc_sum",
        "rpc_count",
        "queue_bytes_bucket",
        "queue_bytes_gcount",
        "queue_bytes_gsum",
        "mystery",
    }
    assert every_kind <= {s.name for s in parsed}
    # And the other way round: the helper knows of no sample the export lacks.
    assert sum(len(list(_samples(f, True))) for f in registry.collect()) == len(parsed)
    for sample in parsed:
        found = sample_value(registry, sample.name, sample.labels)
        assert found == pytest.approx(float(sample.value), rel=1e-15), sample
        assert found is not None and isinstance(found, float)


def test_spellings_of_bounds_and_quantiles() -> None:
    """``le`` and ``quantile`` compare as numbers: "0.5", 0.5, "+Inf", inf are all fine."""
    registry = _recorded()
    for le in ("0.5", 0.5, "5e-1"):
        assert sample_value(registry, "wait_seconds_bucket", {"le": le}) == 3.0
    for le in ("+Inf", "Inf", math.inf):
        assert sample_value(registry, "wait_seconds_bucket", {"le": le}) == 4.0
    assert sample_value(registry, "wait_seconds_bucket", {"le": "0.25"}) is None
    assert sample_value(registry, "wait_seconds_bucket", {"path": "/", "le": 0.5}) is None
    assert sample_value(registry, "wait_seconds_bucket") is None
    assert sample_value(registry, "latency_bytes_bucket", {"le": 0.5}) is None
    assert sample_value(registry, "rpc", {"quantile": "0.99"}) == 1.5
    assert sample_value(registry, "rpc", {"quantile": 0.5}) == 0.3
    assert sample_value(registry, "rpc", {"quantile": 0.9}) is None
    assert sample_value(registry, "rpc", {}) is None
    assert sample_value(registry, "rpc_count") == 4.0
    with pytest.raises(ValueError, match="le label 'half' is not a number"):
        sample_value(registry, "wait_seconds_bucket", {"le": "half"})


def test_absent_samples_are_none() -> None:
    """Labels must equal the sample's exactly (a subset or superset is another series);
    unknown names, a family name that is no sample name, and ``_created`` where the
    registry writes none give ``None``."""
    registry = _recorded()
    assert sample_value(registry, "tasks_total", {"queue": "fast"}) == 3.0
    assert sample_value(registry, "tasks_total") is None
    assert sample_value(registry, "tasks_total", {"queue": "fast", "x": "y"}) is None
    assert sample_value(registry, "tasks_total", {"queue": "medium"}) is None
    assert sample_value(registry, "tasks") is None
    assert sample_value(registry, "nothing_total") is None
    assert sample_value(registry, "level") == -2.5
    assert sample_value(registry, "phase", {"phase": "busy"}) == 1.0
    assert sample_value(registry, "phase", {"phase": "idle"}) == 0.0
    assert sample_value(registry, "wait_seconds_sum") == pytest.approx(2.65)
    assert sample_value(registry, "queue_bytes_gcount", {"q": "a"}) == 5.0
    assert sample_value(registry, "queue_bytes_gsum", {"q": "b"}) == -7.5
    created = sample_value(registry, "tasks_created", {"queue": "fast"})
    assert created is not None and created > 1.6e9
    quiet = MetricsRegistry(created_series=False)
    quiet.counter("jobs_total", "Jobs.").inc()
    assert sample_value(quiet, "jobs_total") == 1.0
    assert sample_value(quiet, "jobs_created") is None


def test_info_series_lack_keys_they_do_not_have() -> None:
    """An info key a series lacks (written ``""``, no label to Prometheus) is not among
    its labels."""
    info = InfoMetricFamily("node", "N.", labels=["host"])
    info.add_metric(["h1"], {"os": "linux"})
    info.add_metric(["h2"], {"kernel": "6.1"})
    registry = MetricsRegistry()
    registry.register(_Yields(info))
    assert sample_value(registry, "node_info", {"host": "h1", "os": "linux"}) == 1.0
    assert sample_value(registry, "node_info", {"host": "h1", "os": "linux", "kernel": ""}) is None


def test_any_collector_can_be_read() -> None:
    """A custom collector under test is read directly, without a registry."""
    collector = Custom(ours)
    assert sample_value(collector, "jobs_total", {"queue": "slow"}) == 0.5
    assert sample_value(collector, "jobs_created", {"queue": "fast"}) == 1700000000.5
    assert sample_value(collector, "size_bucket", {"le": 10}) == 1.0
    assert len(build(ours)) == 16


def test_bad_queries_are_refused() -> None:
    registry = _recorded()
    with pytest.raises(TypeError, match="labels must be a mapping"):
        sample_value(registry, "tasks_total", [("queue", "fast")])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="label 'queue' value must be a str"):
        sample_value(registry, "tasks_total", {"queue": 1})
    with pytest.raises(TypeError, match="label name must be a str"):
        sample_value(registry, "tasks_total", {1: "x"})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="label 'le' value must be a str"):
        sample_value(registry, "wait_seconds_bucket", {"le": True})


def test_counter_with_created_from_a_builder() -> None:
    family = CounterMetricFamily("c", "C.", value=2, created=1700000000.0)
    registry = MetricsRegistry()
    registry.register(_Yields(family))
    assert sample_value(registry, "c_total") == 2.0
    assert sample_value(registry, "c_created") == 1700000000.0
    histogram = HistogramMetricFamily("h", "H.", labels=["k"])
    histogram.add_metric(["a"], [("1", 1), ("+Inf", 2)], 3.0, created=1700000001.0)
    registry.register(_Yields(histogram))
    assert sample_value(registry, "h_created", {"k": "a"}) == 1700000001.0
    assert sample_value(registry, "h_count", {"k": "a"}) == 2.0


# -- isolated() --------------------------------------------------------------------------------


def _state() -> tuple[MetricsRegistry | None, bool]:
    return _global._registry, _global._initialized


def test_isolated_gives_a_fresh_initialised_registry(fresh_facade: None) -> None:
    """Inside, the facade records into a new registry (``init()`` returns it); outside,
    the previous state is back: here, no registry and ``init()`` not run."""
    assert _state() == (None, False)
    with isolated() as registry:
        assert metrics.init() is registry
        assert _global.current_registry() is registry
        metrics.counter("jobs_total", "Jobs.").inc(2)
        assert sample_value(registry, "jobs_total") == 2.0
        assert "jobs_total 2" in metrics.export_prometheus()
    assert _state() == (None, False)
    assert metrics.export_prometheus() == ""


def test_isolated_restores_after_an_error_and_nests(fresh_facade: None) -> None:
    """The previous registry and initialised flag come back when the block raises, and
    nested blocks each restore their own outer state; the outer registry never sees
    what was recorded inside."""
    outer = metrics.init()
    metrics.counter("outer_total", "Outer.").inc()
    with pytest.raises(RuntimeError, match="boom"), isolated() as first:
        metrics.counter("inner_total", "Inner.").inc()
        with isolated() as second:
            assert second is not first and second is not outer
            metrics.gauge("deepest", "Deepest.").set(1)
            raise RuntimeError("boom")
    assert _state() == (outer, True)
    assert sample_value(outer, "outer_total") == 1.0
    assert sample_value(outer, "inner_total") is None
    assert sample_value(first, "inner_total") == 1.0
    assert sample_value(first, "deepest") is None
    with isolated() as again:
        with isolated():
            pass
        assert _state() == (again, True)
    assert _state() == (outer, True)


def test_a_paused_facade_stays_paused_after_isolation(fresh_facade: None) -> None:
    """A facade instrument made before ``init()`` is paused; isolating a test does not
    resume it, and the facade is uninitialised again afterwards."""
    early = metrics.counter("early_total", "Early.")
    paused = _global._facade_registry()
    with isolated():
        early.inc()
    assert _state() == (paused, False)
    registry = metrics.init()
    assert registry is paused
    assert sample_value(registry, "early_total") == 0.0
    early.inc()
    assert sample_value(registry, "early_total") == 1.0


def test_isolated_blocks_in_a_thread_restore_their_own_state(fresh_facade: None) -> None:
    """Used from one thread at a time (its documented limit), a block entered in another
    thread restores the state that thread saw."""
    outer = metrics.init()
    seen: list[MetricsRegistry] = []

    def body() -> None:
        with isolated() as registry:
            seen.append(registry)

    worker = threading.Thread(target=body)
    worker.start()
    worker.join()
    assert len(seen) == 1 and seen[0] is not outer
    assert _state() == (outer, True)
