"""Gauges: values that go up and down."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from ..model import MetricFamily, MetricType
from ..values import GaugeCell
from ._family import Child, Family, inprogress_choosing_labels, timer_choosing_labels
from ._timing import InProgress, Timer


class _GaugeHelpers(GaugeCell):
    """What a gauge series offers beyond its cell: the time and in-progress helpers."""

    __slots__ = ()

    def set_to_current_time(self) -> None:
        """Set the gauge to the current Unix time in seconds."""
        self.set(time.time())

    def track_inprogress(self) -> InProgress:
        """Context manager and decorator: +1 while a block or call runs, -1 after."""
        return InProgress(self._enter, self._leave)

    def time(self) -> Timer:
        """Context manager and decorator: set the gauge to the duration in seconds."""
        return Timer(self._set_seconds)

    # Indirections, so a helper made before init() records once init() has run.
    def _enter(self) -> None:
        self.inc()

    def _leave(self) -> None:
        self.dec()

    def _set_seconds(self, seconds: float) -> None:
        self.set(seconds)


class GaugeChild(_GaugeHelpers, Child):
    """One gauge series: ``inc``, ``dec``, ``set``, ``get`` and the timing helpers."""

    __slots__ = ()

    def __init__(self, labels: tuple[str, ...]) -> None:
        Child.__init__(self, labels)
        self._init_cell()


class Gauge(Family[GaugeChild], _GaugeHelpers):
    """A gauge family: any float, negative included.

    Unlabelled, the family is its own series, with the methods of ``GaugeChild``.
    """

    __slots__ = ()

    TYPE: ClassVar[MetricType] = MetricType.GAUGE
    CHILD: ClassVar[type[GaugeChild]] = GaugeChild

    def _init_cell_for_family(self) -> None:
        self._init_cell()

    def get(self) -> float:
        """The value of an unlabelled gauge."""
        self._unlabelled("get")
        return super().get()

    def set_function(self, function: Callable[[], float] | None) -> None:
        """``set_function`` of an unlabelled gauge (see ``GaugeCell.set_function``); on a
        labelled family call it on each child: ``gauge.labels(...).set_function(f)``."""
        self._unlabelled("set_function")
        super().set_function(function)

    # On a labelled family, with blocks choose the child inside: see ``_family``.
    track_inprogress = inprogress_choosing_labels(_GaugeHelpers.track_inprogress)
    time = timer_choosing_labels(_GaugeHelpers.time, "set")

    def _snapshot(self) -> MetricFamily:
        series = self._series()
        try:
            samples = [(one, one.get()) for one in series]
        except (TypeError, ValueError) as error:  # only a set_function() function fails
            raise self._function_failed(series, error) from error
        return MetricFamily(
            self._name,
            MetricType.GAUGE,
            self._help,
            self._unit,
            self._labelnames,
            samples=samples,
        )

    def _function_failed(self, series: Sequence[Any], error: Exception) -> Exception:
        """``error`` (a series' ``set_function`` function failed) naming this gauge and,
        when it can be found, the series."""
        where = f"gauge {self._name!r}"
        for one in series:
            base = getattr(one, "_base", None)
            if getattr(base, "failed", None) is error:
                if self._labelnames:
                    pairs = dict(zip(self._labelnames, one.label_values, strict=True))
                    where += f" series {pairs!r}"
                break
        return type(error)(f"{where}: {error}")
