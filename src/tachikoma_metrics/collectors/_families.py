"""Metric family builders for custom collectors, with ``prometheus_client``'s names, constructor
signatures and ``add_metric(labels, value, timestamp=None)`` habits.

Each builder *is* a ``MetricFamily`` (a subclass whose series lists grow with
``add_metric``), so a collector's ``collect()`` yields it as it is, and the registry and every
encoder take it. The registry copies each one into a plain ``MetricFamily`` when it collects
it, so a snapshot never changes after the fact and model.py's types stay plain.

Contracts shared by every builder:

* ``value=`` (or ``buckets=``, ``count_value=``) at construction makes the one unlabelled
  series; ``labels=`` names the labels and ``add_metric`` adds series. Both at once is a
  ``ValueError``, as in ``prometheus_client``.
* Names are checked as UTF-8 text here; whether they suit the registry's naming rules
  (legacy or UTF-8) is checked by the registry at each export. A ``unit`` is appended to
  the name when the name does not end with it, as ``prometheus_client`` does.
* ``add_metric`` converts label values with ``str()`` (as ``labels()`` does); a wrong
  number of them, a label set the family already has, or a value of the wrong type or
  range raises ``ValueError``/``TypeError`` naming it, and then nothing is added.
* Series are exported in the order they were added (``prometheus_client``'s habit), not
  sorted by label values as instrument families are.
* ``timestamp`` (Unix seconds, a float or ``prometheus_client``'s ``Timestamp``) is the
  series' sample time, written on each of its sample lines; created times and timestamps
  must lie within the years 1 to 9999, which every format can write.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import FrozenInstanceError, fields
from typing import Any, ClassVar

from .._names import check_label_names, check_metric_name, check_text, check_unit
from ..model import (
    MAX_TIME,
    MIN_TIME,
    Exemplar,
    HistogramValue,
    LabelSet,
    MetricFamily,
    MetricType,
    SeriesLabels,
    SummaryValue,
)
from ..values import as_float, make_exemplar

_INF = math.inf
_FIELDS = frozenset(field.name for field in fields(MetricFamily))


def _both(name: object, what: str) -> ValueError:
    return ValueError(
        f"metric {name!r}: can only specify at most one of {what} and labels ({what}= makes"
        " the one unlabelled series; labels= names the labels, then call add_metric)"
    )


def _real(value: object, what: str, family: str) -> float:
    """``value`` as a plain float (``as_float``), or raise naming ``what`` of ``family``;
    plain floats and ints take a fast path that formats no message."""
    cls = value.__class__
    if cls is float:
        return value  # type: ignore[return-value]
    if cls is int:
        try:
            return float(value)  # type: ignore[arg-type]
        except OverflowError:
            pass  # as_float says so, naming it
    return as_float(value, f"{what} of {family!r}")


def _seconds(value: object, what: str, family: str) -> float | None:
    """``value`` as Unix seconds (``None`` stays ``None``), or raise naming it."""
    if value is None:
        return None
    seconds = _real(value, what, family)
    if not MIN_TIME <= seconds <= MAX_TIME:  # NaN fails too
        raise ValueError(f"{what} of {family!r} {value!r} is not a time within the years 1 to 9999")
    return seconds


def _whole(value: object, what: str, family: str) -> int:
    """A count: a whole number >= 0 (``3`` or ``3.0``), or raise naming it."""
    number = _real(value, what, family)
    if not (0.0 <= number < _INF and number.is_integer()):
        raise ValueError(f"{what} of {family!r} must be a whole number >= 0, got {value!r}")
    return int(number)


def parse_bound(le: object, what: str = "bucket bound", family: str | None = None) -> float:
    """A bucket bound or quantile spelled as text (``"0.5"``, ``"+Inf"``) or as a number;
    errors name ``what`` (of ``family``) and the value."""
    if isinstance(le, str):
        try:
            bound = float(le)
        except ValueError:
            bound = math.nan
    else:
        bound = _real(le, what, family) if family is not None else as_float(le, what)
    if math.isnan(bound):
        where = what if family is None else f"{what} of {family!r}"
        raise ValueError(f"{where} {le!r} is not a number (write e.g. '0.5' or '+Inf')")
    return bound


def _exemplar(given: object, family: str) -> Exemplar:
    """A ``tachikoma_metrics.Exemplar``, or anything with ``labels`` (a mapping), ``value``
    and ``timestamp`` (``prometheus_client``'s ``Exemplar``), checked as recorded ones are."""
    if isinstance(given, Exemplar):
        labels: object = dict(given.labels)
        value: object = given.value
        stamp: object = given.timestamp
    else:
        try:
            labels, value = given.labels, given.value  # type: ignore[attr-defined]
        except AttributeError:
            raise TypeError(
                f"exemplar of {family!r} must be a tachikoma_metrics.Exemplar or have labels,"
                f" value and timestamp (as prometheus_client's Exemplar), got {given!r}"
            ) from None
        stamp = getattr(given, "timestamp", None)
    checked = make_exemplar(labels, _real(value, "exemplar value", family))  # type: ignore[arg-type]
    return Exemplar(checked.labels, checked.value, _seconds(stamp, "exemplar time", family))


class _Builder(MetricFamily):
    """What every builder shares: the checked name, help, unit and label names, the series
    added so far, and their parallel lists (timestamps; created times and exemplars for
    counters), which become the family's fields once one of them is set."""

    __slots__ = ("_declared", "_exemplar_list", "_keys", "_rows", "_stamp_list", "_start_list")

    _TYPE: ClassVar[MetricType]
    _STRIP: ClassVar[str] = ""  # the sample suffix a family name is given without
    _RESERVED: ClassVar[tuple[str, ...]] = ()

    def __setattr__(self, name: str, value: object) -> None:
        # MetricFamily's frozen __setattr__ cannot serve a subclass of its slotted class
        # (its super() call names the class before slots were added): fields stay
        # read-only here, the builder's own attributes are set.
        if name in _FIELDS:
            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        object.__setattr__(self, name, value)

    def __init__(
        self, name: str, documentation: str, labels: Sequence[str] | None, unit: str = ""
    ) -> None:
        name = check_text("metric name", name)
        if self._STRIP and name.endswith(self._STRIP):
            name = name[: -len(self._STRIP)]
        check_text(f"unit of {name!r}", unit)
        if unit and not name.endswith("_" + unit):
            name += "_" + unit
        check_metric_name(name, utf8=True)
        check_unit(name, unit)
        help_text = check_text(f"help of {name!r}", documentation)
        declared = check_label_names(
            () if labels is None else labels, self._reserved(name), utf8=True
        )
        rows: list[Any] = []
        series: dict[str, Any] = {self._series_field(): rows}
        MetricFamily.__init__(
            self, name, self._TYPE, help_text, unit, self._labelnames(name, declared), **series
        )
        self._declared = declared
        self._rows = rows
        self._keys: set[tuple[str, ...]] = set()
        self._stamp_list: list[float | None] = []
        self._start_list: list[float] = []
        self._exemplar_list: list[Exemplar | None] = []

    # -- per type ------------------------------------------------------------------------------

    def _reserved(self, name: str) -> tuple[str, ...]:
        return self._RESERVED

    def _labelnames(self, name: str, declared: tuple[str, ...]) -> tuple[str, ...]:
        return declared

    def _series_field(self) -> str:
        return "samples"

    # -- shared checks -------------------------------------------------------------------------

    def _label_values(self, labels: object) -> tuple[str, ...]:
        """The checked label values of a new series (not yet recorded as taken)."""
        cls = labels.__class__
        if (cls is not list and cls is not tuple) and (
            isinstance(labels, (str, bytes)) or not isinstance(labels, Iterable)
        ):
            raise TypeError(
                f"metric {self.name!r}: labels must be a sequence of label values, got {labels!r}"
            )
        values: tuple[Any, ...] = tuple(labels)  # type: ignore[arg-type]
        declared = self._declared
        if len(values) != len(declared):
            raise ValueError(
                f"metric {self.name!r} has label names {declared!r} but add_metric got"
                f" {len(values)} label values: {values!r}"
            )
        for value in values:
            if value.__class__ is not str or not value.isascii():
                values = self._converted(values)
                break
        if values in self._keys:
            raise ValueError(
                f"metric {self.name!r} already has a series with labels"
                f" {dict(zip(declared, values, strict=True))!r}"
            )
        return values

    def _converted(self, values: tuple[Any, ...]) -> tuple[str, ...]:
        """Label values converted with ``str()`` (as ``labels()`` does), each checked to
        be valid UTF-8."""
        converted = tuple(v if v.__class__ is str else str(v) for v in values)
        for name, value in zip(self._declared, converted, strict=True):
            check_text(f"metric {self.name!r}: value of label {name!r}", value)
        return converted

    def _timestamp(self, timestamp: object) -> float | None:
        return None if timestamp is None else _seconds(timestamp, "timestamp", self.name)

    def _record(self, key: tuple[str, ...], stamp: float | None, rows: Iterable[Any]) -> None:
        """Add one series (``rows``: its entries of the series list, one per sample for
        statesets), all of whose parts were checked."""
        self._keys.add(key)
        for row in rows:
            self._rows.append(row)
            self._stamp_list.append(stamp)
        if stamp is not None and not self.timestamps:
            object.__setattr__(self, "timestamps", self._stamp_list)


class CounterMetricFamily(_Builder):
    """A counter family for a custom collector: ``prometheus_client``'s signature.

    A trailing ``_total`` is stripped from ``name`` (the samples carry it). Values must be
    finite and >= 0. ``created`` (Unix seconds) is given for every series or for none (the
    snapshot model has no per-series "unknown"; mixing raises ``ValueError``).
    ``exemplar``: a ``tachikoma_metrics.Exemplar`` or ``prometheus_client``'s.
    """

    __slots__ = ()
    _TYPE = MetricType.COUNTER
    _STRIP = "_total"

    def __init__(
        self,
        name: str,
        documentation: str,
        value: float | None = None,
        labels: Sequence[str] | None = None,
        created: float | None = None,
        unit: str = "",
        exemplar: Any = None,
    ) -> None:
        if labels is not None and value is not None:
            raise _both(name, "value")
        if value is None and (created is not None or exemplar is not None):
            raise ValueError(f"metric {name!r}: created= and exemplar= go with value=")
        super().__init__(name, documentation, labels, unit)
        if value is not None:
            self.add_metric((), value, created, exemplar=exemplar)

    def add_metric(
        self,
        labels: Sequence[str],
        value: float,
        created: float | None = None,
        timestamp: float | None = None,
        exemplar: Any = None,
    ) -> None:
        """Add a series: its label values, its value, when it started (``created``), its
        sample time (``timestamp``) and an exemplar."""
        key = self._label_values(labels)
        number = _real(value, "value", self.name)
        if not 0.0 <= number < _INF:
            raise ValueError(f"counter {self.name!r}: value must be finite and >= 0, got {value!r}")
        start = _seconds(created, "created time", self.name)
        if self._rows and (start is None) != (not self._start_list):
            raise ValueError(
                f"counter {self.name!r}: created= must be given for every series or for none"
                f" (got {created!r} for labels {key!r})"
            )
        stamp = self._timestamp(timestamp)
        example = None if exemplar is None else _exemplar(exemplar, self.name)
        self._record(key, stamp, [(LabelSet(key), number)])
        if start is not None:
            self._start_list.append(start)
            if not self.created:
                object.__setattr__(self, "created", self._start_list)
        self._exemplar_list.append(example)
        if example is not None and not self.exemplars:
            object.__setattr__(self, "exemplars", self._exemplar_list)


class GaugeMetricFamily(_Builder):
    """A gauge family for a custom collector: ``prometheus_client``'s signature. Any real
    number is a value (NaN and infinities included)."""

    __slots__ = ()
    _TYPE = MetricType.GAUGE

    def __init__(
        self,
        name: str,
        documentation: str,
        value: float | None = None,
        labels: Sequence[str] | None = None,
        unit: str = "",
    ) -> None:
        if labels is not None and value is not None:
            raise _both(name, "value")
        super().__init__(name, documentation, labels, unit)
        if value is not None:
            self.add_metric((), value)

    def add_metric(
        self, labels: Sequence[str], value: float, timestamp: float | None = None
    ) -> None:
        """Add a series: its label values, its value and its sample time."""
        key = self._label_values(labels)
        number = _real(value, "value", self.name)
        stamp = self._timestamp(timestamp)
        self._record(key, stamp, [(LabelSet(key), number)])


class UnknownMetricFamily(GaugeMetricFamily):
    """A family of unknown type (``untyped`` in Prometheus text) for a custom collector:
    ``prometheus_client``'s signature; values as for ``GaugeMetricFamily``."""

    __slots__ = ()
    _TYPE = MetricType.UNKNOWN


def _buckets(
    family: str, buckets: object
) -> tuple[tuple[tuple[float, int], ...], tuple[Exemplar | None, ...] | None]:
    """Checked ``(le, cumulative)`` or ``(le, cumulative, exemplar)`` rows: bounds as text
    (``"0.5"``, ``"+Inf"``) or numbers, strictly increasing and ending with ``+Inf``;
    cumulative counts whole, >= 0 and never decreasing."""
    if isinstance(buckets, (str, bytes, Mapping)) or not isinstance(buckets, Iterable):
        raise TypeError(
            f"buckets of {family!r} must be a sequence of (le, cumulative_count) pairs,"
            f" got {buckets!r}"
        )
    rows: list[tuple[float, int]] = []
    exemplars: list[Exemplar | None] = []
    for row in buckets:
        if isinstance(row, (str, bytes)) or not isinstance(row, Sequence) or len(row) not in (2, 3):
            raise TypeError(
                f"bucket {row!r} of {family!r}: expected (le, cumulative_count) or"
                " (le, cumulative_count, exemplar)"
            )
        le, count = row[0], row[1]
        bound = le if le.__class__ is float else parse_bound(le, "bucket bound", family)
        if count.__class__ is not int or count < 0:
            count = _whole(count, f"cumulative count of bucket le={le!r}", family)
        if rows and bound <= rows[-1][0]:
            raise ValueError(
                f"bucket bounds of {family!r} must increase: le={row[0]!r} follows"
                f" le={rows[-1][0]!r}"
            )
        if rows and count < rows[-1][1]:
            raise ValueError(
                f"bucket counts of {family!r} are cumulative and must not decrease: le={row[0]!r}"
                f" has {row[1]!r}, below the {rows[-1][1]} of le={rows[-1][0]!r}"
            )
        rows.append((bound, count))
        exemplar = row[2] if len(row) == 3 else None
        exemplars.append(None if exemplar is None else _exemplar(exemplar, family))
    if not rows or rows[-1][0] != _INF:
        raise ValueError(
            f"buckets of {family!r} must end with the '+Inf' bucket (its count is the"
            f" histogram's count), got {buckets!r}"
        )
    return tuple(rows), (tuple(exemplars) if any(e is not None for e in exemplars) else None)


class _Bucketed(_Builder):
    """What histograms and gauge histograms share: their series are ``histograms``."""

    __slots__ = ()
    _RESERVED = ("le",)

    def _series_field(self) -> str:
        return "histograms"

    def _sum(self, sum_value: object, what: str) -> float:
        if sum_value is None:
            raise ValueError(
                f"metric {self.name!r}: {what} is required (every format writes it with the"
                " buckets)"
            )
        return _real(sum_value, what, self.name)

    def _add(
        self,
        labels: Sequence[str],
        buckets: Sequence[Sequence[Any]],
        sum_value: object,
        what: str,
        timestamp: float | None,
        created: float | None,
    ) -> None:
        """Add one series: ``what`` names the sum argument in errors."""
        key = self._label_values(labels)
        rows, exemplars = _buckets(self.name, buckets)
        total = self._sum(sum_value, what)
        start = _seconds(created, "created time", self.name)
        stamp = self._timestamp(timestamp)
        value = HistogramValue(rows, total, rows[-1][1], start, exemplars)
        self._record(key, stamp, [(LabelSet(key), value)])


class HistogramMetricFamily(_Bucketed):
    """A histogram family for a custom collector: ``prometheus_client``'s signature.

    ``buckets`` are ``(le, cumulative_count)`` pairs, or ``(le, cumulative_count, exemplar)``
    triples, ``le`` a string (``"0.5"``, ``"+Inf"``) or a number, in increasing order and
    ending with ``+Inf``, whose count is the histogram's count. ``sum_value`` is required:
    every format writes ``_sum`` and ``_count`` with the buckets (``prometheus_client``
    accepts ``None`` and then writes neither; here it is a ``ValueError``). ``add_metric``
    also takes ``created=`` (Unix seconds), written as ``_created``.
    """

    __slots__ = ()
    _TYPE = MetricType.HISTOGRAM

    def __init__(
        self,
        name: str,
        documentation: str,
        buckets: Sequence[Sequence[Any]] | None = None,
        sum_value: float | None = None,
        labels: Sequence[str] | None = None,
        unit: str = "",
    ) -> None:
        if sum_value is not None and buckets is None:
            raise ValueError(f"metric {name!r}: sum value cannot be provided without buckets")
        if labels is not None and buckets is not None:
            raise _both(name, "buckets")
        super().__init__(name, documentation, labels, unit)
        if buckets is not None:
            self.add_metric((), buckets, sum_value)

    def add_metric(
        self,
        labels: Sequence[str],
        buckets: Sequence[Sequence[Any]],
        sum_value: float | None,
        timestamp: float | None = None,
        *,
        created: float | None = None,
    ) -> None:
        """Add a series: its label values, buckets, sum, sample time and created time."""
        self._add(labels, buckets, sum_value, "sum_value", timestamp, created)


class GaugeHistogramMetricFamily(_Bucketed):
    """A gauge histogram family for a custom collector: ``prometheus_client``'s signature.

    Buckets as for ``HistogramMetricFamily`` (exemplars allowed); ``gsum_value`` is
    required (``prometheus_client`` accepts ``None`` but cannot then write the family) and
    may be negative. Its ``+Inf`` count and sum are exposed as ``_gcount`` and ``_gsum``.
    """

    __slots__ = ()
    _TYPE = MetricType.GAUGE_HISTOGRAM

    def __init__(
        self,
        name: str,
        documentation: str,
        buckets: Sequence[Sequence[Any]] | None = None,
        gsum_value: float | None = None,
        labels: Sequence[str] | None = None,
        unit: str = "",
    ) -> None:
        if labels is not None and buckets is not None:
            raise _both(name, "buckets")
        super().__init__(name, documentation, labels, unit)
        if buckets is not None:
            self.add_metric((), buckets, gsum_value)

    def add_metric(
        self,
        labels: Sequence[str],
        buckets: Sequence[Sequence[Any]],
        gsum_value: float | None,
        timestamp: float | None = None,
    ) -> None:
        """Add a series: its label values, buckets, sum (``_gsum``) and sample time."""
        self._add(labels, buckets, gsum_value, "gsum_value", timestamp, None)


class SummaryMetricFamily(_Builder):
    """A summary family for a custom collector: ``prometheus_client``'s signature, plus
    (ours) ``quantiles``: ``(q, value)`` pairs, ``0 <= q <= 1``, each q once, written in
    increasing q order; and ``created=`` on ``add_metric``. ``count_value`` is a whole
    number >= 0."""

    __slots__ = ()
    _TYPE = MetricType.SUMMARY
    _RESERVED = ("quantile",)

    def __init__(
        self,
        name: str,
        documentation: str,
        count_value: int | None = None,
        sum_value: float | None = None,
        labels: Sequence[str] | None = None,
        unit: str = "",
        *,
        quantiles: Iterable[tuple[float, float]] | None = None,
    ) -> None:
        if (sum_value is None) != (count_value is None):
            raise ValueError(
                f"metric {name!r}: count_value and sum_value must be provided together"
            )
        if labels is not None and count_value is not None:
            raise _both(name, "count_value")
        if quantiles is not None and count_value is None:
            raise ValueError(f"metric {name!r}: quantiles= goes with count_value= and sum_value=")
        super().__init__(name, documentation, labels, unit)
        if count_value is not None:
            self.add_metric((), count_value, sum_value, quantiles=quantiles or ())  # type: ignore[arg-type]

    def _series_field(self) -> str:
        return "summaries"

    def add_metric(
        self,
        labels: Sequence[str],
        count_value: int,
        sum_value: float,
        timestamp: float | None = None,
        *,
        quantiles: Iterable[tuple[float, float]] = (),
        created: float | None = None,
    ) -> None:
        """Add a series: its label values, count, sum, sample time, quantiles and created
        time."""
        key = self._label_values(labels)
        count = _whole(count_value, "count_value", self.name)
        total = _real(sum_value, "sum_value", self.name)
        pairs = self._quantiles(quantiles)
        start = _seconds(created, "created time", self.name)
        stamp = self._timestamp(timestamp)
        value = SummaryValue(pairs, total, count, start)
        self._record(key, stamp, [(LabelSet(key), value)])

    def _quantiles(self, quantiles: object) -> tuple[tuple[float, float], ...]:
        if isinstance(quantiles, (str, bytes, Mapping)) or not isinstance(quantiles, Iterable):
            raise TypeError(
                f"quantiles of {self.name!r} must be a sequence of (q, value) pairs, got"
                f" {quantiles!r}"
            )
        pairs: dict[float, float] = {}
        for pair in quantiles:
            if isinstance(pair, (str, bytes)) or not isinstance(pair, Sequence) or len(pair) != 2:
                raise TypeError(f"quantile {pair!r} of {self.name!r}: expected a (q, value) pair")
            q = parse_bound(pair[0], "quantile", self.name)
            if not 0.0 <= q <= 1.0:
                raise ValueError(f"quantile {pair[0]!r} of {self.name!r} is not within [0, 1]")
            if q in pairs:
                raise ValueError(f"quantile {pair[0]!r} of {self.name!r} is given twice")
            pairs[q] = as_float(pair[1], f"value of quantile {pair[0]!r} of {self.name!r}")
        return tuple(sorted(pairs.items()))


class InfoMetricFamily(_Builder):
    """An info family for a custom collector: ``prometheus_client``'s signature.

    ``value`` maps info label names to string values. A trailing ``_info`` is stripped from
    ``name`` (the samples carry it once; ``prometheus_client`` would write ``x_info_info``).
    The family's label names are the declared ones followed by every info key any series
    has (sorted); a series without one of them has ``""`` there, which Prometheus reads as
    no label. An info key may not repeat a declared label name.
    """

    __slots__ = ("_info", "_infokeys")
    _TYPE = MetricType.INFO
    _STRIP = "_info"

    def __init__(
        self,
        name: str,
        documentation: str,
        value: Mapping[str, str] | None = None,
        labels: Sequence[str] | None = None,
    ) -> None:
        if labels is not None and value is not None:
            raise _both(name, "value")
        super().__init__(name, documentation, labels)
        self._info: list[tuple[tuple[str, ...], dict[str, str]]] = []
        self._infokeys: tuple[str, ...] = ()
        if value is not None:
            self.add_metric((), value)

    def add_metric(
        self, labels: Sequence[str], value: Mapping[str, str], timestamp: float | None = None
    ) -> None:
        """Add a series: its label values, its info labels and its sample time."""
        key = self._label_values(labels)
        if not isinstance(value, Mapping):
            raise TypeError(
                f"info of {self.name!r} must be a mapping of label names to str, got {value!r}"
            )
        clash = sorted(set(value) & set(self._declared))
        if clash:
            raise ValueError(
                f"info of {self.name!r}: {clash[0]!r} is already one of its label names"
                f" {self._declared!r}"
            )
        check_label_names(value, utf8=True)
        info = dict(value)
        for k, v in info.items():
            if v.__class__ is not str or not v.isascii():
                check_text(f"info of {self.name!r}: value of {k!r}", v)
        stamp = self._timestamp(timestamp)
        keys = tuple(sorted(set(self._infokeys).union(info)))
        self._info.append((key, info))
        if keys != self._infokeys:  # a new info key: every series gains it, as ""
            self._infokeys = keys
            object.__setattr__(self, "labelnames", self._declared + keys)
            self._rows[:] = [(self._label_set(k, i), 1.0) for k, i in self._info[:-1]]
        self._record(key, stamp, [(self._label_set(key, info), 1.0)])

    def _label_set(self, key: tuple[str, ...], info: dict[str, str]) -> SeriesLabels:
        return LabelSet(key + tuple(info.get(k, "") for k in self._infokeys))


class StateSetMetricFamily(_Builder):
    """A stateset family for a custom collector: ``prometheus_client``'s signature.

    ``value`` maps state names to whether each is set (``True``/``False``, or 1/0). Each
    state is one sample, labelled with the family name (which must therefore be a valid
    label name and no declared label's), in the mapping's order.
    """

    __slots__ = ()
    _TYPE = MetricType.STATESET

    def __init__(
        self,
        name: str,
        documentation: str,
        value: Mapping[str, bool] | None = None,
        labels: Sequence[str] | None = None,
    ) -> None:
        if labels is not None and value is not None:
            raise _both(name, "value")
        check_label_names((name,), utf8=True)  # the family name becomes a label name
        super().__init__(name, documentation, labels)
        if value is not None:
            self.add_metric((), value)

    def _reserved(self, name: str) -> tuple[str, ...]:
        return (name,)

    def _labelnames(self, name: str, declared: tuple[str, ...]) -> tuple[str, ...]:
        return (*declared, name)

    def add_metric(
        self, labels: Sequence[str], value: Mapping[str, bool], timestamp: float | None = None
    ) -> None:
        """Add a series: its label values, its states and its sample time."""
        key = self._label_values(labels)
        if not isinstance(value, Mapping):
            raise TypeError(
                f"states of {self.name!r} must be a mapping of state names to booleans,"
                f" got {value!r}"
            )
        if not value:
            raise ValueError(f"stateset {self.name!r} needs at least one state per series")
        rows: list[tuple[SeriesLabels, float]] = []
        for state, enabled in value.items():
            if state.__class__ is not str or not state.isascii():
                check_text(f"state of {self.name!r}", state)
            if enabled is True or enabled is False:
                flag = 1.0 if enabled else 0.0
            else:
                flag = _real(enabled, f"state {state!r}", self.name)
            if flag not in (0.0, 1.0):
                raise ValueError(
                    f"state {state!r} of {self.name!r} must be True or False, got {enabled!r}"
                )
            rows.append((LabelSet((*key, state)), flag))
        stamp = self._timestamp(timestamp)
        self._record(key, stamp, rows)
