"""Removals across processes: ``remove()``, ``remove_matching()``, ``clear()`` and a
counter's ``reset()`` in one process apply to every process's values.

No process may write another's file, so a removal writes down what it removes instead: the
log ``removals.log`` gets one line per removal with, for every entry of the removed series in
every file (the archive included), the entry's values at that moment. From then on a
reader takes each such entry as what it holds beyond that mark: a counter or a histogram
counts what was added since (so a process still holding the series and writing to it starts
it again from zero, as a new series would), a gauge or stateset shows only if it was set
since, an info only if written since; an entry unchanged since is left out. A reset keeps
the series, at what was added since. The log is appended to under the directory's exclusive
lock, and compaction, which folds the marks into the archive it writes, keeps only those of
files still alive.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..model import MetricType

LOG = "removals.log"
REMOVE = "remove"
RESET = "reset"


@dataclass(slots=True)
class Mark:
    """An entry's values when its series was removed (or reset) at ``time``."""

    how: str
    time: float
    values: list[float]


@dataclass(slots=True)
class Removals:
    """The log as read: marks by file key and record offset, and each family's removals."""

    marks: dict[str, dict[int, Mark]] = field(default_factory=dict)
    by_family: dict[str, list[tuple[dict[int, str], float]]] = field(default_factory=dict)
    lines: list[dict[str, Any]] = field(default_factory=list)

    def removed_since(self, family: str, labels: tuple[str, ...]) -> float:
        """When the series was last removed or reset (``-inf``: never)."""
        latest = float("-inf")
        for match, when in self.by_family.get(family, ()):
            if when > latest and matches(match, labels):
                latest = when
        return latest


def matches(match: Mapping[int, str], labels: tuple[str, ...]) -> bool:
    return all(index < len(labels) and labels[index] == value for index, value in match.items())


def read(directory: str) -> Removals:
    removals = Removals()
    try:
        with open(os.path.join(directory, LOG), encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        return removals
    for line in text.splitlines():
        try:
            entry = json.loads(line)
            match = {int(index): str(value) for index, value in entry["match"].items()}
            how, when = str(entry["how"]), float(entry["time"])
            seen = entry["seen"]
        except (ValueError, KeyError, TypeError, AttributeError):
            continue  # a line cut short by a crash: it removed nothing
        removals.lines.append(entry)
        removals.by_family.setdefault(str(entry["family"]), []).append((match, when))
        for key, records in seen.items():
            marks = removals.marks.setdefault(key, {})
            for offset, values in records.items():
                known = marks.get(int(offset))
                if known is None or known.time <= when:
                    marks[int(offset)] = Mark(how, when, [float(v) for v in values])
    return removals


def append(directory: str, entry: dict[str, Any]) -> None:
    """Add one removal to the log (the caller holds the directory's exclusive lock)."""
    line = json.dumps(entry, separators=(",", ":"), allow_nan=False) + "\n"
    with open(os.path.join(directory, LOG), "a", encoding="utf-8") as handle:
        handle.write(line)


def rewrite(directory: str, removals: Removals, kept: Iterable[str]) -> None:
    """Keep only the marks of files in ``kept`` (the caller holds the exclusive lock)."""
    keep = set(kept)
    lines = []
    for entry in removals.lines:
        seen = {key: records for key, records in entry["seen"].items() if key in keep}
        if seen:
            lines.append(json.dumps(dict(entry, seen=seen), separators=(",", ":")) + "\n")
    path = os.path.join(directory, LOG)
    if not lines:
        if os.path.exists(path):
            os.unlink(path)
        return
    temporary = path + f".{os.getpid()}.new"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.writelines(lines)
    os.replace(temporary, path)


def after(kind: MetricType, values: list[float], mark: Mark) -> list[float] | None:
    """An entry's values as they count after ``mark``, or ``None`` if nothing of it does."""
    if len(values) != len(mark.values):
        return values
    if kind is MetricType.COUNTER:
        added = values[0] - mark.values[0]
        if added <= 0 and mark.how == REMOVE:
            return None
        return [max(added, 0.0), max(values[1], mark.time)]
    if kind is MetricType.HISTOGRAM:
        counts = [now - then for now, then in zip(values[1:], mark.values[1:], strict=True)]
        if counts[1] <= 0 and mark.how == REMOVE:
            return None
        return [max(values[0], mark.time), *counts]
    if kind in (MetricType.GAUGE, MetricType.STATESET):
        return None if values[1] == mark.values[1] else values
    return None if values == mark.values else values
