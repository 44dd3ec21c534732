"""``enable_runtime_collectors``: the process, platform and GC collectors in one call,
registered once per registry however often it is called."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from ..errors import RegistrationError
from ._gc import GCCollector as GCCollector
from ._platform import PlatformCollector as PlatformCollector
from ._process import ProcessCollector as ProcessCollector

if TYPE_CHECKING:
    from ..registry import MetricsRegistry

RuntimeCollector = ProcessCollector | PlatformCollector | GCCollector
R = TypeVar("R", ProcessCollector, PlatformCollector, GCCollector)


def enable_runtime_collectors(
    registry: MetricsRegistry | None = None,
) -> tuple[RuntimeCollector, ...]:
    """Register the process, platform and GC collectors in ``registry`` (the global
    registry by default; its exports stay empty until ``init()``), and return those now
    registered there.

    Calling it again registers nothing new: a kind already registered (by an earlier call,
    or by hand) is kept. A kind with nothing to read here (the process collector off
    Linux, the GC collector off CPython) is left out. ``RegistrationError`` if another
    collector already owns one of the names; the collectors this call registered are
    then unregistered again.
    """
    if registry is None:
        from .. import _global  # the facade's state, only when asked for it

        with _global._lock:
            registry = _global._facade_registry()
    present: list[RuntimeCollector] = []
    added: list[RuntimeCollector] = []
    try:
        # Each kind with a name only it exposes: how the registry shows it has one.
        _keep(_ensure(registry, ProcessCollector, "process_cpu_seconds"), present, added)
        _keep(_ensure(registry, PlatformCollector, "python_info"), present, added)
        _keep(_ensure(registry, GCCollector, "python_gc_collections"), present, added)
    except BaseException:
        for collector in added:
            registry.unregister(collector)
        raise
    return tuple(present)


def _keep(
    result: tuple[RuntimeCollector | None, bool],
    present: list[RuntimeCollector],
    added: list[RuntimeCollector],
) -> None:
    collector, fresh = result
    if collector is not None:
        present.append(collector)
        if fresh:
            added.append(collector)


def _ensure(registry: MetricsRegistry, kind: type[R], probe: str) -> tuple[R | None, bool]:
    """The collector of ``kind`` in ``registry`` (made and registered if there is none and
    it has something to read here, else ``None``), and whether this call registered it."""
    existing = registry.get(probe)
    if isinstance(existing, kind):
        return existing, False
    fresh = kind()
    if not fresh.available:
        return None, False
    try:
        registry.register(fresh)
    except RegistrationError:
        existing = registry.get(probe)
        if isinstance(existing, kind):  # another thread registered one meanwhile
            return existing, False
        raise
    return fresh, True
