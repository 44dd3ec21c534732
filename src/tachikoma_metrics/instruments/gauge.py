"""Gauges: values that go up and down."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar

from ..model import MetricFamily, MetricType
from ..values import GaugeCell
from ._family import (
    Child,
    Family,
    Registrar,
    inprogress_choosing_labels,
    timer_choosing_labels,
)
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


MULTIPROCESS_MODES = (
    "all",
    "liveall",
    "sum",
    "livesum",
    "min",
    "livemin",
    "max",
    "livemax",
    "mostrecent",
    "livemostrecent",
)
"""How a gauge's values in several processes are merged (``multiprocess_mode=``)."""

DEFAULT_MULTIPROCESS_MODE = "livesum"


def check_multiprocess_mode(mode: object) -> str:
    if mode.__class__ is not str or mode not in MULTIPROCESS_MODES:
        raise ValueError(
            f"multiprocess_mode must be one of {', '.join(MULTIPROCESS_MODES)}; got {mode!r}"
        )
    return mode


class Gauge(Family[GaugeChild], _GaugeHelpers):
    """A gauge family: any float, negative included.

    Unlabelled, the family is its own series, with the methods of ``GaugeChild``.

    ``multiprocess_mode`` says how the values of several processes are merged in
    multi-process mode (see ``docs/multiprocess.md``): ``livesum`` (the default: the sum
    over live processes, which is what a gauge of something each worker holds means),
    ``sum``, ``min``, ``max``, ``mostrecent`` (the last value set in any process), their
    ``live`` variants that leave dead processes out, and ``all``/``liveall`` (one series
    per process, with a ``pid`` label). Part of the definition; ignored in one process.
    """

    __slots__ = ("_multiprocess_mode",)

    TYPE: ClassVar[MetricType] = MetricType.GAUGE
    CHILD: ClassVar[type[GaugeChild]] = GaugeChild

    def __init__(
        self,
        name: str,
        help: str = "",
        labelnames: Iterable[str] = (),
        *,
        unit: str = "",
        multiprocess_mode: str = DEFAULT_MULTIPROCESS_MODE,
        registry: Registrar | None = None,
    ) -> None:
        self._multiprocess_mode = check_multiprocess_mode(multiprocess_mode)
        super().__init__(name, help, labelnames, unit=unit, registry=registry)

    def _init_cell_for_family(self) -> None:
        self._init_cell()

    @property
    def multiprocess_mode(self) -> str:
        return self._multiprocess_mode

    def _options(self) -> tuple[tuple[str, object], ...]:
        return (("multiprocess_mode", self._multiprocess_mode),)

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
