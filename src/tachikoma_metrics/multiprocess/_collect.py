"""Snapshots of a merged directory for one registry: its own families first.

The serving process adds what only it knows: series made here and not yet written (shown
at zero, as one process shows them), and the gauges whose value a function gives, called
here (their entries in the files are left out). Families only other processes made follow,
then the errors self-metric once a problem was met.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from typing import Any

from ..model import LabelSet, MetricFamily, MetricType
from ._merge import Merge, _Family, _Series
from ._process import family_payload

ERRORS = "tachikoma_metrics_multiprocess_errors"
_ERRORS_HELP = "Unreadable or corrupt multi-process files met while collecting (each counted once)."


def snapshots(
    merge: Merge, families: Iterable[Any], problems: Mapping[str, float]
) -> tuple[dict[str, MetricFamily | Exception], list[MetricFamily]]:
    local = list(families)
    pid = os.getpid()
    now = time.time()
    mine: dict[str, MetricFamily | Exception] = {}
    for family in local:
        merged = merge.families.get(family.name)
        if merged is None:
            payload = family_payload(family)
            merged = merge.families[family.name] = _Family(payload, MetricType(payload["type"]))
        elif merged.kind is not family.TYPE:
            continue
        try:
            _seed(merged, family, pid, now)
        except (TypeError, ValueError) as error:  # a gauge's function failed
            mine[family.name] = family._function_failed(family._series(), error)
    for family in local:
        if family.name in mine:
            continue
        snapshot = merge.snapshot(family.name, family)
        if snapshot is not None:
            mine[family.name] = snapshot
    rest = [
        snapshot
        for name in sorted(merge.families)
        if name not in mine and (snapshot := merge.snapshot(name)) is not None
    ]
    errors = errors_family(problems)
    if errors is not None:
        rest.append(errors)
    return mine, rest


def _seed(merged: _Family, family: Any, pid: int, now: float) -> None:
    """Add this process's series not in any file yet, and its function gauges."""
    series = family._series()
    kind = merged.kind
    for one in series:
        key = tuple(one.label_values) if family.labelnames else ()
        entry = merged.series.get(key)
        if entry is None:
            entry = merged.series[key] = _Series()
        elif entry.removed and not entry.seen:
            continue  # removed in another process, and not written here since
        if kind is MetricType.GAUGE:
            if one._base is not None:  # a function: read here, in the serving process
                value = one.get()
                entry.gauges = [g for g in entry.gauges if g[0] != pid]
                entry.gauges.append((pid, value, now, True))
            elif not entry.gauges:
                entry.gauges.append((pid, one.get(), 0.0, True))
            entry.seen = True
            continue
        if entry.seen:
            continue
        if kind is MetricType.COUNTER:
            entry.created = one._created
        elif kind is MetricType.HISTOGRAM or kind is MetricType.SUMMARY:
            entry.created = one._created
            entry.counts = [0.0] * len(one._bounds) if kind is MetricType.HISTOGRAM else None
        elif kind is MetricType.STATESET:
            entry.stamp, entry.value = 0.0, float(one._state)
        elif kind is MetricType.INFO:
            entry.info = one.get()
        entry.seen = True


def errors_family(problems: Mapping[str, float]) -> MetricFamily | None:
    if not problems:
        return None
    return MetricFamily(
        ERRORS,
        MetricType.COUNTER,
        _ERRORS_HELP,
        "",
        (),
        samples=[(LabelSet(()), float(len(problems)))],
        created=[min(problems.values())],
    )
