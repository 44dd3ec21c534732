"""A second storage for the storage seam: the default cells, counting every write.

``CountingStorage`` maps each default cell to a subclass whose recording methods (the
cell's ``WRITES``) count the call, then do what the default does. It is trivially
different from the default storage, which is the point: every instrument behaviour the
suite checks must hold with it too (see ``conftest.py``), and a registry built with it
must route every write through it (``test_storage.py``).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

from tachikoma_metrics.storage import Storage
from tachikoma_metrics.values import Cell

C = TypeVar("C", bound=Cell)


class CountingStorage(Storage):
    """Default cells that count their writes in ``writes`` (``"CounterCell.inc"``...)."""

    name = "counting"

    def __init__(self) -> None:
        self.writes: Counter[str] = Counter()
        self.cells: dict[type, type] = {}
        self._lock = threading.Lock()

    def cell_class(self, cell: type[C]) -> type[C]:
        with self._lock:
            counted = self.cells.get(cell)
            if counted is None:
                kind = next(k for k in cell.__mro__ if "WRITES" in vars(k)).__name__
                namespace: dict[str, Any] = {"__slots__": ()}
                for method in cell.WRITES:
                    namespace[method] = self._counting(f"{kind}.{method}", getattr(cell, method))
                counted = self.cells[cell] = type("Counting" + cell.__name__, (cell,), namespace)
            return counted

    def _counting(self, key: str, write: Callable[..., None]) -> Callable[..., None]:
        writes, lock = self.writes, self._lock

        def counted(cell: Any, *args: Any, **kwargs: Any) -> None:
            with lock:
                writes[key] += 1
            write(cell, *args, **kwargs)

        counted.__name__ = write.__name__
        return counted
