"""The process collector: CPU time, memory, file descriptors and start time of a process,
read from Linux's ``/proc``, with ``prometheus_client``'s and client_golang's names, units
and help texts.

Contracts:

* Each ``collect()`` reads ``<proc>/<pid>/stat``, ``<proc>/<pid>/limits`` and lists
  ``<proc>/<pid>/fd``; the boot time (``btime`` of ``<proc>/stat``) is read once, at the
  first collection that succeeds in reading it.
* All six families or none: a file that cannot be read or parsed makes ``collect()`` raise
  an error naming the file and what is wrong, so the registry leaves this collector out of
  that export, logs it and counts it in ``tachikoma_metrics_collector_errors_total
  {collector="ProcessCollector"}``; the next export tries again.
* Without ``proc=`` the collector reads ``/proc`` on Linux and is empty elsewhere
  (``available`` is false, ``collect()`` and ``describe()`` return nothing).
* It reads the process it is collected in (``pid`` defaults to ``"self"``): in
  multi-process mode that is the process serving the scrape, as with other clients.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from .._names import check_metric_name
from ..model import LabelSet, MetricFamily, MetricType

if TYPE_CHECKING:
    from ..registry import MetricsRegistry

# client_golang (procfs) reads a soft limit of "unlimited" as the largest uint64.
UNLIMITED = float(2**64 - 1)

# (suffix, type, help): the families in name order, help texts as prometheus_client's and
# client_golang's. Counters are named without their "_total" (the sample carries it).
_FAMILIES = (
    ("cpu_seconds", MetricType.COUNTER, "Total user and system CPU time spent in seconds."),
    ("max_fds", MetricType.GAUGE, "Maximum number of open file descriptors."),
    ("open_fds", MetricType.GAUGE, "Number of open file descriptors."),
    ("resident_memory_bytes", MetricType.GAUGE, "Resident memory size in bytes."),
    (
        "start_time_seconds",
        MetricType.GAUGE,
        "Start time of the process since unix epoch in seconds.",
    ),
    ("virtual_memory_bytes", MetricType.GAUGE, "Virtual memory size in bytes."),
)

# Fields of /proc/<pid>/stat counted after the ")" closing the command name (field 3,
# the state, is index 0): utime, stime, starttime, vsize, rss (proc(5)).
_UTIME, _STIME, _STARTTIME, _VSIZE, _RSS = 11, 12, 19, 20, 21


def _self() -> str:
    return "self"


def _sysconf(name: str, fallback: int) -> int:
    try:
        value = os.sysconf(name)
    except (AttributeError, ValueError, OSError):  # not POSIX, or not known here
        return fallback
    return value if value > 0 else fallback


def _read(path: str) -> bytes:
    # os.read rather than open(): no buffered file object, half the cost per file here.
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        parts = []
        while chunk := os.read(fd, 65536):
            parts.append(chunk)
        return b"".join(parts)
    finally:
        os.close(fd)


def _stat_fields(path: str, raw: bytes) -> list[bytes]:
    """The fields of a ``/proc/<pid>/stat`` line after the command name, which may itself
    hold spaces and parentheses (hence the last ``)``)."""
    _, paren, rest = raw.rpartition(b")")
    fields = rest.split()
    if not paren or len(fields) <= _RSS:
        raise ValueError(
            f"{path}: not a /proc/<pid>/stat line ('pid (comm) state ...' with at least"
            f" {_RSS + 3} fields): {raw[:120]!r}"
        )
    return fields


def _number(path: str, what: str, text: bytes) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{path}: {what} is not a whole number: {text[:40]!r}") from None


def _open_files_limit(path: str, raw: bytes) -> float:
    """The soft limit of ``Max open files`` in a ``/proc/<pid>/limits`` table."""
    for line in raw.splitlines():
        if line.startswith(b"Max open files"):
            parts = line.split()
            if len(parts) >= 4:
                soft = parts[3]
                return UNLIMITED if soft == b"unlimited" else float(_number(path, "soft", soft))
    raise ValueError(f"{path}: no 'Max open files' line with a soft limit: {raw[:120]!r}")


def _boot_time(path: str, raw: bytes) -> float:
    for line in raw.splitlines():
        if line.startswith(b"btime "):
            return float(_number(path, "btime", line[6:].strip()))
    raise ValueError(f"{path}: no 'btime' line (the boot time): {raw[:120]!r}")


def _family(name: str, kind: MetricType, help_text: str, value: float | None) -> MetricFamily:
    samples = () if value is None else ((LabelSet(()), value),)
    return MetricFamily(name, kind, help_text, "", (), samples)


class ProcessCollector:
    """``process_*`` families of one process, from ``/proc``: ``prometheus_client``'s
    ``ProcessCollector`` (same arguments, same families).

    ``namespace``: names become ``<namespace>_process_...``. ``pid``: called at each
    collection for the process to read (``"self"``, the collecting process, by default).
    ``proc``: the procfs root (a fake one in tests); ``None`` means ``/proc`` on Linux and
    nothing elsewhere. ``registry``: register there (none by default; see
    ``enable_runtime_collectors`` for the global registry).
    """

    def __init__(
        self,
        namespace: str = "",
        pid: Callable[[], int | str] = _self,
        proc: str | os.PathLike[str] | None = None,
        *,
        registry: MetricsRegistry | None = None,
    ) -> None:
        if not isinstance(namespace, str):
            raise TypeError(f"namespace must be a str, got {namespace!r}")
        if not callable(pid):
            raise TypeError(f"pid must be a callable returning a pid or 'self', got {pid!r}")
        self._prefix = f"{namespace}_process_" if namespace else "process_"
        check_metric_name(self._prefix + "cpu_seconds")  # a bad namespace fails here
        if proc is None:
            self._proc = "/proc" if sys.platform.startswith("linux") else None
        else:
            self._proc = os.fspath(proc)
        self._pid = pid
        self._ticks = float(_sysconf("SC_CLK_TCK", 100))
        self._pagesize = float(_sysconf("SC_PAGE_SIZE", 4096))
        self._btime: float | None = None
        if registry is not None:
            registry.register(self)

    @property
    def available(self) -> bool:
        """Whether there is a procfs to read (Linux, or ``proc=`` given)."""
        return self._proc is not None

    def describe(self) -> list[MetricFamily]:
        """The six families without series (none when not ``available``)."""
        if self._proc is None:
            return []
        return [_family(self._prefix + s, kind, text, None) for s, kind, text in _FAMILIES]

    def collect(self) -> list[MetricFamily]:
        """The six families read now; raises naming the file when one cannot be read or
        parsed (see the module docstring)."""
        if self._proc is None:
            return []
        base = os.path.join(self._proc, str(self._pid()).strip())
        path = os.path.join(base, "stat")
        fields = _stat_fields(path, _read(path))
        ticks = self._ticks
        utime, stime, start, vsize, rss = (
            _number(path, what, fields[i])
            for what, i in (
                ("utime", _UTIME),
                ("stime", _STIME),
                ("starttime", _STARTTIME),
                ("vsize", _VSIZE),
                ("rss", _RSS),
            )
        )
        limits = os.path.join(base, "limits")
        max_fds = _open_files_limit(limits, _read(limits))
        open_fds = len(os.listdir(os.path.join(base, "fd")))
        values = (
            utime / ticks + stime / ticks,  # as prometheus_client adds them
            max_fds,
            float(open_fds),
            rss * self._pagesize,
            start / ticks + self._boot_time(),
            float(vsize),
        )
        return [
            _family(self._prefix + suffix, kind, text, value)
            for (suffix, kind, text), value in zip(_FAMILIES, values, strict=True)
        ]

    def _boot_time(self) -> float:
        btime = self._btime
        if btime is None:
            path = os.path.join(self._proc or "", "stat")
            btime = self._btime = _boot_time(path, _read(path))
        return btime

    def __repr__(self) -> str:
        return f"<ProcessCollector {self._prefix}* from {self._proc!r}>"
