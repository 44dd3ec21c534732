"""The one home of global state: the facade registry and ``init()``.

Module-level instruments are usually created at import, before the application calls
``init()``. They are real families in the facade registry, paused: their recording methods
do nothing and ``export_prometheus()`` returns ``""``. ``init()`` resumes every one of them,
and the children taken from them, so a handle made before ``init()`` records after it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

from ._locks import new_lock
from .exposition import UNDERSCORES
from .instruments import Counter, Gauge, Histogram, Info, StateSet, Summary
from .instruments._family import Family
from .multiprocess import ENVIRONMENT_VARIABLE, MultiprocessStorage, check_directory
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


def init(multiprocess_dir: str | os.PathLike[str] | None = None) -> MetricsRegistry:
    """Start recording and return the global registry (the same one on every call).

    ``multiprocess_dir``: record in multi-process mode, in that directory (it must exist
    and be writable: ``FileNotFoundError``/``NotADirectoryError``/``PermissionError``
    naming it otherwise). Without it, the environment variable
    ``TACHIKOMA_METRICS_MULTIPROC_DIR``, if set and not empty, gives the directory; it is
    read here, never at import. Call it in the parent before workers are forked; a worker
    started anew (spawn, forkserver, ``uvicorn --workers``) calls it too. Instruments made
    before the call move to the directory's files. ``ValueError`` if the registry already
    records in process memory or in another directory.
    """
    global _initialized
    if multiprocess_dir is None:
        multiprocess_dir = os.environ.get(ENVIRONMENT_VARIABLE) or None
    with _lock:
        registry = _facade_registry()
        if multiprocess_dir is not None:
            _use_directory(registry, multiprocess_dir)
        if not _initialized:
            for collector in registry._entries:
                if isinstance(collector.collector, Family):
                    collector.collector._resume()
            _initialized = True
        return registry


def _use_directory(registry: MetricsRegistry, directory: str | os.PathLike[str]) -> None:
    path = check_directory(directory)
    current = registry.storage
    if isinstance(current, MultiprocessStorage):
        if current.directory != path:
            raise ValueError(
                f"the global registry already records in {current.directory!r};"
                f" cannot move it to {path!r}"
            )
        return
    if _initialized:
        raise ValueError(
            "init() has already started recording in process memory: call"
            f" init(multiprocess_dir={path!r}) first, before anything is recorded"
        )
    registry._move_to(MultiprocessStorage(path))


def mark_process_dead(
    pid: int,
    registry: MetricsRegistry | None = None,
    *,
    path: str | os.PathLike[str] | None = None,
) -> int:
    """Process ``pid`` has exited (gunicorn's ``child_exit`` hook): fold the files of dead
    processes of the multi-process directory into its archive now, rather than at the next
    scrape; returns how many were folded (a process is known dead by its file lock, so
    every dead one is folded, whatever its pid).

    The directory is ``path`` if given, else ``registry``'s (the global registry's by
    default), else, when the global registry is not in multi-process mode (a gunicorn
    master that never called ``init``), ``TACHIKOMA_METRICS_MULTIPROC_DIR``.
    ``ValueError`` when none of them gives one.
    """
    if pid.__class__ is not int or isinstance(pid, bool):
        raise TypeError(f"pid must be an int, got {pid!r}")
    if path is not None:
        return MultiprocessStorage(path).mark_process_dead(pid)
    target = registry if registry is not None else _facade_registry()
    storage = target.storage
    if isinstance(storage, MultiprocessStorage):
        return storage.mark_process_dead(pid)
    directory = os.environ.get(ENVIRONMENT_VARIABLE) if registry is None else None
    if directory:
        return MultiprocessStorage(directory).mark_process_dead(pid)
    raise ValueError(
        f"{target!r} is not in multi-process mode (no multiprocess_dir), and no path= or"
        f" {ENVIRONMENT_VARIABLE} names a directory"
    )


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
