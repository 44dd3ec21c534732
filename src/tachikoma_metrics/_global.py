"""The one home of global state: the facade registry and ``init()``.

Module-level instruments are usually created at import, before the application calls
``init()``. They are real families in the facade registry, paused: their recording methods
do nothing and ``export_prometheus()`` returns ``""``. ``init()`` resumes every one of them,
and the children taken from them, so a handle made before ``init()`` records after it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any, TypeVar

from .exposition._escaping import UNDERSCORES
from .instruments import DEFAULT_BUCKETS, Counter, Gauge, Histogram
from .instruments._family import Family
from .registry import MetricsRegistry

FamilyT = TypeVar("FamilyT", bound=Family[Any])

_lock = threading.Lock()
_registry: MetricsRegistry | None = None
_initialized = False


def _facade_registry() -> MetricsRegistry:
    global _registry
    if _registry is None:
        _registry = MetricsRegistry()
    return _registry


def init() -> MetricsRegistry:
    """Start recording and return the global registry (the same one on every call)."""
    global _initialized
    with _lock:
        registry = _facade_registry()
        if not _initialized:
            for family in list(registry._families.values()):
                family._resume()
            _initialized = True
        return registry


def _paused_until_init(family: FamilyT) -> FamilyT:
    if not _initialized:
        family._suspend()
    return family


def counter(
    name: str, help: str = "", *, labelnames: Iterable[str] = (), unit: str = ""
) -> Counter:
    """The global counter ``name`` (get-or-create); records once ``init()`` has run."""
    with _lock:
        family = _facade_registry().counter(name, help, labelnames=labelnames, unit=unit)
        return _paused_until_init(family)


def gauge(name: str, help: str = "", *, labelnames: Iterable[str] = (), unit: str = "") -> Gauge:
    """The global gauge ``name`` (get-or-create); records once ``init()`` has run."""
    with _lock:
        family = _facade_registry().gauge(name, help, labelnames=labelnames, unit=unit)
        return _paused_until_init(family)


def histogram(
    name: str,
    help: str = "",
    *,
    labelnames: Iterable[str] = (),
    unit: str = "",
    buckets: Iterable[float] = DEFAULT_BUCKETS,
) -> Histogram:
    """The global histogram ``name`` (get-or-create); records once ``init()`` has run."""
    with _lock:
        family = _facade_registry().histogram(
            name, help, labelnames=labelnames, unit=unit, buckets=buckets
        )
        return _paused_until_init(family)


def current_registry() -> MetricsRegistry | None:
    """The global registry once ``init()`` has run, else ``None`` (nothing is recorded)."""
    return _facade_registry() if _initialized else None


def export_prometheus(*, escaping: str = UNDERSCORES) -> str:
    """The global registry in Prometheus text 0.0.4; ``""`` before ``init()``."""
    if not _initialized:
        return ""
    return _facade_registry().export_prometheus(escaping=escaping)


def export_openmetrics(*, escaping: str = UNDERSCORES, created: bool | None = None) -> str:
    """The global registry in OpenMetrics 1.0; ``""`` before ``init()``."""
    if not _initialized:
        return ""
    return _facade_registry().export_openmetrics(escaping=escaping, created=created)


def export_protobuf(*, escaping: str = UNDERSCORES, created: bool | None = None) -> bytes:
    """The global registry as delimited protobuf; ``b""`` before ``init()``."""
    if not _initialized:
        return b""
    return _facade_registry().export_protobuf(escaping=escaping, created=created)
