"""Gauges: values that go up and down."""

from __future__ import annotations

import time
from typing import ClassVar

from ..model import MetricFamily, MetricType
from ..values import GaugeCell
from ._family import Child, Family
from ._timing import InProgress, Timer


class GaugeChild(GaugeCell, Child):
    """One gauge series: ``inc``, ``dec``, ``set``, ``get`` and timing helpers."""

    __slots__ = ("label_values", "rendered_labels")
    RECORDING_METHODS: ClassVar[tuple[str, ...]] = ("inc", "dec", "set", "set_to_current_time")

    def __init__(self, labels: tuple[str, ...]) -> None:
        GaugeCell.__init__(self)
        self.label_values = labels
        self.rendered_labels: str | None = None

    def set_to_current_time(self) -> None:
        """Set the gauge to the current Unix time in seconds."""
        self.set(time.time())

    def track_inprogress(self) -> InProgress:
        """Context manager and decorator: +1 while a block or call runs, -1 after."""
        return InProgress(self._enter, self._leave)

    def time(self) -> Timer:
        """Context manager and decorator: set the gauge to the duration in seconds."""
        return Timer(self._set_seconds)

    # Indirections so a timer made before init() records once init() has run.
    def _enter(self) -> None:
        self.inc()

    def _leave(self) -> None:
        self.dec()

    def _set_seconds(self, seconds: float) -> None:
        self.set(seconds)


class Gauge(Family[GaugeChild]):
    """A gauge family: any float, negative included."""

    TYPE: ClassVar[MetricType] = MetricType.GAUGE
    CHILD: ClassVar[type[GaugeChild]] = GaugeChild
    CHILD_METHODS: ClassVar[tuple[str, ...]] = ("inc", "dec", "set", "get", "set_to_current_time")

    def _new_child(self, cls: type[GaugeChild], labels: tuple[str, ...]) -> GaugeChild:
        return cls(labels)

    def inc(self, amount: float = 1.0) -> None:
        """Add ``amount`` to an unlabelled gauge."""
        raise self._no_labels_given("inc")

    def dec(self, amount: float = 1.0) -> None:
        """Subtract ``amount`` from an unlabelled gauge."""
        raise self._no_labels_given("dec")

    def set(self, value: float) -> None:
        """Set an unlabelled gauge."""
        raise self._no_labels_given("set")

    def get(self) -> float:
        """The value of an unlabelled gauge."""
        raise self._no_labels_given("get")

    def set_to_current_time(self) -> None:
        """Set an unlabelled gauge to the current Unix time."""
        raise self._no_labels_given("set_to_current_time")

    def track_inprogress(self) -> InProgress:
        """Context manager and decorator on an unlabelled gauge (see ``GaugeChild``)."""
        if self._labelnames:
            raise self._no_labels_given("track_inprogress")
        return InProgress(self._enter, self._leave)

    def time(self) -> Timer:
        """Context manager and decorator on an unlabelled gauge (see ``GaugeChild``)."""
        if self._labelnames:
            raise self._no_labels_given("time")
        return Timer(self._set_seconds)

    def _enter(self) -> None:
        self.inc()

    def _leave(self) -> None:
        self.dec()

    def _set_seconds(self, seconds: float) -> None:
        self.set(seconds)

    def collect(self) -> MetricFamily:
        return MetricFamily(
            self._name,
            MetricType.GAUGE,
            self._help,
            self._unit,
            self._labelnames,
            samples=[(child, child.get()) for child in self._sorted_children()],
        )
