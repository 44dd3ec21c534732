"""Prometheus protobuf exposition: delimited ``io.prometheus.client.MetricFamily`` messages.

The body is one message per family, each preceded by its length as an unsigned varint, with
no trailer (``prometheus/client_model``'s ``metrics.proto``, proto2). It is written by hand
here; nothing outside the standard library is needed.

The contract, where the schema leaves a choice:

* Families come out in the order given, series in the order given. A family with no series
  is **skipped**, as client_golang skips it (Prometheus skips empty families anyway, so its
  metadata would be dropped).
* Fields are written in field-number order, as protoc-generated encoders write them. Fields
  a proto2 client sets explicitly are written even when zero: ``help`` (always, even empty),
  ``type`` (even ``COUNTER = 0``), counts and sums, both fields of a label pair, both fields
  of a bucket span, and the native ``schema``/``zero_threshold``/``zero_count``. ``unit``
  is written only when it is not empty.
* Counter families are named ``<name>_total``; the whole name is then escaped, as Go's
  ``EscapeMetricFamily`` escapes the family it is given. ``UNKNOWN`` families are
  ``UNTYPED``. Info family ``x`` is the ``GAUGE`` family ``x_info``, a stateset a
  ``GAUGE`` (as prometheus_client's text encoder writes both); neither writes a unit
  (OpenMetrics requires theirs to be empty). A gauge histogram is ``GAUGE_HISTOGRAM``
  with the ``Histogram`` message (its gcount and gsum as ``sample_count`` and
  ``sample_sum``) and no created timestamp (gauge histograms have none).
* Metric and label names are escaped with the negotiated scheme by the pre-pass
  (``allow-utf-8`` keeps them raw; protobuf never quotes). Label values, help text and
  exemplar labels are never escaped (Go leaves exemplars alone too). Label pairs are sorted
  by the written name. Where every declared label name is legacy-valid, a series' encoded
  label pairs are memoised on it (``SeriesLabels.encoded_labels``), as the text encoders
  memoise their rendering.
* Classic histograms write every finite bucket; the ``+Inf`` bucket is written only when it
  carries an exemplar (as client_golang does; Prometheus derives it from the count).
  Native buckets are written when the series has them, and an empty native histogram with a
  zero threshold of 0 gets the no-op span ``positive_span {offset: 0, length: 0}`` so it is
  not read as a classic one. Deltas are written unpacked, as proto2 encoders write them.
* Exemplars (counter and bucket; for a histogram with native buckets, the same exemplars
  also in the histogram's ``exemplars`` field 16, where client_golang keeps native ones)
  and created timestamps travel as ``google.protobuf.Timestamp``, split into seconds and nanoseconds
  from the float's shortest decimal form. ``created=False`` leaves created timestamps out.
  A series' sample timestamp is ``Metric.timestamp_ms``: integer milliseconds, rounded
  down (as client_golang's ``NewMetricWithTimestamp``), written between the value field
  and ``histogram`` (field-number order). Exemplar label names are written as given,
  never escaped (Go's ``EscapeMetricFamily`` leaves exemplars alone).
* Names that collide once escaped, a timestamp that is not finite or outside the years 1 to
  9999, or text that is not valid UTF-8 raise ``ExpositionError``; an unknown escaping
  scheme is a ``ValueError``.
"""

from __future__ import annotations

import functools
import math
import struct
from collections.abc import Callable, Iterable, Sequence, Sized
from itertools import repeat
from typing import Final

from ..model import (
    Exemplar,
    HistogramValue,
    MetricFamily,
    MetricType,
    NativeBuckets,
    SeriesLabels,
    SummaryValue,
)
from ._escaping import UNDERSCORES, ExpositionError
from ._prepass import escape_families, label_memos_valid, memoised
from ._stamps import milliseconds, series_stamps, split_seconds

__all__ = ["CONTENT_TYPE", "encode_protobuf"]

CONTENT_TYPE: Final = (
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
)

_TYPE_CODES: Final = {
    MetricType.COUNTER: 0,
    MetricType.GAUGE: 1,
    MetricType.SUMMARY: 2,
    MetricType.UNKNOWN: 3,
    MetricType.HISTOGRAM: 4,
    MetricType.INFO: 1,
    MetricType.STATESET: 1,
    MetricType.GAUGE_HISTOGRAM: 5,
}
# Families named with a suffix on their name (a counter ``x`` is ``x_total``).
_NAME_SUFFIXES: Final = {MetricType.COUNTER: "_total", MetricType.INFO: "_info"}
# OpenMetrics: "MetricFamilies of type Info/StateSet MUST have an empty Unit string".
_NO_UNIT: Final = frozenset({MetricType.INFO, MetricType.STATESET})
_HISTOGRAMS: Final = frozenset({MetricType.HISTOGRAM, MetricType.GAUGE_HISTOGRAM})

# A one-byte tag followed by a little-endian double, and three bytes (Metric field tag,
# length 9, value tag) followed by a double: a whole gauge, counter or untyped field.
_tagged_double = struct.Struct("<Bd").pack
_value_field = struct.Struct("<3sd").pack
_GAUGE_HEAD: Final = b"\x12\x09\x09"  # Metric.gauge, 9 bytes, Gauge.value
_COUNTER_HEAD: Final = b"\x1a\x09\x09"  # Metric.counter, 9 bytes, Counter.value
_UNTYPED_HEAD: Final = b"\x2a\x09\x09"  # Metric.untyped, 9 bytes, Untyped.value

_SMALL: Final = tuple(bytes((i,)) for i in range(128))
_METRIC_FRAMES: Final = tuple(b"\x22" + length for length in _SMALL)  # MetricFamily.metric
_INF: Final = math.inf
_NOOP_SPAN: Final = b"\x62\x04\x08\x00\x10\x00"  # positive_span {offset: 0, length: 0}


def _varint(n: int) -> bytes:
    """``n`` as an unsigned varint; a negative ``n`` as its 64-bit two's complement."""
    if 0 <= n < 0x80:
        return _SMALL[n]
    if n < 0:
        n &= 0xFFFFFFFFFFFFFFFF
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _zigzag(n: int) -> bytes:
    """``n`` as a ``sint32``/``sint64`` varint."""
    return _varint(n << 1 if n >= 0 else ((-n) << 1) - 1)


def _field(tag: bytes, body: bytes) -> bytes:
    """A length-delimited field: ``tag``, the varint length of ``body``, ``body``."""
    n = len(body)
    return tag + (_SMALL[n] if n < 0x80 else _varint(n)) + body


def _text_field(tag: bytes, text: str) -> bytes:
    return _field(tag, text.encode("utf-8"))


def _timestamp(seconds: float) -> bytes:
    """A ``google.protobuf.Timestamp`` body (proto3: zero fields are left out).

    The split follows the shortest decimal form of ``seconds`` (``repr``), so a created
    time of ``1700000000.001`` is 1 ms and not the 999,928 ns its binary double holds.
    """
    whole, nanos = split_seconds(seconds)
    body = b""
    if whole:
        body = b"\x08" + _varint(whole)
    if nanos:
        body += b"\x10" + _varint(nanos)
    return body


def _timestamp_ms(seconds: float) -> bytes:
    """The ``Metric.timestamp_ms`` field (6, int64) of a sample timestamp."""
    return b"\x30" + _varint(milliseconds(seconds))


def _stamp_fields(family: MetricFamily, series: int) -> list[bytes] | None:
    """Per series, its ``timestamp_ms`` field or ``b""``; ``None`` without timestamps."""
    return series_stamps(family, series, _timestamp_ms, b"")


class _StampFields(dict[float, bytes]):
    """Created-timestamp fields with one tag, each encoded once per call: series created
    in the same millisecond share one float, so most look-ups hit."""

    __slots__ = ("tag",)

    def __init__(self, tag: bytes) -> None:
        super().__init__()
        self.tag = tag

    def __missing__(self, seconds: float) -> bytes:
        body = _timestamp(seconds)
        field = self[seconds] = self.tag + _SMALL[len(body)] + body  # at most 17 bytes
        return field


def _exemplar(exemplar: Exemplar) -> bytes:
    """An ``Exemplar`` body: labels in the order given, value, timestamp when known."""
    parts = [
        _field(b"\x0a", _text_field(b"\x0a", name) + _text_field(b"\x12", value))
        for name, value in exemplar.labels
    ]
    parts.append(_tagged_double(0x11, exemplar.value))
    if exemplar.timestamp is not None:
        parts.append(_field(b"\x1a", _timestamp(exemplar.timestamp)))
    return b"".join(parts)


class _LabelEncoder:
    """Encodes a series' label pairs (``Metric.label`` fields) for one family.

    Pairs are sorted by name once; each distinct value's pair is encoded once per call and
    then reused, since label values repeat across the series of a family.
    """

    __slots__ = ("positions",)

    def __init__(self, labelnames: Sequence[str]) -> None:
        order = sorted(range(len(labelnames)), key=labelnames.__getitem__)
        self.positions = [
            (index, _text_field(b"\x0a", labelnames[index]), dict[str, bytes]()) for index in order
        ]

    def encode(self, labels: SeriesLabels) -> bytes:
        values = labels.label_values
        out = b""
        for index, name_field, cache in self.positions:
            value = values[index]
            pair = cache.get(value)
            if pair is None:
                raw = value.encode("utf-8")
                n = len(raw)
                pair = name_field + b"\x12" + (_SMALL[n] if n < 0x80 else _varint(n)) + raw
                n = len(pair)
                pair = cache[value] = b"\x0a" + (_SMALL[n] if n < 0x80 else _varint(n)) + pair
            out += pair
        return out


def _label_fields(family: MetricFamily, memo: bool) -> Callable[[SeriesLabels], bytes]:
    """A function giving a series' ``Metric.label`` fields; with ``memo``
    (``_prepass.label_memos_valid``) memoised on the series, so each series is encoded
    once in its life."""
    if not family.labelnames:
        return _no_labels
    encode = _LabelEncoder(family.labelnames).encode
    return memoised(encode, "encoded_labels") if memo else encode


def _no_labels(labels: SeriesLabels) -> bytes:
    return b""


def encode_protobuf(
    families: Iterable[MetricFamily], *, escaping: str = UNDERSCORES, created: bool = True
) -> bytes:
    """Encode families as delimited protobuf ``MetricFamily`` messages (see the module doc).

    ``escaping`` is the negotiated name escaping scheme; ``created=False`` leaves out
    created timestamps. Raises ``ExpositionError`` when the snapshot cannot be written.
    """
    return write_protobuf(escape_families(families, escaping), created)


def write_protobuf(families: Iterable[MetricFamily], created: bool) -> bytes:
    """The protobuf body of pre-passed families (``_prepass.escape_families``)."""
    body = bytearray()
    try:
        for family in families:
            kind = family.type
            code = _TYPE_CODES.get(kind)
            if code is None:
                raise ExpositionError(f"{family.name!r}: type {kind} has no protobuf form")
            series: Sized
            if kind in _HISTOGRAMS:
                write, series = _histogram_metrics, family.histograms
            elif kind is MetricType.SUMMARY:
                write, series = _summary_metrics, family.summaries
            else:
                write, series = _number_metrics, family.samples
            if not series:
                continue
            suffix = _NAME_SUFFIXES.get(kind)
            name = family.name if suffix is None else family.name + suffix
            message = bytearray(_text_field(b"\x0a", name))
            message += _text_field(b"\x12", family.help)
            message += b"\x18" + _SMALL[code]
            memo = label_memos_valid(family)
            write(family, _label_fields(family, memo), memo, created, message)
            if family.unit and kind not in _NO_UNIT:
                message += _text_field(b"\x2a", family.unit)
            body += _varint(len(message))
            body += message
    except UnicodeEncodeError as error:
        raise ExpositionError(f"text that is not valid UTF-8 cannot be written: {error}") from None
    return bytes(body)


_HEADS: Final = {
    MetricType.COUNTER: _COUNTER_HEAD,
    MetricType.GAUGE: _GAUGE_HEAD,
    MetricType.UNKNOWN: _UNTYPED_HEAD,
    MetricType.INFO: _GAUGE_HEAD,
    MetricType.STATESET: _GAUGE_HEAD,
}
_UNSET: Final = object()  # a created time no series has


_Pack = Callable[..., bytes]


@functools.cache  # one per length of a created-timestamp field: a handful
def _number_pack(tail: int) -> _Pack:
    """``struct.pack`` of a number field's head, its value and a ``tail``-byte field."""
    return struct.Struct(f"<3sd{tail}s").pack


class _NumberFields(dict["float | None", tuple[_Pack, bytes, bytes, int]]):
    """Per created time (``None``: none written), a series' number field around its value:
    ``(pack, head, tail, length)``, where ``head`` runs up to the value's double, ``tail``
    is the created-timestamp field after it, ``pack(head, value, tail)`` writes the field
    and ``length`` is its whole length. Each is encoded once per call."""

    __slots__ = ("head", "stamps")

    def __init__(self, kind: MetricType) -> None:
        super().__init__()
        self.head = _HEADS.get(kind, _UNTYPED_HEAD)
        self.stamps = _StampFields(b"\x1a")

    def __missing__(self, seconds: float | None) -> tuple[_Pack, bytes, bytes, int]:
        if seconds is None:
            head, tail = self.head, b""
        else:
            tail = self.stamps[seconds]
            head = b"\x1a" + _SMALL[9 + len(tail)] + b"\x09"  # the tail has at most 19 bytes
        parts = self[seconds] = (_number_pack(len(tail)), head, tail, 11 + len(tail))
        return parts


def _number_metrics(
    family: MetricFamily,
    labels: Callable[[SeriesLabels], bytes],
    memo: bool,
    created: bool,
    out: bytearray,
) -> None:
    """Append ``Metric.label`` and the counter, gauge or untyped field of each series, framed.

    The common case (``memo``: label fields memoised on the series; no exemplars; a created
    time for every series or none; no sample timestamps) runs the loop below, once per
    series per scrape: the memo look-up is inlined, the number field around the value is
    looked up only when the created time changes, and each series costs one ``pack`` and
    no intermediate bytes.
    """
    samples = family.samples
    counter = family.type is MetricType.COUNTER
    starts = family.created if created and counter else ()
    if (
        not memo
        or (counter and family.exemplars)
        or (starts and len(starts) != len(samples))
        or family.timestamps
    ):
        _any_number_metrics(family, labels, created, out)
        return
    numbers = _NumberFields(family.type)
    frames = _METRIC_FRAMES
    pack, head, tail, n = numbers[None]
    last: object = _UNSET
    for (series, value), start in zip(samples, starts or repeat(None), strict=False):
        if start is not last:  # series made in the same millisecond share one float object
            pack, head, tail, n = numbers[start]
            last = start
        fields = series.encoded_labels
        if fields is None:
            fields = labels(series)
        try:  # free unless raised
            out += frames[n + len(fields)]
        except IndexError:  # a metric of 128 bytes or more
            out += b"\x22" + _varint(n + len(fields))
        out += fields
        out += pack(head, value, tail)


def _any_number_metrics(
    family: MetricFamily, labels: Callable[[SeriesLabels], bytes], created: bool, out: bytearray
) -> None:
    """``_number_metrics`` for any snapshot: exemplars, partial created times, no memo,
    sample timestamps."""
    counter = family.type is MetricType.COUNTER
    head = _HEADS.get(family.type, _UNTYPED_HEAD)
    starts = family.created if created and counter else ()
    exemplars = family.exemplars if counter else ()
    stamps = _StampFields(b"\x1a")
    times = _stamp_fields(family, len(family.samples))
    for i, (series, value) in enumerate(family.samples):
        exemplar = exemplars[i] if i < len(exemplars) else None
        if exemplar is None and i >= len(starts):
            body = _value_field(head, value)
        else:
            number = _tagged_double(0x09, value)
            if exemplar is not None:
                number += _field(b"\x12", _exemplar(exemplar))
            if i < len(starts):
                number += stamps[starts[i]]
            body = _field(head[:1], number)
        if times is not None:
            body += times[i]
        out += _field(b"\x22", labels(series) + body)


def _histogram_metrics(
    family: MetricFamily,
    labels: Callable[[SeriesLabels], bytes],
    memo: bool,
    created: bool,
    out: bytearray,
) -> None:
    """Append ``Metric.label``, ``Metric.timestamp_ms`` (when given) and
    ``Metric.histogram`` of each series, framed. Gauge histograms have no created time."""
    bounds: dict[float, bytes] = {}
    gauge = family.type is MetricType.GAUGE_HISTOGRAM
    stamps = _StampFields(b"\x7a") if created and not gauge else None
    times = _stamp_fields(family, len(family.histograms))
    for i, (series, value) in enumerate(family.histograms):
        body = labels(series)
        if times is not None:
            body += times[i]
        body += _field(b"\x3a", _histogram(value, bounds, stamps))
        out += _field(b"\x22", body)


def _histogram(
    value: HistogramValue, bounds: dict[float, bytes], stamps: _StampFields | None
) -> bytes:
    """A ``Histogram`` body. ``bounds`` memoizes the ``upper_bound`` field of each bound;
    ``stamps`` gives created-timestamp fields (``None`` leaves them out)."""
    parts = [b"\x08", _varint(value.count), _tagged_double(0x11, value.sum)]
    append = parts.append
    small = _SMALL
    exemplars = value.exemplars
    if exemplars is None:
        for bound, cumulative in value.buckets:
            if bound == _INF:
                continue
            upper = bounds.get(bound)
            if upper is None:
                upper = bounds[bound] = _tagged_double(0x11, bound)
            if 0 <= cumulative < 0x80:
                append(b"\x1a\x0b\x08" + small[cumulative] + upper)
            else:
                bucket = b"\x08" + _varint(cumulative) + upper
                append(b"\x1a" + small[len(bucket)] + bucket)  # at most 20 bytes
    else:
        for (bound, cumulative), exemplar in zip(value.buckets, exemplars, strict=True):
            if bound == _INF and exemplar is None:
                continue
            bucket = b"\x08" + _varint(cumulative) + _tagged_double(0x11, bound)
            if exemplar is not None:
                bucket += _field(b"\x1a", _exemplar(exemplar))
            append(_field(b"\x1a", bucket))
    if value.native is not None:
        _native(value.native, append)
    if stamps is not None and value.created is not None:
        append(stamps[value.created])
    if value.native is not None and exemplars is not None:
        # Native exemplars (field 16), as client_golang keeps them: the series' exemplars,
        # which then also ride on their classic buckets above.
        for exemplar in exemplars:
            if exemplar is not None:
                append(_field(b"\x82\x01", _exemplar(exemplar)))
    return b"".join(parts)


def _native(native: NativeBuckets, append: Callable[[bytes], None]) -> None:
    """Append the native-histogram fields (5 to 13) in field-number order."""
    append(b"\x28" + _zigzag(native.schema))
    append(_tagged_double(0x31, native.zero_threshold))
    append(b"\x38" + _varint(native.zero_count))
    for offset, length in native.negative_spans:
        append(_field(b"\x4a", b"\x08" + _zigzag(offset) + b"\x10" + _varint(length)))
    for delta in native.negative_deltas:
        append(b"\x50" + _zigzag(delta))
    positive_spans = native.positive_spans
    if (
        not positive_spans
        and not native.negative_spans
        and native.zero_threshold == 0
        and native.zero_count == 0
    ):
        append(_NOOP_SPAN)
    for offset, length in positive_spans:
        append(_field(b"\x62", b"\x08" + _zigzag(offset) + b"\x10" + _varint(length)))
    for delta in native.positive_deltas:
        append(b"\x68" + _zigzag(delta))


def _summary_metrics(
    family: MetricFamily,
    labels: Callable[[SeriesLabels], bytes],
    memo: bool,
    created: bool,
    out: bytearray,
) -> None:
    """Append ``Metric.label``, ``Metric.summary`` and ``Metric.timestamp_ms`` (when given)
    of each series, framed."""
    times = _stamp_fields(family, len(family.summaries))
    for i, (series, value) in enumerate(family.summaries):
        body = labels(series) + _field(b"\x22", _summary(value, created))
        if times is not None:
            body += times[i]
        out += _field(b"\x22", body)


def _summary(value: SummaryValue, created: bool) -> bytes:
    parts = [b"\x08", _varint(value.count), _tagged_double(0x11, value.sum)]
    for quantile, estimate in value.quantiles:
        parts.append(b"\x1a\x12" + _tagged_double(0x09, quantile) + _tagged_double(0x11, estimate))
    if created and value.created is not None:
        parts.append(_field(b"\x22", _timestamp(value.created)))
    return b"".join(parts)
