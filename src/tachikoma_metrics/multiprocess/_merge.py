"""Merging the files of a directory: into snapshots (a scrape) or into the archive.

``Merge`` takes files one by one (``add``) and keeps, per family and series, what a single
process holding the same totals would hold: counters and histograms summed (created: the
earliest; exemplars: the latest per bucket), gauges per their ``multiprocess_mode``, infos
and statesets as last written anywhere. Then ``families()`` makes the snapshots and
``write()`` the archive's records.

Entries of processes that are dead count as dead for ``live*`` gauges; the archive keeps
what dead processes leave that still counts: totals, and gauges of the modes that keep the
dead (``all`` one entry per pid, ``sum``/``min``/``max``/``mostrecent`` folded to one).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..instruments.info import Info
from ..instruments.stateset import StateSet
from ..model import Exemplar, HistogramValue, LabelSet, MetricFamily, MetricType
from . import _files, _native, _removals, _summary
from ._cells import consistent
from ._files import EXEMPLAR, FAMILY, INFO, SERIES, FileReader, FileWriter
from ._process import EXEMPLAR_SLOTS, decode_exemplar
from ._removals import Removals

_INF = math.inf


@dataclass(slots=True)
class _Series:
    value: float = 0.0  # counter total; stateset index
    created: float = _INF
    counts: list[float] | None = None  # histogram: [sum, count, buckets...]
    exemplars: dict[int, Exemplar] = field(default_factory=dict)
    gauges: list[tuple[int, float, float, bool]] = field(
        default_factory=list
    )  # pid, value, time, live
    stamp: float = -_INF  # time of the latest info/stateset write
    info: dict[str, str] | None = None
    seen: bool = False
    removed: bool = False  # an entry of it was left out as removed (see ``_removals``)
    sketch: Any = None  # summary, native histogram: its totals (``_summary``, ``_native``)


@dataclass(slots=True)
class _Family:
    payload: dict[str, Any]
    kind: MetricType
    series: dict[tuple[str, ...], _Series] = field(default_factory=dict)
    # A summary or a native histogram: entries in groups, merged by its module.
    sparse: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self.sparse = self.kind is MetricType.SUMMARY or _native.is_native(self.payload)

    @property
    def mode(self) -> str:
        mode: str = self.payload["options"].get("multiprocess_mode", "livesum")
        return mode


class Memo:
    """What one scrape's snapshots can hand to the next: each series' ``LabelSet`` (whose
    rendered labels the encoders keep) and each family's sorted series, reused while its
    series are the same. Kept for one scrape more than last used, so it stays bounded."""

    def __init__(self) -> None:
        self._labels: dict[tuple[str, tuple[str, ...]], LabelSet] = {}
        self._labels_before: dict[tuple[str, tuple[str, ...]], LabelSet] = {}
        self._orders: dict[str, tuple[frozenset[tuple[str, ...]], list[tuple[str, ...]]]] = {}

    def label_set(self, name: str, key: tuple[str, ...]) -> LabelSet:
        memo_key = (name, key)
        found = self._labels.get(memo_key)
        if found is None:
            found = self._labels_before.get(memo_key) or LabelSet(key)
            self._labels[memo_key] = found
        return found

    def order(
        self, name: str, keys: list[tuple[str, ...]], labelnames: tuple[str, ...]
    ) -> list[tuple[str, ...]]:
        """``keys`` sorted as a family sorts its series (by values in label-name order)."""
        members = frozenset(keys)
        known = self._orders.get(name)
        if known is not None and known[0] == members:
            return known[1]
        order = sorted(range(len(labelnames)), key=labelnames.__getitem__)
        ordered = sorted(keys, key=lambda key: tuple(key[i] for i in order))
        self._orders[name] = (members, ordered)
        return ordered

    def rotate(self, names: set[str]) -> None:
        """A scrape is over: forget what it did not use."""
        self._labels_before, self._labels = self._labels, {}
        self._orders = {name: value for name, value in self._orders.items() if name in names}


class Merge:
    """Files folded together (see the module docstring)."""

    def __init__(self, removals: Removals | None = None, memo: Memo | None = None) -> None:
        self.families: dict[str, _Family] = {}
        self.removals = removals if removals is not None else Removals()
        self.memo = memo if memo is not None else Memo()

    def _family(self, payload: dict[str, Any]) -> _Family | None:
        name = payload.get("name")
        try:
            kind = MetricType(payload.get("type"))
        except ValueError:
            return None
        family = self.families.get(name)  # type: ignore[arg-type]
        if family is None:
            family = self.families[name] = _Family(payload, kind)  # type: ignore[index]
        elif family.kind is not kind or family.payload.get("labels") != payload.get("labels"):
            return None  # another definition under the same name: the first one wins
        return family

    def add(self, reader: FileReader, source: str, pid: int, live: bool) -> None:
        """Fold in one file, known in the removals log as ``source``, of process ``pid`` (0
        for the archive, whose gauges carry their pid), alive or not."""
        ids: dict[int, _Family | None] = {}
        raw = reader.raw
        marks = self.removals.marks.get(source, {})
        grouped: dict[int, tuple[_Family, _Series, list[_files.Record]]] = {}
        for record in reader.records:
            payload = record.payload
            if record.kind == FAMILY:
                if isinstance(payload, dict):
                    ids[payload.get("id", -1)] = self._family(payload)
                continue
            try:
                number, labels, role = payload
                family = ids.get(number)
                key = tuple(labels)
            except (TypeError, ValueError):
                continue
            if family is None or len(key) != len(family.payload["labels"]):
                continue
            series = family.series.get(key)
            if series is None:
                series = family.series[key] = _Series()
            if record.kind == SERIES and family.sparse:
                grouped.setdefault(id(series), (family, series, []))[2].append(record)
                continue
            values = reader.values(record)
            mark = marks.get(record.offset)
            if mark is not None:
                if record.kind == SERIES:
                    after = _removals.after(family.kind, values, mark)
                    if after is None:
                        series.removed = True
                        continue
                    values = after
                elif record.kind == INFO:
                    series.removed = True
                    continue
            if record.kind == SERIES:
                self._series(family, series, values, role, pid, live)
            elif record.kind == INFO:
                if values and values[0] > series.stamp and isinstance(role, dict):
                    series.stamp, series.info = values[0], role
                series.seen = True
            elif record.kind == EXEMPLAR and raw is not None and len(values) == EXEMPLAR_SLOTS:
                start = (record.first + 4) * 8
                for _ in range(100):
                    exemplar = decode_exemplar(
                        values, bytes(raw[start : start + 8 * (EXEMPLAR_SLOTS - 4)])
                    )
                    if exemplar is not None and reader.values(record)[0] == values[0]:
                        break
                    values = reader.values(record)
                if exemplar is not None and (
                    exemplar.timestamp or 0.0
                ) <= self.removals.removed_since(family.payload["name"], key):
                    exemplar = None
                if exemplar is not None and isinstance(role, int):
                    known = series.exemplars.get(role)
                    if known is None or (known.timestamp or 0) <= (exemplar.timestamp or 0):
                        series.exemplars[role] = exemplar
        for family, series, records in grouped.values():
            fold = _summary.fold if family.kind is MetricType.SUMMARY else _native.fold
            fold(family.payload, series, reader, records, live, marks)

    def _series(
        self, family: _Family, series: _Series, values: list[float], role: Any, pid: int, live: bool
    ) -> None:
        kind = family.kind
        if kind is MetricType.COUNTER and len(values) == 2:
            series.value += values[0]
            series.created = min(series.created, values[1])
            series.seen = True
        elif (
            kind is MetricType.HISTOGRAM
            and len(values) == len(family.payload["options"]["buckets"]) + 3
        ):
            counts = consistent(values[1:])  # a writer killed mid-observation
            if series.counts is None:
                series.counts = counts
            else:
                series.counts = [a + b for a, b in zip(series.counts, counts, strict=True)]
            series.created = min(series.created, values[0])
            series.seen = True
        elif kind is MetricType.GAUGE and len(values) == 3:
            if values[2]:  # a function gives the value: only the serving process reads it
                return
            owner = role if isinstance(role, int) and pid == 0 else pid
            series.gauges.append((owner, values[0], values[1], live))
            series.seen = True
        elif kind is MetricType.STATESET and len(values) == 2:
            if values[1] > series.stamp:
                series.stamp, series.value = values[1], values[0]
            series.seen = True

    # -- snapshots --------------------------------------------------------------------------

    def snapshot(self, name: str, local: Any = None) -> MetricFamily | None:
        """The merged snapshot of family ``name`` (``None`` if no process has it)."""
        family = self.families.get(name)
        if family is None:
            return None
        payload = family.payload
        help_text = local.help if local is not None else payload.get("help", "")
        labelnames = tuple(payload["labels"])
        unit = payload.get("unit", "")
        keys = self.memo.order(
            name, [key for key, series in family.series.items() if series.seen], labelnames
        )
        kind = family.kind
        if family.sparse:
            sparse = _summary.snapshot if kind is MetricType.SUMMARY else _native.snapshot
            return sparse(family, name, help_text, unit, labelnames, keys)
        if kind is MetricType.COUNTER:
            rows = [(self.memo.label_set(name, key), family.series[key]) for key in keys]
            exemplars = [s.exemplars.get(0) for _, s in rows]
            return MetricFamily(
                name,
                kind,
                help_text,
                unit,
                labelnames,
                samples=[(labels, s.value) for labels, s in rows],
                created=[s.created for _, s in rows],
                exemplars=exemplars if any(exemplars) else (),
            )
        if kind is MetricType.HISTOGRAM:
            bounds = [float(b) for b in payload["options"]["buckets"]]
            histograms = []
            for key in keys:
                series = family.series[key]
                counts = series.counts or [0.0, 0.0] + [0.0] * len(bounds)
                cumulative = []
                running = 0
                for bound, count in zip(bounds, counts[2:], strict=True):
                    running += int(count)
                    cumulative.append((bound, running))
                traced = None
                if series.exemplars:
                    traced = tuple(series.exemplars.get(i) for i in range(len(bounds)))
                histograms.append(
                    (
                        self.memo.label_set(name, key),
                        HistogramValue(
                            tuple(cumulative),
                            float(counts[0]),
                            running,
                            series.created,
                            traced,
                        ),
                    )
                )
            return MetricFamily(name, kind, help_text, unit, labelnames, histograms=histograms)
        if kind is MetricType.GAUGE:
            return self._gauge(family, name, help_text, unit, labelnames, keys)
        if kind is MetricType.INFO:
            info = Info(name, help_text, labelnames)
            for key in keys:
                values = family.series[key].info
                if values is not None:
                    _labelled(info, key).info(values)
            return info.collect()[0]
        if kind is MetricType.STATESET:
            states = tuple(payload["options"]["states"])
            stateset = StateSet(name, help_text, labelnames, states=states)
            for key in keys:
                series = family.series[key]
                if series.stamp > -_INF and 0 <= series.value < len(states):
                    _labelled(stateset, key).state(states[int(series.value)])
            return stateset.collect()[0]
        return None

    def _gauge(
        self,
        family: _Family,
        name: str,
        help_text: str,
        unit: str,
        labelnames: tuple[str, ...],
        keys: list[tuple[str, ...]],
    ) -> MetricFamily:
        mode = family.mode
        live_only = mode.startswith("live")
        base = mode[4:] if live_only else mode
        samples: list[tuple[LabelSet, float]] = []
        if base == "all":
            rows = []
            for key in keys:
                for pid, value, _, live in family.series[key].gauges:
                    if live or not live_only:
                        rows.append(((*key, str(pid)), value))
            names = (*labelnames, "pid")
            order = sorted(range(len(names)), key=names.__getitem__)
            rows.sort(key=lambda row: tuple(row[0][i] for i in order))
            return MetricFamily(
                name,
                MetricType.GAUGE,
                help_text,
                unit,
                names,
                samples=[(self.memo.label_set(name, key), value) for key, value in rows],
            )
        for key in keys:
            entries = [g for g in family.series[key].gauges if g[3] or not live_only]
            if entries:
                samples.append((self.memo.label_set(name, key), _folded(base, entries)[0]))
        return MetricFamily(name, MetricType.GAUGE, help_text, unit, labelnames, samples=samples)

    # -- the archive ------------------------------------------------------------------------

    def write(self, writer: FileWriter) -> None:
        """Write what still counts once every process merged so far is dead."""
        for number, (_name, family) in enumerate(sorted(self.families.items())):
            writer.append(FAMILY, _files.encode_payload(dict(family.payload, id=number)), 0)
            for key, series in family.series.items():
                self._write_series(writer, number, family, key, series)

    def _write_series(
        self,
        writer: FileWriter,
        number: int,
        family: _Family,
        key: tuple[str, ...],
        series: _Series,
    ) -> None:
        head = [number, list(key)]
        kind = family.kind

        def entry(values: Iterable[float], role: object = "") -> None:
            values = list(values)
            chunk, first, _ = writer.append(
                SERIES, _files.encode_payload([*head, role]), len(values)
            )
            chunk.floats[first : first + len(values)] = _floats(values)

        if family.sparse:
            sparse = _summary.write if kind is MetricType.SUMMARY else _native.write
            sparse(writer, head, family, series)
        elif kind is MetricType.COUNTER and series.seen:
            entry([series.value, series.created])
        elif kind is MetricType.HISTOGRAM and series.counts is not None:
            entry([series.created, *series.counts])
        elif kind is MetricType.GAUGE:
            mode = family.mode
            if mode.startswith("live"):
                return
            if mode == "all":
                for pid, value, stamp, _ in series.gauges:
                    entry([value, stamp, 0.0], pid)
            elif series.gauges:
                entry([*_folded(mode, series.gauges), 0.0])
        elif kind is MetricType.STATESET and series.stamp > -_INF:
            entry([series.value, series.stamp])
        elif kind is MetricType.INFO and series.info is not None:
            chunk, first, _ = writer.append(INFO, _files.encode_payload([*head, series.info]), 1)
            chunk.floats[first] = series.stamp
        for bucket, exemplar in series.exemplars.items():
            labels = _files.encode_payload([list(pair) for pair in exemplar.labels])
            chunk, first, _ = writer.append(
                EXEMPLAR, _files.encode_payload([*head, bucket]), EXEMPLAR_SLOTS
            )
            floats = chunk.floats
            floats[first + 1] = exemplar.value
            floats[first + 2] = exemplar.timestamp or 0.0
            floats[first + 3] = float(len(labels))
            start = (first + 4) * 8
            chunk.raw[start : start + len(labels)] = labels
            floats[first] = 2.0


def _folded(mode: str, entries: list[tuple[int, float, float, bool]]) -> tuple[float, float]:
    """Gauge entries ``(pid, value, time written, live)`` merged by ``mode`` (``sum``,
    ``min``, ``max`` or ``mostrecent``), with the latest time written."""
    latest = max(entries, key=lambda entry: entry[2])
    values = [entry[1] for entry in entries]
    if mode == "sum":
        return math.fsum(values), latest[2]
    if mode == "min":
        return min(values), latest[2]
    if mode == "max":
        return max(values), latest[2]
    return latest[1], latest[2]


def _labelled(family: Any, key: tuple[str, ...]) -> Any:
    return family.labels(*key) if key else family


def _floats(values: list[float]) -> array[float]:
    return array("d", values)
