"""Storage: which value cells a registry's instruments use, chosen per registry.

An instrument class (``Counter``, ``Gauge``, ``Histogram``...) inherits the default,
in-process cell of its type, so it reads and types as one object. When a family is built,
its registry's ``Storage`` maps that default cell to the cell it wants, and ``compose``
makes the concrete class: the instrument class with the chosen cell mixed in and the
cell's storage attributes declared as slots. The default storage maps every cell to
itself, so the default instruments run exactly the code written in ``instruments/`` and
``values.py`` (nothing is wrapped and nothing costs more). A multi-process storage
returns cells backed by shared files; the instrument classes do not change.

A storage's cell must be a subclass of the default cell it replaces: same methods, same
contract (see ``values``), its own ``STORAGE`` attributes and ``_init_cell``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from ._locks import new_lock
from .model import MetricFamily
from .values import Cell

C = TypeVar("C", bound=Cell)
Stored = tuple[Mapping[str, "MetricFamily | Exception"], list["MetricFamily"]]
T = TypeVar("T")


class Storage:
    """The default storage: every cell in process memory, exactly as written."""

    name = "memory"

    def cell_class(self, cell: type[C]) -> type[C]:
        """The cell class to use where an instrument's default cell is ``cell``.

        ``cell`` may be a specialised subclass of a type's cell (histograms compile
        ``observe`` per bucket layout); a storage that replaces it returns a subclass of
        the cell's type that does the same job its own way.
        """
        return cell

    def attach(self, family: Any, series: Cell) -> None:
        """``series`` (a new child of ``family``, or an unlabelled family itself) is made:
        bind it to what backs it. In process memory there is nothing to bind."""

    def removed(self, family: Any, match: Mapping[int, str], series: Sequence[Cell]) -> int:
        """``family`` dropped ``series``: those whose label value at each index of
        ``match`` is the one given (all of them for an empty ``match``). Returns how many
        series are gone: in process memory, the dropped cells, simply forgotten (a storage
        shared by processes counts those only others held too)."""
        return len(series)

    def snapshots(self, families: Iterable[Any]) -> Stored | None:
        """``None``: each family's ``collect()`` reads its own cells (process memory). A
        storage whose values live elsewhere returns the snapshot of each of ``families``
        by name (or the error that kept it from being made), and the families it holds
        that none of them is."""
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


MEMORY = Storage()
"""The storage every registry and every instrument built on its own uses by default."""

_lock = new_lock()
_composed: dict[tuple[type, type], type] = {}


def compose(base: type[T], cell: type[Cell]) -> type[T]:
    """``base`` (an instrument family or child class) with ``cell`` as its value cell.

    The composed class declares the cell's ``STORAGE`` attributes as slots (families and
    children have no instance dict), so the same cell code serves both. One class per
    (base, cell), made once and shared.
    """
    key = (base, cell)
    composed = _composed.get(key)
    if composed is not None:
        return composed
    with _lock:
        composed = _composed.get(key)
        if composed is None:
            bases: tuple[type, ...] = (base,) if issubclass(base, cell) else (base, cell)
            declared = {name for klass in base.__mro__ for name in _slots_of(klass)}
            namespace: dict[str, object] = {
                "__slots__": tuple(n for n in cell.STORAGE if n not in declared),
                "__module__": base.__module__,
                "__qualname__": base.__qualname__,
                "__doc__": base.__doc__,
            }
            composed = _composed[key] = type(base.__name__, bases, namespace)
        return composed


def _slots_of(klass: type) -> tuple[str, ...]:
    slots = vars(klass).get("__slots__", ())
    return (slots,) if isinstance(slots, str) else tuple(slots)
