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
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
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


# Scenario ``types``: the OpenMetrics-only types and per-series sample timestamps.
JOB_BATCH_EXEMPLARS: tuple[Exemplar | None, ...] = (
    None,
    Exemplar((("trace_id", "abc"),), 0.75, 1700000002.5),
    Exemplar((), 7.0, None),  # on the +Inf bucket, empty label set
)


def types_families() -> list[MetricFamily]:
    """Ten families, in name order: info, stateset and gauge histogram (labelled and not,
    with and without timestamps, exemplars on gauge-histogram buckets, a negative bound
    and sum), then a gauge, counter, summary and histogram with sample timestamps."""
    return [
        MetricFamily(  # unlabelled info: just ``app_info 1``
            name="app",
            type=MetricType.INFO,
            help="The application.",
            unit="",
            labelnames=(),
            samples=[(LabelSet(()), 1.0)],
        ),
        MetricFamily(  # labelled info, timestamped; an empty value is an absent key
            name="build",
            type=MetricType.INFO,
            help="Build information.",
            unit="",
            labelnames=("branch", "version"),
            samples=[(LabelSet(("main", "1.2.3")), 1.0), (LabelSet(("release", "")), 1.0)],
            timestamps=[1700000000.25, 1700000000.25],
        ),
        MetricFamily(  # labelled stateset: "disk" plus the state label named after the family
            name="disk_state",
            type=MetricType.STATESET,
            help="Disk state.",
            unit="",
            labelnames=("disk", "disk_state"),
            samples=[
                (LabelSet(("sda", "failed")), 0.0),
                (LabelSet(("sda", "ok")), 1.0),
                (LabelSet(("sdb", "failed")), 1.0),
                (LabelSet(("sdb", "ok")), 0.0),
            ],
            timestamps=[1700000001.0, 1700000001.0, None, None],
        ),
        MetricFamily(  # a stateset with only its state label
            name="feature",
            type=MetricType.STATESET,
            help="Feature flags.",
            unit="",
            labelnames=("feature",),
            samples=[(LabelSet(("a",)), 1.0), (LabelSet(("b",)), 0.0)],
        ),
        MetricFamily(
            name="job_queue_seconds",
            type=MetricType.GAUGE_HISTOGRAM,
            help="Time jobs have been waiting.",
            unit="seconds",
            labelnames=("queue",),
            histograms=[
                (
                    LabelSet(("batch",)),
                    HistogramValue(
                        buckets=((0.5, 2), (1.0, 5), (INF, 6)),
                        sum=3.25,
                        count=6,
                        created=1700000000.0,  # gauge histograms have none: never written
                        exemplars=JOB_BATCH_EXEMPLARS,
                    ),
                ),
                (
                    LabelSet(("email",)),  # negative bound and sum: allowed for gauges
                    HistogramValue(
                        buckets=((-1.0, 1), (0.5, 1), (1.0, 3), (INF, 3)), sum=-0.5, count=3
                    ),
                ),
            ],
            timestamps=[1700000003.125, None],
        ),
        MetricFamily(  # unlabelled, empty, no timestamps
            name="pool_size",
            type=MetricType.GAUGE_HISTOGRAM,
            help="Pool sizes.",
            unit="",
            labelnames=(),
            histograms=[
                (LabelSet(()), HistogramValue(buckets=((1.0, 0), (INF, 0)), sum=0.0, count=0))
            ],
        ),
        MetricFamily(
            name="queue_depth",
            type=MetricType.GAUGE,
            help="Queue depth.",
            unit="",
            labelnames=("queue",),
            samples=[(LabelSet(("a",)), 3.0), (LabelSet(("b",)), 5.5)],
            timestamps=[1700000004.0, None],
        ),
        MetricFamily(  # timestamp before the exemplar; _created carries it too
            name="requests",
            type=MetricType.COUNTER,
            help="Requests.",
            unit="",
            labelnames=("code",),
            samples=[(LabelSet(("200",)), 10.0), (LabelSet(("500",)), 1.0)],
            created=[1700000000.0, 1700000000.5],
            exemplars=[Exemplar((("trace_id", "t1"),), 1.0, 1700000005.0), None],
            timestamps=[1700000006.75, 1700000006.75],
        ),
        MetricFamily(
            name="rpc_seconds",
            type=MetricType.SUMMARY,
            help="RPC time.",
            unit="seconds",
            labelnames=(),
            summaries=[
                (
                    LabelSet(()),
                    SummaryValue(quantiles=((0.5, 0.25),), sum=1.5, count=3, created=1700000000.0),
                )
            ],
            timestamps=[1700000007.0],
        ),
        MetricFamily(  # 1700000008.001 s: exactly 1700000008001 ms (not ...000.99 truncated)
            name="work_seconds",
            type=MetricType.HISTOGRAM,
            help="Work time.",
            unit="",
            labelnames=(),
            histograms=[
                (
                    LabelSet(()),
                    HistogramValue(
                        buckets=((0.1, 1), (INF, 2)), sum=0.5, count=2, created=1700000000.0
                    ),
                )
            ],
            timestamps=[1700000008.001],
        ),
    ]


def utf8_types_families() -> list[MetricFamily]:
    """The new types with UTF-8 metric, label and exemplar label names, in name order."""
    return [
        MetricFamily(
            name="app.build",
            type=MetricType.INFO,
            help="Build.",
            unit="",
            labelnames=("build.version",),
            samples=[(LabelSet(("1.0",)), 1.0)],
            timestamps=[1700000000.5],
        ),
        MetricFamily(
            name="disk.state",
            type=MetricType.STATESET,
            help="Disk.",
            unit="",
            labelnames=("disk", "disk.state"),
            samples=[(LabelSet(("sda", "failed")), 0.0), (LabelSet(("sda", "ok")), 1.0)],
        ),
        MetricFamily(
            name="queue.wait",
            type=MetricType.GAUGE_HISTOGRAM,
            help="Wait.",
            unit="",
            labelnames=("queue.name",),
            histograms=[
                (
                    LabelSet(("q1",)),
                    HistogramValue(
                        buckets=((1.0, 1), (INF, 2)),
                        sum=2.5,
                        count=2,
                        exemplars=(Exemplar((("trace.id", "abc"), ("span", "1")), 0.5, None), None),
                    ),
                )
            ],
            timestamps=[1700000001.0],
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
    "types.text-0.0.4.txt": lambda: encode_text(types_families()),
    "types.openmetrics.txt": lambda: encode_openmetrics(types_families()),
    "types.openmetrics-no-created.txt": lambda: encode_openmetrics(types_families(), created=False),
    "utf8-types.text-underscores.txt": lambda: encode_text(
        utf8_types_families(), escaping="underscores"
    ),
    "utf8-types.text-allow-utf-8.txt": lambda: encode_text(
        utf8_types_families(), escaping="allow-utf-8"
    ),
    "utf8-types.openmetrics-allow-utf-8.txt": lambda: encode_openmetrics(
        utf8_types_families(), escaping="allow-utf-8"
    ),
    "utf8-types.openmetrics-underscores.txt": lambda: encode_openmetrics(
        utf8_types_families(), escaping="underscores"
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


# A sample as a parser reads it back: (family name, sample name, labels, value, exemplar,
# timestamp as exact decimal seconds or None).
Expected = tuple[str, str, dict[str, str], float, Exemplar | None, Decimal | None]


@dataclass
class ExpectedFamily:
    """A family as a parser should read it back: name, type, HELP, UNIT, samples."""

    name: str
    type: str
    help: str
    unit: str
    samples: list[Expected] = field(default_factory=list)


def _exact(seconds: float) -> Decimal:
    return Decimal(repr(float(seconds)))


def _sample_time(seconds: float | None, openmetrics: bool) -> Decimal | None:
    """What a series' sample timestamp reads back as: OpenMetrics keeps the seconds as
    written; text keeps whole milliseconds, rounded down (as client_golang rounds)."""
    if seconds is None:
        return None
    if openmetrics:
        return _exact(seconds)
    return Decimal(math.floor(_exact(seconds) * 1000)) / 1000


def expected_families(
    families: list[MetricFamily], openmetrics: bool, created: bool = True
) -> list[ExpectedFamily]:
    """Every family and sample a parser should read back, computed from the snapshot by
    the formats' rules (not by the encoders): the text format's munging of info, stateset
    and gauge-histogram families (as prometheus_client writes them), OpenMetrics' own
    types, exemplars and ``_created`` only in OpenMetrics, and each series' timestamp on
    every one of its samples."""
    out: list[ExpectedFamily] = []
    for family in families:
        base, kind = family.name, family.type
        unit = (
            family.unit
            if openmetrics and kind not in (MetricType.INFO, MetricType.STATESET)
            else ""
        )
        stamps = list(family.timestamps) or [None] * max(
            len(family.samples), len(family.histograms), len(family.summaries)
        )
        if kind is MetricType.INFO and not openmetrics:
            main = ExpectedFamily(base + "_info", "gauge", family.help, unit)
        elif kind in (MetricType.INFO, MetricType.STATESET) and openmetrics:
            main = ExpectedFamily(base, kind.value, family.help, unit)
        elif kind is MetricType.STATESET:
            main = ExpectedFamily(base, "gauge", family.help, unit)
        elif kind is MetricType.GAUGE_HISTOGRAM and not openmetrics:
            main = ExpectedFamily(base, "histogram", family.help, unit)
        else:
            main = ExpectedFamily(base, kind.value, family.help, unit)
        out.append(main)
        add = main.samples.append
        sample_name = base + "_info" if kind is MetricType.INFO else base
        for i, (labels, value) in enumerate(family.samples):
            pairs = dict(zip(family.labelnames, labels.label_values, strict=True))
            when = _sample_time(stamps[i], openmetrics)
            if kind is MetricType.COUNTER:
                exemplar = family.exemplars[i] if openmetrics and family.exemplars else None
                add((base, base + "_total", pairs, value, exemplar, when))
                if openmetrics and created and family.created:
                    add((base, base + "_created", pairs, family.created[i], None, when))
            else:
                add((main.name, sample_name, pairs, value, None, when))
        gauge_sums: dict[str, list[Expected]] = {"_gcount": [], "_gsum": []}
        for i, (labels, hist) in enumerate(family.histograms):
            pairs = dict(zip(family.labelnames, labels.label_values, strict=True))
            when = _sample_time(stamps[i], openmetrics)
            for j, (bound, count) in enumerate(hist.buckets):
                exemplar = hist.exemplars[j] if openmetrics and hist.exemplars else None
                le = "+Inf" if bound == INF else repr(bound)
                add((base, base + "_bucket", {**pairs, "le": le}, count, exemplar, when))
            if kind is MetricType.GAUGE_HISTOGRAM:
                if openmetrics and math.isnan(hist.sum):
                    continue  # OpenMetrics: Gsum MUST NOT be NaN, and _gcount goes with it
                for suffix, number in (("_gcount", float(hist.count)), ("_gsum", hist.sum)):
                    owner = base if openmetrics else base + suffix
                    sample = (owner, base + suffix, pairs, number, None, when)
                    (add if openmetrics else gauge_sums[suffix].append)(sample)
                continue
            if not openmetrics or (hist.sum >= 0 and hist.buckets[0][0] >= 0):
                add((base, base + "_sum", pairs, hist.sum, None, when))
                add((base, base + "_count", pairs, hist.count, None, when))
            if openmetrics and created and hist.created is not None:
                add((base, base + "_created", pairs, hist.created, None, when))
        for suffix, samples in gauge_sums.items():
            if samples:  # text: two gauge families after the histogram
                out.append(ExpectedFamily(base + suffix, "gauge", family.help, "", samples))
        for i, (labels, summary) in enumerate(family.summaries):
            pairs = dict(zip(family.labelnames, labels.label_values, strict=True))
            when = _sample_time(stamps[i], openmetrics)
            for quantile, estimate in summary.quantiles:
                add((base, base, {**pairs, "quantile": repr(quantile)}, estimate, None, when))
            add((base, base + "_sum", pairs, summary.sum, None, when))
            add((base, base + "_count", pairs, summary.count, None, when))
            if openmetrics and created and summary.created is not None:
                add((base, base + "_created", pairs, summary.created, None, when))
    return out


def _normalise_labels(labels: dict[str, str]) -> dict[str, str]:
    """``le``/``quantile`` compared as numbers (``1.0`` and ``1`` name the same bound)."""
    out = dict(labels)
    for key in ("le", "quantile"):
        if key in out and out[key] != "+Inf":
            out[key] = repr(float(out[key]))
    return out


def _read_time(timestamp: Any, openmetrics: bool) -> Decimal | None:
    """A parsed timestamp as exact seconds: the text parser's float of milliseconds / 1000,
    or the OpenMetrics parser's ``Timestamp(sec, nsec)`` (a float for ``1e-05``)."""
    if timestamp is None:
        return None
    if isinstance(timestamp, float):
        return _exact(timestamp) if openmetrics else Decimal(round(timestamp * 1000)) / 1000
    return Decimal(timestamp.sec) + Decimal(timestamp.nsec) / 1_000_000_000


def assert_read_back(
    parsed: list[Any], families: list[MetricFamily], openmetrics: bool, created: bool = True
) -> None:
    """``parsed`` (a prometheus_client parser's families) is exactly what
    ``expected_families`` says: names, types, HELP, UNIT (OpenMetrics), and every sample's
    name, labels, value, exemplar and timestamp, in order."""
    want_families = expected_families(families, openmetrics, created)
    assert [(f.name, f.type) for f in parsed] == [(f.name, f.type) for f in want_families]
    for got_family, want_family in zip(parsed, want_families, strict=True):
        assert got_family.documentation == want_family.help
        if openmetrics:
            assert got_family.unit == want_family.unit
    got_samples = [
        (
            family.name,
            s.name,
            _normalise_labels(s.labels),
            s.value,
            s.exemplar,
            _read_time(s.timestamp, openmetrics),
        )
        for family in parsed
        for s in family.samples
    ]
    want_samples = [sample for family in want_families for sample in family.samples]
    assert len(got_samples) == len(want_samples), (got_samples, want_samples)
    for got, want in zip(got_samples, want_samples, strict=True):
        assert got[:3] == (want[0], want[1], _normalise_labels(want[2])), (got, want)
        assert _same(float(got[3]), float(want[3])), (got, want)
        assert got[5] == want[5], (got, want)
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
    assert_read_back(list(parse_text(body)), tricky_families(), openmetrics=False)


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
    assert_read_back(list(parse_openmetrics(body)), families, openmetrics=True, created=created)


@pytest.mark.parametrize("filename", ["utf8.openmetrics-allow-utf-8.txt"])
def test_strict_openmetrics_parser_reads_quoted_names(filename: str) -> None:
    """Quoted UTF-8 names in the OM golden come back as the original names (UTF-01)."""
    body = (GOLDEN_DIR / filename).read_text("utf-8")
    assert_read_back(list(parse_openmetrics(body)), utf8_families(), openmetrics=True)


@pytest.mark.parametrize(
    ("filename", "families"),
    [
        ("types.text-0.0.4.txt", types_families),
        ("utf8-types.text-underscores.txt", lambda: _renamed(utf8_types_families())),
        ("utf8-types.text-allow-utf-8.txt", utf8_types_families),
    ],
)
def test_text_parser_reads_back_the_types_goldens(
    filename: str, families: Callable[[], list[MetricFamily]]
) -> None:
    """The text goldens of the new types read back as prometheus_client's text encoder
    writes them: info ``x`` as gauge ``x_info``, stateset as a gauge, a gauge histogram as
    a histogram of buckets plus gauges ``x_gcount`` and ``x_gsum``; every sample of a
    timestamped series carries its timestamp in whole milliseconds."""
    body = (GOLDEN_DIR / filename).read_text("utf-8")
    assert_read_back(list(parse_text(body)), families(), openmetrics=False)


@pytest.mark.parametrize(
    ("filename", "families", "created"),
    [
        ("types.openmetrics.txt", types_families, True),
        ("types.openmetrics-no-created.txt", types_families, False),
        ("utf8-types.openmetrics-allow-utf-8.txt", utf8_types_families, True),
        (
            "utf8-types.openmetrics-underscores.txt",
            lambda: _renamed(utf8_types_families()),
            True,
        ),
    ],
)
def test_strict_openmetrics_parser_reads_back_the_types_goldens(
    filename: str, families: Callable[[], list[MetricFamily]], created: bool
) -> None:
    """The strict OpenMetrics parser accepts the new types (its own checks: info values 1,
    stateset values 0/1 with the state label, integer buckets and ``_gcount``, timestamps
    consistent within each series) and reads back every sample, exemplar (labels quoted
    when not legacy-valid) and timestamp in seconds; gauge histograms have no
    ``_created``."""
    body = (GOLDEN_DIR / filename).read_text("utf-8")
    assert_read_back(list(parse_openmetrics(body)), families(), openmetrics=True, created=created)


def _renamed(families: list[MetricFamily]) -> list[MetricFamily]:
    """``families`` with metric and label names escaped with ``underscores`` (every
    character outside the legacy charset becomes ``_``), computed here from the
    definition; exemplar labels are left alone, as Go leaves them."""

    def esc(name: str) -> str:
        return "".join(c if c.isascii() and (c.isalnum() or c in "_:") else "_" for c in name)

    return [
        replace(
            family,
            name=esc(family.name),
            labelnames=tuple(esc(n).replace(":", "_") for n in family.labelnames),
        )
        for family in families
    ]


# -- pinned structure, beyond what the goldens show --------------------------------------------


@pytest.mark.parametrize("scenario", [tricky_families, types_families])
def test_encoders_keep_the_given_family_order(
    scenario: Callable[[], list[MetricFamily]],
) -> None:
    """Encoders write families in the order given (the registry sorts them by name): a
    body is the concatenation of each family's own body, in that order, for every format."""
    from tachikoma_metrics.exposition.protobuf import encode_protobuf

    families = scenario()[::-1]
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


COUNTER, GAUGE, SUMMARY, UNTYPED, HISTOGRAM, GAUGE_HISTOGRAM = 0, 1, 2, 3, 4, 5


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


def types_protobuf_spec(created: bool) -> list[dict[str, Any]]:
    """``types_families()`` as protobuf: info ``x`` is the gauge family ``x_info``, a
    stateset a gauge, a gauge histogram type 5 with the histogram message (no created
    timestamp, its gcount and gsum as ``sample_count``/``sample_sum``); a series' sample
    timestamp is ``timestamp_ms``, rounded down to whole milliseconds."""

    def maybe(ts: dict[str, Any]) -> dict[str, Any]:
        return {"created_timestamp": ts} if created else {}

    def gauges(rows: list[tuple[list[dict[str, Any]], float, int | None]]) -> list[Any]:
        return [
            {"label": labels, "gauge": {"value": value}}
            | ({} if ms is None else {"timestamp_ms": ms})
            for labels, value, ms in rows
        ]

    return [
        {
            "name": "app_info",
            "help": "The application.",
            "type": GAUGE,
            "metric": gauges([([], 1.0, None)]),
        },
        {
            "name": "build_info",
            "help": "Build information.",
            "type": GAUGE,
            "metric": gauges(
                [
                    (_lp(("branch", "main"), ("version", "1.2.3")), 1.0, 1700000000250),
                    (_lp(("branch", "release"), ("version", "")), 1.0, 1700000000250),
                ]
            ),
        },
        {
            "name": "disk_state",
            "help": "Disk state.",
            "type": GAUGE,
            "metric": gauges(
                [
                    (_lp(("disk", "sda"), ("disk_state", "failed")), 0.0, 1700000001000),
                    (_lp(("disk", "sda"), ("disk_state", "ok")), 1.0, 1700000001000),
                    (_lp(("disk", "sdb"), ("disk_state", "failed")), 1.0, None),
                    (_lp(("disk", "sdb"), ("disk_state", "ok")), 0.0, None),
                ]
            ),
        },
        {
            "name": "feature",
            "help": "Feature flags.",
            "type": GAUGE,
            "metric": gauges(
                [(_lp(("feature", "a")), 1.0, None), (_lp(("feature", "b")), 0.0, None)]
            ),
        },
        {
            "name": "job_queue_seconds",
            "help": "Time jobs have been waiting.",
            "type": GAUGE_HISTOGRAM,
            "metric": [
                {
                    "label": _lp(("queue", "batch")),
                    "timestamp_ms": 1700000003125,
                    "histogram": {
                        "sample_count": 6,
                        "sample_sum": 3.25,
                        "bucket": [
                            {"cumulative_count": 2, "upper_bound": 0.5},
                            {
                                "cumulative_count": 5,
                                "upper_bound": 1.0,
                                "exemplar": {
                                    "label": _lp(("trace_id", "abc")),
                                    "value": 0.75,
                                    "timestamp": _ts(1700000002, 500_000_000),
                                },
                            },
                            {"cumulative_count": 6, "upper_bound": INF, "exemplar": {"value": 7.0}},
                        ],
                    },
                },
                {
                    "label": _lp(("queue", "email")),
                    "histogram": {
                        "sample_count": 3,
                        "sample_sum": -0.5,
                        "bucket": [
                            {"cumulative_count": 1, "upper_bound": -1.0},
                            {"cumulative_count": 1, "upper_bound": 0.5},
                            {"cumulative_count": 3, "upper_bound": 1.0},
                        ],
                    },
                },
            ],
            "unit": "seconds",
        },
        {
            "name": "pool_size",
            "help": "Pool sizes.",
            "type": GAUGE_HISTOGRAM,
            "metric": [
                {
                    "histogram": {
                        "sample_count": 0,
                        "sample_sum": 0.0,
                        "bucket": [{"cumulative_count": 0, "upper_bound": 1.0}],
                    }
                }
            ],
        },
        {
            "name": "queue_depth",
            "help": "Queue depth.",
            "type": GAUGE,
            "metric": gauges(
                [(_lp(("queue", "a")), 3.0, 1700000004000), (_lp(("queue", "b")), 5.5, None)]
            ),
        },
        {
            "name": "requests_total",
            "help": "Requests.",
            "type": COUNTER,
            "metric": [
                {
                    "label": _lp(("code", "200")),
                    "counter": {
                        "value": 10.0,
                        "exemplar": {
                            "label": _lp(("trace_id", "t1")),
                            "value": 1.0,
                            "timestamp": _ts(1700000005),
                        },
                        **maybe(_ts(1700000000)),
                    },
                    "timestamp_ms": 1700000006750,
                },
                {
                    "label": _lp(("code", "500")),
                    "counter": {"value": 1.0, **maybe(_ts(1700000000, 500_000_000))},
                    "timestamp_ms": 1700000006750,
                },
            ],
        },
        {
            "name": "rpc_seconds",
            "help": "RPC time.",
            "type": SUMMARY,
            "metric": [
                {
                    "summary": {
                        "sample_count": 3,
                        "sample_sum": 1.5,
                        "quantile": [{"quantile": 0.5, "value": 0.25}],
                        **maybe(_ts(1700000000)),
                    },
                    "timestamp_ms": 1700000007000,
                }
            ],
            "unit": "seconds",
        },
        {
            "name": "work_seconds",
            "help": "Work time.",
            "type": HISTOGRAM,
            "metric": [
                {
                    "timestamp_ms": 1700000008001,
                    "histogram": {
                        "sample_count": 2,
                        "sample_sum": 0.5,
                        "bucket": [{"cumulative_count": 1, "upper_bound": 0.1}],
                        **maybe(_ts(1700000000)),
                    },
                }
            ],
        },
    ]


def utf8_types_protobuf_spec(dotted: bool) -> list[dict[str, Any]]:
    """``utf8_types_families()``: names raw (``allow-utf-8``) or escaped; exemplar label
    names never escaped (Go's ``EscapeMetricFamily`` leaves exemplars alone)."""

    def name(raw: str) -> str:
        return raw if dotted else raw.replace(".", "_")

    return [
        {
            "name": name("app.build_info"),
            "help": "Build.",
            "type": GAUGE,
            "metric": [
                {
                    "label": _lp((name("build.version"), "1.0")),
                    "gauge": {"value": 1.0},
                    "timestamp_ms": 1700000000500,
                }
            ],
        },
        {
            "name": name("disk.state"),
            "help": "Disk.",
            "type": GAUGE,
            "metric": [
                {"label": _lp(("disk", "sda"), (name("disk.state"), state)), "gauge": {"value": v}}
                for state, v in (("failed", 0.0), ("ok", 1.0))
            ],
        },
        {
            "name": name("queue.wait"),
            "help": "Wait.",
            "type": GAUGE_HISTOGRAM,
            "metric": [
                {
                    "label": _lp((name("queue.name"), "q1")),
                    "timestamp_ms": 1700000001000,
                    "histogram": {
                        "sample_count": 2,
                        "sample_sum": 2.5,
                        "bucket": [
                            {
                                "cumulative_count": 1,
                                "upper_bound": 1.0,
                                "exemplar": {
                                    "label": _lp(("trace.id", "abc"), ("span", "1")),
                                    "value": 0.5,
                                },
                            }
                        ],
                    },
                }
            ],
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
    "types.protobuf.bin": (
        lambda: types_protobuf_spec(created=True),
        lambda: _encode_protobuf(types_families()),
    ),
    "types.protobuf-no-created.bin": (
        lambda: types_protobuf_spec(created=False),
        lambda: _encode_protobuf(types_families(), created=False),
    ),
    "utf8-types.protobuf-underscores.bin": (
        lambda: utf8_types_protobuf_spec(dotted=False),
        lambda: _encode_protobuf(utf8_types_families(), escaping="underscores"),
    ),
    "utf8-types.protobuf-allow-utf-8.bin": (
        lambda: utf8_types_protobuf_spec(dotted=True),
        lambda: _encode_protobuf(utf8_types_families(), escaping="allow-utf-8"),
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
