"""Validators nobody here wrote: ``promtool check metrics`` and prometheus_client's parser."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from promtool import check_metrics
from tachikoma_metrics import MetricsRegistry

INF = math.inf

# Label values that exercise every escaping rule and raw pass-through.
TRICKY_VALUES = [
    "plain",
    "",
    "C:\\DIR\\FILE.TXT",
    "C:\\",
    'say "hi"',
    "line1\nline2",
    "a\\nb",
    "a\\\nb",
    "tab\there",
    "Grüße",
    "日本語 🚀",
    'x # y}, z="',
    "nul\x00byte",
]

GAUGE_VALUES = {
    "one": 1.0,
    "quarter": 0.25,
    "million": 1e6,
    "big_negative": -1234567.0,
    "tiny": 1e-05,
    "smallest": 5e-324,
    "largest": 1.7976931348623157e308,
    "pos_inf": INF,
    "neg_inf": -INF,
    "nan": math.nan,
    "neg_zero": -0.0,
    "fraction": 0.1 + 0.2,
}


def _rich_registry() -> MetricsRegistry:
    """Every type, labelled and not, with escapes, non-ASCII text and special values."""
    reg = MetricsRegistry()
    reg.counter("app_jobs_total", 'Jobs done; "quoted", back\\slash and\nnewline.').inc(42)
    requests = reg.counter("app_requests_total", "Requests.", labelnames=("path", "code"))
    for number, value in enumerate(TRICKY_VALUES):
        requests.labels(value, str(200 + number)).inc(number + 0.5)
    reg.counter("app_idle_total", "Never used.", labelnames=("worker",))
    values = reg.gauge("app_values", "Special values.", labelnames=("case",))
    for case, value in GAUGE_VALUES.items():
        values.labels(case).set(value)
    reg.gauge("app_temperature_celsius", "Température (°C).", unit="celsius").set(-12.5)
    latency = reg.histogram(
        "app_latency_seconds", "Latency.", labelnames=("route",), buckets=(0.01, 0.1, 1, 10)
    )
    for value in (0.005, 0.05, 0.5, 5, 50, 0.1, 1):
        latency.labels("/api/ü").observe(value)
    latency.labels('/q?a="b"\\').observe(0.25)
    latency.labels("/empty")
    reg.histogram("app_unused_seconds", "No observations.")
    reg.histogram("app_wait_seconds", "Default buckets.").observe(0.3)
    return reg


def _parse(text: str) -> dict[str, object]:
    return {family.name: family for family in text_string_to_metric_families(text)}


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample as ``{(name, sorted label pairs): value}``, duplicates rejected."""
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in list(text_string_to_metric_families(text)):
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            assert key not in found, f"duplicate series {key}"
            found[key] = sample.value
    return found


def test_promtool_accepts_rich_exposition() -> None:
    """``promtool check metrics`` accepts the exposition with no error and no lint warning."""
    body = _rich_registry().export_prometheus().encode("utf-8")
    result = check_metrics(body)
    output = (result.stdout + result.stderr).decode("utf-8", "replace")
    assert result.returncode == 0, output
    assert output == ""


def test_promtool_actually_rejects_bad_input() -> None:
    """Control: the same promtool run fails on a body with a bad escape, so it really checks."""
    body = b'# HELP g G.\n# TYPE g gauge\ng{p="tab\\there"} 1\n'
    result = check_metrics(body)
    assert result.returncode != 0


def test_parser_reads_back_families_types_and_help() -> None:
    """prometheus_client's parser sees every family with its type and unescaped HELP."""
    families = _parse(_rich_registry().export_prometheus())
    expected_types = {
        "app_jobs": "counter",
        "app_requests": "counter",
        "app_idle": "counter",
        "app_values": "gauge",
        "app_temperature_celsius": "gauge",
        "app_latency_seconds": "histogram",
        "app_unused_seconds": "histogram",
        "app_wait_seconds": "histogram",
    }
    assert {name: f.type for name, f in families.items()} == expected_types  # type: ignore[attr-defined]
    assert families["app_jobs"].documentation == (  # type: ignore[attr-defined]
        'Jobs done; "quoted", back\\slash and\nnewline.'
    )
    assert families["app_temperature_celsius"].documentation == "Température (°C)."  # type: ignore[attr-defined]
    assert families["app_idle"].samples == []  # type: ignore[attr-defined]


def test_parser_reads_back_counter_values_and_tricky_label_values() -> None:
    """Counter values and label values holding ``\\``, ``"``, LF, TAB, NUL, non-ASCII round-trip."""
    samples = _samples(_rich_registry().export_prometheus())
    assert samples[("app_jobs_total", ())] == 42.0
    for number, value in enumerate(TRICKY_VALUES):
        key = ("app_requests_total", (("code", str(200 + number)), ("path", value)))
        assert samples[key] == number + 0.5
    requests = [key for key in samples if key[0] == "app_requests_total"]
    assert len(requests) == len(TRICKY_VALUES)


def test_parser_reads_back_gauge_special_values() -> None:
    """Gauge values, NaN, infinities, extremes and ``-0.0`` included, read back exactly."""
    samples = _samples(_rich_registry().export_prometheus())
    for case, value in GAUGE_VALUES.items():
        got = samples[("app_values", (("case", case),))]
        if math.isnan(value):
            assert math.isnan(got), case
        else:
            assert got == value, case
    assert samples[("app_temperature_celsius", ())] == -12.5


def test_parser_reads_back_histograms() -> None:
    """Buckets are cumulative with ``le`` bounds as floats, ``+Inf`` equals count, sum exact."""
    samples = _samples(_rich_registry().export_prometheus())
    route = ("route", "/api/ü")

    def bucket(le: str, labels: tuple[str, str] = route) -> float:
        return samples[("app_latency_seconds_bucket", tuple(sorted([("le", le), labels])))]

    assert [bucket(le) for le in ("0.01", "0.1", "1.0", "10.0", "+Inf")] == [1, 3, 5, 6, 7]
    assert samples[("app_latency_seconds_count", (route,))] == 7
    assert samples[("app_latency_seconds_sum", (route,))] == 0.005 + 0.05 + 0.5 + 5 + 50 + 0.1 + 1
    odd = ("route", '/q?a="b"\\')
    assert [bucket(le, odd) for le in ("0.01", "0.1", "1.0", "10.0", "+Inf")] == [0, 0, 1, 1, 1]
    assert samples[("app_latency_seconds_sum", (odd,))] == 0.25
    empty = ("route", "/empty")
    assert [bucket(le, empty) for le in ("0.01", "0.1", "1.0", "10.0", "+Inf")] == [0] * 5
    assert samples[("app_latency_seconds_count", (empty,))] == 0
    assert samples[("app_unused_seconds_count", ())] == 0
    assert samples[("app_unused_seconds_sum", ())] == 0
    wait = {
        float(dict(labels)["le"]): value
        for (name, labels), value in samples.items()
        if name == "app_wait_seconds_bucket"
    }
    bounds = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, INF)
    assert wait == {bound: (1 if bound >= 0.3 else 0) for bound in bounds}


label_values = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=30)
finite = st.floats(allow_nan=False, allow_infinity=False)


@settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(series=st.dictionaries(label_values, finite, min_size=1, max_size=5))
def test_parser_round_trips_generated_labels_and_values(series: dict[str, float]) -> None:
    """Any UTF-8 label value and any finite float read back exactly through the parser.

    Counters get the absolute value (they only go up), gauges the value itself, and a
    histogram gets one observation per series, so its sum is that value.
    """
    reg = MetricsRegistry()
    gauge = reg.gauge("g", "G.", labelnames=("v",))
    counter = reg.counter("c_total", "C.", labelnames=("v",))
    histogram = reg.histogram("h", "H.", labelnames=("v",), buckets=(0,))
    for label, value in series.items():
        gauge.labels(label).set(value)
        counter.labels(label).inc(abs(value))
        histogram.labels(label).observe(value)
    samples = _samples(reg.export_prometheus())
    expected: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for label, value in series.items():
        expected[("g", (("v", label),))] = value
        expected[("c_total", (("v", label),))] = abs(value)
        expected[("h_bucket", (("le", "0.0"), ("v", label)))] = 1 if value <= 0 else 0
        expected[("h_bucket", (("le", "+Inf"), ("v", label)))] = 1
        expected[("h_sum", (("v", label),))] = value
        expected[("h_count", (("v", label),))] = 1
    assert samples == expected


@settings(max_examples=30, deadline=None, database=None)
@given(series=st.dictionaries(label_values, finite, min_size=1, max_size=8))
def test_promtool_accepts_generated_labels_and_values(series: dict[str, float]) -> None:
    """promtool accepts any UTF-8 label value (TAB, NUL, LF, quotes...) and any finite value."""
    reg = MetricsRegistry()
    gauge = reg.gauge("gen_values", "Generated.", labelnames=("v",))
    for label, value in series.items():
        gauge.labels(label).set(value)
    result = check_metrics(reg.export_prometheus().encode("utf-8"))
    output = (result.stdout + result.stderr).decode("utf-8", "replace")
    assert result.returncode == 0, output
    assert output == ""
