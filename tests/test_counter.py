"""Counters: values that only go up, exposed as ``<name>_total``."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from tachikoma_metrics import Counter, MetricsRegistry


def test_new_counter_starts_at_zero(registry: MetricsRegistry) -> None:
    """A counter that was never incremented reads 0.0, as a float."""
    c = registry.counter("jobs_total", "Jobs.")
    value = c.get()
    assert value == 0.0
    assert isinstance(value, float)


def test_inc_inc_by_and_get(registry: MetricsRegistry) -> None:
    """``inc()`` adds 1, ``inc(x)`` and ``inc_by(x)`` add x, ``get()`` reads the total."""
    c = registry.counter("jobs_total", "Jobs.")
    c.inc()
    assert c.get() == 1.0
    c.inc(2.5)
    assert c.get() == 3.5
    c.inc_by(5)
    assert c.get() == 8.5
    c.inc(0)
    assert c.get() == 8.5
    assert isinstance(c.get(), float)


def test_labelled_child_inc_inc_by_and_get(registry: MetricsRegistry) -> None:
    """A labelled child counts on its own, with the same methods as an unlabelled counter."""
    c = registry.counter("calls_total", "Calls.", labelnames=("provider",))
    a = c.labels("a")
    b = c.labels("b")
    a.inc()
    a.inc_by(4)
    b.inc(0.5)
    assert a.get() == 5.0
    assert b.get() == 0.5


def test_total_suffix_is_added_when_missing(registry: MetricsRegistry) -> None:
    """A counter named ``x`` is exposed as ``x_total``; its family name stays ``x``."""
    c = registry.counter("widgets", "Widgets.")
    c.inc(2)
    assert c.name == "widgets"
    assert registry.export_prometheus() == (
        "# HELP widgets_total Widgets.\n# TYPE widgets_total counter\nwidgets_total 2\n"
    )


def test_total_suffix_is_kept_not_doubled(registry: MetricsRegistry) -> None:
    """A counter named ``x_total`` is exposed as ``x_total``, never ``x_total_total``."""
    c = registry.counter("widgets_total", "Widgets.")
    c.inc(2)
    assert c.name == "widgets"
    assert registry.export_prometheus() == (
        "# HELP widgets_total Widgets.\n# TYPE widgets_total counter\nwidgets_total 2\n"
    )


def test_with_and_without_total_is_the_same_counter(registry: MetricsRegistry) -> None:
    """``counter("x")`` and ``counter("x_total")`` name the same series, so the same counter."""
    assert registry.counter("widgets", "W.") is registry.counter("widgets_total", "W.")


def test_bare_total_is_not_a_counter_name() -> None:
    """``_total`` alone leaves no family name and is rejected."""
    with pytest.raises(ValueError, match="_total"):
        Counter("_total", "Nothing.")


@pytest.mark.parametrize("bad", [-1, -0.5, -1e-300, math.nan, math.inf, -math.inf])
def test_negative_nan_or_infinite_increment_raises_value_error(bad: float) -> None:
    """Negative, NaN and infinite increments raise ``ValueError``, naming the value."""
    c = Counter("jobs_total", "Jobs.")
    c.inc(3)
    with pytest.raises(ValueError) as info:
        c.inc(bad)
    assert repr(bad) in str(info.value)
    with pytest.raises(ValueError) as info:
        c.inc_by(bad)
    assert repr(bad) in str(info.value)
    assert c.get() == 3.0


@pytest.mark.parametrize("bad", ["1", "abc", None, 1j, complex(2, 0), b"1", [1]])
def test_non_number_increment_raises_type_error(bad: object) -> None:
    """Strings, None, complex numbers and other non-numbers raise ``TypeError`` naming them."""
    c = Counter("jobs_total", "Jobs.")
    c.inc(3)
    with pytest.raises(TypeError) as info:
        c.inc(bad)  # type: ignore[arg-type]
    assert repr(bad) in str(info.value)
    with pytest.raises(TypeError) as info:
        c.inc_by(bad)  # type: ignore[arg-type]
    assert repr(bad) in str(info.value)
    assert c.get() == 3.0


def test_rejected_first_call_leaves_counter_at_zero() -> None:
    """A rejected very first increment (before any thread owns the cell) changes nothing."""
    c = Counter("jobs_total", "Jobs.")
    with pytest.raises(ValueError):
        c.inc(-1)
    with pytest.raises(TypeError):
        c.inc("2")  # type: ignore[arg-type]
    assert c.get() == 0.0
    c.inc()
    assert c.get() == 1.0


def test_rejected_increment_on_labelled_child_leaves_value_unchanged(
    registry: MetricsRegistry,
) -> None:
    """Rejected increments on a child change neither that child nor its siblings."""
    c = registry.counter("calls_total", "Calls.", labelnames=("provider",))
    c.labels("a").inc(2)
    c.labels("b").inc(7)
    with pytest.raises(ValueError):
        c.labels("a").inc(math.nan)
    with pytest.raises(TypeError):
        c.labels("a").inc(None)  # type: ignore[arg-type]
    assert c.labels("a").get() == 2.0
    assert c.labels("b").get() == 7.0


def test_counter_accepts_ints_bools_and_float_subclasses() -> None:
    """Any real number that converts to a finite float >= 0 is a valid increment."""
    c = Counter("jobs_total", "Jobs.")
    c.inc(2)
    c.inc(True)
    c.inc(Fraction(1, 4))
    assert c.get() == 3.25
