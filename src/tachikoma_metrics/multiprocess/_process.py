"""This process's side of a multi-process directory: its file, and each series' entries.

A process writes one file, ``<pid>-<token>.tkm`` (the token makes a reused pid a new
file), created at its first write. It holds an exclusive ``flock`` on the file, through a
descriptor of its own (not the one its maps use), for as long as it lives: a process whose
lock can be taken is dead, however it died and whatever pid now runs (see
``docs/multiprocess.md``). After ``os.fork()`` the child drops the parent's lock descriptor
and every series it holds moves to a file of the child's own, from zero.

A series (``Binding``) gets its file entries at its first write, never before, so a family
made and thrown away (get-or-create's candidates) writes nothing. One entry per writing
thread, as the in-memory cells keep one slot per thread; a thread that exits hands its
entry to the next thread that writes the series (its value stays and is added to).
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import _locks
from ..model import Exemplar
from . import _files
from ._files import EXEMPLAR, FAMILY, INFO, SERIES, FileWriter

if sys.platform != "win32":  # POSIX file locks; MultiprocessStorage refuses to start without
    import fcntl

if TYPE_CHECKING:
    from ._storage import MultiprocessStorage

SUFFIX = ".tkm"

# An exemplar entry: [sequence, value, timestamp, payload bytes] then the payload (JSON of
# the label pairs, at most 128 characters, each at most 6 bytes escaped, plus punctuation).
EXEMPLAR_SLOTS = 4 + 256
_EXEMPLAR_PAYLOAD = 8 * (EXEMPLAR_SLOTS - 4)


def scratch(slots: int) -> memoryview[float]:
    """Float slots in process memory: where a series writes while it has no file entry
    (a dropped series, whose writes no export shows, as in one process)."""
    return memoryview(bytearray(8 * slots)).cast("d")


def family_payload(family: Any) -> dict[str, Any]:
    """What a reader needs to know of a family: its definition, help and options."""
    definition = family.definition()
    return {
        "name": definition.name,
        "type": definition.type.value,
        "help": family.help,
        "unit": definition.unit,
        "labels": list(definition.labelnames),
        "options": {name: value for name, value in definition.options},
    }


class Process:
    """This process's file in one directory, made at its first write."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.pid = os.getpid()
        self.lock = _locks.new_lock()
        self.writer: FileWriter | None = None
        self.lock_fd = -1
        self.family_ids: dict[int, tuple[Any, int]] = {}  # id(family) -> (family, id)

    @property
    def path(self) -> str | None:
        return None if self.writer is None else self.writer.path

    def _file(self) -> FileWriter:
        writer = self.writer
        if writer is None:
            name = f"{self.pid}-{secrets.token_hex(4)}{SUFFIX}"
            path = os.path.join(self.directory, name)
            # Made under another name and locked before it is given its own: a file with
            # the suffix is never seen unlocked (that is, dead) while its process lives.
            writer = FileWriter(path + ".new")
            # The liveness lock, on a descriptor of its own: the maps' descriptors share
            # the writer's open file description, which a forked child keeps.
            self.lock_fd = os.open(writer.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            fcntl.flock(self.lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.rename(writer.path, path)
            writer.path = path
            self.writer = writer
        return writer

    def _family_id(self, family: Any) -> int:
        known = self.family_ids.get(id(family))
        if known is not None and known[0] is family:
            return known[1]
        number = len(self.family_ids)
        payload = dict(family_payload(family), id=number)
        self._file().append(FAMILY, _files.encode_payload(payload), 0)
        self.family_ids[id(family)] = (family, number)
        return number

    def entry(
        self, family: Any, labels: tuple[str, ...], kind: int, role: object, slots: int
    ) -> tuple[memoryview[float], int]:
        """A new entry of ``slots`` float slots for a series; its chunk's float view and the
        index of its first slot there."""
        with self.lock:
            number = self._family_id(family)
            payload = _files.encode_payload([number, list(labels), role])
            chunk, first, _ = self._file().append(kind, payload, slots)
            return chunk.floats, first

    def info_entry(self, family: Any, labels: tuple[str, ...], values: dict[str, str]) -> None:
        with self.lock:
            number = self._family_id(family)
            payload = _files.encode_payload([number, list(labels), values])
            chunk, first, _ = self._file().append(INFO, payload, 1)
            chunk.floats[first] = time.time()

    def forget_parent(self) -> None:
        """In a forked child: let go of the parent's lock (the child must not keep a dead
        parent looking alive) and of its file, which the child never writes."""
        if self.lock_fd >= 0:
            os.close(self.lock_fd)
        self.lock_fd = -1
        self.writer = None  # its maps stay mapped (views may remain) but are never written

    def close(self) -> None:
        """Stop writing (tests, and a registry closed for good): release the lock."""
        if self.lock_fd >= 0:
            os.close(self.lock_fd)
            self.lock_fd = -1


class Binding:
    """One series' entries in this process's file (see the module docstring)."""

    __slots__ = ("entries", "exemplars", "family", "labels", "offset", "spares", "storage")

    def __init__(self, storage: MultiprocessStorage, family: Any, labels: tuple[str, ...]) -> None:
        self.storage = storage
        self.family = family
        self.labels = labels
        self.entries: list[memoryview[float]] = []  # every entry of this series, owner's first
        self.spares: list[memoryview[float]] = []  # entries of exited threads, to be taken over
        self.exemplars: dict[int, tuple[memoryview[int], int]] = {}
        self.offset = 0.0  # a counter's local reset: minus its total then

    def new_entry(
        self, slots: int, head: Callable[[memoryview[float], int], None] | None = None
    ) -> memoryview[float]:
        """A new entry of ``slots`` slots, first filled by ``head(floats, first)``; the
        view returned covers the slots from the first."""
        floats, first = self.storage.process.entry(self.family, self.labels, SERIES, "", slots)
        if head is not None:
            head(floats, first)
        view = floats[first : first + slots]
        self.entries.append(view)
        return view

    def write_exemplar(self, bucket: int, exemplar: Exemplar) -> None:
        """Publish ``exemplar`` for ``bucket`` (0 for a counter), seqlocked: a reader that
        meets the sequence odd or changed reads again."""
        process = self.storage.process
        payload = _files.encode_payload([list(pair) for pair in exemplar.labels])
        if len(payload) > _EXEMPLAR_PAYLOAD:  # cannot happen within 128 characters
            return
        with process.lock:
            place = self.exemplars.get(bucket)
            if place is None:
                number = process._family_id(self.family)
                record = _files.encode_payload([number, list(self.labels), bucket])
                chunk, first, _ = process._file().append(EXEMPLAR, record, EXEMPLAR_SLOTS)
                place = self.exemplars[bucket] = (chunk.raw, first)
            raw, first = place
            floats = raw.cast("d")
            floats[first] += 1.0  # odd: being written
            floats[first + 1] = exemplar.value
            floats[first + 2] = (
                exemplar.timestamp if exemplar.timestamp is not None else time.time()
            )
            floats[first + 3] = float(len(payload))
            start = (first + 4) * 8
            raw[start : start + len(payload)] = payload
            floats[first] += 1.0  # even: whole

    def forked(self) -> None:
        """In a forked child: this series has no entry in the child's file yet."""
        self.entries = []
        self.spares = []
        self.exemplars = {}
        self.offset = 0.0


def decode_exemplar(values: list[float], raw: bytes) -> Exemplar | None:
    """An exemplar entry's content read by another process, or ``None`` if it was being
    written (the caller reads again) or was never written."""
    sequence = values[0]
    if sequence == 0 or sequence % 2:
        return None
    size = int(values[3])
    try:
        pairs = json.loads(raw[:size])
        return Exemplar(tuple((str(n), str(v)) for n, v in pairs), values[1], values[2])
    except (ValueError, TypeError):
        return None
