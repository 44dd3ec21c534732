"""The multi-process storage: cells in per-process files, merged at collection.

Locks, and why each is enough (``docs/multiprocess.md`` says it for users):

* Every process holds an exclusive ``flock`` on its own file while it lives. A file whose
  lock can be taken belongs to a dead process; no pid is trusted (pids are reused, and a
  token in the name makes every process's file new).
* The directory's ``lock`` file: collection holds it shared while it reads; compaction
  holds it exclusive while it folds dead files into the archive and deletes them, and
  removal while it appends to the removals log. So a scrape sees every dead process's
  values exactly once (in its file or in the archive), and two compactions run one after
  the other (the second finds nothing left to do).
* The archive is written to a temporary file and renamed over the old one; it lists the
  files it absorbed, so a crash before their deletion counts nothing twice.
* Writers take none of these: a value cell's write is a store into its own process's file.
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
import sys
import threading
import time
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import Any, TypeVar

from .. import _locks
from ..quantiles import SummaryCell
from ..storage import Storage, Stored
from ..values import Cell, HistogramCell
from ..values_native import NativeHistogramCell
from . import _files, _removals
from ._cells import CELLS, Bound, MultiprocessHistogramCell
from ._collect import snapshots
from ._files import FileReader, FileWriter
from ._merge import Memo, Merge
from ._native import MultiprocessNativeHistogramCell
from ._process import SUFFIX, Binding, Process
from ._summary import MultiprocessSummaryCell

if sys.platform != "win32":  # POSIX file locks; MultiprocessStorage refuses to start without
    import fcntl

C = TypeVar("C", bound=Cell)

ARCHIVE = "archive" + SUFFIX
LOCK = "lock"

logger = logging.getLogger("tachikoma_metrics")

_storages: weakref.WeakSet[MultiprocessStorage] = weakref.WeakSet()
_hook_lock = threading.Lock()
_hooked = False


def _after_fork_in_child() -> None:
    for storage in list(_storages):
        storage._forked()


def check_directory(directory: object) -> str:
    """``directory`` as a path if it is an existing, writable directory; else an error
    naming it and what is wrong."""
    try:
        path: str | bytes = os.fspath(directory)  # type: ignore[call-overload]
    except TypeError:
        raise TypeError(f"multiprocess_dir must be a path, got {directory!r}") from None
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not path:
        raise ValueError("multiprocess_dir must not be empty")
    if not os.path.exists(path):
        raise FileNotFoundError(errno.ENOENT, f"multiprocess_dir {path!r} does not exist", path)
    if not os.path.isdir(path):
        raise NotADirectoryError(
            errno.ENOTDIR, f"multiprocess_dir {path!r} is not a directory", path
        )
    probe = os.path.join(path, f".probe-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as error:
        raise PermissionError(
            error.errno, f"multiprocess_dir {path!r} is not writable: {error.strerror}", path
        ) from None
    os.close(fd)
    os.unlink(probe)
    return os.path.abspath(path)


class MultiprocessStorage(Storage):
    """Cells backed by this process's file in ``directory``; collection merges every
    process's file there (see the module docstring)."""

    name = "multiprocess"

    def __init__(self, directory: object) -> None:
        global _hooked
        if sys.platform == "win32":
            raise OSError("multi-process mode needs POSIX file locks (fcntl), which Windows lacks")
        self.directory = check_directory(directory)
        self._process = Process(self.directory)
        self._families: dict[int, Any] = {}
        self._families_lock = _locks.new_lock()
        self._scan_lock = _locks.new_lock()
        self._readers: dict[str, FileReader] = {}
        self._memo = Memo()
        self._lock_fd = -1
        self._lock_pid = 0
        self._problems: dict[str, float] = {}  # each problem met, once, with when
        self._classes: dict[type, type] = {}
        _locks.install()
        with _hook_lock:
            if not _hooked and hasattr(os, "register_at_fork"):
                os.register_at_fork(after_in_child=_after_fork_in_child)
                _hooked = True
            _storages.add(self)

    def __repr__(self) -> str:
        return f"<MultiprocessStorage {self.directory!r}>"

    # -- cells ------------------------------------------------------------------------------

    def cell_class(self, cell: type[C]) -> type[C]:
        known = self._classes.get(cell)
        if known is not None:
            return known
        replacement = CELLS.get(cell)
        if replacement is None:
            if issubclass(cell, SummaryCell):
                replacement = MultiprocessSummaryCell
            elif issubclass(cell, NativeHistogramCell):
                replacement = MultiprocessNativeHistogramCell
            elif issubclass(cell, HistogramCell) and "_flush" not in dir(cell):
                # A compiled classic histogram: its observe runs on the file's counts.
                replacement = type(
                    cell.__name__, (MultiprocessHistogramCell, cell), {"__slots__": ()}
                )
            else:
                raise NotImplementedError(f"no multi-process cell for {cell.__name__} yet")
        self._classes[cell] = replacement
        return replacement  # type: ignore[return-value]

    @property
    def process(self) -> Process:
        process = self._process
        if process.pid != os.getpid():  # forked without the fork hook (uWSGI): a new file
            self._forked()
            process = self._process
        return process

    def attach(self, family: Any, series: Cell) -> None:
        if not isinstance(series, Bound):
            return
        labels = () if series is family else series.label_values  # type: ignore[attr-defined]
        series._bind(Binding(self, family, labels))
        if id(family) not in self._families:
            with self._families_lock:
                self._families[id(family)] = family

    def removed(self, family: Any, match: Mapping[int, str], series: Sequence[Cell]) -> int:
        """Dropped here and in every process (see ``_removals``), those only other
        processes hold included; a handle on a dropped series writes to memory no export
        reads, as in one process. Returns how many distinct series are gone."""
        for one in series:
            if isinstance(one, Bound):
                one._bind(None)
        marked = self._record_removal(family.name, match, _removals.REMOVE)
        here = {getattr(one, "label_values", ()) for one in series}
        return len(here | marked)

    def reset_series(self, binding: Binding, created: float) -> None:
        """A counter series was reset: from zero in every process."""
        self._record_removal(binding.family.name, dict(enumerate(binding.labels)), _removals.RESET)

    def _forked(self) -> None:
        """In a forked child: a file of its own from the next write on; every series starts
        from zero there (the parent's values stay the parent's)."""
        self._process.forget_parent()
        self._process = Process(self.directory)
        self._readers = {}
        if self._lock_fd >= 0 and self._lock_pid != os.getpid():
            # The parent's descriptor of the directory lock: were the parent killed while
            # holding the lock, a child keeping the descriptor would keep it held for good.
            with suppress(OSError):
                os.close(self._lock_fd)
        self._lock_fd = -1
        for family in list(self._families.values()):
            for series in family._series():
                binding = series._mp
                if binding is not None:
                    binding.forked()
                series._bind(binding)

    def close(self) -> None:
        """Release this process's file lock (it then counts as dead). For tests."""
        self._process.close()

    # -- collection -------------------------------------------------------------------------

    @contextmanager
    def _directory_lock(self, how: int) -> Iterator[None]:
        if self._lock_fd < 0 or self._lock_pid != os.getpid():
            path = os.path.join(self.directory, LOCK)
            self._lock_fd = os.open(
                path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644
            )
            self._lock_pid = os.getpid()
        fcntl.flock(self._lock_fd, how)
        try:
            yield
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _files(self) -> list[str]:
        return sorted(
            name for name in os.listdir(self.directory) if name.endswith(SUFFIX) and name != ARCHIVE
        )

    def _dead(self, name: str) -> bool:
        try:
            fd = os.open(os.path.join(self.directory, name), os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        finally:
            os.close(fd)
        return True

    def merged(self) -> Merge:
        """Every process's values, merged; dead processes folded into the archive first."""
        with self._scan_lock:
            with self._directory_lock(fcntl.LOCK_SH):
                any_dead = any(self._dead(name) for name in self._files())
            if any_dead:
                self.compact()
            with self._directory_lock(fcntl.LOCK_SH):
                merge = Merge(_removals.read(self.directory), self._memo)
                names = self._merge_files(merge, self._files(), live=True)
                for path in set(self._readers) - {ARCHIVE, *names}:
                    self._readers.pop(path).close()
                return merge

    def _merge_files(self, merge: Merge, names: list[str], live: bool) -> list[str]:
        """Add the archive and the files ``names`` (those it has not absorbed) to ``merge``;
        return the names added. ``live``: ask each file whether its process lives."""
        archive = self._read(ARCHIVE)
        absorbed: set[str] = set()
        if archive is not None:
            token, absorbed = _archive_info(archive)
            merge.add(archive, "archive:" + token, 0, False)
        added = []
        for name in names:
            if name in absorbed:
                continue
            reader = self._read(name)
            if reader is not None:
                merge.add(reader, name, _pid_of(name), live and not self._dead(name))
                added.append(name)
        return added

    def _read(self, name: str) -> FileReader | None:
        reader = self._readers.get(name)
        if reader is None:
            reader = self._readers[name] = FileReader(os.path.join(self.directory, name))
        try:
            reader.refresh()
        except FileNotFoundError:
            self._readers.pop(name).close()
            return None
        except OSError as error:
            self._problem(f"cannot read {reader.path}: {error}")
            return None
        if reader.error is not None:
            self._problem(
                f"corrupt multi-process file: {reader.error}; the records before it are used"
            )
        return reader

    def _problem(self, message: str) -> None:
        if message not in self._problems:
            self._problems[message] = time.time()
            logger.warning("%s", message)

    def compact(self) -> int:
        """Fold every dead process's file into the archive and delete it; return how many.
        Holds the directory lock exclusively meanwhile."""
        with self._directory_lock(fcntl.LOCK_EX):
            archive = self._read(ARCHIVE)
            absorbed = _archive_info(archive)[1] if archive is not None else set()
            names = self._files()
            dead = [name for name in names if name not in absorbed and self._dead(name)]
            leftovers = [name for name in names if name in absorbed]
            if dead:
                removals = _removals.read(self.directory)
                merge = Merge(removals)
                self._merge_files(merge, dead, live=False)
                self._write_archive(merge, dead)
                alive = [name for name in names if name not in absorbed and name not in dead]
                _removals.rewrite(self.directory, removals, alive)
            for name in dead + leftovers:
                _unlink(os.path.join(self.directory, name))
                reader = self._readers.pop(name, None)
                if reader is not None:
                    reader.close()
            return len(dead)

    def _write_archive(self, merge: Merge, absorbed: list[str]) -> None:
        """Replace the archive with ``merge``, naming the files it absorbed."""
        token = secrets.token_hex(8)
        temporary = os.path.join(self.directory, f".archive-{os.getpid()}-{token}")
        writer = FileWriter(temporary)
        try:
            merge.write(writer)
            info = {"archive": token, "absorbed": absorbed}
            writer.append(_files.FAMILY, _files.encode_payload(info), 0)
        finally:
            writer.close()
        os.replace(temporary, os.path.join(self.directory, ARCHIVE))

    def _record_removal(
        self, family: str, match: Mapping[int, str], how: str
    ) -> set[tuple[str, ...]]:
        """Write down every entry of the removed series as it is now (see ``_removals``);
        return the label values of the series that have entries."""
        marked: set[tuple[str, ...]] = set()
        with self._scan_lock, self._directory_lock(fcntl.LOCK_EX):
            seen: dict[str, dict[str, list[float]]] = {}
            for name in [ARCHIVE, *self._files()]:
                reader = self._read(name)
                if reader is None:
                    continue
                key = "archive:" + _archive_info(reader)[0] if name == ARCHIVE else name
                ids = {
                    record.payload.get("id")
                    for record in reader.records
                    if record.kind == _files.FAMILY
                    and isinstance(record.payload, dict)
                    and record.payload.get("name") == family
                }
                for record in reader.records:
                    if record.kind not in (_files.SERIES, _files.INFO):
                        continue
                    try:
                        number, labels, _ = record.payload
                    except (TypeError, ValueError):
                        continue
                    if number in ids and _removals.matches(match, tuple(labels)):
                        records = seen.setdefault(key, {})
                        records[str(record.offset)] = reader.values(record)
                        marked.add(tuple(labels))
            if not seen:
                return marked
            entry = {
                "family": family,
                "match": {str(index): value for index, value in match.items()},
                "how": how,
                "time": time.time(),
                "seen": seen,
            }
            _removals.append(self.directory, entry)
        return marked

    def mark_process_dead(self, pid: int) -> int:
        """Process ``pid`` has exited: fold its files (and any other dead process's) into
        the archive now rather than at the next scrape. Returns how many were folded."""
        return self.compact()

    def snapshots(self, families: Iterable[Any]) -> Stored:
        """Snapshots of every family in the directory: those of ``families`` (this
        registry's, by name; gauges with a function read here) and the rest."""
        merge = self.merged()
        made = snapshots(merge, families, self._problems)
        with self._scan_lock:
            self._memo.rotate(set(merge.families))
        return made


def _archive_info(archive: FileReader) -> tuple[str, set[str]]:
    """The archive's token (its name in the removals log) and the files it absorbed."""
    for record in archive.records:
        payload = record.payload
        if record.kind == _files.FAMILY and isinstance(payload, dict) and "archive" in payload:
            absorbed = payload.get("absorbed")
            names = {str(name) for name in absorbed} if isinstance(absorbed, list) else set()
            return str(payload["archive"]), names
    return "", set()


def _pid_of(name: str) -> int:
    try:
        return int(name.split("-", 1)[0])
    except ValueError:
        return 0


def _unlink(path: str) -> None:
    with suppress(FileNotFoundError):
        os.unlink(path)
