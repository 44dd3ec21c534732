"""Shared fixtures: a fresh registry per test, and a clean facade around facade tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import tachikoma_metrics
from tachikoma_metrics import _global

# The shared helper modules assert too: pytest rewrites their asserts as it does the tests'.
pytest.register_assert_rewrite("metrics_proto", "scrape_client")


@pytest.fixture
def registry() -> tachikoma_metrics.MetricsRegistry:
    """A new, empty, independent registry."""
    return tachikoma_metrics.MetricsRegistry()


def _reset_facade() -> None:
    with _global._lock:
        _global._registry = None
        _global._initialized = False


@pytest.fixture
def fresh_facade() -> Iterator[None]:
    """The module-level facade as a fresh process sees it: no registry, ``init()`` not run.

    Reset before and after the test so facade tests never see each other's families.
    """
    _reset_facade()
    yield
    _reset_facade()
