"""``Counter.count_exceptions(*types)``: +1 for each exception of those types leaving a block
or a decorated call (``async def`` included), which then goes on unchanged."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import threading
from typing import Any

import pytest

import tachikoma_metrics as metrics
from tachikoma_metrics import Counter, MetricsRegistry


class Custom(ValueError):
    """A subclass of ``ValueError``."""


class Fatal(BaseException):
    """Not an ``Exception``: not counted by default."""


def test_block_counts_the_exception_and_raises_it_unchanged() -> None:
    """With no types, any ``Exception`` is counted once and re-raised as the same object."""
    c = Counter("failures_total", "Failures.")
    error = RuntimeError("boom")
    with pytest.raises(RuntimeError) as caught, c.count_exceptions():
        raise error
    assert caught.value is error
    assert c.get() == 1.0
    with pytest.raises(KeyError), c.count_exceptions():
        {}["missing"]
    assert c.get() == 2.0


def test_block_without_exception_counts_nothing() -> None:
    """A block that ends normally leaves the counter as it was."""
    c = Counter("failures_total", "Failures.")
    with c.count_exceptions() as counting:
        assert counting is not None
    assert c.get() == 0.0


def test_default_does_not_count_base_exceptions() -> None:
    """``BaseException`` subclasses that are not ``Exception`` (as ``KeyboardInterrupt``)
    pass uncounted by default, and are counted when named."""
    c = Counter("failures_total", "Failures.")
    with pytest.raises(Fatal), c.count_exceptions():
        raise Fatal
    assert c.get() == 0.0
    with pytest.raises(Fatal), c.count_exceptions(Fatal):
        raise Fatal
    assert c.get() == 1.0


def test_only_the_given_types_and_their_subclasses_count() -> None:
    """``count_exceptions(ValueError)`` counts ``ValueError`` and its subclasses; a
    ``KeyError`` goes through uncounted."""
    c = Counter("failures_total", "Failures.")
    counting = c.count_exceptions(ValueError)
    for error in (ValueError("a"), Custom("b"), KeyError("c"), TypeError("d")):
        with pytest.raises(type(error)) as caught, counting:
            raise error
        assert caught.value is error
    assert c.get() == 2.0


@pytest.mark.parametrize(
    "types",
    [(KeyError, TypeError), ((KeyError, TypeError),), (KeyError, (TypeError,))],
    ids=["several", "one-tuple", "mixed"],
)
def test_several_types_as_arguments_or_tuples(types: tuple[Any, ...]) -> None:
    """Several classes, given one by one or as tuples (as ``except`` takes them)."""
    c = Counter("failures_total", "Failures.")
    counting = c.count_exceptions(*types)
    for error in (KeyError("a"), TypeError("b"), ValueError("c")):
        with pytest.raises(type(error)), counting:
            raise error
    assert c.get() == 2.0


def test_decorator_counts_failing_calls_and_passes_arguments_and_results() -> None:
    """As a decorator: arguments and the result pass, the name is kept, each failing call
    counts once and its exception reaches the caller."""
    c = Counter("failures_total", "Failures.")

    @c.count_exceptions(ZeroDivisionError)
    def divide(a: float, *, by: float) -> float:
        return a / by

    assert divide.__name__ == "divide"
    assert divide(6, by=3) == 2.0
    with pytest.raises(ZeroDivisionError):
        divide(1, by=0)
    with pytest.raises(TypeError):
        divide("x", by=2)  # type: ignore[arg-type]  # not a ZeroDivisionError: uncounted
    assert c.get() == 1.0


def test_decorator_on_async_def_counts_exceptions_raised_while_the_coroutine_runs() -> None:
    """On an ``async def`` the wrapper is a coroutine function; an exception raised after an
    ``await`` is counted, creating or finishing a coroutine normally is not."""
    c = Counter("failures_total", "Failures.")

    @c.count_exceptions(ValueError)
    async def work(fail: bool) -> str:
        await asyncio.sleep(0)
        if fail:
            raise Custom("late")
        return "ok"

    assert inspect.iscoroutinefunction(work)

    async def scenario() -> None:
        coroutine = work(True)
        assert c.get() == 0.0  # created, not run
        with pytest.raises(Custom):
            await coroutine
        assert c.get() == 1.0
        assert await work(False) == "ok"
        results = await asyncio.gather(work(True), work(True), work(False), return_exceptions=True)
        assert [type(r) for r in results] == [Custom, Custom, str]

    asyncio.run(scenario())
    assert c.get() == 3.0


def test_child_counts_on_its_own_series(registry: MetricsRegistry) -> None:
    """On a labelled child, only that child is incremented."""
    c = registry.counter("failures_total", "Failures.", labelnames=("op",))
    with pytest.raises(OSError), c.labels("read").count_exceptions(OSError):
        raise FileNotFoundError("x")
    assert c.labels("read").get() == 1.0
    assert c.labels("write").get() == 0.0


def test_labelled_family_refuses(registry: MetricsRegistry) -> None:
    """A labelled family is not a series: ``ValueError`` naming its labels."""
    c = registry.counter("failures_total", "Failures.", labelnames=("op",))
    with pytest.raises(ValueError, match=r"'op'.*count_exceptions"):
        c.count_exceptions()


@pytest.mark.parametrize(
    "bad",
    [42, "ValueError", int, ValueError("instance"), None, (), (ValueError, 3)],
    ids=["int", "str", "int-class", "instance", "None", "empty-tuple", "tuple-with-int"],
)
def test_bad_types_are_a_type_error_naming_them(bad: Any) -> None:
    """Anything but exception classes (alone or in tuples) is a ``TypeError`` naming it, and
    the counter does not change."""
    c = Counter("failures_total", "Failures.")
    c.inc(2)
    with pytest.raises(TypeError) as caught:
        c.count_exceptions(bad)
    shown = repr(3) if isinstance(bad, tuple) and bad else repr(bad)
    assert shown in str(caught.value)
    assert c.get() == 2.0


def test_concurrent_calls_of_one_decorated_function_count_exactly() -> None:
    """One decorated function called from many threads at once: every failure counts."""
    c = Counter("failures_total", "Failures.")
    threads, calls = 8, 500
    barrier = threading.Barrier(threads)

    @c.count_exceptions(ValueError)
    def maybe_fail(i: int) -> int:
        if i % 2:
            raise ValueError(i)
        return i

    def run() -> None:
        barrier.wait(30)
        for i in range(calls):
            with contextlib.suppress(ValueError):
                maybe_fail(i)

    started = [threading.Thread(target=run) for _ in range(threads)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join(60)
        assert not thread.is_alive()
    assert c.get() == threads * calls / 2


def test_paused_facade_counter_counts_after_init(fresh_facade: None) -> None:
    """A decorator and a context manager made before ``init()`` drop their counts while
    paused and count once ``init()`` has run."""
    c = metrics.counter("failures_total", "Failures.")
    counting = c.count_exceptions()

    @c.count_exceptions()
    def fail() -> None:
        raise RuntimeError("x")

    with pytest.raises(RuntimeError):
        fail()
    with pytest.raises(RuntimeError), counting:
        raise RuntimeError("y")
    assert c.get() == 0.0
    metrics.init()
    with pytest.raises(RuntimeError):
        fail()
    with pytest.raises(RuntimeError), counting:
        raise RuntimeError("z")
    assert c.get() == 2.0
    assert "failures_total 2\n" in metrics.export_prometheus()
