"""Counters: values that only go up."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from ..model import MetricFamily, MetricType
from ..values import CounterCell
from ._family import Child, Family


class CounterChild(CounterCell, Child):
    """One counter series. ``inc(amount)`` adds a finite amount >= 0; ``get()`` reads it."""

    __slots__ = ("label_values", "rendered_labels")

    def __init__(self, labels: tuple[str, ...]) -> None:
        CounterCell.__init__(self)
        self.label_values = labels
        self.rendered_labels: str | None = None


class Counter(CounterCell, Family[CounterChild]):
    """A counter family. Its samples are exposed as ``<name>_total``.

    The name may be given with or without ``_total``; ``name`` is always without it.
    Unlabelled, the family is its own series: ``inc``, ``inc_by`` and ``get`` as on
    ``CounterChild``.
    """

    TYPE: ClassVar[MetricType] = MetricType.COUNTER
    CHILD: ClassVar[type[CounterChild]] = CounterChild
    CHILD_METHODS: ClassVar[tuple[str, ...]] = ("inc", "inc_by", "get")
    RECORDING_METHODS: ClassVar[tuple[str, ...]] = ("inc", "inc_by")

    def __init__(
        self, name: str, help: str = "", *, labelnames: Iterable[str] = (), unit: str = ""
    ) -> None:
        CounterCell.__init__(self)
        Family.__init__(self, name, help, labelnames=labelnames, unit=unit)

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

    def _new_child(self, cls: type[CounterChild], labels: tuple[str, ...]) -> CounterChild:
        return cls(labels)

    def collect(self) -> MetricFamily:
        return MetricFamily(
            self._name,
            MetricType.COUNTER,
            self._help,
            self._unit,
            self._labelnames,
            # Reads the cell directly when only its owner thread ever wrote it.
            samples=[
                (series, series._value if series._others is None else series.get())
                for series in self._series()
            ],
        )
