"""Content negotiation: the exact headers Prometheus sends, and hand-written edge cases.

The Prometheus 3 ``Accept`` strings are checklist UTF-05's (copied there from
prometheus/prometheus ``scrape/scrape_test.go``). The Prometheus 2.x strings were read from
the Prometheus 2.42.0 server installed here (``/usr/bin/prometheus``, Debian 2.42.0+ds) and
match ``scrapeAcceptHeader``/``scrapeAcceptHeaderWithProtobuf`` in its ``scrape/scrape.go``.
Rules: the highest-q supported format wins, ties go to the clause listed first, ``q=0``
means "not this", anything else (or nothing) falls back to text 0.0.4, and a malformed
header never raises (checklist NEG-03/NEG-04, UTF-04/UTF-06).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text

from metrics_proto import decode_families
from tachikoma_metrics import MetricsRegistry, negotiate
from tachikoma_metrics.exposition import (
    FORMATS,
    Format,
    encode,
    encode_openmetrics,
    encode_protobuf,
    encode_text,
    get_format,
)

TEXT_004 = "text/plain; version=0.0.4; charset=utf-8"
TEXT_100 = "text/plain; version=1.0.0; charset=utf-8; escaping={}"
OM_100 = "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping={}"
OM_001 = "application/openmetrics-text; version=0.0.1; charset=utf-8"
PROTOBUF = (
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily;"
    " encoding=delimited; escaping={}"
)

PROM3_DEFAULT = (
    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
    "application/openmetrics-text;version=0.0.1;q=0.5,"
    "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,"
    "text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
)
PROM3_LEGACY = (
    "application/openmetrics-text;version=1.0.0;escaping=underscores;q=0.6,"
    "application/openmetrics-text;version=0.0.1;q=0.5,"
    "text/plain;version=1.0.0;escaping=underscores;q=0.4,"
    "text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
)
PROM3_PROTO_FIRST = (
    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,"
    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,"
    "application/openmetrics-text;version=0.0.1;q=0.4,"
    "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,"
    "text/plain;version=0.0.4;q=0.2,*/*;q=0.1"
)
PROM3_PROTO_FIRST_DOTS = PROM3_PROTO_FIRST.replace("escaping=allow-utf-8", "escaping=dots")
PROM2_DEFAULT = (
    "application/openmetrics-text;version=1.0.0,"
    "application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
PROM2_NATIVE_HISTOGRAMS = (
    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,"
    "application/openmetrics-text;version=1.0.0;q=0.8,"
    "application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)

# header -> (format, escaping, Content-Type)
PROMETHEUS_HEADERS: dict[str, tuple[str, str, str, str]] = {
    "prometheus-3-default": (
        PROM3_DEFAULT,
        "openmetrics-1.0.0",
        "allow-utf-8",
        OM_100.format("allow-utf-8"),
    ),
    "prometheus-3-legacy": (
        PROM3_LEGACY,
        "openmetrics-1.0.0",
        "underscores",
        OM_100.format("underscores"),
    ),
    # The protobuf clause carries no escaping=, so names are escaped (as client_golang
    # answers, UTF-06): UTF-8 names do not survive protobuf scrapes (TRICK-29).
    "prometheus-3-proto-first": (
        PROM3_PROTO_FIRST,
        "protobuf",
        "underscores",
        PROTOBUF.format("underscores"),
    ),
    "prometheus-3-proto-first-dots": (
        PROM3_PROTO_FIRST_DOTS,
        "protobuf",
        "underscores",
        PROTOBUF.format("underscores"),
    ),
    "prometheus-2-default": (
        PROM2_DEFAULT,
        "openmetrics-1.0.0",
        "underscores",
        OM_100.format("underscores"),
    ),
    "prometheus-2-native-histograms": (
        PROM2_NATIVE_HISTOGRAMS,
        "protobuf",
        "underscores",
        PROTOBUF.format("underscores"),
    ),
}


@pytest.mark.parametrize("case", list(PROMETHEUS_HEADERS))
def test_prometheus_accept_headers(case: str) -> None:
    """Each Accept header a Prometheus scraper sends picks its first-choice format, with the
    exact Content-Type (``escaping=`` named where the format version defines it)."""
    accept, fmt, escaping, content_type = PROMETHEUS_HEADERS[case]
    chosen = negotiate(accept, "gzip")
    assert (chosen.format, chosen.escaping, chosen.content_type) == (fmt, escaping, content_type)
    assert chosen.compression == "gzip"


def test_prometheus_2_strings_match_the_installed_server() -> None:
    """The 2.x strings above are the ones compiled into the Prometheus 2.42 binary here."""
    import shutil

    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("the Prometheus server binary is required (apt-get install prometheus)")
    with open(binary, "rb") as handle:
        data = handle.read()
    assert PROM2_DEFAULT.encode() in data
    assert PROM2_NATIVE_HISTOGRAMS.encode() in data


# -- encoded bodies are read by the parser of the negotiated format ----------------------------


def _registry() -> MetricsRegistry:
    registry = MetricsRegistry(utf8_names=True)
    registry.counter("http.server_requests", "Req.", labelnames=("code",)).labels("200").inc(
        3, exemplar={"trace_id": "abc"}
    )
    registry.gauge("my.dotted.metric", "Help.", labelnames=("error.message",)).labels(
        "Not Found"
    ).set(1)
    registry.histogram("rpc_seconds", "RPC.", buckets=(0.5,)).observe(0.25)
    return registry


def _protobuf_names(body: bytes) -> list[str]:
    return [family.name for family in decode_families(body)]


@pytest.mark.parametrize("case", list(PROMETHEUS_HEADERS))
def test_negotiated_encoder_output_parses(case: str) -> None:
    """``encode`` of each negotiation gives bytes the matching parser accepts, with names as
    the negotiated escaping says: OpenMetrics through the strict ``prometheus_client``
    parser, protobuf through the official ``protobuf`` library."""
    accept = PROMETHEUS_HEADERS[case][0]
    chosen = negotiate(accept)
    body = chosen.encode(_registry().collect())
    assert isinstance(body, bytes)
    if chosen.format == "protobuf":
        assert _protobuf_names(body) == [
            "http_server_requests_total",
            "my_dotted_metric",
            "rpc_seconds",
        ]
        return
    families = list(parse_openmetrics(body.decode("utf-8")))
    if chosen.escaping == "allow-utf-8":
        assert [f.name for f in families] == [
            "http.server_requests",
            "my.dotted.metric",
            "rpc_seconds",
        ]
        assert families[1].samples[0].labels == {"error.message": "Not Found"}
    else:
        assert [f.name for f in families] == [
            "http_server_requests",
            "my_dotted_metric",
            "rpc_seconds",
        ]
        assert families[1].samples[0].labels == {"error_message": "Not Found"}
    total = families[0].samples[0]
    assert total.value == 3.0 and total.exemplar is not None


@pytest.mark.parametrize(
    ("accept", "fmt"),
    [
        ("text/plain;version=0.0.4", "text-0.0.4"),
        ("text/plain;version=1.0.0;escaping=allow-utf-8", "text-1.0.0"),
        ("text/plain;version=1.0.0;escaping=values", "text-1.0.0"),
        ("application/openmetrics-text;version=0.0.1", "openmetrics-0.0.1"),
    ],
)
def test_text_and_old_openmetrics_bodies_parse(accept: str, fmt: str) -> None:
    """Text bodies (0.0.4 and 1.0.0) parse with ``prometheus_client.parser``, OpenMetrics
    0.0.1 bodies with the strict OpenMetrics parser; exemplars never reach text."""
    chosen = negotiate(accept)
    assert chosen.format == fmt
    body = chosen.encode(_registry().collect()).decode("utf-8")
    if fmt.startswith("openmetrics"):
        assert len(list(parse_openmetrics(body))) == 3
        return
    families = list(parse_text(body))
    assert len(families) == 3
    assert "trace_id" not in body
    if chosen.escaping == "allow-utf-8":
        assert families[0].name == "http.server_requests"


def test_negotiation_honours_the_registry_created_setting() -> None:
    """``registry.negotiate`` encodes with the registry's ``created_series``; the module-level
    ``negotiate(created=False)`` leaves ``_created`` out too."""
    registry = MetricsRegistry(created_series=False)
    registry.counter("jobs_total", "Jobs.").inc()
    assert b"_created" not in registry.negotiate(PROM3_DEFAULT).encode(registry.collect())
    fresh = MetricsRegistry()
    fresh.counter("jobs_total", "Jobs.").inc()
    assert b"jobs_created" in fresh.negotiate(PROM3_DEFAULT).encode(fresh.collect())
    assert b"_created" not in negotiate(PROM3_DEFAULT, created=False).encode(fresh.collect())


# -- hand-written edge cases --------------------------------------------------------------------

EDGE_CASES: list[tuple[str, str | None, str, str]] = [
    # (id, Accept, expected format, expected Content-Type)
    ("none", None, "text-0.0.4", TEXT_004),
    ("empty", "", "text-0.0.4", TEXT_004),
    ("blank", "   ", "text-0.0.4", TEXT_004),
    ("star-star", "*/*", "text-0.0.4", TEXT_004),
    (
        "q-reorders",
        "text/plain;version=0.0.4;q=0.9,application/openmetrics-text;version=1.0.0;q=0.1",
        "text-0.0.4",
        TEXT_004,
    ),
    (
        "q-reorders-protobuf-last",
        "text/plain;version=0.0.4;q=0.2,application/vnd.google.protobuf;"
        "proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7",
        "protobuf",
        PROTOBUF.format("underscores"),
    ),
    (
        "q0-excludes",
        "application/openmetrics-text;version=1.0.0;q=0,text/plain;version=1.0.0;q=0.01",
        "text-1.0.0",
        TEXT_100.format("underscores"),
    ),
    ("q0-only", "application/openmetrics-text;version=1.0.0;q=0", "text-0.0.4", TEXT_004),
    ("q0-star", "*/*;q=0", "text-0.0.4", TEXT_004),
    (
        "q0.000-excludes",
        "application/openmetrics-text;version=1.0.0;q=0.000,text/plain;version=0.0.4;q=0.001",
        "text-0.0.4",
        TEXT_004,
    ),
    (
        "tie-first-listed-wins",
        "text/plain;version=0.0.4;q=0.5,application/openmetrics-text;version=1.0.0;q=0.5",
        "text-0.0.4",
        TEXT_004,
    ),
    (
        "tie-first-listed-wins-reversed",
        "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.5",
        "openmetrics-1.0.0",
        OM_100.format("underscores"),
    ),
    (
        "tie-implicit-q1",
        "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4",
        "openmetrics-1.0.0",
        OM_100.format("underscores"),
    ),
    (
        "om-without-version-is-1.0.0",
        "application/openmetrics-text",
        "openmetrics-1.0.0",
        OM_100.format("underscores"),
    ),
    (
        "om-0.0.1-preferred-by-q",
        "application/openmetrics-text;version=1.0.0;q=0.5,"
        "application/openmetrics-text;version=0.0.1;q=0.9",
        "openmetrics-0.0.1",
        OM_001,
    ),
    (
        "unsupported-versions-ignored",
        "application/openmetrics-text;version=2.0.0,text/plain;version=9.9.9,"
        "text/plain;version=1.0.0;escaping=dots;q=0.1",
        "text-1.0.0",
        TEXT_100.format("dots"),
    ),
    (
        "unknown-media-types-ignored",
        "application/json,text/html;q=0.9,application/openmetrics-text;version=1.0.0;q=0.2",
        "openmetrics-1.0.0",
        OM_100.format("underscores"),
    ),
    (
        "protobuf-other-encoding-ignored",
        "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text,"
        "application/openmetrics-text;version=1.0.0;q=0.1",
        "openmetrics-1.0.0",
        OM_100.format("underscores"),
    ),
    (
        "protobuf-without-proto-ignored",
        "application/vnd.google.protobuf;encoding=delimited",
        "text-0.0.4",
        TEXT_004,
    ),
    (
        "protobuf-escaping-parameter",
        "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;"
        "encoding=delimited;escaping=allow-utf-8",
        "protobuf",
        PROTOBUF.format("allow-utf-8"),
    ),
    (
        "case-and-spaces",
        "Application/OpenMetrics-Text ; Version=1.0.0 ; Q=0.9 , text/plain ; q=0.5",
        "openmetrics-1.0.0",
        OM_100.format("underscores"),
    ),
    (
        "quoted-parameter-values",
        'application/openmetrics-text;version="1.0.0";escaping="values";q="0.9"',
        "openmetrics-1.0.0",
        OM_100.format("values"),
    ),
    (
        "unknown-escaping-is-underscores",
        "application/openmetrics-text;version=1.0.0;escaping=bogus",
        "openmetrics-1.0.0",
        OM_100.format("underscores"),
    ),
    (
        "allow-utf-8-downgraded-for-text-0.0.4",
        "text/plain;version=0.0.4;escaping=allow-utf-8",
        "text-0.0.4",
        TEXT_004,
    ),
    (
        "q-out-of-range-clause-ignored",
        "application/openmetrics-text;version=1.0.0;q=2,text/plain;version=1.0.0;q=0.5",
        "text-1.0.0",
        TEXT_100.format("underscores"),
    ),
    (
        "q-nan-clause-ignored",
        "application/openmetrics-text;version=1.0.0;q=nan,text/plain;version=1.0.0;q=0.5",
        "text-1.0.0",
        TEXT_100.format("underscores"),
    ),
    ("garbage-separators", ";;;,,=", "text-0.0.4", TEXT_004),
    ("garbage-q", "text/plain;q=abc", "text-0.0.4", TEXT_004),
    (
        "garbage-q-then-good",
        "application/openmetrics-text;version=1.0.0;q=abc,text/plain;version=1.0.0;q=0.1",
        "text-1.0.0",
        TEXT_100.format("underscores"),
    ),
    ("unicode-junk", "☃/☃;q=☃,\x00\ufffd;;=é,/,*/;", "text-0.0.4", TEXT_004),
    ("lone-surrogate", "text/\udcff;q=1", "text-0.0.4", TEXT_004),
    ("only-parameters", ";version=1.0.0;q=1", "text-0.0.4", TEXT_004),
    ("very-long", "a/b;x=y," * 5000, "text-0.0.4", TEXT_004),
]


@pytest.mark.parametrize(
    ("accept", "fmt", "content_type"),
    [case[1:] for case in EDGE_CASES],
    ids=[case[0] for case in EDGE_CASES],
)
def test_accept_edge_cases(accept: str | None, fmt: str, content_type: str) -> None:
    """Hand-written Accept headers: q-values reorder formats, ``q=0`` excludes, ties go to
    the clause listed first, unsupported versions and media types are skipped, parameters
    are case-insensitive and may be quoted, a malformed clause is ignored and a malformed
    header falls back to text 0.0.4, never raising."""
    chosen = negotiate(accept)
    assert (chosen.format, chosen.content_type) == (fmt, content_type)
    body = chosen.encode(MetricsRegistry().collect())
    assert isinstance(body, bytes)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.none(), st.text(), st.text(alphabet=';,=/*qtvexp .0123456789"')))
def test_any_accept_header_negotiates_without_raising(accept: str | None) -> None:
    """Whatever the Accept header, negotiation returns one concrete, supported format whose
    Content-Type Prometheus can route (NEG-02)."""
    chosen = negotiate(accept, accept)
    assert chosen.content_type.split(";", 1)[0] in {
        "text/plain",
        "application/openmetrics-text",
        "application/vnd.google.protobuf",
    }
    assert chosen.escaping in {"allow-utf-8", "underscores", "dots", "values"}
    assert chosen.compression in {None, "gzip"}


# -- Accept-Encoding ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept_encoding", "compression"),
    [
        (None, None),
        ("", None),
        ("gzip", "gzip"),
        ("GZIP", "gzip"),  # content-codings are case-insensitive
        (" gzip ; q=1 ", "gzip"),
        ("gzip;q=0", None),  # prometheus_client compresses here; we must not (TRICK-28)
        ("gzip;q=0.0", None),
        ("gzip;Q=0", None),
        ("*", "gzip"),
        ("*;q=0", None),
        ("identity", None),
        ("identity, *;q=0", None),
        ("gzip;q=0, *", None),  # an explicit refusal beats the wildcard
        ("deflate, br", None),
        ("deflate, gzip;q=0.5", "gzip"),
        ("br;q=1.0, gzip;q=0.1", "gzip"),
        ("gzip;q=abc", None),
        (";;,,=", None),
    ],
)
def test_accept_encoding(accept_encoding: str | None, compression: str | None) -> None:
    """Compress with gzip exactly when gzip is acceptable with q > 0 (named, or through
    ``*`` when not named); ``identity`` never compresses; the value is exactly ``"gzip"``,
    the only Content-Encoding Prometheus decompresses (NEG-04)."""
    assert negotiate(PROM3_DEFAULT, accept_encoding).compression == compression


def test_compression_is_independent_of_format() -> None:
    """The encoding choice does not change the format choice, and vice versa."""
    plain: Any = negotiate(PROM2_NATIVE_HISTOGRAMS, "identity")
    zipped: Any = negotiate(PROM2_NATIVE_HISTOGRAMS, "gzip")
    assert plain.format == zipped.format == "protobuf"
    assert plain.content_type == zipped.content_type
    assert (plain.compression, zipped.compression) == (None, "gzip")


# -- the format table ----------------------------------------------------------------------------

SCHEMES = ("underscores", "dots", "values", "allow-utf-8")

# key -> exact Content-Type ({} is the scheme, where the version defines escaping=)
CONTENT_TYPES = {
    "text-0.0.4": TEXT_004,
    "text-1.0.0": TEXT_100,
    "openmetrics-1.0.0": OM_100,
    "openmetrics-0.0.1": OM_001,
    "protobuf": PROTOBUF,
}


def _clause(fmt: Format) -> str:
    """An Accept clause naming ``fmt`` with every parameter it requires."""
    params = [f"{name}={next(v for v in allowed if v)}" for name, allowed in fmt.params]
    return ";".join([fmt.media_type, *params])


def test_format_table_has_one_entry_per_format_with_text_0_0_4_first() -> None:
    """Five formats, each listed once; the first (the answer when nothing matches) is text
    0.0.4, the one every scraper reads."""
    assert [fmt.key for fmt in FORMATS] == [
        "text-0.0.4",
        "text-1.0.0",
        "openmetrics-1.0.0",
        "openmetrics-0.0.1",
        "protobuf",
    ]
    assert all(fmt.content_type.startswith(fmt.media_type + "; ") for fmt in FORMATS)
    assert [get_format(fmt.key) for fmt in FORMATS] == list(FORMATS)


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("fmt", FORMATS, ids=[fmt.key for fmt in FORMATS])
def test_every_table_entry_is_negotiable_with_its_exact_content_type(
    fmt: Format, scheme: str
) -> None:
    """An Accept clause built from an entry's media type and required parameters selects that
    entry, with the scheme it asks for (``allow-utf-8`` falls back to ``underscores`` where the
    version has no ``escaping=``) and the exact Content-Type, ``escaping=`` included where the
    version defines it."""
    chosen = negotiate(f"{_clause(fmt)};escaping={scheme}")
    escaping = "underscores" if scheme == "allow-utf-8" and not fmt.escaping_parameter else scheme
    assert (chosen.format, chosen.escaping) == (fmt.key, escaping)
    assert chosen.content_type == CONTENT_TYPES[fmt.key].format(escaping)
    assert fmt.full_content_type(escaping) == chosen.content_type


def _own_encoder(key: str, families: list[Any], escaping: str, created: bool) -> bytes:
    if key.startswith("text"):
        return encode_text(families, escaping=escaping).encode()
    if key.startswith("openmetrics"):
        return encode_openmetrics(families, escaping=escaping, created=created).encode()
    return encode_protobuf(families, escaping=escaping, created=created)


@pytest.mark.parametrize("created", [True, False])
@pytest.mark.parametrize("scheme", ["dots", "allow-utf-8"])
@pytest.mark.parametrize("fmt", FORMATS, ids=[fmt.key for fmt in FORMATS])
def test_encode_and_negotiated_encoders_write_what_each_encoder_writes(
    fmt: Format, scheme: str, created: bool
) -> None:
    """``encode(key, ...)`` and a negotiation's ``encode`` give the bytes of the format's own
    encoder, with the scheme the format can carry."""
    families = _registry().collect()
    escaping = fmt.scheme(scheme)
    expected = _own_encoder(fmt.key, families, escaping, created)
    assert encode(fmt.key, families, escaping=scheme, created=created) == expected
    assert encode(fmt, families, escaping=scheme, created=created) == expected
    chosen = negotiate(f"{_clause(fmt)};escaping={scheme}", created=created)
    assert chosen.encode(families) == expected


def test_versions_without_escaping_parameter_never_quote_names() -> None:
    """Text 0.0.4 and OpenMetrics 0.0.1 cannot carry quoted names: ``encode`` asked for
    ``allow-utf-8`` writes them escaped with ``underscores``."""
    families = _registry().collect()
    text = encode("text-0.0.4", families, escaping="allow-utf-8").decode()
    assert text == encode_text(families, escaping="underscores")
    assert '{"' not in text and "http_server_requests_total" in text
    om = encode("openmetrics-0.0.1", families, escaping="allow-utf-8").decode()
    assert '{"' not in om and "# TYPE http_server_requests counter" in om


def test_unknown_format_or_scheme_is_a_value_error() -> None:
    """A key not in the table, or a scheme that does not exist, is a ``ValueError``."""
    with pytest.raises(ValueError, match="unknown format"):
        encode("text-9.9.9", [])
    with pytest.raises(ValueError, match="unknown format"):
        get_format("json")
    with pytest.raises(ValueError, match="escaping scheme"):
        encode("openmetrics-1.0.0", [], escaping="bogus")
