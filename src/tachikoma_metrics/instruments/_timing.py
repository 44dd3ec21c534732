"""Context managers that double as decorators, correct on ``async def`` functions."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from time import perf_counter
from types import TracebackType
from typing import Any, TypeVar, cast

F = TypeVar("F", bound=Callable[..., Any])


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
