"""The public surface: ``__all__`` sorted and complete, and the spec's common names."""

from __future__ import annotations

import types

import tachikoma_metrics
from tachikoma_metrics import names


def test_all_is_sorted() -> None:
    """``__all__`` is in plain ``sorted()`` order, so anyone can check it at a glance."""
    exported = list(tachikoma_metrics.__all__)
    assert exported == sorted(exported)
    assert len(set(exported)) == len(exported), "no name listed twice"


def test_every_name_in_all_exists() -> None:
    """Every name in ``__all__`` is an attribute of the package."""
    missing = [name for name in tachikoma_metrics.__all__ if not hasattr(tachikoma_metrics, name)]
    assert missing == []


def test_every_public_name_is_in_all() -> None:
    """Every public object the package root defines or re-exports is listed in ``__all__``.

    Submodules that Python binds on the package as a side effect of importing them are not
    names the package exports; ``names`` is, because the API documents it.
    """
    public = {
        name
        for name, value in vars(tachikoma_metrics).items()
        if not name.startswith("_")
        and not (
            isinstance(value, types.ModuleType)
            and value.__name__ == f"tachikoma_metrics.{name}"
            and name != "names"
        )
    }
    assert public - set(tachikoma_metrics.__all__) == set()
    assert "names" in tachikoma_metrics.__all__


def test_documented_api_is_exported() -> None:
    """The names the issue's API example uses are all exported."""
    documented = {
        "init",
        "counter",
        "gauge",
        "histogram",
        "export_prometheus",
        "MetricsRegistry",
        "Counter",
        "Gauge",
        "Histogram",
        "DEFAULT_BUCKETS",
        "names",
    }
    assert documented <= set(tachikoma_metrics.__all__)


def test_common_names_have_the_spec_values() -> None:
    """``names`` holds the spec's seven common metric names with their exact values."""
    expected = {
        "MISSIONS_STARTED": "tachikoma_missions_started_total",
        "MISSIONS_COMPLETED": "tachikoma_missions_completed_total",
        "MISSIONS_FAILED": "tachikoma_missions_failed_total",
        "ACTIVE_MISSIONS": "tachikoma_active_missions",
        "TOKENS_USED": "tachikoma_tokens_used_total",
        "API_CALLS": "tachikoma_api_calls_total",
        "CONTEXT_USAGE": "tachikoma_context_usage_percent",
    }
    for constant, value in expected.items():
        assert getattr(names, constant) == value, constant
    constants = {name for name in vars(names) if name.isupper()}
    assert constants == set(expected)
    assert sorted(names.__all__) == sorted(expected)


def test_common_names_are_usable_as_metric_names() -> None:
    """Each common name creates an instrument; counters keep their ``_total`` in the export."""
    registry = tachikoma_metrics.MetricsRegistry()
    registry.counter(names.MISSIONS_STARTED, "Started.").inc()
    registry.gauge(names.ACTIVE_MISSIONS, "Active.").set(2)
    registry.gauge(names.CONTEXT_USAGE, "Context.", unit="percent").set(12.5)
    text = registry.export_prometheus()
    assert "tachikoma_missions_started_total 1\n" in text
    assert "tachikoma_active_missions 2\n" in text
    assert "tachikoma_context_usage_percent 12.5\n" in text
