"""Timestamps: checked and split once, written as each format wants them.

A timestamp is Unix seconds as a float. Every format takes its exact decimal value (the
float's shortest ``repr``, so ``1700000000.001`` is 1 ms and not the 999,928 ns its binary
double holds) and refuses, with ``ExpositionError``, a timestamp that is not finite or lies
outside the years 1 to 9999 (``google.protobuf.Timestamp``'s range).

Sample timestamps (``MetricFamily.timestamps``) are written as integer milliseconds in
Prometheus text and protobuf (rounded down, as client_golang's ``NewMetricWithTimestamp``
does: ``t.Unix()*1000 + t.Nanosecond()/1e6``), as seconds in OpenMetrics.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Final, TypeVar

from ..model import MAX_TIME, MIN_TIME, MetricFamily
from ._escaping import ExpositionError

_NANOS: Final = 1_000_000_000


def split_seconds(seconds: float) -> tuple[int, int]:
    """``(whole, nanos)``: the whole seconds (rounded down) and the nanoseconds after them
    (``0 <= nanos < 10**9``) of a Unix time, from its shortest decimal form.
    ``ExpositionError`` if it is not finite or outside the years 1 to 9999."""
    if seconds.__class__ is not float:
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            raise ExpositionError(f"timestamp {seconds!r} is not a number of seconds")
        if not -1e300 < seconds < 1e300:  # an int too large for a float
            raise ExpositionError(f"timestamp {seconds!r} is outside the years 1 to 9999")
        seconds = float(seconds)
    text = repr(seconds)
    head, _, tail = text.partition(".")
    if tail and len(tail) <= 9 and "e" not in tail:
        whole, nanos = divmod(int(head + tail.ljust(9, "0")), _NANOS)
    elif math.isfinite(seconds):
        whole = math.floor(seconds)
        nanos = round((seconds - whole) * _NANOS)  # the difference is exact for doubles
        if nanos >= _NANOS:
            whole += 1
            nanos -= _NANOS
    else:
        raise ExpositionError(f"timestamp {seconds!r} cannot be written")
    if not MIN_TIME <= whole <= MAX_TIME:
        raise ExpositionError(f"timestamp {seconds!r} is outside the years 1 to 9999")
    return whole, nanos


def milliseconds(seconds: float) -> int:
    """A Unix time in whole milliseconds, rounded down (``-0.0015`` is ``-2``), after the
    checks of ``split_seconds``."""
    whole, nanos = split_seconds(seconds)
    return whole * 1000 + nanos // 1_000_000


Written = TypeVar("Written", str, bytes)


def series_stamps(
    family: MetricFamily, series: int, write: Callable[[float], Written], none: Written
) -> list[Written] | None:
    """What each series of ``family`` writes for its sample timestamp: ``write(seconds)``,
    or ``none`` where the series has none; ``None`` when the family has no timestamps (the
    writers' fast paths). Each distinct timestamp is written once.

    ``ExpositionError`` if ``family.timestamps`` is not parallel to its ``series`` series,
    or (from ``write``) holds a timestamp that cannot be written.
    """
    stamps: Sequence[float | None] = family.timestamps
    if not stamps:
        return None
    if len(stamps) != series:
        raise ExpositionError(
            f"{family.name!r} has {series} series but {len(stamps)} sample timestamps"
        )
    memo: dict[float, Written] = {}
    out: list[Written] = []
    for seconds in stamps:
        if seconds is None:
            out.append(none)
            continue
        written = memo.get(seconds)
        if written is None:
            written = memo[seconds] = write(seconds)
        out.append(written)
    return out
