"""The storage seam: a registry's storage chooses its instruments' value cells.

``conftest.py`` runs the instrument test modules a second time with ``CountingStorage``
as the default; these tests check that the seam is really taken (every write goes through
the chosen cells), that it changes nothing observable, and that the default storage adds
nothing to the classes as written.
"""

from __future__ import annotations

import gc
import tracemalloc

import pytest

import tachikoma_metrics as metrics
from counting_storage import CountingStorage
from tachikoma_metrics import MetricsRegistry, storage
from tachikoma_metrics.errors import RegistrationError


def _record(registry: MetricsRegistry) -> None:
    """The same calls on every instrument type, labelled and not."""
    c = registry.counter("jobs_total", "Jobs.")
    cl = registry.counter("calls_total", "Calls.", ("provider",))
    g = registry.gauge("depth", "Depth.")
    gl = registry.gauge("temperature", "Temp.", ("room",))
    h = registry.histogram("op_seconds", "Op.", buckets=(0.1, 1.0))
    hl = registry.histogram("call_seconds", "Calls.", ("provider",), buckets=(0.5,))
    for i in range(10):
        c.inc()
        c.inc_by(2)
        cl.labels("a" if i % 2 else "b").inc(3)
        g.inc(2)
        g.dec()
        gl.labels("kitchen").set(i)
        h.observe(i / 10)
        hl.labels(provider="x").observe(0.25)
    g.set(4.5)
    g.inc()
    with gl.labels("hall").track_inprogress():
        pass


def test_every_write_goes_through_the_registry_storage() -> None:
    """With ``CountingStorage``, each recording call of every instrument type, on a family
    and on a child, is counted exactly once."""
    counting = CountingStorage()
    registry = MetricsRegistry(storage=counting)
    _record(registry)
    assert counting.writes == {
        # 10 inc() on the family, 10 on children, and each inc_by() calls inc() once more
        "CounterCell.inc": 30,
        "CounterCell.inc_by": 10,
        "GaugeCell.inc": 12,  # 10 + 1 after set() + 1 from track_inprogress
        "GaugeCell.dec": 11,
        "GaugeCell.set": 11,
        "HistogramCell.observe": 20,
    }


def test_other_storage_changes_nothing_observable() -> None:
    """The same calls give the same exposition with either storage."""
    memory, counting = MetricsRegistry(), MetricsRegistry(storage=CountingStorage())
    _record(memory)
    _record(counting)
    assert counting.export_prometheus() == memory.export_prometheus()
    assert counting.export_openmetrics(created=False) == memory.export_openmetrics(created=False)


def test_default_storage_uses_the_classes_as_written() -> None:
    """The default storage wraps nothing: the concrete class of an instrument is its class
    as written plus the cell's storage slots, no method added; no instance has a dict."""
    registry = MetricsRegistry()
    assert registry.storage is storage.MEMORY
    made = [
        registry.counter("a_total", "A."),
        registry.gauge("b", "B."),
        registry.counter("c_total", "C.", ("x",)).labels("1"),
        registry.gauge("d", "D.", ("x",)).labels("1"),
    ]
    for instrument in made:
        concrete = type(instrument)
        assert len(concrete.__bases__) == 1
        added = {k for k in vars(concrete) if not k.startswith("__")}
        assert added <= set(concrete.__slots__), added
        assert not hasattr(instrument, "__dict__")
    assert isinstance(made[0], metrics.Counter)
    assert isinstance(made[2], metrics.CounterChild)


def test_standalone_and_facade_instruments_take_the_default_storage(
    monkeypatch: pytest.MonkeyPatch, fresh_facade: None
) -> None:
    """Instruments built on their own and facade instruments use the default storage;
    ``registry=`` builds for that registry's storage."""
    counting = CountingStorage()
    monkeypatch.setattr(storage, "MEMORY", counting)
    metrics.Counter("solo_total", "Solo.").inc()
    metrics.init()
    metrics.counter("facade_total", "Facade.").inc()
    other = CountingStorage()
    metrics.Counter("mine_total", "Mine.", registry=MetricsRegistry(storage=other)).inc()
    assert counting.writes == {"CounterCell.inc": 2}
    assert other.writes == {"CounterCell.inc": 1}


def test_paused_writes_skip_the_storage_until_init(fresh_facade: None) -> None:
    """A facade instrument is paused before ``init()``: its writes are validated and
    dropped before they reach any cell; after ``init()`` they reach the storage."""
    counting = CountingStorage()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(storage, "MEMORY", counting)
        c = metrics.counter("jobs_total", "Jobs.", ("kind",))
        child = c.labels("a")
        child.inc()
        with pytest.raises(ValueError, match="finite and >= 0"):
            child.inc(-1)
        assert counting.writes == {}
        metrics.init()
        child.inc()
        c.labels("b").inc()
        assert counting.writes == {"CounterCell.inc": 2}
        assert metrics.export_prometheus().count("jobs_total{") == 2


def test_family_of_another_storage_is_refused() -> None:
    """Registering a family whose cells come from another storage fails clearly: its
    values would not be where the registry's storage looks for them."""
    registry = MetricsRegistry(storage=CountingStorage())
    with pytest.raises(RegistrationError, match="build it with registry="):
        registry.register(metrics.Counter("x_total", "X."))


@pytest.mark.parametrize("make_storage", [storage.Storage, CountingStorage])
def test_children_cost_the_same_with_a_storage_that_adds_no_state(
    make_storage: type[storage.Storage],
) -> None:
    """A storage whose cells add no attributes costs no memory per child: the cell's
    storage attributes are the child's slots either way."""
    registry = MetricsRegistry(storage=make_storage())
    family = registry.counter("many_total", "Many.", ("i",))
    values = [str(i) for i in range(2000)]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for value in values:
        family.labels(value).inc()
    per_child = (tracemalloc.get_traced_memory()[0] - before) / len(values)
    tracemalloc.stop()
    assert per_child < 300, per_child
