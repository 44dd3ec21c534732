"""Counters: values that only go up."""

from __future__ import annotations

from typing import ClassVar

from ..model import MetricFamily, MetricType
from ..values import CounterCell
from ._family import Child, Family
from ._timing import ExceptionCounter, exception_types

# What count_exceptions() takes, each argument: a class, or a tuple of them (as ``except``).
ExceptionTypes = type[BaseException] | tuple[type[BaseException], ...]


class _CounterHelpers(CounterCell):
    """What a counter series offers beyond its cell: ``count_exceptions``."""

    __slots__ = ()

    def count_exceptions(self, *types: ExceptionTypes) -> ExceptionCounter:
        """Context manager and decorator (``async def`` included): +1 for each exception
        of one of ``types`` (``Exception`` when none is given; subclasses count) leaving
        the block or call, which is then raised on unchanged; other exceptions pass
        uncounted. Each argument is an exception class or a tuple of them, as ``except``
        takes them; ``TypeError`` naming anything else."""
        return ExceptionCounter(self._count_exception, exception_types(types))

    # An indirection, so a helper made before init() records once init() has run.
    def _count_exception(self) -> None:
        self.inc()


class CounterChild(_CounterHelpers, Child):
    """One counter series. ``inc(amount)`` adds a finite amount >= 0; ``get()`` reads it;
    ``reset()`` starts again from 0; ``count_exceptions()`` counts exceptions."""

    __slots__ = ()

    def __init__(self, labels: tuple[str, ...]) -> None:
        Child.__init__(self, labels)
        self._init_cell()


class Counter(Family[CounterChild], _CounterHelpers):
    """A counter family. Its samples are exposed as ``<name>_total``.

    The name may be given with or without ``_total``; ``name`` is always without it.
    Unlabelled, the family is its own series: ``inc``, ``inc_by``, ``get``, ``reset``
    and ``count_exceptions`` as on ``CounterChild``.
    """

    __slots__ = ()

    TYPE: ClassVar[MetricType] = MetricType.COUNTER
    CHILD: ClassVar[type[CounterChild]] = CounterChild

    def _init_cell_for_family(self) -> None:
        self._init_cell()

    def get(self) -> float:
        """The value of an unlabelled counter."""
        self._unlabelled("get")
        return super().get()

    def count_exceptions(self, *types: ExceptionTypes) -> ExceptionCounter:
        """``count_exceptions`` of an unlabelled counter (see ``CounterChild``)."""
        self._unlabelled("count_exceptions")
        return super().count_exceptions(*types)

    @staticmethod
    def _family_name(name: str) -> str:
        if name.endswith("_total"):
            name = name[: -len("_total")]
            if not name:
                raise ValueError("invalid counter name '_total': nothing is left before _total")
        return name

    def sample_names(self) -> tuple[str, ...]:
        name = self._name
        return (name, name + "_total", name + "_created")

    def _snapshot(self) -> MetricFamily:
        series = self._series()
        values, created, exemplars = self.read_all(series)
        return MetricFamily(
            self._name,
            MetricType.COUNTER,
            self._help,
            self._unit,
            self._labelnames,
            samples=list(zip(series, values, strict=True)),
            created=created,
            exemplars=exemplars if any(exemplars) else (),
        )
