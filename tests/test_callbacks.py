"""``Gauge.set_function``: a gauge (or a gauge child) whose value is read from a function at
every ``get()`` and every export.

Decisions checked here: NaN and infinities are valid values; a function that raises or
returns a non-number makes ``collect()`` raise naming the gauge, the series and the value,
and the registry serves the rest of the export; ``set(v)`` replaces the function with the
stored ``v``; ``inc()``/``dec()`` raise while a function is set; ``set_function(None)``
gives back the value held before the function was set.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterator
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

import tachikoma_metrics as metrics
from promtool import check_metrics
from tachikoma_metrics import Gauge, MetricsRegistry


class Source:
    """A callable returning ``value`` and counting its calls."""

    def __init__(self, value: Any) -> None:
        self.value = value
        self.calls = 0

    def __call__(self) -> Any:
        self.calls += 1
        if isinstance(self.value, BaseException):
            raise self.value
        return self.value

    def __repr__(self) -> str:
        return f"Source({self.value!r})"


def _samples(registry: MetricsRegistry) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Sample values of the text export as parsed by prometheus_client, by family name."""
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(registry.export_prometheus()):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


# -- reading -----------------------------------------------------------------------------


def test_function_is_read_at_every_get_and_every_export(registry: MetricsRegistry) -> None:
    """The value follows the function: each ``get()`` and each export calls it once."""
    g = registry.gauge("queue_depth", "Depth.")
    source = Source(3)
    g.set_function(source)
    assert g.get() == 3.0
    assert source.calls == 1
    source.value = 7.5
    assert _samples(registry)["queue_depth"] == {(): 7.5}
    assert source.calls == 2
    source.value = -2
    assert _samples(registry)["queue_depth"] == {(): -2.0}
    assert source.calls == 3


def test_function_on_a_child_leaves_the_other_children_alone(registry: MetricsRegistry) -> None:
    """On a labelled gauge, each child may have its own function; the others keep their
    stored values."""
    g = registry.gauge("pool_size", "Pool.", labelnames=("pool",))
    g.labels("db").set_function(lambda: 12)
    g.labels("cache").set(4)
    g.labels("web").set_function(lambda: 0.5)
    assert g.labels("db").get() == 12.0
    assert _samples(registry)["pool_size"] == {
        (("pool", "cache"),): 4.0,
        (("pool", "db"),): 12.0,
        (("pool", "web"),): 0.5,
    }
    result = check_metrics(registry.export_prometheus().encode())
    assert result.returncode == 0, result.stderr.decode()


@pytest.mark.parametrize(
    ("returned", "expected"),
    [
        (math.nan, math.nan),
        (math.inf, math.inf),
        (-math.inf, -math.inf),
        (True, 1.0),
        (10**15, 1e15),
        (Fraction(1, 4), 0.25),
        (Decimal("2.5"), 2.5),
    ],
)
def test_any_real_number_is_a_value_and_becomes_a_float(returned: Any, expected: float) -> None:
    """NaN and infinities are gauge values (as with ``set()``); any real number is read as a
    plain ``float``."""
    g = Gauge("level", "Level.")
    g.set_function(lambda: returned)
    got = g.get()
    assert got.__class__ is float
    assert math.isnan(got) if math.isnan(expected) else got == expected


def test_nan_from_a_function_is_exported_as_nan(registry: MetricsRegistry) -> None:
    """A NaN read from the function is written ``NaN`` and the body stays valid."""
    registry.gauge("ratio", "Ratio.").set_function(lambda: math.nan)
    body = registry.export_prometheus()
    assert "ratio NaN\n" in body
    result = check_metrics(body.encode())
    assert result.returncode == 0, result.stderr.decode()


# -- a failing function ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("returned", "error"),
    [
        ("3", TypeError),
        (None, TypeError),
        ([1.0], TypeError),
        (1j, TypeError),
        (10**400, ValueError),
        (ZeroDivisionError("division by zero"), ValueError),
    ],
    ids=["str", "None", "list", "complex", "huge-int", "raises"],
)
def test_a_failing_function_fails_get_and_collect_naming_gauge_and_value(
    registry: MetricsRegistry, returned: Any, error: type[Exception]
) -> None:
    """``get()`` raises naming the function and what it returned or raised; the family's
    ``collect()`` raises the same kind of error naming the gauge too."""
    g = registry.gauge("queue_depth", "Depth.")
    source = Source(returned)
    g.set_function(source)
    with pytest.raises(error) as from_get:
        g.get()
    assert "Source(" in str(from_get.value)
    with pytest.raises(error) as from_collect:
        g.collect()
    text = str(from_collect.value)
    assert "'queue_depth'" in text
    if isinstance(returned, BaseException):
        assert "ZeroDivisionError" in text
        assert isinstance(from_collect.value.__cause__, ValueError)
        assert from_collect.value.__cause__.__cause__ is returned
    else:
        assert repr(returned)[:20] in text


def test_a_failing_child_function_is_named_by_its_labels(registry: MetricsRegistry) -> None:
    """The error of a labelled gauge names the series whose function failed."""
    g = registry.gauge("pool_size", "Pool.", labelnames=("pool", "zone"))
    g.labels("db", "a").set_function(lambda: 1)
    g.labels("web", "b").set_function(lambda: "many")
    g.labels("zz", "c").set(3)
    with pytest.raises(TypeError) as caught:
        g.collect()
    text = str(caught.value)
    assert "'pool_size'" in text
    assert "{'pool': 'web', 'zone': 'b'}" in text
    assert "'many'" in text


def test_export_serves_everything_else_when_a_function_fails(
    registry: MetricsRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    """The registry leaves the failing gauge out of that export, logs why (naming the gauge
    and the value), and serves every other family; once the function works again, so does
    the gauge."""
    registry.counter("jobs_total", "Jobs.").inc(4)
    registry.gauge("healthy", "Healthy.").set(1)
    broken = registry.gauge("queue_depth", "Depth.")
    source = Source(None)
    broken.set_function(source)
    with caplog.at_level(logging.WARNING, logger="tachikoma_metrics"):
        samples = _samples(registry)
        openmetrics = registry.export_openmetrics()
        protobuf = registry.export_protobuf()
    assert samples["jobs_total"] == {(): 4.0}
    assert samples["healthy"] == {(): 1.0}
    assert "queue_depth" not in samples
    assert "queue_depth" not in openmetrics and "jobs_total 4.0" in openmetrics
    assert b"queue_depth" not in protobuf and b"healthy" in protobuf
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "'queue_depth'" in logged and "None" in logged
    source.value = 9
    assert _samples(registry)["queue_depth"] == {(): 9.0}


# -- writes while a function is set ----------------------------------------------------------


def test_set_replaces_the_function_with_the_stored_value() -> None:
    """``set(v)`` after ``set_function`` stores ``v``; the function is no longer called."""
    g = Gauge("level", "Level.")
    source = Source(5)
    g.set_function(source)
    assert g.get() == 5.0
    g.set(2)
    assert g.get() == 2.0
    g.inc(3)
    assert g.get() == 5.0
    assert source.calls == 1


@pytest.mark.parametrize("method", ["inc", "dec"])
def test_inc_and_dec_raise_while_a_function_is_set(method: str) -> None:
    """``inc``/``dec`` have no stored value to move: ``ValueError`` naming the function, and
    the gauge still reads the function."""
    g = Gauge("level", "Level.")
    g.set(10)
    source = Source(5)
    g.set_function(source)
    with pytest.raises(ValueError, match=r"set_function.*Source\(5\)|Source\(5\).*set_function"):
        getattr(g, method)(1)
    assert g.get() == 5.0
    g.set_function(None)
    assert g.get() == 10.0


def test_inc_raises_on_a_child_with_a_function_from_another_thread() -> None:
    """The refusal holds on every path: a thread that never wrote the gauge, and one that
    wrote it before the function was set."""
    g = Gauge("level", "Level.", labelnames=("k",))
    child = g.labels("a")
    errors: list[BaseException] = []
    ready, go = threading.Event(), threading.Event()

    def worker() -> None:
        child.inc(1)  # this thread now has a slot of its own
        ready.set()
        go.wait(30)
        try:
            child.inc(1)
        except ValueError as error:
            errors.append(error)

    thread = threading.Thread(target=worker)
    thread.start()
    assert ready.wait(30)
    child.set_function(lambda: 42)
    go.set()
    thread.join(30)
    with pytest.raises(ValueError):
        child.dec(1)  # the main thread never wrote it
    assert len(errors) == 1 and "set_function" in str(errors[0])
    assert child.get() == 42.0


def test_set_function_none_gives_back_the_value_held_before() -> None:
    """``set_function(None)`` removes the function: the value held before it was set comes
    back, increments included; without a function it changes nothing."""
    g = Gauge("level", "Level.")
    g.set_function(None)
    assert g.get() == 0.0
    g.set(4)
    g.inc(0.5)
    g.set_function(lambda: 100)
    g.set_function(lambda: 200)  # replacing the function keeps the stored value too
    assert g.get() == 200.0
    g.set_function(None)
    assert g.get() == 4.5
    g.inc()
    assert g.get() == 5.5


def test_increments_of_a_thread_that_exits_while_a_function_is_set_are_kept() -> None:
    """A thread's increments are folded into the gauge when it exits; if a function is set
    at that moment, they are still there once it is removed."""
    g = Gauge("level", "Level.")
    g.set(1)
    incremented, release = threading.Event(), threading.Event()

    def worker() -> None:
        g.inc(5)
        incremented.set()
        release.wait(30)

    thread = threading.Thread(target=worker)
    thread.start()
    assert incremented.wait(30)
    g.set_function(lambda: -1)
    release.set()
    thread.join(30)
    assert not thread.is_alive()
    assert g.get() == -1.0
    g.set_function(None)
    assert g.get() == 6.0


@pytest.mark.parametrize("bad", [3, "len", object(), [lambda: 1]])
def test_non_callable_is_a_type_error_and_changes_nothing(bad: Any) -> None:
    """Only a callable or ``None`` is taken: ``TypeError`` naming the value, and the
    function already set (or the stored value) stays."""
    g = Gauge("level", "Level.")
    g.set(3)
    with pytest.raises(TypeError) as caught:
        g.set_function(bad)
    assert repr(bad) in str(caught.value)
    assert g.get() == 3.0
    g.set_function(lambda: 8)
    with pytest.raises(TypeError):
        g.set_function(bad)
    assert g.get() == 8.0


def test_labelled_family_refuses_set_function(registry: MetricsRegistry) -> None:
    """A labelled family is not a series: ``ValueError`` naming its labels."""
    g = registry.gauge("pool_size", "Pool.", labelnames=("pool",))
    with pytest.raises(ValueError, match=r"labels\(\.\.\.\).*set_function"):
        g.set_function(lambda: 1)
    assert "pool_size" not in _samples(registry)


def test_time_and_set_to_current_time_replace_the_function(registry: MetricsRegistry) -> None:
    """The helpers that set the gauge replace the function as ``set()`` does; the one that
    increments it refuses, as ``inc()`` does."""
    g = registry.gauge("last_seconds", "Last.")
    g.set_function(lambda: -5)
    with g.time():
        pass
    assert 0.0 <= g.get() < 5
    g.set_function(lambda: -5)
    g.set_to_current_time()
    assert g.get() > 1e9
    g.set_function(lambda: -5)
    with pytest.raises(ValueError), g.track_inprogress():
        pass  # pragma: no cover - entering raises
    assert g.get() == -5.0


# -- the paused facade ------------------------------------------------------------------------


@pytest.fixture
def facade(fresh_facade: None) -> Iterator[None]:
    yield


@pytest.mark.usefixtures("facade")
def test_function_set_before_init_is_read_after_init() -> None:
    """A function set on a paused facade gauge is kept: the export is empty before
    ``init()`` (as for every paused instrument) and shows the function's value after."""
    g = metrics.gauge("queue_depth", "Depth.")
    child = metrics.gauge("pool_size", "Pool.", labelnames=("pool",)).labels("db")
    g.set_function(lambda: 11)
    child.set_function(lambda: 3)
    g.set(99)  # paused: dropped, so the function stays
    assert metrics.export_prometheus() == ""
    metrics.init()
    body = metrics.export_prometheus()
    assert "queue_depth 11\n" in body
    assert 'pool_size{pool="db"} 3\n' in body
