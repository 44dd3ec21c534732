"""Gauges: values that go up and down."""

from __future__ import annotations

import time
from typing import ClassVar

from ..model import MetricFamily, MetricType
from ..values import GaugeCell
from ._family import Child, Family
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

    def track_inprogress(self) -> InProgress:
        """Context manager and decorator on an unlabelled gauge (see ``GaugeChild``)."""
        self._unlabelled("track_inprogress")
        return _GaugeHelpers.track_inprogress(self)

    def time(self) -> Timer:
        """Context manager and decorator on an unlabelled gauge (see ``GaugeChild``)."""
        self._unlabelled("time")
        return _GaugeHelpers.time(self)

    def _snapshot(self) -> MetricFamily:
        return MetricFamily(
            self._name,
            MetricType.GAUGE,
            self._help,
            self._unit,
            self._labelnames,
            samples=[(series, series.get()) for series in self._series()],
        )
