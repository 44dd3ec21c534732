"""The Prometheus protobuf schema for tests, and a reader and writer for delimited bodies.

The message classes come from the official ``protobuf`` package, through a descriptor built
here from the field numbers of client_model's ``io/prometheus/client/metrics.proto`` (proto2);
none of it uses this library. ``google.protobuf`` is imported only when the classes are first
asked for, so importing this module never needs it (the text-format goldens run without it).
"""

from __future__ import annotations

import functools
from typing import Any

TIMESTAMP = ".google.protobuf.Timestamp"
PACKAGE = "io.prometheus.client"

# message -> (field name, number, type, repeated), in metrics.proto's order
MESSAGES: dict[str, list[tuple[str, int, str, bool]]] = {
    "LabelPair": [("name", 1, "string", False), ("value", 2, "string", False)],
    "Gauge": [("value", 1, "double", False)],
    "Counter": [
        ("value", 1, "double", False),
        ("exemplar", 2, "Exemplar", False),
        ("created_timestamp", 3, TIMESTAMP, False),
    ],
    "Quantile": [("quantile", 1, "double", False), ("value", 2, "double", False)],
    "Summary": [
        ("sample_count", 1, "uint64", False),
        ("sample_sum", 2, "double", False),
        ("quantile", 3, "Quantile", True),
        ("created_timestamp", 4, TIMESTAMP, False),
    ],
    "Untyped": [("value", 1, "double", False)],
    "Histogram": [
        ("sample_count", 1, "uint64", False),
        ("sample_count_float", 4, "double", False),
        ("sample_sum", 2, "double", False),
        ("bucket", 3, "Bucket", True),
        ("created_timestamp", 15, TIMESTAMP, False),
        ("schema", 5, "sint32", False),
        ("zero_threshold", 6, "double", False),
        ("zero_count", 7, "uint64", False),
        ("zero_count_float", 8, "double", False),
        ("negative_span", 9, "BucketSpan", True),
        ("negative_delta", 10, "sint64", True),
        ("negative_count", 11, "double", True),
        ("positive_span", 12, "BucketSpan", True),
        ("positive_delta", 13, "sint64", True),
        ("positive_count", 14, "double", True),
        ("exemplars", 16, "Exemplar", True),
    ],
    "Bucket": [
        ("cumulative_count", 1, "uint64", False),
        ("cumulative_count_float", 4, "double", False),
        ("upper_bound", 2, "double", False),
        ("exemplar", 3, "Exemplar", False),
    ],
    "BucketSpan": [("offset", 1, "sint32", False), ("length", 2, "uint32", False)],
    "Exemplar": [
        ("label", 1, "LabelPair", True),
        ("value", 2, "double", False),
        ("timestamp", 3, TIMESTAMP, False),
    ],
    "Metric": [
        ("label", 1, "LabelPair", True),
        ("gauge", 2, "Gauge", False),
        ("counter", 3, "Counter", False),
        ("summary", 4, "Summary", False),
        ("untyped", 5, "Untyped", False),
        ("histogram", 7, "Histogram", False),
        ("timestamp_ms", 6, "int64", False),
    ],
    "MetricFamily": [
        ("name", 1, "string", False),
        ("help", 2, "string", False),
        ("type", 3, "MetricType", False),
        ("metric", 4, "Metric", True),
        ("unit", 5, "string", False),
    ],
}
METRIC_TYPES = [
    ("COUNTER", 0),
    ("GAUGE", 1),
    ("SUMMARY", 2),
    ("UNTYPED", 3),
    ("HISTOGRAM", 4),
    ("GAUGE_HISTOGRAM", 5),
]


@functools.cache
def message_classes() -> dict[str, Any]:
    """Every message of ``MESSAGES`` as an official ``protobuf`` class, in a private pool."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, timestamp_pb2

    f = descriptor_pb2.FieldDescriptorProto
    scalars = {
        "string": f.TYPE_STRING,
        "double": f.TYPE_DOUBLE,
        "uint64": f.TYPE_UINT64,
        "uint32": f.TYPE_UINT32,
        "int64": f.TYPE_INT64,
        "sint32": f.TYPE_SINT32,
        "sint64": f.TYPE_SINT64,
    }
    file = descriptor_pb2.FileDescriptorProto(
        name="io/prometheus/client/metrics.proto",
        package=PACKAGE,
        syntax="proto2",
        dependency=["google/protobuf/timestamp.proto"],
    )
    enum = file.enum_type.add(name="MetricType")
    for name, number in METRIC_TYPES:
        enum.value.add(name=name, number=number)
    for message_name, fields in MESSAGES.items():
        message = file.message_type.add(name=message_name)
        for name, number, kind, repeated in fields:
            field = message.field.add(
                name=name,
                number=number,
                label=f.LABEL_REPEATED if repeated else f.LABEL_OPTIONAL,
            )
            if kind in scalars:
                field.type = scalars[kind]
            elif kind == "MetricType":
                field.type = f.TYPE_ENUM
                field.type_name = f".{PACKAGE}.MetricType"
            else:
                field.type = f.TYPE_MESSAGE
                field.type_name = kind if kind.startswith(".") else f".{PACKAGE}.{kind}"
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(timestamp_pb2.DESCRIPTOR.serialized_pb)
    pool.AddSerializedFile(file.SerializeToString())
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{PACKAGE}.{name}"))
        for name in MESSAGES
    }


def metric_family_class() -> Any:
    """``MetricFamily`` from the official ``protobuf`` package."""
    return message_classes()["MetricFamily"]


# -- delimited bodies: each message preceded by its length as a varint -------------------------


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """The unsigned varint at ``pos``, and the position after it."""
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def write_varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def split_delimited(body: bytes) -> list[bytes]:
    """The messages of a delimited body, as bytes; the prefixes must end exactly at its end."""
    messages = []
    pos = 0
    while pos < len(body):
        size, pos = read_varint(body, pos)
        assert pos + size <= len(body), "a length prefix runs past the end of the body"
        messages.append(body[pos : pos + size])
        pos += size
    return messages


def decode_families(body: bytes) -> list[Any]:
    """Split a delimited body and parse each ``MetricFamily`` with the official parser, which
    must serialize it back to the same bytes."""
    cls = metric_family_class()
    families = []
    for chunk in split_delimited(body):
        family = cls()
        family.ParseFromString(chunk)
        # The official encoder writes the same message byte for byte (deterministic,
        # field-number order): nothing is lost, reordered or written twice.
        assert family.SerializeToString(deterministic=True) == chunk
        families.append(family)
    return families
