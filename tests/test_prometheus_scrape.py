"""A real Prometheus server scrapes our exposition in each format and stores the same values.

Two Debian Prometheus 2.42 servers run for the whole module, started together so their first
scrapes (about 6 s after start: 2.42 hands new targets to its scrapers on a 5 s tick) overlap:

* the default server scrapes three targets, one job each: ``text`` (always text 0.0.4),
  ``openmetrics`` (always OpenMetrics 1.0.0) and ``negotiated`` (whatever
  ``tachikoma_metrics.negotiate`` picks for the request's ``Accept``, gzip-compressed when
  it says so). Prometheus 2.42 asks for OpenMetrics first.
* a server started with ``--enable-feature=native-histograms`` scrapes another
  ``negotiated`` target; Prometheus 2.42 then asks for protobuf first.

Every target serves the same registry, recorded once before the servers start, so every
scrape returns the same values. The tests read them back through Prometheus' HTTP API and
compare them exactly: names, label values (non-ASCII, quote, backslash, newline) and float
values. ``_created`` series, which only OpenMetrics carries to Prometheus 2.42, are ignored.

The registry holds every type a user reaches for: counters, gauges (one read from a
callback), classic histograms, a summary with quantiles, an info and a stateset family, and
a custom collector's counter, gauge histogram and unknown-typed families. Summary quantiles
must be stored exactly as the summary reported them, and each within 1% of the exact
nearest-rank quantile of what was observed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pytest

import tachikoma_metrics
from prometheus_harness import MetricsTarget, PrometheusServer, Response, negotiated
from tachikoma_metrics.collectors import (
    CounterMetricFamily,
    GaugeHistogramMetricFamily,
    UnknownMetricFamily,
)

TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"
PROTOBUF_MEDIA_TYPE = "application/vnd.google.protobuf"

# -- what the registry records (once, before any scrape) ---------------------------------------

# (path, method) label values -> increments. The label values need escaping in the text
# formats: a non-ASCII character, a quote, a backslash that is not an escape (``\n`` as two
# characters) and a real newline.
COUNTER_INCREMENTS: dict[tuple[str, str], tuple[float, ...]] = {
    ("/café/ünïcödé", "GET"): (3,),
    ('say "hi"', "POST"): (0.1, 0.2),  # 0.30000000000000004: needs all 17 digits
    ("C:\\new\\dir", "GET"): (1,),
    ("two\nlines", "PUT"): (1e-05, 2.5e6),
}
GAUGE_VALUE = -273.15  # negative, and not exactly representable in binary
HISTOGRAM_BUCKETS = (0.005, 0.1, 1, 2.5, 10)
# ``le`` as every format writes it (OpenMetrics canonical: integral bounds as ``1.0``).
# Prometheus 2.42 stores ``le`` as the text formats send it, and formats protobuf bounds the
# same way itself.
LE_LABELS = ("0.005", "0.1", "1.0", "2.5", "10.0", "+Inf")
HISTOGRAM_OBSERVATIONS = (0.001, 0.05, 0.1, 0.75, 1, 3, 12.5)  # 0.1 and 1 sit on a bound


QUANTILES = (0.5, 0.9, 0.99)
# Lognormal latencies: 2,000 of them, seeded, so every run stores the same quantiles.
SUMMARY_OBSERVATIONS = tuple(random.Random(9).lognormvariate(-1.0, 0.8) for _ in range(2000))
BUILD_INFO = {"version": "1.2.3", "commit": "abc"}
STATES = ("queued", "running", "done")
CALLBACK_VALUE = 17.25
# The custom collector's families: (le, cumulative) buckets of a gauge histogram, its gsum.
QUEUE_BUCKETS = (("1.0", 4), ("5.0", 9), ("+Inf", 11))
QUEUE_GSUM = 31.5


class JobsCollector:
    """A custom collector as a user ports it from prometheus_client: builders, add_metric."""

    def collect(self) -> list[tachikoma_metrics.MetricFamily]:
        jobs = CounterMetricFamily(
            "tk_exported_jobs", "Jobs seen by the exporter.", labels=["queue"]
        )
        jobs.add_metric(["fast"], 12)
        jobs.add_metric(["slow"], 3.5)
        wait = GaugeHistogramMetricFamily("tk_queue_wait_seconds", "Waiting now, by wait.")
        wait.add_metric([], list(QUEUE_BUCKETS), QUEUE_GSUM)
        legacy = UnknownMetricFamily("tk_legacy_ratio", "An untyped value.", value=0.625)
        return [jobs, wait, legacy]


def _nearest_rank(values: tuple[float, ...], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered) - 1e-9)) - 1]


def _counter_expected() -> dict[tuple[str, str], float]:
    expected = {}
    for labels, increments in COUNTER_INCREMENTS.items():
        total = 0.0
        for amount in increments:
            total += amount
        expected[labels] = total
    return expected


def _histogram_expected() -> tuple[list[int], float]:
    bounds = [*HISTOGRAM_BUCKETS, math.inf]
    cumulative = [sum(1 for v in HISTOGRAM_OBSERVATIONS if v <= bound) for bound in bounds]
    total = 0.0
    for value in HISTOGRAM_OBSERVATIONS:
        total += value
    # The sum must not depend on the order the library adds in.
    assert total == math.fsum(HISTOGRAM_OBSERVATIONS)
    return cumulative, total


Series = tuple[str, tuple[tuple[str, str], ...]]  # (name, sorted label pairs)


def _expected_series(registry: tachikoma_metrics.MetricsRegistry) -> dict[Series, float]:
    """Every series Prometheus must store for one target, with its exact value."""
    expected: dict[Series, float] = {}
    for (path, method), value in _counter_expected().items():
        expected["tk_requests_total", (("method", method), ("path", path))] = value
    expected["tk_temperature_celsius", ()] = GAUGE_VALUE
    cumulative, total = _histogram_expected()
    for le, count in zip(LE_LABELS, cumulative, strict=True):
        expected["tk_latency_seconds_bucket", (("le", le),)] = count
    expected["tk_latency_seconds_sum", ()] = total
    expected["tk_latency_seconds_count", ()] = len(HISTOGRAM_OBSERVATIONS)

    reported = registry.get("tk_llm_seconds").labels("anthropic").get()
    provider = ("provider", "anthropic")
    for q, estimate in reported.quantiles:
        exact = _nearest_rank(SUMMARY_OBSERVATIONS, q)
        assert abs(estimate - exact) <= 0.01 * exact, (q, estimate, exact)
        expected["tk_llm_seconds", (provider, ("quantile", str(q)))] = estimate
    expected["tk_llm_seconds_sum", (provider,)] = reported.sum
    expected["tk_llm_seconds_count", (provider,)] = len(SUMMARY_OBSERVATIONS)

    expected["tk_build_info", tuple(sorted(BUILD_INFO.items()))] = 1.0
    for state in STATES:
        expected["tk_mission_state", (("tk_mission_state", state),)] = float(state == "running")
    expected["tk_queue_depth", ()] = CALLBACK_VALUE

    expected["tk_exported_jobs_total", (("queue", "fast"),)] = 12.0
    expected["tk_exported_jobs_total", (("queue", "slow"),)] = 3.5
    for le, cumulative in QUEUE_BUCKETS:
        expected["tk_queue_wait_seconds_bucket", (("le", le),)] = cumulative
    expected["tk_queue_wait_seconds_gcount", ()] = QUEUE_BUCKETS[-1][1]
    expected["tk_queue_wait_seconds_gsum", ()] = QUEUE_GSUM
    expected["tk_legacy_ratio", ()] = 0.625
    return expected


def _record() -> tachikoma_metrics.MetricsRegistry:
    registry = tachikoma_metrics.MetricsRegistry()
    requests = registry.counter("tk_requests", "Requests handled.", labelnames=("path", "method"))
    for (path, method), increments in COUNTER_INCREMENTS.items():
        for amount in increments:
            requests.labels(path=path, method=method).inc(amount)
    registry.gauge("tk_temperature_celsius", "Coolant temperature.").set(GAUGE_VALUE)
    latency = registry.histogram(
        "tk_latency_seconds", "Request latency.", buckets=HISTOGRAM_BUCKETS
    )
    for value in HISTOGRAM_OBSERVATIONS:
        latency.observe(value)
    llm = registry.summary(
        "tk_llm_seconds", "LLM call latency.", labelnames=("provider",), quantiles=QUANTILES
    )
    for value in SUMMARY_OBSERVATIONS:
        llm.labels("anthropic").observe(value)
    registry.info("tk_build", "Build information.").info(BUILD_INFO)
    registry.stateset("tk_mission_state", "Mission state.", states=STATES).state("running")
    registry.gauge("tk_queue_depth", "Queue depth, read at each scrape.").set_function(
        lambda: CALLBACK_VALUE
    )
    registry.register(JobsCollector())
    return registry


# -- targets and servers -------------------------------------------------------------------------


def _text(registry: tachikoma_metrics.MetricsRegistry) -> Response:
    return TEXT_CONTENT_TYPE, registry.export_prometheus().encode()


def _openmetrics(registry: tachikoma_metrics.MetricsRegistry) -> Response:
    return OPENMETRICS_CONTENT_TYPE, registry.export_openmetrics().encode()


@dataclass
class Scrapes:
    prometheus: PrometheusServer  # default flags: asks for OpenMetrics first
    native: PrometheusServer  # native histograms enabled: asks for protobuf first
    targets: dict[str, MetricsTarget]  # by job name; "native" is the native server's
    registry: tachikoma_metrics.MetricsRegistry  # what every target serves


@pytest.fixture(scope="module")
def scrapes() -> Iterator[Scrapes]:
    """Both servers and all their targets, started together and stopped after the module."""
    registry = _record()
    with ExitStack() as stack:
        targets = {
            "text": MetricsTarget(lambda headers: _text(registry)),
            "openmetrics": MetricsTarget(lambda headers: _openmetrics(registry)),
            "negotiated": MetricsTarget(lambda headers: negotiated(registry, headers)),
            "native": MetricsTarget(lambda headers: negotiated(registry, headers)),
        }
        for target in targets.values():
            stack.enter_context(target)
        prometheus = stack.enter_context(
            PrometheusServer(
                [(job, targets[job].address) for job in ("text", "openmetrics", "negotiated")]
            )
        )
        native = stack.enter_context(
            PrometheusServer(
                [("negotiated", targets["native"].address)],
                extra_flags=("--enable-feature=native-histograms",),
            )
        )
        yield Scrapes(prometheus, native, targets, registry)


# -- reading back ------------------------------------------------------------------------------

# Labels Prometheus attaches itself.
_TARGET_LABELS = frozenset({"__name__", "job", "instance"})


def _as_series(result: list[dict[str, Any]]) -> dict[Series, float]:
    series: dict[Series, float] = {}
    for sample in result:
        metric = sample["metric"]
        labels = tuple(sorted((k, v) for k, v in metric.items() if k not in _TARGET_LABELS))
        series[metric["__name__"], labels] = float(sample["value"][1])
    return series


def _wait_until_up(server: PrometheusServer, target: MetricsTarget, job: str) -> None:
    """Wait for the first scrape of ``job``; fail with the target's own error, or unless up."""
    query = f'up{{job="{job}"}}'
    server.wait_for(query, lambda result: len(result) == 1)
    # The exception our respond function raised (a missing API, say), in this thread.
    target.raise_errors()
    # A parse error is deterministic and shows in lastError; allow a few more scrapes only
    # so that one slow scrape on a loaded machine does not fail the test.
    server.wait_for(query, lambda result: result[0]["value"][1] == "1", timeout=5)


def _protobuf_gauge_histogram(expected: dict[Series, float]) -> dict[Series, float]:
    """``expected`` as Prometheus 2.42 stores it from protobuf.

    Our protobuf writes the gauge histogram as ``client_model`` defines it (type
    ``GAUGE_HISTOGRAM`` with a ``histogram`` field; tests/test_exposition_types.py decodes it
    field by field). Prometheus 2.42's protobuf parser adds the ``_bucket``/``_count``/``_sum``
    suffixes to ``HISTOGRAM`` and ``SUMMARY`` families only, so it stores this family's
    buckets and count under the bare family name and drops its sum as a duplicate sample.
    This pins down what that Prometheus does, so a change on either side shows up here.
    """
    stored = {key: value for key, value in expected.items() if "tk_queue_wait" not in key[0]}
    for le, cumulative in QUEUE_BUCKETS:
        stored["tk_queue_wait_seconds", (("le", le),)] = cumulative
    stored["tk_queue_wait_seconds", ()] = QUEUE_BUCKETS[-1][1]
    return stored


def _assert_values_stored(
    scrapes: Scrapes, server: PrometheusServer, job: str, *, protobuf: bool = False
) -> None:
    """Prometheus stores exactly the recorded series and values for ``job``."""
    expected = _expected_series(scrapes.registry)
    if protobuf:
        expected = _protobuf_gauge_histogram(expected)
    query = f'{{__name__=~"tk_.+",job="{job}"}}'

    def complete(result: list[dict[str, Any]]) -> bool:
        return expected.keys() <= _as_series(result).keys()

    # One scrape is committed at once, so after ``up`` every series is normally there already.
    try:
        result = server.wait_for(query, complete, timeout=5)
    except AssertionError:
        result = server.query(query)  # the comparison below shows what differs
    stored = {
        key: value for key, value in _as_series(result).items() if not key[0].endswith("_created")
    }
    assert stored == expected, f"targets:\n{server.describe_targets()}"


def _media_type(content_type: str) -> tuple[str, dict[str, str]]:
    media_type, *params = (part.strip() for part in content_type.split(";"))
    parameters = dict(param.split("=", 1) for param in params if "=" in param)
    return media_type.lower(), parameters


# -- tests ---------------------------------------------------------------------------------------


def test_text_target_values_stored(scrapes: Scrapes) -> None:
    """Prometheus scrapes text 0.0.4 (``up`` is 1) and stores every value exactly."""
    _wait_until_up(scrapes.prometheus, scrapes.targets["text"], "text")
    _assert_values_stored(scrapes, scrapes.prometheus, "text")


def test_openmetrics_target_values_stored(scrapes: Scrapes) -> None:
    """Prometheus scrapes ``export_openmetrics()`` (``up`` is 1) and stores every value exactly."""
    _wait_until_up(scrapes.prometheus, scrapes.targets["openmetrics"], "openmetrics")
    _assert_values_stored(scrapes, scrapes.prometheus, "openmetrics")


def test_negotiated_target_serves_prometheus_openmetrics(scrapes: Scrapes) -> None:
    """Prometheus 2.42 asks for OpenMetrics first; ``negotiate`` answers OpenMetrics 1.0.0,
    gzip-compressed, and Prometheus stores every value exactly."""
    target = scrapes.targets["negotiated"]
    _wait_until_up(scrapes.prometheus, target, "negotiated")

    accepts = target.accept_headers
    assert accepts, "the target recorded no request"
    for accept in accepts:
        assert accept is not None
        assert accept.startswith("application/openmetrics-text"), accept
    for request in target.requests:
        assert "gzip" in request.get("accept-encoding", ""), request

    for response in target.responses:
        media_type, params = _media_type(response["content-type"])
        assert (media_type, params.get("version")) == ("application/openmetrics-text", "1.0.0")
        assert response.get("Content-Encoding") == "gzip", response

    _assert_values_stored(scrapes, scrapes.prometheus, "negotiated")


def test_negotiated_target_serves_native_histogram_prometheus_protobuf(scrapes: Scrapes) -> None:
    """With ``--enable-feature=native-histograms`` Prometheus 2.42 asks for protobuf first;
    ``negotiate`` answers delimited ``MetricFamily`` protobuf and Prometheus stores every
    value exactly, classic histogram buckets included."""
    target = scrapes.targets["native"]
    _wait_until_up(scrapes.native, target, "negotiated")

    accepts = target.accept_headers
    assert accepts, "the target recorded no request"
    for accept in accepts:
        assert accept is not None
        assert accept.startswith(PROTOBUF_MEDIA_TYPE), accept

    for response in target.responses:
        media_type, params = _media_type(response["content-type"])
        assert media_type == PROTOBUF_MEDIA_TYPE, response
        assert params.get("proto") == "io.prometheus.client.MetricFamily", response
        assert params.get("encoding") == "delimited", response

    _assert_values_stored(scrapes, scrapes.native, "negotiated", protobuf=True)
