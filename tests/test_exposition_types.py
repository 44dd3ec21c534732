"""Info, stateset and gauge-histogram families and per-series sample timestamps, in every
format: text 0.0.4, text 1.0.0 (``allow-utf-8``), OpenMetrics (with and without
``_created``) and protobuf.

Every snapshot here is built by hand from ``tachikoma_metrics.model``. Outputs are judged
by code nobody here wrote: ``promtool check metrics`` (text in the legacy charset),
prometheus_client's text and strict OpenMetrics parsers (whose samples must be exactly the
snapshot's: ``test_golden.expected_families`` derives them from the formats' rules), the
official ``protobuf`` package (``metrics_proto``), and prometheus_client's own encoders fed
the equivalent ``InfoMetricFamily``/``StateSetMetricFamily``/``GaugeHistogramMetricFamily``
(byte for byte, up to the documented differences in ``_pc_text``/``_pc_openmetrics``).

Sources of the expected behaviour: the OpenMetrics 1.0 spec (types, ``sample = metricname
[labels] SP number [SP timestamp] [exemplar]``, gauge-histogram rules), prometheus/common's
expfmt (text timestamps as ``int64`` milliseconds; ``EscapeMetricFamily`` never touches
exemplars and ``writeName`` quotes any name that is not legacy-valid), client_golang's
``NewMetricWithTimestamp`` (milliseconds rounded down: ``t.Unix()*1000 +
t.Nanosecond()/1e6``) and client_model's metrics.proto (``GAUGE_HISTOGRAM = 5``,
``Metric.timestamp_ms = 6``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import replace

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    GaugeHistogramMetricFamily,
    InfoMetricFamily,
    Metric,
    StateSetMetricFamily,
)
from prometheus_client.exposition import generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as pc_generate_openmetrics
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text
from prometheus_client.samples import Exemplar as PcExemplar

from metrics_proto import decode_families
from promtool import check_metrics
from tachikoma_metrics import ExpositionError
from tachikoma_metrics.exposition import (
    encode,
    encode_openmetrics,
    encode_protobuf,
    encode_text,
)
from tachikoma_metrics.model import (
    Exemplar,
    HistogramValue,
    LabelSet,
    MetricFamily,
    MetricType,
    SummaryValue,
)
from test_golden import assert_read_back, types_families, utf8_types_families

INF = math.inf
NAN = math.nan
GAUGE, HISTOGRAM, GAUGE_HISTOGRAM = 1, 4, 5  # metrics.proto MetricType

# -- hand-built snapshots -----------------------------------------------------------------------


def info(
    name: str = "build",
    labelnames: tuple[str, ...] = ("branch", "version"),
    rows: tuple[tuple[str, ...], ...] = (("main", "1.2.3"), ("release", "")),
    timestamps: tuple[float | None, ...] = (),
    unit: str = "",
) -> MetricFamily:
    return MetricFamily(
        name=name,
        type=MetricType.INFO,
        help="Build information.",
        unit=unit,
        labelnames=labelnames,
        samples=[(LabelSet(row), 1.0) for row in rows],
        timestamps=timestamps,
    )


def stateset(
    name: str = "disk_state",
    rows: tuple[tuple[str, str, float], ...] = (
        ("sda", "failed", 0.0),
        ("sda", "ok", 1.0),
        ("sdb", "failed", 1.0),
        ("sdb", "ok", 0.0),
    ),
    timestamps: tuple[float | None, ...] = (),
    unit: str = "",
) -> MetricFamily:
    return MetricFamily(
        name=name,
        type=MetricType.STATESET,
        help="Disk state.",
        unit=unit,
        labelnames=("disk", name),
        samples=[(LabelSet((disk, state)), value) for disk, state, value in rows],
        timestamps=timestamps,
    )


BATCH = HistogramValue(
    buckets=((0.5, 2), (1.0, 5), (INF, 6)),
    sum=3.25,
    count=6,
    exemplars=(None, Exemplar((("trace_id", "abc"),), 0.75, 1700000002.5), None),
)
EMAIL = HistogramValue(buckets=((-1.0, 1), (0.5, 1), (INF, 3)), sum=-0.5, count=3)


def gauge_histogram(
    name: str = "job_queue_seconds",
    series: tuple[tuple[str, HistogramValue], ...] = (("batch", BATCH), ("email", EMAIL)),
    timestamps: tuple[float | None, ...] = (),
    labelname: str = "kind",  # sorts before "le": prometheus_client then writes le last too
) -> MetricFamily:
    return MetricFamily(
        name=name,
        type=MetricType.GAUGE_HISTOGRAM,
        help="Time jobs have been waiting.",
        unit="seconds",
        labelnames=(labelname,),
        histograms=[(LabelSet((value,)), hist) for value, hist in series],
        timestamps=timestamps,
    )


def gauge(timestamps: tuple[float | None, ...] = (), name: str = "queue_depth") -> MetricFamily:
    return MetricFamily(
        name=name,
        type=MetricType.GAUGE,
        help="Queue depth.",
        unit="",
        labelnames=("queue",),
        samples=[(LabelSet(("a",)), 3.0), (LabelSet(("b",)), 5.5)],
        timestamps=timestamps,
    )


def counter(timestamps: tuple[float | None, ...] = ()) -> MetricFamily:
    return MetricFamily(
        name="requests",
        type=MetricType.COUNTER,
        help="Requests.",
        unit="",
        labelnames=("code",),
        samples=[(LabelSet(("200",)), 10.0), (LabelSet(("500",)), 1.0)],
        created=[1700000000.0, 1700000000.5],
        exemplars=[Exemplar((("trace_id", "t1"),), 1.0, 1700000005.0), None],
        timestamps=timestamps,
    )


def summary(timestamps: tuple[float | None, ...] = ()) -> MetricFamily:
    return MetricFamily(
        name="rpc_seconds",
        type=MetricType.SUMMARY,
        help="RPC time.",
        unit="",
        labelnames=("method",),
        summaries=[
            (
                LabelSet(("get",)),
                SummaryValue(quantiles=((0.5, 0.25),), sum=1.5, count=3, created=1700000000.0),
            )
        ],
        timestamps=timestamps,
    )


def histogram(timestamps: tuple[float | None, ...] = ()) -> MetricFamily:
    return MetricFamily(
        name="work_seconds",
        type=MetricType.HISTOGRAM,
        help="Work time.",
        unit="",
        labelnames=("job",),
        histograms=[
            (
                LabelSet(("a",)),
                HistogramValue(
                    buckets=((0.1, 1), (INF, 2)),
                    sum=0.5,
                    count=2,
                    created=1700000000.0,
                    exemplars=(Exemplar((("trace_id", "x"),), 0.05, None), None),
                ),
            )
        ],
        timestamps=timestamps,
    )


def all_kinds(stamp: float | None) -> list[MetricFamily]:
    """One family of every type, each series timestamped with ``stamp``."""
    return [
        info(timestamps=(stamp, stamp)),
        stateset(timestamps=(stamp,) * 4),
        gauge_histogram(timestamps=(stamp, stamp)),
        gauge(timestamps=(stamp, stamp)),
        counter(timestamps=(stamp, stamp)),
        summary(timestamps=(stamp,)),
        histogram(timestamps=(stamp,)),
    ]


# Every format, as (key, escaping scheme, created) for ``formats.encode``.
FORMAT_CASES = [
    ("text-0.0.4", "underscores", True),
    ("text-1.0.0", "allow-utf-8", True),
    ("openmetrics-1.0.0", "underscores", True),
    ("openmetrics-1.0.0", "underscores", False),
    ("openmetrics-1.0.0", "allow-utf-8", True),
    ("protobuf", "underscores", True),
    ("protobuf", "allow-utf-8", False),
]


def _lines(body: str) -> list[str]:
    return body.splitlines()


# -- byte for byte against prometheus_client's own encoders ------------------------------------


class _Collector:
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> list[Metric]:
        return self.families


def _pc_registry(families: list[Metric]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(families))  # type: ignore[arg-type]
    return registry


def _pc_families() -> list[Metric]:
    """The equivalent of ``_our_families()`` built with prometheus_client's classes."""
    app = InfoMetricFamily("app", "The application.", value={})
    build = InfoMetricFamily("build", "Build information.", labels=["branch"])
    build.add_metric(["main"], {"version": "1.2.3"}, timestamp=1700000000.25)
    build.add_metric(["release"], {"version": ""}, timestamp=1700000000.25)
    disks = StateSetMetricFamily("disk_state", "Disk state.", labels=["disk"])
    disks.add_metric(["sda"], {"failed": False, "ok": True}, timestamp=1700000001.0)
    disks.add_metric(["sdb"], {"failed": True, "ok": False})
    feature = StateSetMetricFamily("feature", "Feature flags.", value={"a": True, "b": False})
    jobs = GaugeHistogramMetricFamily(
        "job_queue_seconds", "Time jobs have been waiting.", labels=["kind"], unit="seconds"
    )
    jobs.add_metric(
        ["batch"], [("0.5", 2), ("1.0", 5), ("+Inf", 6)], 3.25, timestamp=1700000003.125
    )
    jobs.add_metric(["email"], [("-1.0", 1), ("0.5", 1), ("+Inf", 3)], -0.5)
    # add_metric takes no exemplars: put one on the batch series' 1.0 bucket by hand.
    jobs.samples[1] = jobs.samples[1]._replace(
        exemplar=PcExemplar({"trace_id": "abc"}, 0.75, 1700000002.5)
    )
    pool = GaugeHistogramMetricFamily("pool_size", "Pool sizes.", [("1.0", 0), ("+Inf", 0)], 0.0)
    return [app, build, disks, feature, jobs, pool]


def _our_families() -> list[MetricFamily]:
    return [
        MetricFamily(
            name="app",
            type=MetricType.INFO,
            help="The application.",
            unit="",
            labelnames=(),
            samples=[(LabelSet(()), 1.0)],
        ),
        info(timestamps=(1700000000.25, 1700000000.25)),
        stateset(timestamps=(1700000001.0, 1700000001.0, None, None)),
        MetricFamily(
            name="feature",
            type=MetricType.STATESET,
            help="Feature flags.",
            unit="",
            labelnames=("feature",),
            samples=[(LabelSet(("a",)), 1.0), (LabelSet(("b",)), 0.0)],
        ),
        gauge_histogram(timestamps=(1700000003.125, None)),
        MetricFamily(
            name="pool_size",
            type=MetricType.GAUGE_HISTOGRAM,
            help="Pool sizes.",
            unit="",
            labelnames=(),
            histograms=[
                (LabelSet(()), HistogramValue(buckets=((1.0, 0), (INF, 0)), sum=0.0, count=0))
            ],
        ),
    ]


_INTEGRAL = re.compile(r"^((?:[^ ]|\"[^\"]*\")+) (-?\d+)\.0((?: \S+)?)$")


def _pc_text(body: str) -> str:
    """prometheus_client's text body as Go's expfmt (and we) write it. The one difference:
    its ``floatToGoString`` writes integral values as ``1.0``, where Go's text encoder
    (``strconv.FormatFloat(v, 'g', -1, 64)``) writes ``1``; bucket counts are integral."""
    out = []
    for line in _lines(body):
        if not line.startswith("#"):
            line = _INTEGRAL.sub(r"\1 \2\3", line)
        out.append(line + "\n")
    return "".join(out)


def _pc_openmetrics(body: str) -> str:
    """prometheus_client's OpenMetrics body as we write it. Two differences, both allowed by
    the spec: it writes a family's metadata as HELP, TYPE, UNIT where we follow the spec's
    SHOULD (TYPE, UNIT, HELP), and writes bucket and ``_gcount`` counts as floats (``6.0``)
    where Go's expfmt and we write integers (``6``)."""
    out: list[str] = []
    meta: list[str] = []
    order = {"TYPE": 0, "UNIT": 1, "HELP": 2}
    for line in _lines(body):
        if line.startswith("# ") and line != "# EOF":
            meta.append(line)
            continue
        if meta:
            out.extend(sorted(meta, key=lambda m: order[m.split(" ", 2)[1]]))
            meta = []
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name.endswith(("_bucket", "_gcount")):  # the count: right after the labels
            line = re.sub(r"^([^ ]+) (\d+)\.0( |$)", r"\1 \2\3", line, count=1)
        out.append(line)
    return "\n".join(out) + "\n"


def test_text_matches_prometheus_client_byte_for_byte() -> None:
    """Our text body of info, stateset and gauge-histogram families (labelled and not, with
    and without timestamps) is prometheus_client's ``generate_latest`` of the equivalent
    metric families, byte for byte once its integral values are written as Go writes them:
    the same ``x_info`` gauge, stateset gauge, gauge histogram as ``histogram`` buckets
    followed by the gauges ``x_gcount`` and ``x_gsum`` with their own HELP and TYPE, and
    timestamps in milliseconds after every value of the series."""
    theirs = generate_latest(_pc_registry(_pc_families())).decode()
    ours = encode_text(_our_families())
    assert ours == _pc_text(theirs)
    assert 'job_queue_seconds_gcount{kind="batch"} 6 1700000003125\n' in ours


def test_openmetrics_matches_prometheus_client_byte_for_byte() -> None:
    """Our OpenMetrics body of the same families is prometheus_client's OpenMetrics
    ``generate_latest``, byte for byte up to metadata order and integer counts (see
    ``_pc_openmetrics``): ``# TYPE x info`` with ``x_info`` samples, ``stateset``,
    ``gaugehistogram`` with buckets, ``_gcount`` and ``_gsum`` per series, a negative
    bound and ``_gsum`` kept, timestamps in seconds before the exemplar."""
    theirs = pc_generate_openmetrics(_pc_registry(_pc_families())).decode()
    ours = encode_openmetrics(_our_families())
    assert ours == _pc_openmetrics(theirs)
    assert (
        'job_queue_seconds_bucket{kind="batch",le="1.0"} 5 1700000003.125'
        ' # {trace_id="abc"} 0.75 1700000002.5\n' in ours
    )


def test_where_prometheus_client_text_timestamps_are_wrong() -> None:
    """Intended differences in text timestamps: prometheus_client writes
    ``int(float(ts) * 1000)``, which truncates a float product; we round the timestamp's
    exact decimal value down to whole milliseconds, as client_golang does for a
    ``time.Time`` (``1.005`` s is 1005 ms, not 1004; ``-0.0015`` s is -2 ms, not -1)."""
    for seconds, ours, theirs in ((1.005, "1005", "1004"), (-0.0015, "-2", "-1")):
        family = InfoMetricFamily("v", "V.")
        family.add_metric([], {"a": "b"}, timestamp=seconds)
        pc_line = generate_latest(_pc_registry([family])).decode().splitlines()[-1]
        assert pc_line == f'v_info{{a="b"}} 1.0 {theirs}'
        body = encode_text([info("v", ("a",), (("b",),), timestamps=(seconds,))])
        assert body.splitlines()[-1] == f'v_info{{a="b"}} 1 {ours}'


def test_le_goes_last_where_prometheus_client_sorts_it() -> None:
    """Another intended difference: with a label name sorting after ``le``, we (like Go,
    which appends ``le`` to the pairs) write ``le`` last; prometheus_client sorts it
    among the others. Both parse to the same series."""
    family = gauge_histogram(series=(("batch", BATCH),), labelname="queue")
    ours = encode_text([family])
    assert 'job_queue_seconds_bucket{queue="batch",le="0.5"} 2\n' in ours
    pc = GaugeHistogramMetricFamily("job_queue_seconds", "H.", labels=["queue"])
    pc.add_metric(["batch"], [("0.5", 2), ("1.0", 5), ("+Inf", 6)], 3.25)
    assert 'job_queue_seconds_bucket{le="0.5",queue="batch"} 2.0\n' in (
        generate_latest(_pc_registry([pc])).decode()
    )


# -- parsers and promtool read back exactly the snapshot ---------------------------------------


@pytest.mark.parametrize("stamp", [None, 1700000000.5, 1700000000.001, 0.0, 1e-05])
def test_text_parser_and_promtool_read_every_type(stamp: float | None) -> None:
    """Text 0.0.4 of every type, with and without timestamps: promtool accepts it and
    prometheus_client's text parser reads back every family, sample, label, value and
    timestamp (in whole milliseconds)."""
    families = all_kinds(stamp)
    body = encode_text(families)
    result = check_metrics(body.encode())
    assert result.returncode == 0, result.stderr.decode()
    assert_read_back(list(parse_text(body)), families, openmetrics=False)


@pytest.mark.parametrize("created", [True, False])
@pytest.mark.parametrize("stamp", [None, 1700000000.5, 1700000000.001, 0.0, 1e-05])
def test_openmetrics_parser_reads_every_type(stamp: float | None, created: bool) -> None:
    """OpenMetrics of every type, with and without timestamps and ``_created``: the strict
    parser accepts it and reads back every sample, exemplar and timestamp (in seconds)."""
    families = all_kinds(stamp)
    body = encode_openmetrics(families, created=created)
    assert_read_back(list(parse_openmetrics(body)), families, openmetrics=True, created=created)


def test_mixed_timestamps_within_a_family_read_back() -> None:
    """Some series timestamped, some not, in one family of each type that allows it (the
    strict parser wants one choice per series; prometheus_client's parser cannot tell info
    series apart, so info families get one choice for all)."""
    families = [
        info(timestamps=(1700000000.25, 1700000000.25)),
        stateset(timestamps=(1700000001.0, 1700000001.0, None, None)),
        gauge_histogram(timestamps=(None, 1700000003.125)),
        gauge(timestamps=(1700000004.0, None)),
    ]
    assert_read_back(list(parse_text(encode_text(families))), families, openmetrics=False)
    assert_read_back(
        list(parse_openmetrics(encode_openmetrics(families))), families, openmetrics=True
    )


# Written names of the UTF-8 families under each escaping scheme, worked out by hand from
# prometheus/common's model.EscapeName rules (an info family is escaped with its "_info").
WRITTEN: dict[str, dict[str, str]] = {
    "underscores": {
        "app.build": "app_build",
        "build.version": "build_version",
        "disk.state": "disk_state",
        "queue.wait": "queue_wait",
        "queue.name": "queue_name",
    },
    "dots": {
        "app.build": "app_dot_build_",  # app.build_info -> app_dot_build__info
        "build.version": "build_dot_version",
        "disk.state": "disk_dot_state",
        "queue.wait": "queue_dot_wait",
        "queue.name": "queue_dot_name",
    },
    "values": {
        "app.build": "U__app_2e_build_",  # app.build_info -> U__app_2e_build__info
        "build.version": "U__build_2e_version",
        "disk.state": "U__disk_2e_state",
        "queue.wait": "U__queue_2e_wait",
        "queue.name": "U__queue_2e_name",
    },
}


def _written(families: list[MetricFamily], scheme: str) -> list[MetricFamily]:
    if scheme == "allow-utf-8":
        return families
    names = WRITTEN[scheme]
    return [
        replace(
            family,
            name=names.get(family.name, family.name),
            labelnames=tuple(names.get(n, n) for n in family.labelnames),
        )
        for family in families
    ]


@pytest.mark.parametrize("scheme", ["underscores", "dots", "values", "allow-utf-8"])
def test_utf8_names_read_back_under_every_scheme(scheme: str) -> None:
    """The new types with UTF-8 names: under each escaping scheme the text body passes
    promtool (legacy charset) and both parsers read back the escaped names; under
    ``allow-utf-8`` they read back the original names, quoted. The exemplar label
    ``trace.id`` is never escaped (Go leaves exemplars alone): quoted in OpenMetrics."""
    families = utf8_types_families()
    expected = _written(families, scheme)
    text = encode_text(families, escaping=scheme)
    if scheme != "allow-utf-8":
        result = check_metrics(text.encode())
        assert result.returncode == 0, result.stderr.decode()
    assert_read_back(list(parse_text(text)), expected, openmetrics=False)
    om = encode_openmetrics(families, escaping=scheme)
    assert '# {"trace.id"="abc",span="1"} 0.5\n' in om
    assert_read_back(list(parse_openmetrics(om)), expected, openmetrics=True)


@pytest.mark.parametrize("scheme", ["underscores", "dots", "values", "allow-utf-8"])
def test_utf8_names_in_protobuf_under_every_scheme(scheme: str) -> None:
    """Protobuf escapes metric and label names by the scheme (raw under ``allow-utf-8``,
    never quoted) and leaves exemplar label names as given under every scheme."""
    names = WRITTEN.get(scheme, {})
    decoded = decode_families(encode_protobuf(utf8_types_families(), escaping=scheme))
    app, disk, wait = decoded
    assert app.name == names.get("app.build", "app.build") + "_info"
    assert app.type == GAUGE
    assert [(p.name, p.value) for p in app.metric[0].label] == [
        (names.get("build.version", "build.version"), "1.0")
    ]
    assert app.metric[0].timestamp_ms == 1700000000500
    assert disk.name == names.get("disk.state", "disk.state") and disk.type == GAUGE
    assert wait.name == names.get("queue.wait", "queue.wait")
    assert wait.type == GAUGE_HISTOGRAM
    exemplar = wait.metric[0].histogram.bucket[0].exemplar
    assert [(p.name, p.value) for p in exemplar.label] == [("trace.id", "abc"), ("span", "1")]


@pytest.mark.parametrize(("fmt", "scheme", "created"), FORMAT_CASES)
def test_every_format_table_entry_writes_the_new_types(
    fmt: str, scheme: str, created: bool
) -> None:
    """``formats.encode`` writes the types golden in each table entry, as the endpoint
    would, and the result reads back (parsers, or the official protobuf package)."""
    families = types_families()
    body = encode(fmt, families, escaping=scheme, created=created)
    if fmt == "protobuf":
        decoded = decode_families(body)
        with_series = [f for f in families if f.samples or f.histograms or f.summaries]
        assert len(decoded) == len(with_series)
        return
    text = body.decode()
    if fmt.startswith("text"):
        assert_read_back(list(parse_text(text)), families, openmetrics=False)
    else:
        assert_read_back(list(parse_openmetrics(text)), families, openmetrics=True, created=created)


# -- protobuf, field by field -------------------------------------------------------------------


def test_protobuf_gauge_histogram_fields() -> None:
    """A gauge histogram is type ``GAUGE_HISTOGRAM`` (5) with the ``Histogram`` message:
    gcount and gsum as ``sample_count``/``sample_sum`` (negative allowed), finite buckets,
    the bucket exemplar with its timestamp, ``timestamp_ms`` on the timestamped series
    only, and no created timestamp even when the snapshot holds one."""
    family = gauge_histogram(
        series=(("batch", replace(BATCH, created=1700000000.0)), ("email", EMAIL)),
        timestamps=(1700000003.125, None),
    )
    (decoded,) = decode_families(encode_protobuf([family]))
    assert (decoded.name, decoded.type, decoded.unit) == (
        "job_queue_seconds",
        GAUGE_HISTOGRAM,
        "seconds",
    )
    batch, email = decoded.metric
    assert batch.timestamp_ms == 1700000003125
    assert not email.HasField("timestamp_ms")
    assert batch.histogram.sample_count == 6 and batch.histogram.sample_sum == 3.25
    assert [(b.upper_bound, b.cumulative_count) for b in batch.histogram.bucket] == [
        (0.5, 2),
        (1.0, 5),
    ]
    exemplar = batch.histogram.bucket[1].exemplar
    assert [(p.name, p.value) for p in exemplar.label] == [("trace_id", "abc")]
    assert exemplar.value == 0.75
    assert (exemplar.timestamp.seconds, exemplar.timestamp.nanos) == (1700000002, 500_000_000)
    assert not batch.histogram.HasField("created_timestamp")
    assert email.histogram.sample_sum == -0.5
    assert [(b.upper_bound, b.cumulative_count) for b in email.histogram.bucket] == [
        (-1.0, 1),
        (0.5, 1),
    ]


def test_protobuf_info_and_stateset_fields() -> None:
    """Info ``x`` is the ``GAUGE`` family ``x_info`` with value 1 per series; a stateset
    is a ``GAUGE`` with one metric per state; neither has a unit (OpenMetrics requires
    theirs to be empty) even when the snapshot gives one."""
    families = [
        info(timestamps=(1.005, -0.0015), unit="seconds"),
        stateset(unit="bytes"),
    ]
    build, disks = decode_families(encode_protobuf(families))
    assert (build.name, build.type, build.HasField("unit")) == ("build_info", GAUGE, False)
    assert [
        ([(p.name, p.value) for p in m.label], m.gauge.value, m.timestamp_ms) for m in build.metric
    ] == [
        ([("branch", "main"), ("version", "1.2.3")], 1.0, 1005),
        ([("branch", "release"), ("version", "")], 1.0, -2),
    ]
    assert (disks.name, disks.type, disks.HasField("unit")) == ("disk_state", GAUGE, False)
    assert [
        ([p.value for p in m.label], m.gauge.value, m.HasField("timestamp_ms"))
        for m in disks.metric
    ] == [
        (["sda", "failed"], 0.0, False),
        (["sda", "ok"], 1.0, False),
        (["sdb", "failed"], 1.0, False),
        (["sdb", "ok"], 0.0, False),
    ]


@pytest.mark.parametrize("created", [True, False])
def test_protobuf_timestamps_on_every_type(created: bool) -> None:
    """``timestamp_ms`` (field 6) on each timestamped metric of every type, beside the
    counter's exemplar and created timestamp (when asked for) and the histogram's."""
    decoded = decode_families(encode_protobuf(all_kinds(1700000000.001), created=created))
    for family in decoded:
        for metric in family.metric:
            assert metric.timestamp_ms == 1700000000001, family.name
    requests = next(f for f in decoded if f.name == "requests_total")
    assert requests.metric[0].counter.exemplar.value == 1.0
    assert requests.metric[0].counter.HasField("created_timestamp") is created
    work = next(f for f in decoded if f.name == "work_seconds")
    assert work.type == HISTOGRAM
    assert work.metric[0].histogram.HasField("created_timestamp") is created
    rpc = next(f for f in decoded if f.name == "rpc_seconds")
    assert rpc.metric[0].summary.sample_count == 3


# -- timestamps: rounding, placement and refusal -------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "millis", "openmetrics"),
    [
        (1700000000.001, 1700000000001, "1700000000.001"),  # 1700000000000.9998 as a product
        (1.005, 1005, "1.005"),
        (0.0009, 0, "0.0009"),
        (-0.0015, -2, "-0.0015"),  # rounded down, as Go rounds a time.Time
        (-1.5, -1500, "-1.5"),
        (1e-05, 0, "1e-05"),
        (-1e-05, -1, "-1e-05"),
        (0.0, 0, "0.0"),
        (1700000000, 1700000000000, "1700000000.0"),  # an int
        (253402300799.999, 253402300799999, "253402300799.999"),  # the last millisecond
        (-62135596800.0, -62135596800000, "-62135596800.0"),  # year 1
    ],
)
def test_timestamp_forms(seconds: float, millis: int, openmetrics: str) -> None:
    """Text writes whole milliseconds rounded down from the timestamp's exact decimal
    value, protobuf the same ``timestamp_ms``, OpenMetrics the seconds as written."""
    family = gauge(timestamps=(seconds, None))
    assert _lines(encode_text([family]))[2] == f'queue_depth{{queue="a"}} 3 {millis}'
    assert _lines(encode_openmetrics([family]))[2] == (
        f'queue_depth{{queue="a"}} 3.0 {openmetrics}'
    )
    (decoded,) = decode_families(encode_protobuf([family]))
    assert decoded.metric[0].timestamp_ms == millis
    assert not decoded.metric[1].HasField("timestamp_ms")


def test_numpy_timestamps_are_plain_seconds() -> None:
    """A NumPy float (a ``float`` subclass whose ``repr`` is not its digits) is written as
    its value."""
    import numpy as np  # the test extra (pyproject.toml)

    family = gauge(timestamps=(np.float64(1700000000.25), None))
    assert _lines(encode_text([family]))[2].endswith(" 1700000000250")
    assert _lines(encode_openmetrics([family]))[2].endswith(" 1700000000.25")


def test_openmetrics_timestamp_goes_before_the_exemplar() -> None:
    """OpenMetrics' ABNF: ``metricname [labels] SP number [SP timestamp] [exemplar]``; the
    ``_created`` line of a timestamped series carries the timestamp too (the spec's counter
    example), on counters, histograms and summaries."""
    body = encode_openmetrics([counter((1700000006.75, None)), histogram((7.5,)), summary((8.0,))])
    assert _lines(body)[2:] == [
        'requests_total{code="200"} 10.0 1700000006.75 # {trace_id="t1"} 1.0 1700000005.0',
        'requests_created{code="200"} 1.7e+09 1700000006.75',
        'requests_total{code="500"} 1.0',
        'requests_created{code="500"} 1.7000000005e+09',
        "# TYPE work_seconds histogram",
        "# HELP work_seconds Work time.",
        'work_seconds_bucket{job="a",le="0.1"} 1 7.5 # {trace_id="x"} 0.05',
        'work_seconds_bucket{job="a",le="+Inf"} 2 7.5',
        'work_seconds_sum{job="a"} 0.5 7.5',
        'work_seconds_count{job="a"} 2 7.5',
        'work_seconds_created{job="a"} 1.7e+09 7.5',
        "# TYPE rpc_seconds summary",
        "# HELP rpc_seconds RPC time.",
        'rpc_seconds{method="get",quantile="0.5"} 0.25 8.0',
        'rpc_seconds_sum{method="get"} 1.5 8.0',
        'rpc_seconds_count{method="get"} 3 8.0',
        'rpc_seconds_created{method="get"} 1.7e+09 8.0',
        "# EOF",
    ]


BAD_TIMESTAMPS: list[tuple[object, str]] = [
    (NAN, "nan"),
    (INF, "inf"),
    (-INF, "-inf"),
    (1e12, "1000000000000.0"),  # year 33658
    (-1e12, "-1000000000000.0"),
    (253402300800.0, "253402300800.0"),  # 10000-01-01
    (10**400, "1" + "0" * 20),  # an int no float holds (the message starts with its digits)
    ("1700000000", "'1700000000'"),
    (True, "True"),
]


@pytest.mark.parametrize(("fmt", "scheme", "created"), FORMAT_CASES)
@pytest.mark.parametrize(("stamp", "shown"), BAD_TIMESTAMPS)
@pytest.mark.parametrize("make", [gauge, counter, info, gauge_histogram, histogram, summary])
def test_unwritable_timestamps_raise_and_change_nothing(
    make: Callable[..., MetricFamily],
    stamp: object,
    shown: str,
    fmt: str,
    scheme: str,
    created: bool,
) -> None:
    """A timestamp that is not finite, lies outside the years 1 to 9999 or is not a number
    raises ``ExpositionError`` naming it, in every format and for every type; the
    snapshot's series are untouched, so the same series encode as before afterwards."""
    plain = make()
    series = len(plain.samples or plain.histograms or plain.summaries)
    before = encode(fmt, [plain], escaping=scheme, created=created)
    bad = replace(plain, timestamps=(None,) * (series - 1) + (stamp,))
    with pytest.raises(ExpositionError, match=re.escape(shown)):
        encode(fmt, [bad], escaping=scheme, created=created)
    assert encode(fmt, [plain], escaping=scheme, created=created) == before


@pytest.mark.parametrize(("fmt", "scheme", "created"), FORMAT_CASES)
@pytest.mark.parametrize("count", [1, 3])
def test_timestamps_not_parallel_to_the_series_raise(
    fmt: str, scheme: str, created: bool, count: int
) -> None:
    """``timestamps`` must have one entry per series: otherwise ``ExpositionError`` naming
    the family and both counts (never a series silently dropped)."""
    family = gauge(timestamps=(1.0,) * count)
    with pytest.raises(ExpositionError, match=rf"'queue_depth' has 2 series but {count}"):
        encode(fmt, [family], escaping=scheme, created=created)


@pytest.mark.parametrize(("fmt", "scheme", "created"), FORMAT_CASES)
@pytest.mark.parametrize("memo", [True, False])
def test_all_none_timestamps_write_what_no_timestamps_write(
    fmt: str, scheme: str, created: bool, memo: bool
) -> None:
    """A family whose series all have ``None`` takes the general path and writes exactly
    what the fast path writes without timestamps, for every type (with the series' label
    memos filled first, or not)."""
    plain = all_kinds(None)
    for family in plain:
        stamped = replace(
            family,
            timestamps=(None,) * len(family.samples or family.histograms or family.summaries),
        )
        if memo:
            encode(fmt, [family], escaping=scheme, created=created)
        assert encode(fmt, [stamped], escaping=scheme, created=created) == encode(
            fmt, [family], escaping=scheme, created=created
        ), family.name


# -- OpenMetrics specifics ------------------------------------------------------------------------


def test_openmetrics_gauge_histogram_keeps_negative_sums_and_drops_nan() -> None:
    """Unlike a histogram (which loses ``_sum``/``_count`` with a negative bound or sum),
    a gauge histogram keeps ``_gcount`` and ``_gsum`` then ("If negative threshold buckets
    are present, then sum MAY be negative"); a ``NaN`` sum ("Gsum MUST NOT be NaN") writes
    neither ``_gsum`` nor ``_gcount`` (written only together); text writes both anyway."""
    nan_sum = HistogramValue(buckets=((1.0, 1), (INF, 2)), sum=NAN, count=2)
    family = gauge_histogram(series=(("email", EMAIL), ("odd", nan_sum)))
    body = encode_openmetrics([family])
    assert 'job_queue_seconds_gsum{kind="email"} -0.5\n' in body
    assert 'job_queue_seconds_gcount{kind="email"} 3\n' in body
    assert 'job_queue_seconds_bucket{kind="odd",le="+Inf"} 2\n' in body
    assert '{kind="odd"}' not in body.replace('_bucket{kind="odd"', "")
    parsed = list(parse_openmetrics(body))
    assert [s.name for s in parsed[0].samples if s.labels.get("kind") == "odd"] == [
        "job_queue_seconds_bucket",
        "job_queue_seconds_bucket",
    ]
    text = encode_text([family])
    assert 'job_queue_seconds_gsum{kind="odd"} NaN\n' in text
    assert 'job_queue_seconds_gcount{kind="odd"} 2\n' in text


def test_openmetrics_writes_no_unit_for_info_and_stateset() -> None:
    """ "MetricFamilies of type Info/StateSet MUST have an empty Unit string": no ``# UNIT``
    line for them even when the snapshot has a unit; gauge histograms keep theirs."""
    body = encode_openmetrics(
        [info(unit="seconds"), stateset(unit="bytes"), gauge_histogram()], created=False
    )
    assert [line for line in _lines(body) if line.startswith("# UNIT")] == [
        "# UNIT job_queue_seconds seconds"
    ]
    parsed = list(parse_openmetrics(body))
    assert [f.unit for f in parsed] == ["", "", "seconds"]


@pytest.mark.parametrize("scheme", ["underscores", "dots", "values", "allow-utf-8"])
def test_exemplar_label_names_are_quoted_not_escaped(scheme: str) -> None:
    """Exemplar label names outside the legacy charset are quoted in OpenMetrics under
    every scheme, as Go writes them (``EscapeMetricFamily`` leaves exemplars alone and
    ``writeName`` quotes); the strict parser reads back the raw names. A name with a colon,
    valid for metrics but not for labels, is quoted too (Go would write it bare, which no
    OpenMetrics label-name rule accepts). Text has no exemplars."""
    exemplar = Exemplar((("trace.id", "a"), ("a:b", "c"), ("span_id", "d")), 1.5, 1.25)
    family = replace(
        counter(),
        exemplars=[exemplar, None],
        created=(),
    )
    body = encode_openmetrics([family], escaping=scheme)
    assert _lines(body)[2] == (
        'requests_total{code="200"} 10.0 # {"trace.id"="a","a:b"="c",span_id="d"} 1.5 1.25'
    )
    (parsed,) = parse_openmetrics(body)
    assert parsed.samples[0].exemplar.labels == {"trace.id": "a", "a:b": "c", "span_id": "d"}
    assert "trace" not in encode_text([family], escaping=scheme)
    (decoded,) = decode_families(encode_protobuf([family], escaping=scheme))
    assert [(p.name, p.value) for p in decoded.metric[0].counter.exemplar.label] == [
        ("trace.id", "a"),
        ("a:b", "c"),
        ("span_id", "d"),
    ]


# -- names the new types write, checked for collisions ------------------------------------------


@pytest.mark.parametrize(("fmt", "scheme", "created"), FORMAT_CASES)
@pytest.mark.parametrize(
    ("first", "second", "written"),
    [
        (info(name="x"), gauge(name="x_info"), "x_info"),
        (info(name="x"), replace(counter(), name="x_info"), "x_info"),
        (gauge_histogram(name="x"), gauge(name="x_gcount"), "x_gcount"),
        (gauge_histogram(name="x"), gauge(name="x_gsum"), "x_gsum"),
        (gauge_histogram(name="x"), gauge(name="x_bucket"), "x_bucket"),
        (gauge_histogram(name="x"), replace(histogram(), name="x_gsum"), "x_gsum"),
        (stateset(name="x_gcount"), gauge_histogram(name="x"), "x_gcount"),
    ],
)
def test_sample_names_of_the_new_types_collide(
    first: MetricFamily, second: MetricFamily, written: str, fmt: str, scheme: str, created: bool
) -> None:
    """The pre-pass knows every name the new types write (an info ``x`` writes ``x`` and
    ``x_info``; a gauge histogram ``_bucket``, ``_gcount``, ``_gsum``): two families that
    would write one name raise ``ExpositionError`` naming it, in every format. (Two
    families of one name are the registry's to refuse, as for the other types.)"""
    with pytest.raises(ExpositionError, match=rf"'{re.escape(written)}'"):
        encode(fmt, [first, second], escaping=scheme, created=created)


def test_escaped_names_of_the_new_types_collide() -> None:
    """Collisions are found on the escaped names: info ``a.b`` and gauge ``a_b_info``
    write the same ``a_b_info`` under ``underscores``, but not under ``allow-utf-8``."""
    families = [info(name="a.b"), gauge(name="a_b_info")]
    with pytest.raises(ExpositionError, match=r"'a\.b'.*'a_b_info'|'a_b_info'.*'a\.b'"):
        encode_text(families, escaping="underscores")
    assert "a_b_info" in encode_text(families, escaping="allow-utf-8")


def test_distinct_names_do_not_collide() -> None:
    """A stateset ``x`` beside a gauge ``x_info``, and a gauge histogram ``x`` beside a
    gauge ``x_sum`` and ``x_count``, write distinct names."""
    families = [
        stateset(name="x"),
        gauge(name="x_info"),
        gauge_histogram(name="y"),
        gauge(name="y_sum"),
        gauge(name="y_count"),
    ]
    for fmt, scheme, created in FORMAT_CASES:
        assert encode(fmt, families, escaping=scheme, created=created)


# -- families without series ----------------------------------------------------------------------


def test_families_without_series() -> None:
    """As for the other types: text writes HELP and TYPE (a gauge histogram only its own,
    no ``_gcount``/``_gsum`` families, as prometheus_client), OpenMetrics its metadata,
    protobuf skips the family."""
    empty = [
        replace(info(), samples=()),
        replace(stateset(), samples=()),
        replace(gauge_histogram(), histograms=()),
    ]
    assert encode_text(empty) == (
        "# HELP build_info Build information.\n# TYPE build_info gauge\n"
        "# HELP disk_state Disk state.\n# TYPE disk_state gauge\n"
        "# HELP job_queue_seconds Time jobs have been waiting.\n"
        "# TYPE job_queue_seconds histogram\n"
    )
    assert encode_openmetrics(empty) == (
        "# TYPE build info\n# HELP build Build information.\n"
        "# TYPE disk_state stateset\n# HELP disk_state Disk state.\n"
        "# TYPE job_queue_seconds gaugehistogram\n# UNIT job_queue_seconds seconds\n"
        "# HELP job_queue_seconds Time jobs have been waiting.\n# EOF\n"
    )
    assert encode_protobuf(empty) == b""


def test_many_timestamped_series() -> None:
    """Ten thousand timestamped series, a few distinct timestamps: every line carries its
    own, in every format."""
    n = 10_000
    family = MetricFamily(
        name="big",
        type=MetricType.GAUGE,
        help="Big.",
        unit="",
        labelnames=("i",),
        samples=[(LabelSet((str(i),)), float(i)) for i in range(n)],
        timestamps=[1700000000.0 + (i % 7) / 8 for i in range(n)],
    )
    text = _lines(encode_text([family]))[2:]
    assert len(text) == n
    assert all(line.endswith(f" {1700000000000 + (i % 7) * 125}") for i, line in enumerate(text))
    (decoded,) = decode_families(encode_protobuf([family]))
    assert [m.timestamp_ms for m in decoded.metric] == [
        1700000000000 + (i % 7) * 125 for i in range(n)
    ]
    om = _lines(encode_openmetrics([family]))[2:-1]
    assert [line.rsplit(" ", 1)[1] for line in om] == [
        repr(1700000000.0 + (i % 7) / 8) for i in range(n)
    ]
