"""Shared fixtures: a fresh registry per test, a clean facade around facade tests, and
the storage seam: the instrument test modules run twice, once with the default cells
and once with every registry and instrument on ``CountingStorage``."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

import tachikoma_metrics
from counting_storage import CountingStorage
from tachikoma_metrics import _global, storage
from tachikoma_metrics.transport._core import _reset_uninitialised_warning

# The shared helper modules assert too: pytest rewrites their asserts as it does the tests'.
pytest.register_assert_rewrite("metrics_proto", "scrape_client", "thread_helpers")

# Modules whose every test also runs with all instruments on a second storage.
STORAGE_MODULES = frozenset(
    {
        "test_callbacks",
        "test_count_exceptions",
        "test_counter",
        "test_counter_reset",
        "test_exemplars",
        "test_facade",
        "test_gauge",
        "test_histogram",
        "test_info",
        "test_labelled_timers",
        "test_labels",
        "test_native_histogram",
        "test_openmetrics",
        "test_protobuf",
        "test_registry",
        "test_remove_matching",
        "test_stateset",
        "test_summary",
        "test_text_format",
        "test_threads",
    }
)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.module.__name__ in STORAGE_MODULES and "cell_storage" in metafunc.fixturenames:
        metafunc.parametrize("cell_storage", ["memory", "counting"], indirect=True)


@pytest.fixture(autouse=True)
def cell_storage(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Which storage the test's instruments use: ``memory`` (the default) everywhere, and
    also ``counting`` in the ``STORAGE_MODULES``, made the default for the test's duration
    (registries and instruments built on their own pick it up, the facade's too)."""
    kind: str = getattr(request, "param", "memory")
    if kind == "counting":
        monkeypatch.setattr(storage, "MEMORY", CountingStorage())
    return kind


@pytest.fixture
def frequent_thread_switches() -> Iterator[None]:
    """Make the interpreter switch threads as often as it can (every microsecond) for the
    test's duration, so that operations in different threads really interleave."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(previous)


@pytest.fixture
def registry() -> tachikoma_metrics.MetricsRegistry:
    """A new, empty, independent registry."""
    return tachikoma_metrics.MetricsRegistry()


def _reset_facade() -> None:
    with _global._lock:
        _global._registry = None
        _global._initialized = False
    _reset_uninitialised_warning()  # warned once per process: once per test here


@pytest.fixture
def fresh_facade() -> Iterator[None]:
    """The module-level facade as a fresh process sees it: no registry, ``init()`` not run.

    Reset before and after the test so facade tests never see each other's families.
    """
    _reset_facade()
    yield
    _reset_facade()
