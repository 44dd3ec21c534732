"""What every metric family shares: its definition, its children, and label handling.

An instrument type is one module: a child class (a series), a family class, and the
family's ``__init__`` signature, which is the only place that type's arguments are
written. ``MetricsRegistry`` and the facade make their get-or-create methods from the
class (see ``registry.instrument``), so a new type needs no other change than one
registration line in each.
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from .. import _locks
from .. import storage as _storage
from .._locks import new_lock
from .._names import check_label_names, check_metric_name, check_text, check_unit
from ..model import MetricFamily, MetricType, SeriesLabels
from ..storage import Storage, compose
from ..values import Cell
from ._timing import InProgress, LabelledInProgress, LabelledTimer, Timer


class Registrar(Protocol):
    """What a family needs of the registry it is built for (a ``MetricsRegistry``)."""

    @property
    def storage(self) -> Storage: ...

    @property
    def utf8_names(self) -> bool: ...

    def register(self, collector: Any) -> None: ...


@dataclass(frozen=True)
class Definition:
    """What identifies a family for get-or-create: two families with equal definitions
    are the same instrument (help text is not compared). ``options`` are the type's own
    (``buckets`` for histograms), as ``(name, value)`` pairs."""

    type: MetricType
    name: str
    labelnames: tuple[str, ...]
    unit: str
    options: tuple[tuple[str, object], ...] = ()

    def fields(self) -> dict[str, object]:
        """Every compared field by name, for error messages."""
        return {
            "type": self.type.value,
            "labelnames": self.labelnames,
            "unit": self.unit,
            **dict(self.options),
        }


class Child(Cell, SeriesLabels):
    """Base of every family's child type: one series, known by its label values.

    The value cell's storage attributes are added as slots when the child class is
    composed with its registry's cell (see ``storage.compose``).
    """

    __slots__ = ("encoded_labels", "label_values", "rendered_labels")

    def __init__(self, labels: tuple[str, ...]) -> None:
        self.label_values = labels
        self.rendered_labels: str | None = None
        self.encoded_labels: bytes | None = None


ChildT = TypeVar("ChildT", bound=Child)

_twin_lock = new_lock()
_idle_twins: dict[type, type] = {}
_refusing_twins: dict[type, type] = {}
_utf8_twins: dict[type, type] = {}


def utf8_twin(cls: type) -> type:
    """``cls`` with ``UTF8_NAMES`` true: the class of a family (or child) built for a
    registry made with ``utf8_names=True``, whose exemplar label names follow the UTF-8
    rules (see ``values.make_exemplar``). Only the paths taking an exemplar read the
    attribute, so the rule costs nothing elsewhere; the twin adds no storage."""
    twin = _utf8_twins.get(cls)
    if twin is None:
        with _twin_lock:
            twin = _utf8_twins.get(cls)
            if twin is None:
                namespace: dict[str, object] = {
                    "__slots__": (),
                    "__module__": cls.__module__,
                    "__qualname__": cls.__qualname__,
                    "__doc__": cls.__doc__,
                    "UTF8_NAMES": True,
                }
                twin = _utf8_twins[cls] = type(cls.__name__, (cls,), namespace)
    return twin


def idle_twin(cls: type) -> type:
    """``cls`` with its cell's writes replaced by ``Idle`` ones that validate and drop.

    The twin adds no storage, so an instance can switch between the two classes (by
    ``__class__`` assignment) without its values moving: that is how a facade
    instrument is paused before ``init()`` at no cost to the live class's fast path.
    """
    twin = _idle_twins.get(cls)
    if twin is None:
        with _twin_lock:
            twin = _idle_twins.get(cls)
            if twin is None:
                idle = cls.Idle  # type: ignore[attr-defined]
                namespace: dict[str, object] = {
                    "__slots__": (),
                    "__module__": cls.__module__,
                    "__qualname__": cls.__qualname__,
                    "_live": cls,
                    # Copied rather than inherited from ``Idle``: one base keeps the layout.
                    **{method: vars(idle)[method] for method in cls.WRITES},  # type: ignore[attr-defined]
                }
                twin = _idle_twins[cls] = type(cls.__name__, (cls,), namespace)
    return twin


def _refuser(method: str) -> Callable[..., None]:
    def refuse(self: Family[Any], *args: object, **kwargs: object) -> None:
        raise self._no_labels_given(method)

    refuse.__name__ = method
    return refuse


def refusing_twin(cls: type) -> type:
    """``cls`` with its cell's writes raising: a labelled family is not itself a series,
    so ``family.inc()`` must say to call ``labels(...)`` first."""
    twin = _refusing_twins.get(cls)
    if twin is None:
        with _twin_lock:
            twin = _refusing_twins.get(cls)
            if twin is None:
                namespace: dict[str, object] = {
                    "__slots__": (),
                    "__module__": cls.__module__,
                    "__qualname__": cls.__qualname__,
                    **{method: _refuser(method) for method in cls.WRITES},  # type: ignore[attr-defined]
                }
                twin = _refusing_twins[cls] = type(cls.__name__, (cls,), namespace)
    return twin


class Family(Cell, SeriesLabels, Generic[ChildT]):
    """A named metric with fixed label names and one child per set of label values.

    ``Counter(name, help, labelnames, *, unit, registry)`` and the same for every type,
    plus its own options. ``labelnames`` may be given by position, as ``prometheus_client``
    takes it. With ``registry=`` the family is built for that registry (its storage and
    naming rules) and registered in it on construction; without, it uses the default
    storage and is registered nowhere until ``registry.register(family)``.

    A family without label names is itself its one series: the concrete class inherits
    the value cell of its type (its storage attributes are slots, as a child's), so
    ``counter.inc()`` costs exactly what ``child.inc()`` does. A labelled family's own
    writes raise ``ValueError`` naming the labels, since only ``labels(...)`` picks a
    series.
    """

    # Slots, not an instance dict: a facade family changes class when paused and resumed
    # (see idle_twin), which would leave a dict keyed for the wrong class and every
    # attribute read slower for good. Subclasses declare __slots__ too.
    __slots__ = (
        "_added",
        "_child_class",
        "_children",
        "_help",
        "_labelnames",
        "_lock",
        "_name",
        "_order",
        "_sort_key",
        "_storage",
        "_suspended",
        "_unit",
        "encoded_labels",
        "label_values",
        "rendered_labels",
    )
    TYPE: ClassVar[MetricType]
    CHILD: ClassVar[type[Any]]
    RESERVED_LABELS: ClassVar[tuple[str, ...]] = ()

    def __new__(cls, *args: Any, registry: Registrar | None = None, **options: Any) -> Any:
        storage = registry.storage if registry is not None else _storage.MEMORY
        cell = storage.cell_class(cls._default_cell(options))
        concrete = compose(cls, cell)
        child_class = compose(cls.CHILD, cell)
        if registry is not None and registry.utf8_names:
            concrete, child_class = utf8_twin(concrete), utf8_twin(child_class)
        labelnames = args[2] if len(args) > 2 else options.get("labelnames", ())
        if not isinstance(labelnames, Collection):
            # An iterator can be read only once: read it here, and __init__ checks this.
            labelnames = tuple(labelnames)
        if labelnames:
            concrete = refusing_twin(concrete)
        family = object.__new__(concrete)
        family._storage = storage
        family._child_class = child_class
        family._labelnames = labelnames  # checked by __init__
        return family

    def _move_to(self, storage: Storage) -> None:
        """Rebuild this family, its series and its handles on ``storage``, in place (a
        facade family made before ``init(multiprocess_dir=...)``, which has recorded
        nothing yet). The cells of every storage have the same slots, so each object just
        changes class and sets up its cell anew."""
        base: Any = next(k for k in type(self).__mro__ if "CHILD" in vars(k))
        cell = storage.cell_class(base._default_cell(dict(self.definition().options)))
        concrete, child_class = compose(base, cell), compose(base.CHILD, cell)
        if type(self).UTF8_NAMES:
            concrete, child_class = utf8_twin(concrete), utf8_twin(child_class)
        if self._labelnames:
            concrete = refusing_twin(concrete)
        with self._lock:
            self._storage = storage
            self._child_class = child_class
            self.__class__ = idle_twin(concrete) if self._suspended else concrete
            for child in self._children.values():
                child.__class__ = idle_twin(child_class) if self._suspended else child_class
            for series in [self] if not self._labelnames else self._children.values():
                series._adopt()
                storage.attach(self, series)

    @classmethod
    def _default_cell(cls, options: dict[str, Any]) -> type[Cell]:
        """The in-process cell for a family of this type with these options."""
        cell = next(k for k in cls.__mro__ if issubclass(k, Cell) and "STORAGE" in vars(k))
        return cell

    def __init__(
        self,
        name: str,
        help: str = "",
        labelnames: Iterable[str] = (),
        *,
        unit: str = "",
        registry: Registrar | None = None,
    ) -> None:
        utf8 = registry.utf8_names if registry is not None else False
        self._name = self._family_name(check_metric_name(name, utf8))
        self._help = check_text(f"help for {name!r}", help)
        # __new__ has read the label names (an iterator can be read only once): check those.
        self._labelnames = check_label_names(self._labelnames, self.RESERVED_LABELS, utf8)
        self._unit = check_unit(self._name, unit)
        self._init_cell_for_family()
        if not self._labelnames:
            self._storage.attach(self, self)
        self._lock = new_lock()
        _locks.install()
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
        if registry is not None:
            registry.register(self)

    _storage: Storage
    _child_class: type[ChildT]
    _labelnames: tuple[str, ...]

    def _init_cell_for_family(self) -> None:
        """Set up the family's own value cell (its series when it has no labels)."""
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

    @property
    def storage(self) -> Storage:
        """The storage this family's cells come from."""
        return self._storage

    def _options(self) -> tuple[tuple[str, object], ...]:
        """The type's own options, as part of its definition."""
        return ()

    def definition(self) -> Definition:
        """What get-or-create compares: two families with equal definitions are the same."""
        return Definition(self.TYPE, self._name, self._labelnames, self._unit, self._options())

    def describe(self) -> list[MetricFamily]:
        """The family's metadata with no series: the names it exposes (collector protocol)."""
        return [MetricFamily(self._name, self.TYPE, self._help, self._unit, self._labelnames)]

    # -- children -----------------------------------------------------------------------------

    def _new_child(self, labels: tuple[str, ...]) -> ChildT:
        """A new child of this family's (composed) child class."""
        return self._child_class(labels)

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
                child = self._new_child(key)
                self._storage.attach(self, child)
                if self._suspended:
                    child.__class__ = idle_twin(type(child))
                self._children[key] = child
                self._added.append(child)
            return child

    def remove(self, *values: object, **kwvalues: object) -> None:
        """Drop the child for these label values; ``KeyError`` if there is none."""
        key = self._label_key(values, kwvalues)
        with self._lock:
            child = self._children.pop(key, None)
            if child is not None:
                self._order = None
                self._added = []
        # A storage shared by processes also removes the series where only others hold it.
        if not self._storage.removed(self, dict(enumerate(key)), [] if child is None else [child]):
            raise KeyError(f"metric {self._name!r} has no series with labels {key!r}")

    def remove_matching(self, **labels: object) -> int:
        """Drop every child whose labels include all these ``name=value`` pairs (values
        converted with ``str()``, as ``labels()`` does); return how many were dropped.

        ``remove_matching(route="/old")`` drops ``{route="/old", code="200"}`` and
        ``{route="/old", code="500"}`` alike (``client_golang``'s ``DeletePartialMatch``).
        ``ValueError`` naming them for label names the family does not have, and for no
        pair at all (``clear()`` drops every child). Safe while other threads record and
        create children; a handle on a dropped child records into a series no export
        shows any more (as after ``remove()``).
        """
        names = self._labelnames
        if not labels:
            raise ValueError(
                f"metric {self._name!r}: remove_matching() needs at least one label=value"
                " pair (clear() drops every series)"
            )
        unknown = sorted(set(labels) - set(names))
        if unknown:
            raise ValueError(f"metric {self._name!r} has labels {names!r}; unknown: {unknown!r}")
        wanted = [
            (names.index(name), value if value.__class__ is str else str(value))
            for name, value in labels.items()
        ]

        def matches(key: tuple[str, ...]) -> bool:
            return all(key[index] == value for index, value in wanted)

        with self._lock:
            children = self._children
            doomed = [key for key in children if matches(key)]
            dropped = [children.pop(key) for key in doomed]
            # Replaced, never mutated (readers may hold them); still sorted once filtered.
            if dropped and self._order is not None:
                self._order = [c for c in self._order if not matches(c.label_values)]
            if dropped:
                self._added = [c for c in self._added if not matches(c.label_values)]
        return self._storage.removed(self, dict(wanted), dropped)

    def clear(self) -> None:
        """Drop every child of a labelled family (an unlabelled family keeps its one series)."""
        if not self._labelnames:
            return
        with self._lock:
            dropped = list(self._children.values())
            self._children = {}
            self._order = None
            self._added = []
        self._storage.removed(self, {}, dropped)

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

    def _unlabelled(self, method: str) -> None:
        """Raise unless this family is its own series (has no labels)."""
        if self._labelnames:
            raise self._no_labels_given(method)

    def _suspend(self) -> None:
        """Validate and drop every write until ``_resume()``: the facade before ``init()``.

        The family (if it is a series) and its children switch to their idle twins,
        and children created meanwhile are born idle. Idempotent.
        """
        with self._lock:
            self._suspended = True
            series: list[Any] = list(self._children.values())
            if not self._labelnames:
                series.append(self)
            for one in series:
                if not hasattr(type(one), "_live"):
                    one.__class__ = idle_twin(type(one))

    def _resume(self) -> None:
        """Record again (``init()``): every idle series switches back to its live class."""
        with self._lock:
            self._suspended = False
            series: list[Any] = [self, *self._children.values()]
            for one in series:
                live = getattr(type(one), "_live", None)
                if live is not None:
                    one.__class__ = live

    def _series(self) -> Sequence[Any]:
        """The series to snapshot: the family itself if unlabelled, else its sorted children."""
        if self._labelnames:
            return self._sorted_children()
        return (self,)

    # -- snapshot -----------------------------------------------------------------------------

    def collect(self) -> list[MetricFamily]:
        """This family's series as one snapshot (collector protocol)."""
        return [self._snapshot()]

    def _snapshot(self) -> MetricFamily:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._name!r}, labelnames={self._labelnames!r})"


# -- helpers whose labels are chosen inside the block ------------------------------------------


def timer_choosing_labels(own: Callable[[Any], Timer], record: str) -> Callable[[Any], Timer]:
    """The ``time()`` method of a family type whose series have ``own`` as ``time()``:
    ``own(family)`` on an unlabelled family (unchanged), and on a labelled one a
    ``LabelledTimer`` whose ``labels(...)``, called inside the ``with`` block, chooses the
    child whose method ``record`` gets the seconds when the block ends. One line in the
    family class: ``time = timer_choosing_labels(_HistogramHelpers.time, "observe")``."""

    def time(self: Family[Any]) -> Timer:
        if self._labelnames:
            return LabelledTimer(self, record)
        return own(self)

    time.__doc__ = (
        f"Context manager and decorator: {record}() the duration in seconds. On a labelled"
        " family, only as a context manager: choose the child inside the block with"
        " ``.labels(...)`` on the timer (``with family.time() as timer: ...;"
        ' timer.labels("ok")``); leaving the block without choosing raises ``ValueError``.'
    )
    return time


def inprogress_choosing_labels(
    own: Callable[[Any], InProgress],
) -> Callable[[Any], InProgress]:
    """The ``track_inprogress()`` method of a gauge-like family type whose series have
    ``own`` as ``track_inprogress()`` and ``inc()``/``dec()``: ``own(family)`` on an
    unlabelled family (unchanged), and on a labelled one a ``LabelledInProgress`` whose
    ``labels(...)``, called inside the ``with`` block, increments the chosen child until
    the block ends."""

    def track_inprogress(self: Family[Any]) -> InProgress:
        if self._labelnames:
            return LabelledInProgress(self)
        return own(self)

    track_inprogress.__doc__ = (
        "Context manager and decorator: +1 while a block or call runs, -1 after. On a"
        " labelled family, only as a context manager: choose the child inside the block"
        " with ``.labels(...)`` on the tracker, which increments it until the block ends."
    )
    return track_inprogress
