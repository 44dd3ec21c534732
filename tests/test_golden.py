"""Golden files: every encoder's exact bytes for hand-built snapshots, asserted byte for byte.

The snapshots below are built by hand from ``tachikoma_metrics.model`` (no registry, no
clock), so the bodies never change from run to run. The expected bodies in
``tests/golden/`` were written by hand from the exposition checklist (sections 0.1, 1, 2, 3
and 8) and reviewed line by line; ``tests/golden/README.md`` says what each file pins. They
were not produced by this library: the text and OpenMetrics files were checked with
``promtool`` and the ``prometheus_client`` parsers, and the protobuf files are what the
official ``protobuf`` package serializes for the messages spelled out in this module
(schema: ``metrics_proto.py``).

To rewrite the golden files from the encoders (after a deliberate change of output), run
``TACHIKOMA_REGENERATE_GOLDEN=1 python -m pytest tests/test_golden.py``: each rewritten
file then fails its test once, so a regeneration can never pass silently; review the diff
with ``git diff tests/golden`` before committing it.
"""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text

from metrics_proto import metric_family_class, write_varint
from promtool import check_metrics
from tachikoma_metrics.exposition.openmetrics import encode_openmetrics
from tachikoma_metrics.exposition.text import encode_text
from tachikoma_metrics.model import (
    Exemplar,
    HistogramValue,
    LabelSet,
    MetricFamily,
    MetricType,
    SummaryValue,
)
from tachikoma_metrics.values import make_exemplar

GOLDEN_DIR = Path(__file__).parent / "golden"
REGENERATE = os.environ.get("TACHIKOMA_REGENERATE_GOLDEN") == "1"
INF = math.inf
NAN = math.nan

# -- the hand-built snapshots ------------------------------------------------------------------

X127 = "x" * 127  # with the label name "a": exactly 128 code points (TRICK-24)
E127 = "\u00e9" * 127  # 128 code points, 255 bytes: still within the limit (TRICK-24)
REQUESTS_HELP = 'Requests seen; say "hi" from C:\\logs\\ and a\\n, then\na new line.'

# (label values in declared order (path, code), value, created) for ``http_requests``; the
# rows are sorted by label values in label-name order (code, then path), as snapshots are.
REQUEST_ROWS: list[tuple[tuple[str, str], float, float]] = [
    (("", "200"), 1.0, 1700000000.0),  # empty label value (TRICK-12)
    (("C:\\", "200"), 0.0, 1700000000.25),  # trailing backslash (TRICK-02)
    (("a\nb", "404"), 3.0, 1700000000.5),  # a real LF (TRICK-01)
    (("a\\nb", "404"), 2.5, 1700000000.75),  # backslash then n (TRICK-01)
    (("nul\x00byte", "500"), 7.0, 1700000001.0),  # NUL byte (TRICK-36)
    (("tab\there", "500"), 1e20, 1700000001.25),  # raw TAB (TRICK-22), 1e+20 (TRICK-06)
    (('x # {y}, z="', "500"), 123456789.0, 1700000001.5),  # '#{},"' raw (TRICK-37)
]
REQUEST_EXEMPLARS: list[Exemplar | None] = [
    Exemplar((("a", X127),), 1.0, 1700000001.25),
    None,
    Exemplar((("note", 'say "hi"\\'), ("trace_id", "KOO5S4vxi0o")), 3.0, None),
    None,
    None,
    None,
    None,
]

# (case label, value): every float rendering the checklist calls out (TXT-06, TRICK-05..10).
GAUGE_ROWS: list[tuple[str, float]] = [
    ("big", 1e20),
    ("huge", 1.7976931348623157e308),
    ("hundred_thousandth", 1e-05),
    ("int", 1.0),
    ("million", 1e6),
    ("nan", NAN),
    ("neg_inf", -INF),
    ("neg_large", -1234567.0),
    ("neg_one", -1.0),
    ("neg_zero", -0.0),
    ("pos_inf", INF),
    ("precise", 123456789.0),
    ("six_digits", 999999.0),
    ("smallest", 5e-324),
    ("sum_tenths", 0.1 + 0.2),
    ("ten_thousandth", 0.0001),
    ("tiny", 1e-07),
    ("zero", 0.0),
]

LATENCY_BOUNDS = (1e-05, 0.1, 1.0, 100000.0, 1e6, INF)
LATENCY_WEB_EXEMPLARS: tuple[Exemplar | None, ...] = (
    None,
    Exemplar((), 0.0625, None),  # empty label set: "# {} 0.0625" (TRICK-25)
    Exemplar((("trace_id", "abc"),), 0.5, 1700000003.5),
    None,
    None,
    Exemplar((("trace_id", "def"),), 2000000.0, 1700000004.0),  # on the +Inf bucket
)


def tricky_families() -> list[MetricFamily]:
    """Seven families, in name order (a registry sorts them), covering checklist section 8."""
    return [
        MetricFamily(
            name="http_requests",
            type=MetricType.COUNTER,
            help=REQUESTS_HELP,
            unit="",
            labelnames=("path", "code"),  # declared unsorted: written code, then path
            samples=[(LabelSet(values), value) for values, value, _ in REQUEST_ROWS],
            created=[created for _, _, created in REQUEST_ROWS],
            exemplars=REQUEST_EXEMPLARS,
        ),
        MetricFamily(
            name="legacy_thing",
            type=MetricType.UNKNOWN,  # "untyped" in text, "unknown" in OM (TRICK-27)
            help="Something from an old exporter.",
            unit="",
            labelnames=(),
            samples=[(LabelSet(()), 42.23)],
        ),
        MetricFamily(  # labelled, no series: metadata only (TRICK-13); skipped in protobuf
            name="queue_wait_seconds",
            type=MetricType.HISTOGRAM,
            help="Time spent queued.",
            unit="seconds",
            labelnames=("queue",),
        ),
        MetricFamily(
            name="request_latency_seconds",
            type=MetricType.HISTOGRAM,
            help="Request latency.",
            unit="",
            labelnames=("service", "method"),  # both sort after "le", which still goes last
            histograms=[
                (
                    LabelSet(("idle", "get")),  # no observations (TRICK-13)
                    HistogramValue(
                        buckets=tuple((bound, 0) for bound in LATENCY_BOUNDS),
                        sum=0.0,
                        count=0,
                        created=1700000000.0,
                    ),
                ),
                (
                    LabelSet(("web", "get")),
                    HistogramValue(
                        buckets=tuple(zip(LATENCY_BOUNDS, (1, 3, 4, 4, 5, 6), strict=True)),
                        sum=3000000.09375,
                        count=6,
                        created=1700000000.125,
                        exemplars=LATENCY_WEB_EXEMPLARS,
                    ),
                ),
            ],
        ),
        MetricFamily(
            name="rpc_duration_seconds",
            type=MetricType.SUMMARY,
            help="RPC duration.",
            unit="",
            labelnames=("shard", "method"),  # "shard" sorts after "quantile", which goes last
            summaries=[
                (
                    LabelSet(("7", "get")),
                    SummaryValue(
                        quantiles=((0.5, NAN), (0.9, 0.25), (0.99, 1.5)),
                        sum=30.5,
                        count=42,
                        created=1700000000.75,
                    ),
                )
            ],
        ),
        MetricFamily(
            name="transfer_bytes",
            type=MetricType.COUNTER,
            help="Bytes moved.",
            unit="bytes",
            labelnames=("direction",),
            samples=[(LabelSet(("in",)), 2.0**63), (LabelSet(("out",)), 2.0**64)],  # TRICK-38
            created=[1700000005.0, 1700000005.0],
            exemplars=[None, Exemplar((("a", E127),), 4096.0, 1700000006.0)],
        ),
        MetricFamily(
            name="tricky_value",
            type=MetricType.GAUGE,
            help="Values that naive encoders get wrong.",
            unit="",
            labelnames=("case",),
            samples=[(LabelSet((case,)), value) for case, value in GAUGE_ROWS],
        ),
    ]


def utf8_families() -> list[MetricFamily]:
    """Checklist UTF-08's three families, in name order."""
    return [
        MetricFamily(
            name="http.server_requests",
            type=MetricType.COUNTER,
            help="Req.",
            unit="",
            labelnames=(),
            samples=[(LabelSet(()), 1.0)],
        ),
        MetricFamily(
            name="my.dotted.metric",
            type=MetricType.GAUGE,
            help="Help.",
            unit="",
            labelnames=("code", "error.message"),
            samples=[(LabelSet(("404", "Not Found")), 1.0)],
        ),
        MetricFamily(
            name="plain_metric",
            type=MetricType.GAUGE,
            help="P.",
            unit="",
            labelnames=(),
            samples=[(LabelSet(()), 2.0)],
        ),
    ]


# -- comparison and regeneration ---------------------------------------------------------------


def _compare(filename: str, actual: bytes) -> None:
    path = GOLDEN_DIR / filename
    if REGENERATE:
        old = path.read_bytes() if path.exists() else None
        path.write_bytes(actual)
        pytest.fail(
            f"{filename} regenerated ({'unchanged' if old == actual else 'CHANGED'}); review"
            " `git diff tests/golden`, then run again without TACHIKOMA_REGENERATE_GOLDEN"
        )
    expected = path.read_bytes()
    if actual != expected:
        diff = "\n".join(
            difflib.unified_diff(
                [repr(line) for line in expected.splitlines(keepends=True)],
                [repr(line) for line in actual.splitlines(keepends=True)],
                f"golden/{filename}",
                "encoder output",
                lineterm="",
            )
        )
        pytest.fail(f"output differs from golden/{filename}:\n{diff}", pytrace=False)


TEXT_GOLDENS: dict[str, Callable[[], str]] = {
    "tricky.text-0.0.4.txt": lambda: encode_text(tricky_families()),
    "tricky.openmetrics.txt": lambda: encode_openmetrics(tricky_families()),
    "tricky.openmetrics-no-created.txt": lambda: encode_openmetrics(
        tricky_families(), created=False
    ),
    "utf8.text-underscores.txt": lambda: encode_text(utf8_families(), escaping="underscores"),
    "utf8.text-dots.txt": lambda: encode_text(utf8_families(), escaping="dots"),
    "utf8.text-values.txt": lambda: encode_text(utf8_families(), escaping="values"),
    "utf8.text-allow-utf-8.txt": lambda: encode_text(utf8_families(), escaping="allow-utf-8"),
    "utf8.openmetrics-allow-utf-8.txt": lambda: encode_openmetrics(
        utf8_families(), escaping="allow-utf-8"
    ),
    "utf8.openmetrics-underscores.txt": lambda: encode_openmetrics(
        utf8_families(), escaping="underscores"
    ),
}
OM_FILES = [name for name in TEXT_GOLDENS if ".openmetrics" in name]
PROMETHEUS_TEXT_FILES = [name for name in TEXT_GOLDENS if ".text-" in name]
# Files in the legacy charset, which promtool (text 0.0.4, legacy names) must accept.
PROMTOOL_FILES = [name for name in PROMETHEUS_TEXT_FILES if "allow-utf-8" not in name]


@pytest.mark.parametrize("filename", list(TEXT_GOLDENS))
def test_text_encoders_match_golden_files(filename: str) -> None:
    """Each text-based encoder writes its golden file byte for byte (see golden/README.md)."""
    body = TEXT_GOLDENS[filename]()
    assert isinstance(body, str)
    _compare(filename, body.encode("utf-8"))


def test_every_golden_file_has_a_test() -> None:
    """No golden file is left unchecked, and none is missing."""
    on_disk = {p.name for p in GOLDEN_DIR.iterdir() if p.name != "README.md"}
    assert on_disk == set(TEXT_GOLDENS) | set(PROTOBUF_GOLDENS)
    readme = (GOLDEN_DIR / "README.md").read_text("utf-8")
    for name in on_disk:
        assert f"`{name}`" in readme, f"golden/README.md does not explain {name}"


# -- the golden files themselves, checked by validators nobody here wrote ----------------------


@pytest.mark.parametrize("filename", list(TEXT_GOLDENS))
def test_golden_lines_end_with_lf_only(filename: str) -> None:
    """UTF-8, no BOM, every line ends with LF, no CR anywhere (TXT-01, OM-02, TRICK-20/21);
    OpenMetrics ends with exactly one ``# EOF\\n``, text with a newline."""
    body = (GOLDEN_DIR / filename).read_bytes()
    body.decode("utf-8")
    assert not body.startswith(b"\xef\xbb\xbf")
    assert b"\r" not in body
    assert body.endswith(b"\n")
    assert b"\n\n" not in body
    if filename in OM_FILES:
        assert body.endswith(b"\n# EOF\n")
        assert body.count(b"# EOF") == 1
    else:
        assert b"# EOF" not in body


@pytest.mark.parametrize("filename", PROMTOOL_FILES)
def test_promtool_accepts_golden_text(filename: str) -> None:
    """``promtool check metrics`` (Go's expfmt parser plus lint) passes cleanly (exit 0)."""
    result = check_metrics((GOLDEN_DIR / filename).read_bytes())
    assert result.returncode == 0, result.stderr.decode("utf-8", "replace")


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def _expected_samples(
    families: list[MetricFamily], openmetrics: bool, created: bool = True
) -> Iterator[tuple[str, str, dict[str, str], float, Exemplar | None]]:
    """(family name, sample name, labels, value, exemplar) for every sample a parser should
    read back, computed from the snapshot by the formats' rules (not by the encoders)."""
    for family in families:
        base = family.name
        for i, (labels, value) in enumerate(family.samples):
            pairs = dict(zip(family.labelnames, labels.label_values, strict=True))
            if family.type is MetricType.COUNTER:
                exemplar = family.exemplars[i] if openmetrics and family.exemplars else None
                yield base, base + "_total", pairs, value, exemplar
                if openmetrics and created and family.created:
                    yield base, base + "_created", pairs, family.created[i], None
            else:
                yield base, base, pairs, value, None
        for labels, hist in family.histograms:
            pairs = dict(zip(family.labelnames, labels.label_values, strict=True))
            for j, (bound, count) in enumerate(hist.buckets):
                exemplar = hist.exemplars[j] if openmetrics and hist.exemplars else None
                le = "+Inf" if bound == INF else repr(bound)
                yield base, base + "_bucket", {**pairs, "le": le}, count, exemplar
            yield base, base + "_sum", pairs, hist.sum, None
            yield base, base + "_count", pairs, hist.count, None
            if openmetrics and created and hist.created is not None:
                yield base, base + "_created", pairs, hist.created, None
        for labels, summary in family.summaries:
            pairs = dict(zip(family.labelnames, labels.label_values, strict=True))
            for quantile, estimate in summary.quantiles:
                yield base, base, {**pairs, "quantile": repr(quantile)}, estimate, None
            yield base, base + "_sum", pairs, summary.sum, None
            yield base, base + "_count", pairs, summary.count, None
            if openmetrics and created and summary.created is not None:
                yield base, base + "_created", pairs, summary.created, None


def _normalise_labels(labels: dict[str, str]) -> dict[str, str]:
    """``le``/``quantile`` compared as numbers (``1.0`` and ``1`` name the same bound)."""
    out = dict(labels)
    for key in ("le", "quantile"):
        if key in out and out[key] != "+Inf":
            out[key] = repr(float(out[key]))
    return out


def _assert_read_back(
    parsed: list[Any], families: list[MetricFamily], openmetrics: bool, created: bool = True
) -> None:
    assert [f.name for f in parsed] == [f.name for f in families]
    expected_types = {
        MetricType.COUNTER: "counter",
        MetricType.GAUGE: "gauge",
        MetricType.HISTOGRAM: "histogram",
        MetricType.SUMMARY: "summary",
        MetricType.UNKNOWN: "unknown",
    }
    for got, want in zip(parsed, families, strict=True):
        assert got.type == expected_types[want.type]
        assert got.documentation == want.help
        if openmetrics:
            assert got.unit == want.unit
    got_samples = [
        (family.name, s.name, _normalise_labels(s.labels), s.value, s.exemplar)
        for family in parsed
        for s in family.samples
    ]
    want_samples = list(_expected_samples(families, openmetrics, created))
    assert len(got_samples) == len(want_samples)
    for got, want in zip(got_samples, want_samples, strict=True):
        assert got[:3] == (want[0], want[1], _normalise_labels(want[2])), (got, want)
        assert _same(float(got[3]), float(want[3])), (got, want)
        got_exemplar, want_exemplar = got[4], want[4]
        if want_exemplar is None:
            assert got_exemplar is None, (got, want)
            continue
        assert got_exemplar is not None, (got, want)
        assert got_exemplar.labels == dict(want_exemplar.labels)
        assert _same(got_exemplar.value, want_exemplar.value)
        if want_exemplar.timestamp is None:
            assert got_exemplar.timestamp is None
        else:
            assert float(got_exemplar.timestamp) == want_exemplar.timestamp


def test_prometheus_client_reads_back_the_text_golden() -> None:
    """``prometheus_client.parser`` reads the text golden back as exactly the snapshot:
    every label value (LF, backslash-n, trailing backslash, NUL, TAB, ``#{},"``), every
    float (``NaN``, ``±Inf``, ``-0``, ``5e-324``, uint64-sized totals), the HELP text with
    its quotes, and no exemplars or ``_created`` (text has no place for them)."""
    body = (GOLDEN_DIR / "tricky.text-0.0.4.txt").read_text("utf-8")
    _assert_read_back(list(parse_text(body)), tricky_families(), openmetrics=False)


@pytest.mark.parametrize(
    ("filename", "created"),
    [("tricky.openmetrics.txt", True), ("tricky.openmetrics-no-created.txt", False)],
)
def test_strict_openmetrics_parser_reads_back_the_golden(filename: str, created: bool) -> None:
    """The strict OpenMetrics parser accepts the OM goldens and reads back the snapshot:
    values, HELP (``\\"`` unescaped), UNIT, exemplars with their labels, values and
    timestamps (empty label set and 128-code-point sets included), and ``_created`` exactly
    when asked for."""
    body = (GOLDEN_DIR / filename).read_text("utf-8")
    families = tricky_families()
    _assert_read_back(list(parse_openmetrics(body)), families, openmetrics=True, created=created)


@pytest.mark.parametrize("filename", ["utf8.openmetrics-allow-utf-8.txt"])
def test_strict_openmetrics_parser_reads_quoted_names(filename: str) -> None:
    """Quoted UTF-8 names in the OM golden come back as the original names (UTF-01)."""
    body = (GOLDEN_DIR / filename).read_text("utf-8")
    _assert_read_back(list(parse_openmetrics(body)), utf8_families(), openmetrics=True)


# -- pinned structure, beyond what the goldens show --------------------------------------------


def test_encoders_keep_the_given_family_order() -> None:
    """Encoders write families in the order given (the registry sorts them by name): a
    body is the concatenation of each family's own body, in that order, for every format."""
    from tachikoma_metrics.exposition.protobuf import encode_protobuf

    families = tricky_families()[::-1]
    assert encode_text(families) == "".join(encode_text([f]) for f in families)
    eof = "# EOF\n"
    assert encode_openmetrics(families) == (
        "".join(encode_openmetrics([f]).removesuffix(eof) for f in families) + eof
    )
    assert encode_protobuf(families) == b"".join(encode_protobuf([f]) for f in families)


def test_golden_exemplars_are_what_make_exemplar_accepts() -> None:
    """The golden's 128-code-point exemplar label sets are exactly at the limit: accepted by
    ``make_exemplar``, while one more character (129) is rejected (TRICK-24)."""
    assert make_exemplar({"a": X127}, 1.0).labels == (("a", X127),)
    assert make_exemplar({"a": E127}, 4096.0).labels == (("a", E127),)
    assert make_exemplar({}, 0.0625).labels == ()
    with pytest.raises(ValueError, match="129"):
        make_exemplar({"a": X127 + "x"}, 1.0)
    with pytest.raises(ValueError, match="129"):
        make_exemplar({"a": E127 + "\u00e9"}, 1.0)


# -- protobuf ----------------------------------------------------------------------------------
# The expected messages, spelled out field by field from metrics.proto (PB-02) and the
# encoder's documented contract: family names keep "_total", label pairs sorted by name,
# the +Inf bucket only when it carries an exemplar, families without series skipped, help
# and type always present, unit only when set, timestamps as google.protobuf.Timestamp.


def _lp(*pairs: tuple[str, str]) -> list[dict[str, Any]]:
    return [{"name": name, "value": value} for name, value in pairs]


def _ts(seconds: int, nanos: int = 0) -> dict[str, Any]:
    return {"seconds": seconds, "nanos": nanos} if nanos else {"seconds": seconds}


COUNTER, GAUGE, SUMMARY, UNTYPED, HISTOGRAM = 0, 1, 2, 3, 4


def tricky_protobuf_spec(created: bool) -> list[dict[str, Any]]:
    def maybe(ts: dict[str, Any]) -> dict[str, Any]:
        return {"created_timestamp": ts} if created else {}

    requests = [
        {
            "label": _lp(("code", "200"), ("path", "")),
            "counter": {
                "value": 1.0,
                "exemplar": {
                    "label": _lp(("a", X127)),
                    "value": 1.0,
                    "timestamp": _ts(1700000001, 250_000_000),
                },
                **maybe(_ts(1700000000)),
            },
        },
        {
            "label": _lp(("code", "200"), ("path", "C:\\")),
            "counter": {"value": 0.0, **maybe(_ts(1700000000, 250_000_000))},
        },
        {
            "label": _lp(("code", "404"), ("path", "a\nb")),
            "counter": {
                "value": 3.0,
                "exemplar": {
                    "label": _lp(("note", 'say "hi"\\'), ("trace_id", "KOO5S4vxi0o")),
                    "value": 3.0,
                },
                **maybe(_ts(1700000000, 500_000_000)),
            },
        },
        {
            "label": _lp(("code", "404"), ("path", "a\\nb")),
            "counter": {"value": 2.5, **maybe(_ts(1700000000, 750_000_000))},
        },
        {
            "label": _lp(("code", "500"), ("path", "nul\x00byte")),
            "counter": {"value": 7.0, **maybe(_ts(1700000001))},
        },
        {
            "label": _lp(("code", "500"), ("path", "tab\there")),
            "counter": {"value": 1e20, **maybe(_ts(1700000001, 250_000_000))},
        },
        {
            "label": _lp(("code", "500"), ("path", 'x # {y}, z="')),
            "counter": {"value": 123456789.0, **maybe(_ts(1700000001, 500_000_000))},
        },
    ]
    idle = {
        "sample_count": 0,
        "sample_sum": 0.0,
        "bucket": [{"cumulative_count": 0, "upper_bound": b} for b in (1e-05, 0.1, 1.0, 1e5, 1e6)],
        **maybe(_ts(1700000000)),
    }
    web = {
        "sample_count": 6,
        "sample_sum": 3000000.09375,
        "bucket": [
            {"cumulative_count": 1, "upper_bound": 1e-05},
            {"cumulative_count": 3, "upper_bound": 0.1, "exemplar": {"value": 0.0625}},
            {
                "cumulative_count": 4,
                "upper_bound": 1.0,
                "exemplar": {
                    "label": _lp(("trace_id", "abc")),
                    "value": 0.5,
                    "timestamp": _ts(1700000003, 500_000_000),
                },
            },
            {"cumulative_count": 4, "upper_bound": 1e5},
            {"cumulative_count": 5, "upper_bound": 1e6},
            {
                "cumulative_count": 6,
                "upper_bound": INF,
                "exemplar": {
                    "label": _lp(("trace_id", "def")),
                    "value": 2e6,
                    "timestamp": _ts(1700000004),
                },
            },
        ],
        **maybe(_ts(1700000000, 125_000_000)),
    }
    return [
        {"name": "http_requests_total", "help": REQUESTS_HELP, "type": COUNTER, "metric": requests},
        {
            "name": "legacy_thing",
            "help": "Something from an old exporter.",
            "type": UNTYPED,
            "metric": [{"untyped": {"value": 42.23}}],
        },
        {
            "name": "request_latency_seconds",
            "help": "Request latency.",
            "type": HISTOGRAM,
            "metric": [
                {"label": _lp(("method", "get"), ("service", "idle")), "histogram": idle},
                {"label": _lp(("method", "get"), ("service", "web")), "histogram": web},
            ],
        },
        {
            "name": "rpc_duration_seconds",
            "help": "RPC duration.",
            "type": SUMMARY,
            "metric": [
                {
                    "label": _lp(("method", "get"), ("shard", "7")),
                    "summary": {
                        "sample_count": 42,
                        "sample_sum": 30.5,
                        "quantile": [
                            {"quantile": 0.5, "value": NAN},
                            {"quantile": 0.9, "value": 0.25},
                            {"quantile": 0.99, "value": 1.5},
                        ],
                        **maybe(_ts(1700000000, 750_000_000)),
                    },
                }
            ],
        },
        {
            "name": "transfer_bytes_total",
            "help": "Bytes moved.",
            "type": COUNTER,
            "metric": [
                {
                    "label": _lp(("direction", "in")),
                    "counter": {"value": 2.0**63, **maybe(_ts(1700000005))},
                },
                {
                    "label": _lp(("direction", "out")),
                    "counter": {
                        "value": 2.0**64,
                        "exemplar": {
                            "label": _lp(("a", E127)),
                            "value": 4096.0,
                            "timestamp": _ts(1700000006),
                        },
                        **maybe(_ts(1700000005)),
                    },
                },
            ],
            "unit": "bytes",
        },
        {
            "name": "tricky_value",
            "help": "Values that naive encoders get wrong.",
            "type": GAUGE,
            "metric": [
                {"label": _lp(("case", case)), "gauge": {"value": value}}
                for case, value in GAUGE_ROWS
            ],
        },
    ]


def utf8_protobuf_spec(dotted: bool) -> list[dict[str, Any]]:
    def name(raw: str) -> str:
        return raw if dotted else raw.replace(".", "_")

    return [
        {
            "name": name("http.server_requests_total"),
            "help": "Req.",
            "type": COUNTER,
            "metric": [{"counter": {"value": 1.0}}],
        },
        {
            "name": name("my.dotted.metric"),
            "help": "Help.",
            "type": GAUGE,
            "metric": [
                {
                    "label": _lp(("code", "404"), (name("error.message"), "Not Found")),
                    "gauge": {"value": 1.0},
                }
            ],
        },
        {
            "name": "plain_metric",
            "help": "P.",
            "type": GAUGE,
            "metric": [{"gauge": {"value": 2.0}}],
        },
    ]


PROTOBUF_GOLDENS: dict[str, tuple[Callable[[], list[dict[str, Any]]], Callable[[], bytes]]] = {
    "tricky.protobuf.bin": (
        lambda: tricky_protobuf_spec(created=True),
        lambda: _encode_protobuf(tricky_families()),
    ),
    "tricky.protobuf-no-created.bin": (
        lambda: tricky_protobuf_spec(created=False),
        lambda: _encode_protobuf(tricky_families(), created=False),
    ),
    "utf8.protobuf-underscores.bin": (
        lambda: utf8_protobuf_spec(dotted=False),
        lambda: _encode_protobuf(utf8_families(), escaping="underscores"),
    ),
    "utf8.protobuf-allow-utf-8.bin": (
        lambda: utf8_protobuf_spec(dotted=True),
        lambda: _encode_protobuf(utf8_families(), escaping="allow-utf-8"),
    ),
}


def _encode_protobuf(families: list[MetricFamily], **options: Any) -> bytes:
    # Imported here so that a missing or broken encoder fails these tests (never skips them)
    # without taking the text-format goldens down with it.
    from tachikoma_metrics.exposition.protobuf import encode_protobuf

    body = encode_protobuf(families, **options)
    assert isinstance(body, bytes)
    return body


def _fill(message: Any, spec: dict[str, Any]) -> None:
    for key, value in spec.items():
        if isinstance(value, dict):
            getattr(message, key).SetInParent()
            _fill(getattr(message, key), value)
        elif isinstance(value, list):
            field = getattr(message, key)
            for item in value:
                if isinstance(item, dict):
                    _fill(field.add(), item)
                else:
                    field.append(item)
        else:
            setattr(message, key, value)


def _official_body(spec: list[dict[str, Any]]) -> bytes:
    """The delimited body the official protobuf library writes for these messages."""
    cls = metric_family_class()
    out = b""
    for family_spec in spec:
        message = cls()
        _fill(message, family_spec)
        data = message.SerializeToString(deterministic=True)
        out += write_varint(len(data)) + data
    return out


@pytest.mark.parametrize("filename", list(PROTOBUF_GOLDENS))
def test_protobuf_golden_is_what_the_official_library_writes(filename: str) -> None:
    """Each ``.bin`` golden equals the official protobuf serialization of the messages
    spelled out above: the golden file itself is right, independently of our encoder."""
    spec, _ = PROTOBUF_GOLDENS[filename]
    assert (GOLDEN_DIR / filename).read_bytes() == _official_body(spec())


@pytest.mark.parametrize("filename", list(PROTOBUF_GOLDENS))
def test_protobuf_encoder_matches_golden_files(filename: str) -> None:
    """``encode_protobuf`` writes each ``.bin`` golden byte for byte."""
    _, encode = PROTOBUF_GOLDENS[filename]
    _compare(filename, encode())
