"""The one home of global state: the facade registry and ``init()``.

Module-level instruments are usually created at import, before the application calls
``init()``. They are real families in the facade registry, paused: their recording methods
do nothing and ``export_prometheus()`` returns ``""``. ``init()`` resumes every one of them,
and the children taken from them, so a handle made before ``init()`` records after it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

from ._locks import new_lock
from .exposition import UNDERSCORES
from .instruments import Counter, Gauge, Histogram, Info, StateSet, Summary
from .instruments._family import Family
from .registry import MetricsRegistry, document_maker

P = ParamSpec("P")
F = TypeVar("F", bound=Family[Any])

_lock = new_lock()
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
            for collector in registry._entries:
                if isinstance(collector.collector, Family):
                    collector.collector._resume()
            _initialized = True
        return registry


def facade(family: Callable[P, F]) -> Callable[P, F]:
    """The module-level get-or-create function for one instrument type: the instrument
    in the global registry, paused (validating and dropping every write) until
    ``init()`` has run, then recording; handles taken before ``init()`` come alive."""

    def get_or_create(*args: P.args, **kwargs: P.kwargs) -> F:
        with _lock:
            made = _facade_registry().get_or_create(family, *args, **kwargs)
            if not _initialized:
                made._suspend()
            return made

    name = getattr(family, "__name__", "instrument").lower()
    document_maker(get_or_create, name, family, "the global registry (paused until init())")
    return get_or_create


counter = facade(Counter)
gauge = facade(Gauge)
histogram = facade(Histogram)
info = facade(Info)
stateset = facade(StateSet)
summary = facade(Summary)


def current_registry() -> MetricsRegistry | None:
    """The global registry once ``init()`` has run, else ``None`` (nothing is recorded)."""
    return _facade_registry() if _initialized else None


@contextmanager
def isolated() -> Iterator[MetricsRegistry]:
    """Give the facade a fresh, initialised registry for the duration of a ``with`` block
    (a test): ``counter(...)``, ``init()`` and the module exports use it, and it is
    yielded. Afterwards the previous facade state (its registry, whether ``init()`` had
    run) comes back, even when the block raises; blocks nest.

    Not for concurrent use: the facade is process-wide, so a thread recording through it
    while another thread is inside ``isolated()`` records into whichever registry is
    current, and two threads entering and leaving in overlapping order restore each
    other's state.
    """
    global _registry, _initialized
    fresh = MetricsRegistry()
    with _lock:
        saved = _registry, _initialized
        _registry, _initialized = fresh, True
    try:
        yield fresh
    finally:
        with _lock:
            _registry, _initialized = saved


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
