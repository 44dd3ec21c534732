"""The module-level facade: paused handles before ``init()``, recording ones after."""

from __future__ import annotations

from typing import Any

import pytest

import tachikoma_metrics as metrics

pytestmark = pytest.mark.usefixtures("fresh_facade")


def test_export_is_empty_before_init() -> None:
    """Before ``init()``, ``export_prometheus()`` returns ``""``, even with handles made."""
    assert metrics.export_prometheus() == ""
    metrics.counter("jobs_total", "Jobs.").inc()
    metrics.gauge("depth", "Depth.").set(3)
    metrics.histogram("op_seconds", "Op.").observe(1)
    assert metrics.export_prometheus() == ""


def test_handles_record_nothing_before_init() -> None:
    """Counter, gauge and histogram handles (and their timers) do nothing before ``init()``."""
    c = metrics.counter("jobs_total", "Jobs.")
    g = metrics.gauge("depth", "Depth.")
    h = metrics.histogram("op_seconds", "Op.", buckets=(1,))
    c.inc()
    c.inc_by(5)
    g.set(3)
    g.inc(2)
    g.dec(7)
    g.set_to_current_time()
    h.observe(0.5)
    with g.track_inprogress():
        assert g.get() == 0.0
    with g.time(), h.time():
        pass
    assert c.get() == 0.0
    assert g.get() == 0.0
    snap = h.get()
    assert (snap.count, snap.sum) == (0, 0.0)
    assert tuple(snap.buckets) == ((1.0, 0), (float("inf"), 0))


def test_labelled_children_record_nothing_before_init() -> None:
    """Children taken with ``labels()`` before ``init()`` record nothing either."""
    c = metrics.counter("calls_total", "Calls.", labelnames=("provider",))
    g = metrics.gauge("in_flight", "In flight.", labelnames=("provider",))
    h = metrics.histogram("op_seconds", "Op.", labelnames=("provider",), buckets=(1,))
    c.labels("a").inc(3)
    g.labels("a").set(3)
    with g.labels("a").track_inprogress():
        pass
    h.labels("a").observe(0.5)
    assert c.labels("a").get() == 0.0
    assert g.labels("a").get() == 0.0
    assert h.labels("a").get().count == 0


def test_handle_made_before_init_records_after_init() -> None:
    """A module-level handle made before ``init()`` records once ``init()`` has run.

    Only the calls made after ``init()`` count.
    """
    c = metrics.counter("jobs_total", "Jobs.")
    g = metrics.gauge("depth", "Depth.")
    h = metrics.histogram("op_seconds", "Op.", buckets=(1,))
    c.inc(10)
    g.inc(10)
    h.observe(10)
    metrics.init()
    c.inc()
    c.inc_by(2)
    g.inc(4)
    g.dec()
    h.observe(0.5)
    assert c.get() == 3.0
    assert g.get() == 3.0
    snap = h.get()
    assert (snap.count, snap.sum) == (1, 0.5)
    assert metrics.export_prometheus() == (
        "# HELP depth Depth.\n"
        "# TYPE depth gauge\n"
        "depth 3\n"
        "# HELP jobs_total Jobs.\n"
        "# TYPE jobs_total counter\n"
        "jobs_total 3\n"
        "# HELP op_seconds Op.\n"
        "# TYPE op_seconds histogram\n"
        'op_seconds_bucket{le="1.0"} 1\n'
        'op_seconds_bucket{le="+Inf"} 1\n'
        "op_seconds_sum 0.5\n"
        "op_seconds_count 1\n"
    )


def test_timers_made_before_init_record_after_init() -> None:
    """``time()``/``track_inprogress()`` decorators applied before ``init()`` work after it."""
    g = metrics.gauge("in_flight", "In flight.")
    h = metrics.histogram("op_seconds", "Op.")
    seen: list[float] = []

    @h.time()
    @g.track_inprogress()
    def work() -> None:
        seen.append(g.get())

    work()
    metrics.init()
    work()
    assert seen == [0.0, 1.0]
    assert g.get() == 0.0
    assert h.get().count == 1


def test_child_taken_before_init_records_after_init() -> None:
    """A child taken with ``labels()`` before ``init()`` records after it (only later calls)."""
    c = metrics.counter("calls_total", "Calls.", labelnames=("provider", "status"))
    g = metrics.gauge("in_flight", "In flight.", labelnames=("provider",))
    h = metrics.histogram("op_seconds", "Op.", labelnames=("provider",), buckets=(1,))
    child = c.labels("anthropic", "ok")
    gchild = g.labels("anthropic")
    hchild = h.labels("anthropic")
    child.inc(100)
    gchild.set(100)
    hchild.observe(100)
    metrics.init()
    child.inc()
    gchild.inc(2)
    hchild.observe(0.25)
    assert child.get() == 1.0
    assert c.labels(provider="anthropic", status="ok").get() == 1.0
    assert gchild.get() == 2.0
    assert (hchild.get().count, hchild.get().sum) == (1, 0.25)
    text = metrics.export_prometheus()
    assert 'calls_total{provider="anthropic",status="ok"} 1\n' in text
    assert 'in_flight{provider="anthropic"} 2\n' in text
    assert 'op_seconds_count{provider="anthropic"} 1\n' in text


def test_handles_made_after_init_record() -> None:
    """Handles and children made after ``init()`` record straight away."""
    metrics.init()
    c = metrics.counter("jobs_total", "Jobs.", labelnames=("kind",))
    c.labels("a").inc(2)
    metrics.gauge("depth", "Depth.").set(-4)
    assert c.labels("a").get() == 2.0
    assert metrics.gauge("depth", "Depth.").get() == -4.0


def test_init_twice_returns_the_same_registry() -> None:
    """``init()`` installs one global registry and returns it on every call, values intact."""
    first = metrics.init()
    assert isinstance(first, metrics.MetricsRegistry)
    c = metrics.counter("jobs_total", "Jobs.")
    c.inc()
    second = metrics.init()
    assert second is first
    c.inc()
    assert c.get() == 2.0
    assert first.counter("jobs_total", "Jobs.") is c
    assert metrics.export_prometheus() == first.export_prometheus()


def test_get_or_create_through_the_facade() -> None:
    """The facade returns the same handle for the same definition, before and after init."""
    before = metrics.counter("jobs_total", "Jobs.", labelnames=("kind",))
    assert metrics.counter("jobs_total", "Jobs.", labelnames=("kind",)) is before
    metrics.init()
    assert metrics.counter("jobs_total", "Jobs.", labelnames=("kind",)) is before


def test_get_or_create_conflicts_raise_before_init() -> None:
    """Conflicting definitions raise ``ValueError`` even before ``init()``."""
    metrics.counter("jobs_total", "Jobs.", labelnames=("kind",))
    metrics.histogram("op_seconds", "Op.", buckets=(1,))
    with pytest.raises(ValueError, match="labelnames"):
        metrics.counter("jobs_total", "Jobs.")
    with pytest.raises(ValueError, match="type"):
        metrics.gauge("jobs", "Jobs.")
    with pytest.raises(ValueError, match="jobs_total"):
        metrics.gauge("jobs_total", "Jobs.")
    with pytest.raises(ValueError, match="buckets"):
        metrics.histogram("op_seconds", "Op.", buckets=(2,))
    with pytest.raises(ValueError):
        metrics.gauge("op_seconds_count", "Op.")


def test_get_or_create_conflicts_raise_after_init() -> None:
    """Conflicting definitions raise ``ValueError`` after ``init()`` as well."""
    metrics.init()
    metrics.gauge("depth", "Depth.")
    with pytest.raises(ValueError, match="type"):
        metrics.counter("depth", "Depth.")


def test_invalid_definitions_raise_before_init() -> None:
    """Name and label validation happens at definition time, ``init()`` or not."""
    with pytest.raises(ValueError):
        metrics.counter("bad-name", "Bad.")
    with pytest.raises(ValueError):
        metrics.gauge("ok", "Ok.", labelnames=("__reserved",))
    with pytest.raises(ValueError):
        metrics.histogram("ok_seconds", "Ok.", buckets=(2, 1))


def test_labels_are_validated_before_init() -> None:
    """Wrong label use raises before ``init()`` exactly as after it."""
    c = metrics.counter("calls_total", "Calls.", labelnames=("provider",))
    with pytest.raises(ValueError, match="provider"):
        c.labels("a", "b")
    with pytest.raises(ValueError, match="provider"):
        c.inc()


def test_invalid_values_raise_after_init() -> None:
    """Once recording, facade handles reject bad values like any instrument."""
    c = metrics.counter("jobs_total", "Jobs.")
    metrics.init()
    with pytest.raises(ValueError):
        c.inc(-1)
    with pytest.raises(TypeError):
        c.inc("1")  # type: ignore[arg-type]
    assert c.get() == 0.0


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda c, g, h: c.inc(-1), ValueError, "finite and >= 0"),
        (lambda c, g, h: c.inc(float("nan")), ValueError, "finite and >= 0"),
        (lambda c, g, h: c.inc("1"), TypeError, "real number"),
        (lambda c, g, h: c.inc(1, exemplar={"bad-name": "x"}), ValueError, "exemplar label"),
        (lambda c, g, h: c.inc_by(-2), ValueError, "finite and >= 0"),
        (lambda c, g, h: g.set("high"), TypeError, "gauge value"),
        (lambda c, g, h: g.inc(b"1"), TypeError, "gauge increment"),
        (lambda c, g, h: g.dec([1]), TypeError, "gauge decrement"),
        (lambda c, g, h: h.observe(float("nan")), ValueError, "NaN"),
        (lambda c, g, h: h.observe("0.5"), TypeError, "real number"),
        (lambda c, g, h: h.observe(1, exemplar={"a": "x" * 200}), ValueError, "characters"),
    ],
)
def test_paused_handles_still_reject_bad_values(call: Any, error: type, match: str) -> None:
    """Paused, a handle records nothing but validates like a live one: a bug shows up
    before ``init()`` is wired in, not only after."""
    c = metrics.counter("jobs_total", "Jobs.")
    g = metrics.gauge("depth", "Depth.", ("q",)).labels("a")
    h = metrics.histogram("op_seconds", "Op.")
    with pytest.raises(error, match=match):
        call(c, g, h)
    c.inc(2)
    h.observe(float("inf"))  # valid, dropped
    metrics.init()
    c.inc()
    h.observe(float("inf"))
    assert c.get() == 1.0
    assert h.get().count == 1


def test_paused_labelled_family_still_refuses_writes() -> None:
    """A labelled facade family is not a series, paused or not: writing to it says to call
    ``labels()``, before and after ``init()``."""
    g = metrics.gauge("depth", "Depth.", ("q",))
    for _ in range(2):
        with pytest.raises(ValueError, match=r"call \.labels\(\.\.\.\) before \.set\(\)"):
            g.set(1)
        with pytest.raises(ValueError, match=r"before \.inc\(\)"):
            g.inc()
        metrics.init()


def test_positional_labelnames_through_the_facade() -> None:
    """``metrics.counter(name, help, ["a", "b"])`` takes label names by position, as
    ``prometheus_client`` does, and is the same instrument as the keyword form."""
    c = metrics.counter("calls_total", "Calls.", ["provider", "status"])
    assert metrics.counter("calls_total", "Calls.", labelnames=("provider", "status")) is c
    g = metrics.gauge("depth", "Depth.", ["q"])
    h = metrics.histogram("op_seconds", "Op.", ["route"], buckets=(1,))
    metrics.init()
    c.labels("x", "ok").inc()
    g.labels("a").set(2)
    h.labels("/").observe(0.5)
    text = metrics.export_prometheus()
    assert 'calls_total{provider="x",status="ok"} 1' in text
    assert 'depth{q="a"} 2' in text
    assert 'op_seconds_count{route="/"} 1' in text


def test_resumed_handles_are_their_live_classes() -> None:
    """``init()`` switches every paused family and child back to the very class a live
    instrument of its registry has (no idle twin left behind), and none has an instance
    dict (whose attribute reads a class switch would slow down for good)."""
    paused = [
        metrics.counter("jobs_total", "Jobs."),
        metrics.gauge("depth", "Depth."),
        metrics.histogram("op_seconds", "Op.", buckets=(1,)),
        metrics.counter("calls_total", "Calls.", ["p"]).labels("a"),
        metrics.histogram("call_seconds", "Calls.", ["p"], buckets=(1,)).labels("a"),
    ]
    assert all(hasattr(type(handle), "_live") for handle in paused)
    registry = metrics.init()
    live = [
        registry.counter("x_total", "X."),
        registry.gauge("y", "Y."),
        registry.histogram("z_seconds", "Z.", buckets=(1,)),
        registry.counter("xl_total", "X.", ["p"]).labels("a"),
        registry.histogram("zl_seconds", "Z.", ["p"], buckets=(1,)).labels("a"),
    ]
    for handle, reference in zip(paused, live, strict=True):
        assert type(handle) is type(reference)
        assert not hasattr(handle, "__dict__")
