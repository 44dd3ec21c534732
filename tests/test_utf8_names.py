"""UTF-8 metric and label names (Prometheus 3): validation, quoting and the escaping schemes.

Expected names come from the exposition checklist (UTF-01..03, UTF-08, TRICK-30), whose
tables are prometheus/common's ``model.EscapeName`` test vectors, and from how Go applies
them: ``EscapeMetricFamily`` escapes a family's name as a whole (a Go counter family is named
with its ``_total``; histogram and summary families carry no suffix) and leaves legacy-valid
names alone; Prometheus then derives ``_bucket``/``_sum``/``_count`` by appending to the
(escaped) protobuf family name. None of the expected strings was produced by this library.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text

from metrics_proto import read_varint, split_delimited
from promtool import check_metrics
from tachikoma_metrics import ExpositionError, MetricsRegistry, RegistrationError, negotiate
from tachikoma_metrics.exposition import encode
from tachikoma_metrics.exposition._prepass import (
    declared_labelnames,
    escape_families,
    label_memos_valid,
)
from tachikoma_metrics.model import LabelSet, MetricFamily, MetricType, SummaryValue

SCHEMES = ("underscores", "dots", "values", "allow-utf-8")
ESCAPING_SCHEMES = ("underscores", "dots", "values")


def _utf8_registry(created: bool = False) -> MetricsRegistry:
    """Checklist UTF-08: ``my.dotted.metric{code="404",error.message="Not Found"}`` = 1,
    counter ``http.server_requests`` = 1, gauge ``plain_metric`` = 2."""
    registry = MetricsRegistry(utf8_names=True, created_series=created)
    registry.gauge("my.dotted.metric", "Help.", labelnames=("code", "error.message")).labels(
        "404", "Not Found"
    ).set(1)
    registry.counter("http.server_requests", "Req.").inc()
    registry.gauge("plain_metric", "P.").set(2)
    return registry


# -- validation at definition -----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["counter", "gauge", "histogram"])
def test_legacy_registry_rejects_utf8_metric_names(kind: str) -> None:
    """By default (legacy rules) ``my.metric`` is refused when defined, with a ValueError
    naming it, and nothing is registered."""
    registry = MetricsRegistry()
    with pytest.raises(ValueError, match=r"my\.metric"):
        getattr(registry, kind)("my.metric", "Help.")
    assert registry.get("my.metric") is None
    assert registry.export_prometheus() == ""


@pytest.mark.parametrize("kind", ["counter", "gauge", "histogram"])
def test_legacy_registry_rejects_utf8_label_names(kind: str) -> None:
    """By default a label name ``a.b`` is refused with a ValueError naming it."""
    registry = MetricsRegistry()
    with pytest.raises(ValueError, match=r"a\.b"):
        getattr(registry, kind)("fine_name", "Help.", labelnames=("code", "a.b"))
    assert registry.get("fine_name") is None


def test_utf8_registry_accepts_utf8_names() -> None:
    """``MetricsRegistry(utf8_names=True)`` accepts dotted, spaced and non-ASCII metric and
    label names, and records values under them."""
    registry = MetricsRegistry(utf8_names=True)
    registry.gauge("my.metric", "Help.", labelnames=("a.b",)).labels("x").set(3)
    registry.counter("花火", "Fireworks.").inc(2)
    registry.histogram("label with 😱", "Emoji.", labelnames=("né",), buckets=(1,)).labels(
        "v"
    ).observe(0.5)
    assert registry.get("my.metric") is not None
    assert registry.get("花火_total") is not None
    body = registry.export_prometheus(escaping="allow-utf-8")
    assert '{"my.metric","a.b"="x"} 3\n' in body
    assert '{"花火_total"} 2\n' in body
    assert '{"label with 😱_bucket","né"="v",le="1.0"} 1\n' in body


def test_utf8_registry_still_rejects_reserved_and_empty_names() -> None:
    """UTF-8 names widen the charset only: ``__``-prefixed label names stay reserved, and
    empty names are still invalid."""
    registry = MetricsRegistry(utf8_names=True)
    with pytest.raises(ValueError, match=r"__x\.y"):
        registry.gauge("g.1", labelnames=("__x.y",))
    with pytest.raises(ValueError):
        registry.gauge("")
    with pytest.raises(ValueError):
        registry.gauge("g.2", labelnames=("",))


# -- output per scheme (UTF-08) ---------------------------------------------------------------

UTF08_TEXT = {
    "underscores": (
        "# HELP http_server_requests_total Req.\n"
        "# TYPE http_server_requests_total counter\n"
        "http_server_requests_total 1\n"
        "# HELP my_dotted_metric Help.\n"
        "# TYPE my_dotted_metric gauge\n"
        'my_dotted_metric{code="404",error_message="Not Found"} 1\n'
        "# HELP plain_metric P.\n"
        "# TYPE plain_metric gauge\n"
        "plain_metric 2\n"
    ),
    "values": (
        "# HELP U__http_2e_server__requests__total Req.\n"
        "# TYPE U__http_2e_server__requests__total counter\n"
        "U__http_2e_server__requests__total 1\n"
        "# HELP U__my_2e_dotted_2e_metric Help.\n"
        "# TYPE U__my_2e_dotted_2e_metric gauge\n"
        'U__my_2e_dotted_2e_metric{code="404",U__error_2e_message="Not Found"} 1\n'
        "# HELP plain_metric P.\n"
        "# TYPE plain_metric gauge\n"
        "plain_metric 2\n"
    ),
    "dots": (
        "# HELP http_dot_server__requests__total Req.\n"
        "# TYPE http_dot_server__requests__total counter\n"
        "http_dot_server__requests__total 1\n"
        "# HELP my_dot_dotted_dot_metric Help.\n"
        "# TYPE my_dot_dotted_dot_metric gauge\n"
        'my_dot_dotted_dot_metric{code="404",error_dot_message="Not Found"} 1\n'
        "# HELP plain_metric P.\n"
        "# TYPE plain_metric gauge\n"
        "plain_metric 2\n"
    ),
    "allow-utf-8": (
        '# HELP "http.server_requests_total" Req.\n'
        '# TYPE "http.server_requests_total" counter\n'
        '{"http.server_requests_total"} 1\n'
        '# HELP "my.dotted.metric" Help.\n'
        '# TYPE "my.dotted.metric" gauge\n'
        '{"my.dotted.metric",code="404","error.message"="Not Found"} 1\n'
        "# HELP plain_metric P.\n"
        "# TYPE plain_metric gauge\n"
        "plain_metric 2\n"
    ),
}


@pytest.mark.parametrize("scheme", SCHEMES)
def test_registry_text_output_per_scheme(scheme: str) -> None:
    """The registry's text export matches checklist UTF-08 under each scheme (Go values,
    families sorted by name): underscores and values as listed there, dots by UTF-03's
    rules, allow-utf-8 quoted (UTF-01); ``plain_metric`` and ``code`` are never touched."""
    assert _utf8_registry().export_prometheus(escaping=scheme) == UTF08_TEXT[scheme]


def test_registry_openmetrics_allow_utf8_output() -> None:
    """OpenMetrics with ``allow-utf-8``: names quoted in metadata and samples (UTF-08)."""
    assert _utf8_registry().export_openmetrics(escaping="allow-utf-8") == (
        '# TYPE "http.server_requests" counter\n'
        '# HELP "http.server_requests" Req.\n'
        '{"http.server_requests_total"} 1.0\n'
        '# TYPE "my.dotted.metric" gauge\n'
        '# HELP "my.dotted.metric" Help.\n'
        '{"my.dotted.metric",code="404","error.message"="Not Found"} 1.0\n'
        "# TYPE plain_metric gauge\n"
        "# HELP plain_metric P.\n"
        "plain_metric 2.0\n"
        "# EOF\n"
    )


def test_openmetrics_parser_reads_original_names_from_quoted_output() -> None:
    """The strict OpenMetrics parser accepts the allow-utf-8 output (with ``_created``) and
    returns the original names, label names and values."""
    body = _utf8_registry(created=True).export_openmetrics(escaping="allow-utf-8")
    families = {f.name: f for f in parse_openmetrics(body)}
    assert set(families) == {"http.server_requests", "my.dotted.metric", "plain_metric"}
    counter = families["http.server_requests"]
    assert counter.type == "counter"
    assert [s.name for s in counter.samples] == [
        "http.server_requests_total",
        "http.server_requests_created",
    ]
    assert counter.samples[0].value == 1.0
    gauge = families["my.dotted.metric"]
    assert gauge.type == "gauge"
    assert [(s.name, s.labels, s.value) for s in gauge.samples] == [
        ("my.dotted.metric", {"code": "404", "error.message": "Not Found"}, 1.0)
    ]


def test_quoted_names_escape_backslash_quote_and_newline() -> None:
    """Inside quoted names ``\\``, ``"`` and LF are escaped as in label values (UTF-02):
    ``{"quote\\"d.name","la\\\\bel"="v"} 1``; the OM parser gives the original names back."""
    registry = MetricsRegistry(utf8_names=True, created_series=False)
    registry.gauge('quote"d.name', "h", labelnames=("la\\bel",)).labels("v").set(1)
    assert registry.export_prometheus(escaping="allow-utf-8") == (
        '# HELP "quote\\"d.name" h\n# TYPE "quote\\"d.name" gauge\n'
        '{"quote\\"d.name","la\\\\bel"="v"} 1\n'
    )
    (family,) = parse_openmetrics(registry.export_openmetrics(escaping="allow-utf-8"))
    assert family.name == 'quote"d.name'
    assert family.samples[0].labels == {"la\\bel": "v"}


# -- the escaping schemes (UTF-03) -------------------------------------------------------------

# input -> (underscores, dots, values): the test vectors of model.EscapeName (UTF-03), except
# that a legacy-valid name is never escaped (EscapeMetricFamily; TRICK-30).
UTF03_ROWS = [
    (
        "no:escaping_required",
        "no:escaping_required",
        "no:escaping_required",
        "no:escaping_required",
    ),
    (
        "mysystem.prod.west.cpu.load",
        "mysystem_prod_west_cpu_load",
        "mysystem_dot_prod_dot_west_dot_cpu_dot_load",
        "U__mysystem_2e_prod_2e_west_2e_cpu_2e_load",
    ),
    ("http.status:sum", "http_status:sum", "http_dot_status:sum", "U__http_2e_status:sum"),
    ("label with 😱", "label_with__", "label__with____", "U__label_20_with_20__1f631_"),
    ("花火", "__", "____", "U___82b1__706b_"),
]


@pytest.mark.parametrize("row", UTF03_ROWS, ids=[row[0] for row in UTF03_ROWS])
@pytest.mark.parametrize("scheme", ESCAPING_SCHEMES)
def test_gauge_names_escaped_per_utf03(row: tuple[str, str, str, str], scheme: str) -> None:
    """A gauge's name is written exactly as UTF-03's table says, in text, OpenMetrics and
    protobuf alike."""
    name = row[0]
    expected = row[1 + ESCAPING_SCHEMES.index(scheme)]
    registry = MetricsRegistry(utf8_names=True, created_series=False)
    registry.gauge(name, "h").set(1)
    assert registry.export_prometheus(escaping=scheme) == (
        f"# HELP {expected} h\n# TYPE {expected} gauge\n{expected} 1\n"
    )
    assert registry.export_openmetrics(escaping=scheme) == (
        f"# TYPE {expected} gauge\n# HELP {expected} h\n{expected} 1.0\n# EOF\n"
    )
    assert [f["name"] for f in _protobuf_families(registry.export_protobuf(escaping=scheme))] == [
        expected
    ]


@pytest.mark.parametrize(
    ("scheme", "expected"),
    [
        ("underscores", "mysystem_prod_west_cpu_load_total"),
        ("dots", "mysystem_dot_prod_dot_west_dot_cpu_dot_load__total"),
        ("values", "U__mysystem_2e_prod_2e_west_2e_cpu_2e_load__total"),
    ],
)
def test_counter_sample_name_is_escaped_whole(scheme: str, expected: str) -> None:
    """A counter's sample name, ``_total`` included, is escaped as one name, as UTF-03's
    ``..._load_total`` row (Go counter families carry ``_total``); text and protobuf agree."""
    registry = MetricsRegistry(utf8_names=True, created_series=False)
    registry.counter("mysystem.prod.west.cpu.load_total", "h").inc()
    assert f"\n{expected} 1\n" in registry.export_prometheus(escaping=scheme)
    families = _protobuf_families(registry.export_protobuf(escaping=scheme))
    assert [f["name"] for f in families] == [expected]


@pytest.mark.parametrize(
    ("scheme", "expected"),
    [
        ("underscores", "error_message"),
        ("dots", "error_dot_message"),
        ("values", "U__error_2e_message"),
    ],
)
def test_label_names_escaped_and_legacy_ones_untouched(scheme: str, expected: str) -> None:
    """Label names are escaped by the same scheme; legacy label names and every label value
    are left alone (values are never escaped, only names)."""
    registry = MetricsRegistry(utf8_names=True, created_series=False)
    registry.gauge("g", "h", labelnames=("error.message", "code")).labels("a.b é", "x_y").set(1)
    assert registry.export_prometheus(escaping=scheme) == (
        f'# HELP g h\n# TYPE g gauge\ng{{code="x_y",{expected}="a.b é"}} 1\n'
    )


def _legacy_registry() -> MetricsRegistry:
    registry = MetricsRegistry(created_series=False)
    registry.counter("app_requests_total", "R.", labelnames=("code",)).labels("200").inc(3)
    registry.gauge("plain_metric", "P.").set(2)
    registry.histogram("app_latency_seconds", "L.", buckets=(0.5,)).observe(0.25)
    return registry


@pytest.mark.parametrize("scheme", SCHEMES)
def test_legacy_names_untouched_under_every_scheme(scheme: str) -> None:
    """Legacy-valid metric and label names are written as they are under every scheme, in
    every format (Go's EscapeMetricFamily; under ``dots`` ``plain_metric`` does not become
    ``plain__metric``, TRICK-30)."""
    registry = _legacy_registry()
    assert registry.export_prometheus(escaping=scheme) == registry.export_prometheus()
    assert registry.export_openmetrics(escaping=scheme) == registry.export_openmetrics()
    assert registry.export_protobuf(escaping=scheme) == registry.export_protobuf()
    assert "plain_metric 2\n" in registry.export_prometheus(escaping=scheme)


@pytest.mark.parametrize("scheme", ESCAPING_SCHEMES)
def test_promtool_accepts_escaped_output(scheme: str) -> None:
    """Once escaped, UTF-8 names are legacy names: ``promtool check metrics`` (legacy
    validation) accepts the text body, histogram included, with no lint problem."""
    registry = _utf8_registry()
    registry.histogram("rpc.latency.seconds", "RPC latency.", buckets=(0.5,)).observe(0.25)
    result = check_metrics(registry.export_prometheus(escaping=scheme).encode())
    assert result.returncode == 0, result.stderr.decode()


# -- families stay whole, and every format names a series the same way -------------------------


def _summary_family(name: str) -> MetricFamily:
    return MetricFamily(
        name=name,
        type=MetricType.SUMMARY,
        help="S.",
        unit="",
        labelnames=(),
        summaries=[(LabelSet(()), SummaryValue(((0.5, 1.0),), 2.0, 2))],
    )


def _mixed_registry() -> MetricsRegistry:
    registry = _utf8_registry(created=True)
    registry.histogram("rpc.latency.seconds", "RPC latency.", buckets=(0.5,)).observe(0.25)
    return registry


@pytest.mark.parametrize("scheme", SCHEMES)
def test_openmetrics_families_stay_whole_under_every_scheme(scheme: str) -> None:
    """Under every scheme the strict OpenMetrics parser reads each family with its declared
    type and all its samples: the counter's ``_total``/``_created`` and the histogram's
    ``_bucket``/``_sum``/``_count``/``_created`` belong to their family. (A sample escaped
    apart from its family's name, e.g. ``U__x__total`` under ``# TYPE U__x counter``, is
    read as a separate ``unknown`` family and the counter is left empty.)"""
    parsed = list(parse_openmetrics(_mixed_registry().export_openmetrics(escaping=scheme)))
    got = [(f.type, sorted({s.name.removeprefix(f.name) for s in f.samples})) for f in parsed]
    assert got == [
        ("counter", ["_created", "_total"]),
        ("gauge", [""]),
        ("gauge", [""]),
        ("histogram", ["_bucket", "_count", "_created", "_sum"]),
    ]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_text_families_stay_whole_under_every_scheme(scheme: str) -> None:
    """In text too, a histogram's and a summary's samples are named after the family of
    their TYPE line (``X_bucket``, ``X_sum``, ``X_count`` for ``# TYPE X histogram``), under
    every scheme, so the type is not lost."""
    from tachikoma_metrics.exposition.text import encode_text

    families = [*_mixed_registry().collect(), _summary_family("rpc.size.bytes")]
    body = encode_text(families, escaping=scheme)
    typed: dict[str, str] = {}
    for line in body.splitlines():
        if line.startswith("# TYPE "):
            name, kind = line[len("# TYPE ") :].rsplit(" ", 1)
            typed[name.strip('"')] = kind
    histogram = next(n for n, k in typed.items() if k == "histogram")
    summary = next(n for n, k in typed.items() if k == "summary")
    names = {_sample_name(line) for line in body.splitlines() if not line.startswith("#")}
    assert {n for n in names if n.startswith(histogram)} == {
        histogram + "_bucket",
        histogram + "_sum",
        histogram + "_count",
    }
    assert {n for n in names if n.startswith(summary)} == {
        summary,
        summary + "_sum",
        summary + "_count",
    }


def _sample_name(line: str) -> str:
    if line.startswith('{"'):
        return line[2 : line.index('"', 2)]
    return line.split("{", 1)[0].split(" ", 1)[0]


# How Prometheus names the series of a protobuf family (model/textparse/protobufparse.go):
# counters, gauges and untyped keep the family name, histograms and summaries append.
_PROTOBUF_SUFFIXES = {
    0: [""],
    1: [""],
    3: [""],
    2: ["", "_sum", "_count"],
    4: ["_bucket", "_sum", "_count"],
}


@pytest.mark.parametrize("scheme", SCHEMES)
def test_series_names_agree_across_formats(scheme: str) -> None:
    """Whatever format Prometheus negotiates, it stores the same series names: the sample
    names in text and OpenMetrics equal those Prometheus derives from the protobuf families
    (family name, plus ``_bucket``/``_sum``/``_count`` for histograms and summaries). Under
    ``values`` that is ``U__http_2e_server__requests__total`` for the counter (UTF-08) and
    ``U__rpc_2e_latency_2e_seconds_bucket`` for the histogram, as Go writes them."""
    from tachikoma_metrics.exposition.openmetrics import encode_openmetrics
    from tachikoma_metrics.exposition.protobuf import encode_protobuf
    from tachikoma_metrics.exposition.text import encode_text

    families = [*_mixed_registry().collect(), _summary_family("rpc.size.bytes")]
    from_protobuf = {
        family["name"] + suffix
        for family in _protobuf_families(encode_protobuf(families, escaping=scheme, created=False))
        for suffix in _PROTOBUF_SUFFIXES[family["type"]]
    }
    text = encode_text(families, escaping=scheme)
    from_text = {_sample_name(line) for line in text.splitlines() if not line.startswith("#")}
    om = encode_openmetrics(families, escaping=scheme, created=False)
    from_om = {_sample_name(line) for line in om.splitlines() if not line.startswith("#")}
    assert from_text == from_protobuf
    assert from_om == from_protobuf
    if scheme == "values":
        assert {
            "U__http_2e_server__requests__total",
            "U__rpc_2e_latency_2e_seconds_bucket",
            "U__rpc_2e_latency_2e_seconds_sum",
            "U__rpc_2e_size_2e_bytes_count",
        } <= from_protobuf


def test_openmetrics_counter_family_under_values_is_its_sample_name_minus_total() -> None:
    """Under ``values`` the counter sample is ``U__http_2e_server__requests__total`` (as in
    text and protobuf), so its OpenMetrics family, which must be the sample name without
    ``_total``, is ``U__http_2e_server__requests_`` (what Go's OpenMetrics writer emits)."""
    body = MetricsRegistry(utf8_names=True, created_series=False)
    body.counter("http.server_requests", "Req.").inc()
    assert body.export_openmetrics(escaping="values") == (
        "# TYPE U__http_2e_server__requests_ counter\n"
        "# HELP U__http_2e_server__requests_ Req.\n"
        "U__http_2e_server__requests__total 1.0\n"
        "# EOF\n"
    )


# -- collisions ---------------------------------------------------------------------------------


def _exports(registry: MetricsRegistry, scheme: str) -> dict[str, Any]:
    return {
        "text": lambda: registry.export_prometheus(escaping=scheme),
        "openmetrics": lambda: registry.export_openmetrics(escaping=scheme),
        "protobuf": lambda: registry.export_protobuf(escaping=scheme),
    }


_FORMAT_KEYS = {"text": "text-0.0.4", "openmetrics": "openmetrics-1.0.0", "protobuf": "protobuf"}


def _gauge_family(name: str, labelnames: tuple[str, ...] = ()) -> MetricFamily:
    labels = LabelSet(tuple(str(i) for i in range(len(labelnames))))
    return MetricFamily(name, MetricType.GAUGE, "h", "", labelnames, [(labels, 1.0)])


@pytest.mark.parametrize("fmt", ["text", "openmetrics", "protobuf"])
def test_names_escaping_to_the_same_name_raise(fmt: str) -> None:
    """``a.b`` and ``a_b`` both become ``a_b`` under underscores: every encoder raises
    ExpositionError naming both, instead of merging them into one series. (A registry
    refuses the second family when it is registered: these are hand-built snapshots.)"""
    families = [_gauge_family("a.b"), _gauge_family("a_b")]
    with pytest.raises(ExpositionError, match=r"a\.b") as caught:
        encode(_FORMAT_KEYS[fmt], families, escaping="underscores")
    assert "'a_b'" in str(caught.value)


@pytest.mark.parametrize("fmt", ["text", "openmetrics", "protobuf"])
def test_counter_escaping_onto_a_gauge_name_raises(fmt: str) -> None:
    """Counter ``a.b`` is written ``a_b_total`` under underscores, which a gauge
    ``a_b_total`` already is: ExpositionError."""
    counter = MetricFamily("a.b", MetricType.COUNTER, "h", "", (), [(LabelSet(()), 1.0)])
    with pytest.raises(ExpositionError):
        encode(_FORMAT_KEYS[fmt], [counter, _gauge_family("a_b_total")], escaping="underscores")


@pytest.mark.parametrize("fmt", ["text", "openmetrics", "protobuf"])
def test_label_names_escaping_to_the_same_name_raise(fmt: str) -> None:
    """Label names ``a.b`` and ``a_b`` of one family collide under underscores:
    ExpositionError, not a series with a repeated label name (TRICK-11)."""
    with pytest.raises(ExpositionError):
        encode(_FORMAT_KEYS[fmt], [_gauge_family("g", ("a.b", "a_b"))], escaping="underscores")


@pytest.mark.parametrize("scheme", ["allow-utf-8", "dots", "values"])
def test_names_that_stay_distinct_do_not_raise(scheme: str) -> None:
    """Where the scheme keeps ``a.b`` and ``a_b`` apart (quoted, ``a_dot_b``,
    ``U__a_2e_b``) both are written, in every format (hand-built snapshots: a registry
    refuses the pair, since underscores would merge them)."""
    a_dot_b = MetricFamily("a.b", MetricType.GAUGE, "h", "", (), [(LabelSet(()), 1.0)])
    a_b = MetricFamily("a_b", MetricType.GAUGE, "h", "", (), [(LabelSet(()), 2.0)])
    families = [a_b, a_dot_b]
    text_format = "text-1.0.0" if scheme == "allow-utf-8" else "text-0.0.4"
    text = encode(text_format, families, escaping=scheme).decode()
    assert "a_b 2\n" in text
    first = {"allow-utf-8": '{"a.b"} 1', "dots": "a_dot_b 1", "values": "U__a_2e_b 1"}[scheme]
    assert f"\n{first}\n" in text
    body = encode("protobuf", families, escaping=scheme, created=False)
    assert len(_protobuf_families(body)) == 2
    om = encode("openmetrics-1.0.0", families, escaping=scheme, created=False).decode()
    assert len(list(parse_openmetrics(om))) == 2


def test_collision_is_reported_to_the_scrape_through_negotiation() -> None:
    """A collision surfaces as ExpositionError from the negotiated encoder (legacy
    Prometheus 3 Accept header: OpenMetrics, underscores)."""
    families = [_gauge_family("a.b"), _gauge_family("a_b")]
    chosen = negotiate(
        "application/openmetrics-text;version=1.0.0;escaping=underscores;q=0.6,"
        "application/openmetrics-text;version=0.0.1;q=0.5,"
        "text/plain;version=1.0.0;escaping=underscores;q=0.4,"
        "text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
    )
    with pytest.raises(ExpositionError):
        chosen.encode(families)


def test_text_parser_reads_escaped_names() -> None:
    """``prometheus_client``'s text parser reads the underscores body as legacy names."""
    body = _utf8_registry().export_prometheus(escaping="underscores")
    assert [f.name for f in parse_text(body)] == [
        "http_server_requests",
        "my_dotted_metric",
        "plain_metric",
    ]


# -- a minimal protobuf wire reader (names and types only) ---------------------------------------


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        key, pos = read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = read_varint(data, pos)
            out.append((number, value))
        elif wire == 1:
            out.append((number, data[pos : pos + 8]))
            pos += 8
        elif wire == 2:
            size, pos = read_varint(data, pos)
            out.append((number, data[pos : pos + size]))
            pos += size
        else:
            raise AssertionError(f"unexpected wire type {wire}")
    return out


def _protobuf_families(body: bytes) -> list[dict[str, Any]]:
    """Family name, type and each metric's label names, read from a delimited body."""
    families = []
    for message in split_delimited(body):
        family: dict[str, Any] = {"name": None, "type": None, "labels": []}
        for number, value in _fields(message):
            if number == 1:
                assert isinstance(value, bytes)
                family["name"] = value.decode()
            elif number == 3:
                family["type"] = value
            elif number == 4:
                assert isinstance(value, bytes)
                family["labels"].append(
                    [
                        dict(_fields(pair))[1].decode()  # type: ignore[union-attr]
                        for n, pair in _fields(value)
                        if n == 1 and isinstance(pair, bytes)
                    ]
                )
        families.append(family)
    return families


# -- the escaping pre-pass (names escaped once, before any format's writer) ---------------------


def _three_kinds_registry() -> MetricsRegistry:
    registry = MetricsRegistry()
    registry.counter("jobs_total", "J.", labelnames=("queue",)).labels("a").inc()
    registry.gauge("depth", "D.").set(3)
    registry.histogram("wait_seconds", "W.", labelnames=("queue",), buckets=(1.0,)).labels(
        "a"
    ).observe(0.5)
    return registry


@pytest.mark.parametrize("scheme", SCHEMES)
def test_prepass_hands_back_legacy_families_themselves(scheme: str) -> None:
    """With legacy names there is nothing to escape under any scheme: the pre-pass returns the
    very same family objects (no copy, no series touched), and their label memos are usable."""
    families = _three_kinds_registry().collect()
    escaped = escape_families(families, scheme)
    assert len(escaped) == len(families)
    assert all(out is family for out, family in zip(escaped, families, strict=True))
    assert all(label_memos_valid(family) for family in escaped)


# scheme -> (name, labelnames) of the three UTF-08 families once pre-passed; a counter's name
# is its written base: escape(name + "_total") minus "_total", as every format writes it.
PREPASSED = {
    "underscores": [
        ("http_server_requests", ()),
        ("my_dotted_metric", ("code", "error_message")),
        ("plain_metric", ()),
    ],
    "dots": [
        ("http_dot_server__requests_", ()),
        ("my_dot_dotted_dot_metric", ("code", "error_dot_message")),
        ("plain_metric", ()),
    ],
    "values": [
        ("U__http_2e_server__requests_", ()),
        ("U__my_2e_dotted_2e_metric", ("code", "U__error_2e_message")),
        ("plain_metric", ()),
    ],
}


@pytest.mark.parametrize("scheme", ESCAPING_SCHEMES)
def test_prepass_writes_names_as_each_scheme_escapes_them(scheme: str) -> None:
    """Under an escaping scheme, families with UTF-8 names come back renamed (metric and label
    names as written), sharing their series with the snapshot; a family with legacy names
    comes back as itself. Renamed label names remember their declared names (the text
    formats sort pairs by them), and their series' label memos are off limits."""
    families = _utf8_registry().collect()
    escaped = escape_families(families, scheme)
    assert [(f.name, f.labelnames) for f in escaped] == PREPASSED[scheme]
    assert escaped[2] is families[2]
    for out, family in zip(escaped, families, strict=True):
        assert out.samples is family.samples
        assert declared_labelnames(out) == family.labelnames
    assert label_memos_valid(escaped[0])  # renamed, but has no label names
    assert not label_memos_valid(escaped[1])


def test_prepass_under_allow_utf8_keeps_every_family() -> None:
    """Under ``allow-utf-8`` names are written as they are (the text writers quote them):
    every family comes back as itself; memos are off limits where a label name needs
    quoting."""
    families = _utf8_registry().collect()
    escaped = escape_families(families, "allow-utf-8")
    assert all(out is family for out, family in zip(escaped, families, strict=True))
    assert [label_memos_valid(f) for f in escaped] == [True, False, True]


def _gauge(name: str, labelnames: tuple[str, ...] = ()) -> MetricFamily:
    values = tuple(str(i) for i in range(len(labelnames)))
    return MetricFamily(
        name, MetricType.GAUGE, "h", "", labelnames, samples=[(LabelSet(values), 1.0)]
    )


# scheme -> a legacy name that the UTF-8 name "a.b" is written as
ESCAPED_AB = {"underscores": "a_b", "dots": "a_dot_b", "values": "U__a_2e_b"}


@pytest.mark.parametrize("scheme", ESCAPING_SCHEMES)
def test_prepass_collisions_under_each_escaping_scheme(scheme: str) -> None:
    """Under each escaping scheme, ``a.b`` next to the legacy name it escapes to is an
    ExpositionError naming both, for family names and for label names of one family."""
    other = ESCAPED_AB[scheme]
    with pytest.raises(ExpositionError, match=rf"'a\.b' and '{other}'|'{other}' and 'a\.b'"):
        escape_families([_gauge("a.b"), _gauge(other)], scheme)
    with pytest.raises(ExpositionError, match="collide once escaped"):
        escape_families([_gauge("g", ("a.b", other))], scheme)
    assert len(escape_families([_gauge("a.b"), _gauge("a.b.c")], scheme)) == 2


def test_prepass_collisions_under_allow_utf8() -> None:
    """Under ``allow-utf-8`` nothing is renamed, so only names that really are one collide:
    a counter ``x`` (written ``x_total``) next to a gauge ``x_total``."""
    counter = MetricFamily("x", MetricType.COUNTER, "h", "", (), samples=[(LabelSet(()), 1.0)])
    with pytest.raises(ExpositionError, match="'x_total'"):
        escape_families([counter, _gauge("x_total")], "allow-utf-8")
    assert len(escape_families([_gauge("a.b"), _gauge("a_b")], "allow-utf-8")) == 2


@pytest.mark.parametrize("encoder", ["text", "openmetrics", "protobuf"])
def test_unknown_scheme_is_rejected_by_every_encoder(encoder: str) -> None:
    """The pre-pass checks the scheme once for every format, even when every name is legacy
    (so nothing would need escaping)."""
    registry = _three_kinds_registry()
    export = {
        "text": registry.export_prometheus,
        "openmetrics": registry.export_openmetrics,
        "protobuf": registry.export_protobuf,
    }[encoder]
    with pytest.raises(ValueError, match="escaping scheme"):
        export(escaping="bogus")


TEXT_PAIRS = {
    "underscores": 'g{a_b="x",zeta="y"} 1',
    "dots": 'g{a_dot_b="x",zeta="y"} 1',
    "values": 'g{U__a_2e_b="x",zeta="y"} 1',
    "allow-utf-8": 'g{"a.b"="x",zeta="y"} 1',
}


def test_text_label_memo_is_never_used_for_utf8_label_names() -> None:
    """One series with a UTF-8 label name, written under every scheme in turn (twice): each
    body has the pairs of its own scheme, so no rendering is memoised across schemes."""
    labels = LabelSet(("x", "y"))
    family = MetricFamily("g", MetricType.GAUGE, "h", "", ("a.b", "zeta"), samples=[(labels, 1.0)])
    from tachikoma_metrics.exposition.text import encode_text

    for scheme in [*TEXT_PAIRS, *TEXT_PAIRS]:
        assert encode_text([family], escaping=scheme).splitlines()[-1] == TEXT_PAIRS[scheme]
    assert labels.rendered_labels is None


def test_text_label_memo_is_shared_by_every_scheme_for_legacy_names() -> None:
    """With legacy label names the rendered pairs are memoised on the series at the first
    export, whatever its scheme, and reused by the next: changing the memo by hand shows in
    the next body."""
    labels = LabelSet(("x",))
    family = MetricFamily("g.x", MetricType.GAUGE, "h", "", ("code",), samples=[(labels, 1.0)])
    from tachikoma_metrics.exposition.text import encode_text

    assert encode_text([family], escaping="allow-utf-8").endswith('{"g.x",code="x"} 1\n')
    assert labels.rendered_labels == 'code="x"'
    labels.rendered_labels = 'code="memo"'
    assert encode_text([family], escaping="dots").endswith('g_dot_x{code="memo"} 1\n')


@pytest.mark.parametrize(
    ("labelnames", "message"),
    [
        (("a.b", "a_b"), "would both be written 'a_b' when escaped with 'underscores'"),
        (("x.y", "x_dot_y"), "would both be written 'x_dot_y' when escaped with 'dots'"),
        (("a-b", "a.b"), "would both be written 'a_b'"),
        (("é",), "escaped with 'dots' it would be written '__'"),
        (("ä_x",), "escaped with 'underscores' it would be written '__x'"),
        (("_a.b",), "escaped with 'dots' it would be written '__a_dot_b'"),
    ],
)
def test_label_names_that_escape_badly_are_refused_at_definition(
    labelnames: tuple[str, ...], message: str
) -> None:
    """Label names that some escaping scheme would write as one name, or as a reserved
    ``__`` name, are refused where they are defined: accepted, they would fail every
    scrape asking for that scheme (the whole registry's, not just theirs)."""
    registry = MetricsRegistry(utf8_names=True)
    with pytest.raises(ValueError, match=re.escape(message)):
        registry.gauge("g", "G.", labelnames)
    assert registry.get("g") is None
    registry.gauge("ok", "Ok.", ("a.b", "c")).labels("1", "2").set(1)
    for scheme in SCHEMES:
        registry.export_prometheus(escaping=scheme)  # every scheme still serves


def test_family_names_that_escape_alike_are_refused_at_registration() -> None:
    """Two families whose names some scheme writes alike (``a.b`` and ``a_b``, a counter
    ``x.y`` and a gauge ``x_y_total``) are refused when the second is registered, so no
    scrape of the registry ever fails on them."""
    registry = MetricsRegistry(utf8_names=True)
    registry.gauge("a.b", "A.")
    registry.counter("x.y", "X.")
    with pytest.raises(RegistrationError, match="would be written 'a_b' with escaping=underscores"):
        registry.gauge("a_b", "A.")
    with pytest.raises(RegistrationError, match="'x_y_total' with escaping=underscores"):
        registry.gauge("x_y_total", "X.")
    with pytest.raises(RegistrationError, match="with escaping=dots"):
        registry.gauge("a_dot_b", "A.")
    for scheme in SCHEMES:
        for export in (registry.export_prometheus, registry.export_openmetrics):
            export(escaping=scheme)
        registry.export_protobuf(escaping=scheme)
    registry.unregister(registry.get("a.b"))
    registry.gauge("a_b", "Now free.")
