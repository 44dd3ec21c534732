"""The registry: get-or-create, name clashes, standalone registration and units."""

from __future__ import annotations

import pytest

from tachikoma_metrics import Counter, Gauge, Histogram, MetricsRegistry
from tachikoma_metrics.errors import RegistrationError


def test_get_or_create_returns_the_same_instrument(registry: MetricsRegistry) -> None:
    """The same name with the same definition returns the very same object, for every type."""
    c = registry.counter("jobs_total", "Jobs.", labelnames=("kind",))
    g = registry.gauge("queue_depth", "Depth.", unit="")
    h = registry.histogram("op_seconds", "Op.", buckets=(0.1, 1), unit="seconds")
    assert registry.counter("jobs_total", "Jobs.", labelnames=("kind",)) is c
    assert registry.counter("jobs_total", "Jobs.", labelnames=["kind"]) is c
    assert registry.gauge("queue_depth", "Depth.") is g
    assert registry.histogram("op_seconds", "Op.", buckets=[0.1, 1.0], unit="seconds") is h
    assert (
        registry.histogram("op_seconds", "Op.", buckets=(0.1, 1, float("inf")), unit="seconds") is h
    )


def test_get_or_create_shares_values(registry: MetricsRegistry) -> None:
    """Two get-or-create calls write the same series."""
    registry.counter("jobs_total", "Jobs.").inc()
    registry.counter("jobs_total", "Jobs.").inc(2)
    assert registry.counter("jobs_total", "Jobs.").get() == 3.0


def test_registries_are_independent() -> None:
    """Two registries never share families or values."""
    a, b = MetricsRegistry(), MetricsRegistry()
    a.counter("jobs_total", "Jobs.").inc()
    assert b.counter("jobs_total", "Jobs.").get() == 0.0
    assert (
        b.export_prometheus()
        == "# HELP jobs_total Jobs.\n# TYPE jobs_total counter\njobs_total 0\n"
    )


def test_other_type_raises_saying_type(registry: MetricsRegistry) -> None:
    """The same name with another type raises ``ValueError`` naming both types."""
    registry.gauge("thing", "Thing.")
    with pytest.raises(ValueError) as info:
        registry.histogram("thing", "Thing.")
    message = str(info.value)
    assert "type" in message
    assert "gauge" in message
    assert "histogram" in message


def test_other_labelnames_raise_saying_labelnames(registry: MetricsRegistry) -> None:
    """Other label names (or the same ones in another order) raise naming ``labelnames``."""
    registry.counter("jobs_total", "Jobs.", labelnames=("kind", "queue"))
    for other in [(), ("kind",), ("queue", "kind"), ("kind", "queue", "x")]:
        with pytest.raises(ValueError) as info:
            registry.counter("jobs_total", "Jobs.", labelnames=other)
        message = str(info.value)
        assert "labelnames" in message
        assert "type" not in message


def test_other_unit_raises_saying_unit(registry: MetricsRegistry) -> None:
    """The same name with another unit raises ``ValueError`` naming ``unit``."""
    registry.gauge("disk_bytes", "Disk.")
    with pytest.raises(ValueError) as info:
        registry.gauge("disk_bytes", "Disk.", unit="bytes")
    assert "unit" in str(info.value)
    assert "'bytes'" in str(info.value)


def test_other_buckets_raise_saying_buckets(registry: MetricsRegistry) -> None:
    """The same histogram with other buckets raises ``ValueError`` naming ``buckets``."""
    registry.histogram("op_seconds", "Op.", buckets=(0.1, 1))
    with pytest.raises(ValueError) as info:
        registry.histogram("op_seconds", "Op.", buckets=(0.1, 2))
    assert "buckets" in str(info.value)
    with pytest.raises(ValueError, match="buckets"):
        registry.histogram("op_seconds", "Op.")


def test_conflict_leaves_the_registered_family_in_place(registry: MetricsRegistry) -> None:
    """A refused get-or-create changes nothing: the original family still records and exports."""
    c = registry.counter("jobs_total", "Jobs.")
    c.inc()
    with pytest.raises(ValueError):
        registry.gauge("jobs_total", "Jobs.")
    with pytest.raises(ValueError):
        registry.counter("jobs_total", "Jobs.", labelnames=("x",))
    assert registry.counter("jobs_total", "Jobs.") is c
    assert registry.export_prometheus() == (
        "# HELP jobs_total Jobs.\n# TYPE jobs_total counter\njobs_total 1\n"
    )


@pytest.mark.parametrize(
    ("first", "second", "clash"),
    [
        (("counter", "x_total"), ("gauge", "x_total"), "x_total"),
        (("gauge", "x_total"), ("counter", "x_total"), "x_total"),
        (("gauge", "x_total"), ("counter", "x"), "x_total"),
        (("histogram", "x"), ("gauge", "x_count"), "x_count"),
        (("histogram", "x"), ("gauge", "x_sum"), "x_sum"),
        (("histogram", "x"), ("counter", "x_bucket"), "x_bucket"),
        (("gauge", "x_bucket"), ("histogram", "x"), "x_bucket"),
        (("counter", "x"), ("gauge", "x"), "x"),
        (("gauge", "x"), ("counter", "x"), "x"),
    ],
)
def test_series_names_clash_across_families(
    registry: MetricsRegistry, first: tuple[str, str], second: tuple[str, str], clash: str
) -> None:
    """Two families that would expose the same series name cannot both exist."""
    getattr(registry, first[0])(first[1], "First.")
    with pytest.raises(ValueError) as info:
        getattr(registry, second[0])(second[1], "Second.")
    assert repr(clash) in str(info.value) or first[0] in str(info.value)
    text = registry.export_prometheus()
    assert "Second." not in text
    assert "First." in text


def test_register_and_unregister_standalone_counter(registry: MetricsRegistry) -> None:
    """A standalone ``Counter`` can be registered, exported, unregistered and registered again."""
    c = Counter("x_total", "help")
    c.inc(4)
    registry.register(c)
    assert registry.get("x_total") is c
    assert (
        registry.export_prometheus() == "# HELP x_total help\n# TYPE x_total counter\nx_total 4\n"
    )
    assert registry.counter("x_total", "help") is c
    registry.unregister(c)
    assert registry.get("x_total") is None
    assert registry.export_prometheus() == ""
    registry.register(c)
    assert (
        registry.export_prometheus() == "# HELP x_total help\n# TYPE x_total counter\nx_total 4\n"
    )


def test_register_twice_or_with_taken_name_raises(registry: MetricsRegistry) -> None:
    """Registering the same family twice, or another family with a taken name, raises."""
    c = Counter("x_total", "help")
    registry.register(c)
    with pytest.raises(ValueError):
        registry.register(c)
    with pytest.raises(ValueError, match="already used"):
        registry.register(Counter("x_total", "help"))
    with pytest.raises(ValueError, match="x_total"):
        registry.register(Gauge("x_total", "help"))
    with pytest.raises(ValueError):
        registry.register(Gauge("x", "help"))
    assert registry.get("x_total") is c


def test_unregister_frees_every_name(registry: MetricsRegistry) -> None:
    """After ``unregister``, every series name of the family is free again."""
    h = Histogram("x", "help")
    registry.register(h)
    registry.unregister(h)
    registry.gauge("x_count", "help")
    registry.gauge("x_bucket", "help")
    registry.counter("x", "help")


def test_unregister_unknown_raises_key_error(registry: MetricsRegistry) -> None:
    """Unregistering a family that is not registered here raises ``KeyError``."""
    registered = registry.counter("x_total", "help")
    with pytest.raises(KeyError):
        registry.unregister(Counter("x_total", "help"))  # same name, other object
    with pytest.raises(KeyError):
        registry.unregister(Gauge("y", "help"))
    assert registry.get("x_total") is registered


def test_register_rejects_non_metrics(registry: MetricsRegistry) -> None:
    """Only metric families can be registered."""
    with pytest.raises(TypeError):
        registry.register("x_total")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "name", "unit"),
    [
        ("gauge", "disk_bytes", "bytes"),
        ("histogram", "op_seconds", "seconds"),
        ("counter", "op_seconds_total", "seconds"),
        ("counter", "op_seconds", "seconds"),
    ],
)
def test_unit_that_is_a_name_suffix_is_accepted(
    registry: MetricsRegistry, kind: str, name: str, unit: str
) -> None:
    """A unit is accepted when the name ends with ``_<unit>`` (counters before ``_total``)."""
    assert getattr(registry, kind)(name, "Help.", unit=unit).unit == unit


@pytest.mark.parametrize(
    ("kind", "name", "unit"),
    [
        ("gauge", "disk", "bytes"),
        ("gauge", "diskbytes", "bytes"),
        ("gauge", "disk_bytes_free", "bytes"),
        ("histogram", "op", "seconds"),
        ("counter", "op_total", "seconds"),
    ],
)
def test_unit_that_is_not_a_name_suffix_raises(
    registry: MetricsRegistry, kind: str, name: str, unit: str
) -> None:
    """A unit that is not a suffix of the name raises ``ValueError`` naming the unit."""
    with pytest.raises(ValueError, match=unit):
        getattr(registry, kind)(name, "Help.", unit=unit)


def test_labelnames_by_position_in_classes_and_registry(registry: MetricsRegistry) -> None:
    """Label names are the third positional argument everywhere, as in
    ``prometheus_client``: ``Counter("x_total", "help", ["a", "b"])``."""
    c = Counter("x_total", "Help.", ["a", "b"])
    assert c.labelnames == ("a", "b")
    assert Gauge("g", "Help.", ("a",)).labelnames == ("a",)
    assert Histogram("h", "Help.", ["a"], buckets=(1,)).labelnames == ("a",)
    made = registry.counter("x_total", "Help.", ["a", "b"])
    assert registry.counter("x_total", "Help.", labelnames=["a", "b"]) is made
    made.labels("1", "2").inc()
    assert 'x_total{a="1",b="2"} 1' in registry.export_prometheus()
    with pytest.raises(TypeError, match="not the str"):
        Counter("y_total", "Help.", "ab")


def test_registry_argument_registers_on_construction(registry: MetricsRegistry) -> None:
    """``Counter(..., registry=r)`` is registered in ``r`` when built (no empty page), with
    the registry's naming rules; a second one with the same name is a clash, not a
    get-or-create."""
    c = Counter("jobs_total", "Jobs.", registry=registry)
    c.inc()
    assert registry.get("jobs_total") is c
    assert "jobs_total 1" in registry.export_prometheus()
    with pytest.raises(RegistrationError, match="already used"):
        Counter("jobs_total", "Jobs.", registry=registry)
    with pytest.raises(ValueError, match="invalid metric name"):
        Gauge("a.b", "Dotted.", registry=registry)
    Gauge("a.b", "Dotted.", registry=MetricsRegistry(utf8_names=True))


def test_registry_methods_take_no_registry_argument(registry: MetricsRegistry) -> None:
    """``registry.counter(..., registry=other)`` would be ambiguous: refused."""
    with pytest.raises(TypeError, match="no registry= argument"):
        registry.counter("x_total", "X.", registry=MetricsRegistry())  # type: ignore[call-arg]


def test_errors_module() -> None:
    """Every deliberate exception lives in ``tachikoma_metrics.errors``, is re-exported at
    the top level, and subclasses what callers catch today."""
    import tachikoma_metrics
    from tachikoma_metrics import errors

    assert issubclass(errors.RegistrationError, ValueError)
    assert issubclass(errors.ExpositionError, ValueError)
    assert issubclass(errors.PushError, RuntimeError)
    for name in ("ExpositionError", "PushError", "RegistrationError"):
        assert getattr(tachikoma_metrics, name) is getattr(errors, name)
