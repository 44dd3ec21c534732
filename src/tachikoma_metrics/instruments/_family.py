"""What every metric family shares: its definition, its children, and label handling."""

from __future__ import annotations

import threading
from bisect import insort
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar, Generic, TypeVar

from .._names import check_label_names, check_metric_name, check_unit
from ..model import MetricFamily, MetricType, SeriesLabels
from ..values import PAUSED, REFUSED, Cell


class Child(Cell, SeriesLabels):
    """Base of every family's child type: one series, known by its label values."""

    __slots__ = ()


ChildT = TypeVar("ChildT", bound=Child)


class Family(Cell, SeriesLabels, Generic[ChildT]):
    """A named metric with fixed label names and one child per set of label values.

    A family without label names is itself its one series: concrete families inherit the
    value cell of their type (keeping its storage in the instance dict), so
    ``counter.inc()`` costs exactly what ``child.inc()`` does. A labelled family's own
    cell is ``REFUSED``: writing to it, or reading it, raises ``ValueError`` naming the
    labels, since only ``labels(...)`` picks a series.
    """

    TYPE: ClassVar[MetricType]
    CHILD: ClassVar[type[Any]]
    RESERVED_LABELS: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        name: str,
        help: str = "",
        *,
        labelnames: Iterable[str] = (),
        unit: str = "",
        utf8_names: bool = False,
    ) -> None:
        self._init_series()
        self._name = self._family_name(check_metric_name(name, utf8_names))
        if not isinstance(help, str):
            raise TypeError(f"help for {name!r} must be a str, got {help!r}")
        self._help = help
        self._labelnames = check_label_names(labelnames, self.RESERVED_LABELS, utf8_names)
        self._unit = check_unit(self._name, unit)
        self._lock = threading.Lock()
        if not hasattr(self, "_child_class"):
            self._child_class: type[ChildT] = self.CHILD
        self._children: dict[tuple[str, ...], ChildT] = {}
        # Children sorted by label values, rebuilt lazily; replaced, never mutated, once built.
        self._order: list[ChildT] | None = None
        self._added: list[ChildT] = []
        self._sort_key = self._make_sort_key()
        self._suspended = False
        # As a series (unlabelled families only): no labels, rendered as nothing.
        self.label_values = ()
        self.rendered_labels = ""
        self.encoded_labels = b""
        if self._labelnames:
            self._owner = REFUSED

    def _init_series(self) -> None:
        """Set up the family's own value cell (used as its series when it has no labels)."""
        raise NotImplementedError

    # -- definition ---------------------------------------------------------------------------

    @staticmethod
    def _family_name(name: str) -> str:
        return name

    @property
    def name(self) -> str:
        """The family name (for counters, without the ``_total`` their samples carry)."""
        return self._name

    @property
    def help(self) -> str:
        return self._help

    @property
    def labelnames(self) -> tuple[str, ...]:
        return self._labelnames

    @property
    def unit(self) -> str:
        return self._unit

    @property
    def metric_type(self) -> MetricType:
        return self.TYPE

    def sample_names(self) -> tuple[str, ...]:
        """Every name this family's series can be exposed under, in any format."""
        return (self._name,)

    def definition(self) -> dict[str, object]:
        """What get-or-create compares: two families with equal definitions are the same."""
        return {"type": self.TYPE.value, "labelnames": self._labelnames, "unit": self._unit}

    # -- children -----------------------------------------------------------------------------

    def _new_child(self, cls: type[ChildT], labels: tuple[str, ...]) -> ChildT:
        """Build a child of class ``cls`` (the family's child type or its pausable twin)."""
        raise NotImplementedError

    def labels(self, *values: object, **kwvalues: object) -> ChildT:
        """The child for these label values, created on first use.

        Values go positionally in label-name order, or by name; each is converted with
        ``str()``. A wrong count, a missing or unknown name raises ``ValueError``.
        """
        try:
            child = self._children.get(values)  # type: ignore[arg-type]
        except TypeError:  # an unhashable value: converted with str() below
            child = None
        if child is None or kwvalues:
            return self._labels_slow(values, kwvalues)
        return child

    def _labels_slow(self, values: tuple[object, ...], kwvalues: dict[str, object]) -> ChildT:
        key = self._label_key(values, kwvalues)
        child = self._children.get(key)
        if child is None:
            child = self._add_child(key)
        return child

    def _label_key(
        self, values: tuple[object, ...], kwvalues: dict[str, object]
    ) -> tuple[str, ...]:
        names = self._labelnames
        if not names:
            raise ValueError(f"metric {self._name!r} has no labels; call its methods directly")
        if kwvalues:
            if values:
                raise ValueError(
                    f"metric {self._name!r} expects labels {names!r}: pass their values"
                    " by position or by name, not both"
                )
            unknown = sorted(set(kwvalues) - set(names))
            missing = [n for n in names if n not in kwvalues]
            if unknown or missing:
                raise ValueError(
                    f"metric {self._name!r} expects labels {names!r}; "
                    f"unknown: {unknown!r}, missing: {missing!r}"
                )
            values = tuple(kwvalues[n] for n in names)
        if len(values) != len(names):
            raise ValueError(
                f"metric {self._name!r} expects {len(names)} label values for {names!r}, "
                f"got {len(values)}: {values!r}"
            )
        key = tuple(v if v.__class__ is str else str(v) for v in values)
        for name, value in zip(names, key, strict=True):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError(
                    f"metric {self._name!r}: label {name!r} value {value!r} is not valid UTF-8"
                ) from None
        return key

    def _add_child(self, key: tuple[str, ...]) -> ChildT:
        with self._lock:
            child = self._children.get(key)
            if child is None:
                child = self._new_child(self._child_class, key)
                if self._suspended:
                    child._owner = PAUSED
                self._children[key] = child
                self._added.append(child)
            return child

    def remove(self, *values: object, **kwvalues: object) -> None:
        """Drop the child for these label values; ``KeyError`` if there is none."""
        key = self._label_key(values, kwvalues)
        with self._lock:
            if key not in self._children:
                raise KeyError(f"metric {self._name!r} has no series with labels {key!r}")
            del self._children[key]
            self._order = None
            self._added = []

    def clear(self) -> None:
        """Drop every child of a labelled family (an unlabelled family keeps its one series)."""
        if not self._labelnames:
            return
        with self._lock:
            self._children = {}
            self._order = None
            self._added = []

    def _make_sort_key(self) -> Callable[[ChildT], tuple[str, ...]]:
        names = self._labelnames
        order = sorted(range(len(names)), key=names.__getitem__)
        if order == list(range(len(names))):
            return lambda child: child.label_values

        def permuted(child: ChildT) -> tuple[str, ...]:
            values = child.label_values
            return tuple(values[i] for i in order)

        return permuted

    def _sorted_children(self) -> Sequence[ChildT]:
        """The children sorted by label values (in label-name order), cheap when unchanged."""
        order = self._order
        if order is not None and not self._added:
            return order
        with self._lock:
            if self._order is None:
                self._order = sorted(self._children.values(), key=self._sort_key)
            elif len(self._added) <= 64:
                # A few new series: binary insertion into a copy (readers may hold the old list).
                order = list(self._order)
                for child in self._added:
                    insort(order, child, key=self._sort_key)
                self._order = order
            else:
                # Many new series: Timsort merges the two sorted runs in about linear time.
                self._order = sorted(
                    self._order + sorted(self._added, key=self._sort_key), key=self._sort_key
                )
            self._added = []
            return self._order

    # -- refusals and the facade's pause -------------------------------------------------------

    def _no_labels_given(self, method: str) -> ValueError:
        return ValueError(
            f"metric {self._name!r} has labels {self._labelnames!r}: "
            f"call .labels(...) before .{method}()"
        )

    def _refusal(self, method: str) -> Exception:
        return self._no_labels_given(method)

    def _unlabelled(self, method: str) -> None:
        """Raise unless this family is its own series (has no labels)."""
        if self._labelnames:
            raise self._no_labels_given(method)

    def _suspend(self) -> None:
        """Drop every write until ``_resume()``: the facade's state before ``init()``."""
        with self._lock:
            self._suspended = True
            everything: list[Cell] = [self, *self._children.values()]
            for series in everything:
                if series._owner != REFUSED:
                    series._owner = PAUSED

    def _resume(self) -> None:
        with self._lock:
            self._suspended = False
            everything: list[Cell] = [self, *self._children.values()]
            for series in everything:
                if series._owner == PAUSED:
                    series._owner = 0

    def _series(self) -> Sequence[Any]:
        """The series to snapshot: the family itself if unlabelled, else its sorted children."""
        if self._labelnames:
            return self._sorted_children()
        return (self,)

    # -- snapshot -----------------------------------------------------------------------------

    def collect(self) -> MetricFamily:
        """This family's series as one snapshot."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._name!r}, labelnames={self._labelnames!r})"
