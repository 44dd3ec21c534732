"""Context managers that double as decorators, correct on ``async def`` functions.

``Timer`` and ``InProgress`` record into one series. On a labelled family, ``time()`` and
``track_inprogress()`` return their ``LabelledTimer`` and ``LabelledInProgress``
subclasses instead: ``labels(...)``, called inside the ``with`` block, chooses the child
they record into. ``ExceptionCounter`` counts the exceptions leaving a block or a call.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from time import perf_counter
from types import TracebackType
from typing import Any, Protocol, TypeVar, cast

F = TypeVar("F", bound=Callable[..., Any])


class LabelledFamily(Protocol):
    """What a chooser needs of the labelled family it was made from."""

    @property
    def name(self) -> str: ...

    @property
    def labelnames(self) -> tuple[str, ...]: ...

    def labels(self, *values: object, **kwvalues: object) -> Any: ...


class Timer:
    """Times a block or each call of a decorated function and hands the seconds to ``record``.

    Each ``with`` needs its own ``Timer`` (instruments create one per ``time()`` call); as a
    decorator one ``Timer`` serves any number of concurrent calls. A coroutine function is
    timed until its coroutine finishes, not merely until it is created.
    """

    __slots__ = ("_record", "_start")

    def __init__(self, record: Callable[[float], None]) -> None:
        self._record = record
        self._start = 0.0

    def __enter__(self) -> Timer:
        self._start = perf_counter()
        return self

    def labels(self, *values: object, **kwvalues: object) -> Timer:
        """Choose the child to record into (see ``LabelledTimer``); ``ValueError`` here: this
        timer records into one series already."""
        raise ValueError(
            "this timer records into one series already: labels(...) chooses the series"
            " only on a timer from a labelled family's time()"
        )

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._record(perf_counter() - self._start)

    def __call__(self, func: F) -> F:
        record = self._record
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def timed_async(*args: Any, **kwargs: Any) -> Any:
                start = perf_counter()
                try:
                    return await func(*args, **kwargs)
                finally:
                    record(perf_counter() - start)

            return cast(F, timed_async)

        @functools.wraps(func)
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                record(perf_counter() - start)

        return cast(F, timed)


class InProgress:
    """Calls ``enter`` when a block or call starts and ``leave`` when it ends."""

    __slots__ = ("_enter", "_leave")

    def __init__(self, enter: Callable[[], None], leave: Callable[[], None]) -> None:
        self._enter = enter
        self._leave = leave

    def __enter__(self) -> InProgress:
        self._enter()
        return self

    def labels(self, *values: object, **kwvalues: object) -> InProgress:
        """Choose the child to track (see ``LabelledInProgress``); ``ValueError`` here: this
        tracker tracks one series already."""
        raise ValueError(
            "this tracker tracks one series already: labels(...) chooses the series only"
            " on a tracker from a labelled family's track_inprogress()"
        )

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._leave()

    def __call__(self, func: F) -> F:
        enter, leave = self._enter, self._leave
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def tracked_async(*args: Any, **kwargs: Any) -> Any:
                enter()
                try:
                    return await func(*args, **kwargs)
                finally:
                    leave()

            return cast(F, tracked_async)

        @functools.wraps(func)
        def tracked(*args: Any, **kwargs: Any) -> Any:
            enter()
            try:
                return func(*args, **kwargs)
            finally:
                leave()

        return cast(F, tracked)


def _no_decorator(family: LabelledFamily, helper: str) -> TypeError:
    return TypeError(
        f"metric {family.name!r} has labels {family.labelnames!r}: {helper}() of the family"
        f" cannot decorate a function, since nothing would choose the labels; decorate with"
        f" .labels(...).{helper}(), or use it in a with block and call .labels(...) on it"
    )


def _not_chosen(family: LabelledFamily, helper: str) -> ValueError:
    return ValueError(
        f"metric {family.name!r} has labels {family.labelnames!r}: a with block of its"
        f" {helper}() ended without choosing them; call .labels(...) on the object the"
        f" with statement gave, inside the block"
    )


class _ChoosesChild:
    """What the labelled blocks share: the child chosen inside the block, handed over
    once at its end, and no decorator form."""

    __slots__ = ()
    _HELPER: str
    _child: Any
    _family: LabelledFamily

    def _chosen(self, exc_type: type[BaseException] | None) -> Any:
        """The chosen child, now released; ``None`` if none was chosen while an exception
        is leaving the block; ``ValueError`` naming the family if none was chosen."""
        child, self._child = self._child, None
        if child is None and exc_type is None:
            raise _not_chosen(self._family, self._HELPER)
        return child

    def __call__(self, func: F) -> F:
        raise _no_decorator(self._family, self._HELPER)


class LabelledTimer(_ChoosesChild, Timer):
    """``time()`` of a labelled family: ``with family.time() as timer:`` starts the clock,
    ``timer.labels(...)`` inside the block chooses the child (the last choice counts), and
    the end of the block records the duration into it with the child's ``record`` method.

    Leaving the block without choosing raises ``ValueError`` naming the family, unless an
    exception is already leaving it: then nothing is recorded and that exception goes on
    unchanged. Bad label values raise from ``labels(...)`` as ``family.labels`` does. As a
    decorator it raises ``TypeError``: nothing would choose the labels.
    """

    __slots__ = ("_child", "_family", "_method")
    _HELPER = "time"

    def __init__(self, family: LabelledFamily, record: str) -> None:
        """``record``: the name of the child's method taking the seconds (``"observe"``)."""
        self._family = family
        self._method = record
        self._child: Any = None
        self._start = 0.0

    def labels(self, *values: object, **kwvalues: object) -> Timer:
        """Choose the child the duration goes to (by position or by name, as
        ``family.labels``); returns this timer."""
        self._child = self._family.labels(*values, **kwvalues)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        seconds = perf_counter() - self._start
        child = self._chosen(exc_type)
        if child is not None:
            getattr(child, self._method)(seconds)  # looked up now: a paused child records later


class LabelledInProgress(_ChoosesChild, InProgress):
    """``track_inprogress()`` of a labelled family: ``labels(...)``, called inside the
    ``with`` block, increments the chosen child at once (choosing again moves the +1 to
    the new child) and the end of the block decrements it.

    Leaving the block without choosing raises ``ValueError`` naming the family, unless an
    exception is already leaving it: that exception goes on unchanged. As a decorator it
    raises ``TypeError``: nothing would choose the labels.
    """

    __slots__ = ("_child", "_family")
    _HELPER = "track_inprogress"

    def __init__(self, family: LabelledFamily) -> None:
        self._family = family
        self._child: Any = None

    def __enter__(self) -> InProgress:
        return self

    def labels(self, *values: object, **kwvalues: object) -> InProgress:
        """Choose the child to count this block in (by position or by name, as
        ``family.labels``) and increment it; returns this tracker."""
        child = self._family.labels(*values, **kwvalues)
        if child is not self._child:
            child.inc()
            previous, self._child = self._child, child
            if previous is not None:
                previous.dec()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        child = self._chosen(exc_type)
        if child is not None:
            child.dec()


def exception_types(types: tuple[object, ...]) -> tuple[type[BaseException], ...]:
    """``count_exceptions()``'s arguments as a tuple of exception classes: ``Exception``
    when none is given; each argument a class or a tuple of classes, as ``except`` takes
    them. ``TypeError`` naming anything else."""
    if not types:
        return (Exception,)
    flat: list[type[BaseException]] = []
    for given in types:
        for one in given if isinstance(given, tuple) else (given,):
            if not (isinstance(one, type) and issubclass(one, BaseException)):
                raise TypeError(f"count_exceptions() takes exception classes, got {one!r}")
            flat.append(one)
    if not flat:
        raise TypeError(f"count_exceptions() takes exception classes, got {types!r}")
    return tuple(flat)


class ExceptionCounter:
    """Calls ``record`` once for each exception of ``types`` (subclasses included) that
    leaves a block or a call of a decorated function, then lets it go on; other
    exceptions pass uncounted. On an ``async def`` the exceptions raised while the
    coroutine runs are counted. One object serves any number of blocks and calls."""

    __slots__ = ("_record", "_types")

    def __init__(self, record: Callable[[], None], types: tuple[type[BaseException], ...]) -> None:
        self._record = record
        self._types = types

    def __enter__(self) -> ExceptionCounter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None and issubclass(exc_type, self._types):
            self._record()

    def __call__(self, func: F) -> F:
        record, types = self._record, self._types
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def counted_async(*args: Any, **kwargs: Any) -> Any:
                try:
                    return await func(*args, **kwargs)
                except types:
                    record()
                    raise

            return cast(F, counted_async)

        @functools.wraps(func)
        def counted(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except types:
                record()
                raise

        return cast(F, counted)
