"""OpenMetrics 1.0 export, read back by ``prometheus_client``'s strict OpenMetrics parser.

The parser (which passes all 211 cases of the OpenMetrics parser corpus, checklist VAL-04)
must read back exactly what a real ``MetricsRegistry`` recorded: values, labels, exemplars,
and ``_created`` equal to when each series started. Expected rules come from checklist
section 2 (OM-01..OM-22).
"""

from __future__ import annotations

import math
import time
from typing import Any

import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)

from tachikoma_metrics import MetricsRegistry
from tachikoma_metrics.model import MetricType


def _parse(body: str) -> dict[str, Any]:
    assert body.endswith("# EOF\n")
    assert "\r" not in body and "\n\n" not in body
    return {family.name: family for family in parse_openmetrics(body)}


def _seconds(timestamp: Any) -> float:
    return float(timestamp)


def _recorded() -> tuple[MetricsRegistry, float, float]:
    """A registry with a labelled counter (exemplars on some children), an unlabelled counter,
    a gauge with special values and a histogram with exemplars; and the clock around it."""
    before = time.time()
    registry = MetricsRegistry()
    requests = registry.counter(
        "app_requests_total", "Requests handled.", labelnames=("method", "code")
    )
    requests.labels("get", "200").inc(3, exemplar={"trace_id": "abc123"})
    requests.labels("get", "200").inc(2)  # no exemplar: the last one stays
    requests.labels("post", "500").inc(0.5, exemplar={"trace_id": "def", "span_id": "7"})
    requests.labels("put", "201").inc(1)
    registry.counter("app_restarts_total", "Restarts.").inc(4)
    temperature = registry.gauge(
        "app_temperature_celsius", "Temperature.", labelnames=("sensor",), unit="celsius"
    )
    for sensor, value in [
        ("a_nan", math.nan),
        ("b_inf", math.inf),
        ("c_neg_inf", -math.inf),
        ("d_negative", -3.5),
        ("e_zero", -0.0),
        ("f_large", -1234567.0),
    ]:
        temperature.labels(sensor).set(value)
    latency = registry.histogram(
        "app_latency_seconds", "Latency.", labelnames=("route",), buckets=(0.1, 1, 2.5)
    )
    latency.labels("/a").observe(0.05, exemplar={"trace_id": "first"})
    latency.labels("/a").observe(0.07, exemplar={"trace_id": "second"})  # replaces "first"
    latency.labels("/a").observe(2.0)
    latency.labels("/a").observe(7.5, exemplar={"trace_id": "big"})
    latency.labels("/b")  # a series with no observations
    after = time.time()
    return registry, before, after


def test_counters_read_back_with_labels_and_exemplars() -> None:
    """Counters are family ``x`` with ``x_total`` samples (OM-07, TRICK-17); each child's
    value and latest exemplar (labels, value = the increment, timestamp from the clock) come
    back exactly; a child that never got an exemplar has none."""
    registry, before, after = _recorded()
    families = _parse(registry.export_openmetrics())
    family = families["app_requests"]
    assert family.type == "counter"
    assert family.documentation == "Requests handled."
    totals = [s for s in family.samples if s.name == "app_requests_total"]
    # Series sorted by label values taken in label-name order: code, then method.
    assert [(s.labels, s.value) for s in totals] == [
        ({"method": "get", "code": "200"}, 5.0),
        ({"method": "put", "code": "201"}, 1.0),
        ({"method": "post", "code": "500"}, 0.5),
    ]
    first, third, second = (s.exemplar for s in totals)
    assert first.labels == {"trace_id": "abc123"} and first.value == 3.0
    assert second.labels == {"trace_id": "def", "span_id": "7"} and second.value == 0.5
    assert third is None
    for exemplar in (first, second):
        assert before - 0.001 <= _seconds(exemplar.timestamp) <= after + 0.001
    restarts = families["app_restarts"]
    assert [(s.name, s.value) for s in restarts.samples if s.name.endswith("_total")] == [
        ("app_restarts_total", 4.0)
    ]


def test_gauges_read_back_including_nan_infinities_and_negatives() -> None:
    """Gauge values NaN, +Inf, -Inf, negatives and -0.0 come back as recorded (OM-08,
    TRICK-05/07/10); the unit is declared with ``# UNIT`` (OM-09)."""
    registry, _, _ = _recorded()
    body = registry.export_openmetrics()
    assert "# UNIT app_temperature_celsius celsius\n" in body
    assert 'app_temperature_celsius{sensor="e_zero"} 0.0\n' in body
    assert 'app_temperature_celsius{sensor="f_large"} -1.234567e+06\n' in body
    family = _parse(body)["app_temperature_celsius"]
    assert family.type == "gauge" and family.unit == "celsius"
    got = {s.labels["sensor"]: s.value for s in family.samples}
    assert math.isnan(got.pop("a_nan"))
    assert got == {
        "b_inf": math.inf,
        "c_neg_inf": -math.inf,
        "d_negative": -3.5,
        "e_zero": 0.0,
        "f_large": -1234567.0,
    }


def test_histograms_read_back_with_bucket_exemplars() -> None:
    """Histogram buckets are cumulative with ``+Inf`` = ``_count``, ``_sum`` exact, and each
    bucket keeps its latest exemplar, whose value lies in that bucket (OM-10, OM-19); a
    series with no observations is exposed with zero buckets (TRICK-13)."""
    registry, before, after = _recorded()
    family = _parse(registry.export_openmetrics())["app_latency_seconds"]
    assert family.type == "histogram"
    by_route: dict[str, dict[str, Any]] = {}
    for s in family.samples:
        by_route.setdefault(s.labels["route"], {})[s.name + s.labels.get("le", "")] = s
    a = by_route["/a"]
    assert [a[f"app_latency_seconds_bucket{le}"].value for le in ("0.1", "1.0", "2.5", "+Inf")] == [
        2,
        2,
        3,
        4,
    ]
    assert a["app_latency_seconds_count"].value == 4
    assert a["app_latency_seconds_sum"].value == pytest.approx(0.05 + 0.07 + 2.0 + 7.5)
    exemplars = {
        le: a[f"app_latency_seconds_bucket{le}"].exemplar for le in ("0.1", "1.0", "2.5", "+Inf")
    }
    assert exemplars["0.1"].labels == {"trace_id": "second"} and exemplars["0.1"].value == 0.07
    assert exemplars["1.0"] is None and exemplars["2.5"] is None
    assert exemplars["+Inf"].labels == {"trace_id": "big"} and exemplars["+Inf"].value == 7.5
    for exemplar in (exemplars["0.1"], exemplars["+Inf"]):
        assert before - 0.001 <= _seconds(exemplar.timestamp) <= after + 0.001
    b = by_route["/b"]
    assert [b[f"app_latency_seconds_bucket{le}"].value for le in ("0.1", "1.0", "2.5", "+Inf")] == [
        0,
        0,
        0,
        0,
    ]
    assert b["app_latency_seconds_count"].value == 0 and b["app_latency_seconds_sum"].value == 0


def _created_by_series(families: dict[str, Any]) -> dict[tuple[str, tuple[Any, ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in families.values()
        for s in family.samples
        if s.name.endswith("_created")
    }


def test_created_equals_each_series_start_time() -> None:
    """Every counter and histogram series has an ``x_created`` sample equal (within 1 ms)
    to the created time in the registry's snapshot, which lies between the clock readings
    taken around the recording."""
    registry, before, after = _recorded()
    created = _created_by_series(_parse(registry.export_openmetrics()))
    expected: dict[tuple[str, tuple[Any, ...]], float] = {}
    for family in registry.collect():
        if family.type is MetricType.COUNTER:
            for (labels, _), start in zip(family.samples, family.created, strict=True):
                key = tuple(sorted(zip(family.labelnames, labels.label_values, strict=True)))
                expected[(family.name + "_created", key)] = start
        elif family.type is MetricType.HISTOGRAM:
            for labels, value in family.histograms:
                key = tuple(sorted(zip(family.labelnames, labels.label_values, strict=True)))
                assert value.created is not None
                expected[(family.name + "_created", key)] = value.created
    assert set(created) == set(expected)
    assert len(created) == 3 + 1 + 2  # three request children, restarts, two routes
    for key, start in expected.items():
        assert created[key] == pytest.approx(start, abs=0.001)
        assert before - 0.001 <= created[key] <= after + 0.001


def test_created_absent_with_created_false_and_exemplars_kept() -> None:
    """``export_openmetrics(created=False)`` writes no ``_created`` series; everything else
    (values, exemplars) is unchanged and the body still parses."""
    registry, _, _ = _recorded()
    with_created = registry.export_openmetrics()
    without = registry.export_openmetrics(created=False)
    assert "_created" not in without
    assert _created_by_series(_parse(without)) == {}
    kept = [line for line in with_created.splitlines() if "_created" not in line.split(" ")[0]]
    assert without.splitlines() == kept
    assert '# {trace_id="abc123"} 3.0 ' in without


def test_registry_without_created_series() -> None:
    """``MetricsRegistry(created_series=False)`` leaves ``_created`` out by default, and an
    export call can still ask for them (per registry and per call, never by environment)."""
    registry = MetricsRegistry(created_series=False)
    registry.counter("jobs_total", "Jobs.").inc()
    registry.histogram("wait_seconds", "Wait.", buckets=(1,)).observe(0.5)
    body = registry.export_openmetrics()
    assert "_created" not in body
    assert _created_by_series(_parse(body)) == {}
    forced = _created_by_series(_parse(registry.export_openmetrics(created=True)))
    assert set(forced) == {("jobs_created", ()), ("wait_seconds_created", ())}


def test_created_series_not_switched_by_prometheus_client_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """prometheus_client's ``PROMETHEUS_DISABLE_CREATED_SERIES`` has no effect here: only the
    registry setting and the export argument decide."""
    monkeypatch.setenv("PROMETHEUS_DISABLE_CREATED_SERIES", "True")
    registry = MetricsRegistry()
    registry.counter("jobs_total", "Jobs.").inc()
    assert "\njobs_created " in registry.export_openmetrics()


# -- UNIT (OM-09) ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "name"),
    [("counter", "x_total"), ("gauge", "temperature"), ("histogram", "latency")],
)
def test_unit_must_be_a_suffix_of_the_name_at_definition(kind: str, name: str) -> None:
    """A unit that is not a suffix of the family name is refused when the instrument is
    defined (``counter("x_total", unit="seconds")``: family ``x`` does not end in
    ``_seconds``), with a ValueError naming unit and name; nothing is registered."""
    registry = MetricsRegistry()
    with pytest.raises(ValueError, match="seconds") as caught:
        getattr(registry, kind)(name, "Help.", unit="seconds")
    assert name.removesuffix("_total") in str(caught.value)
    assert registry.get(name) is None
    assert registry.export_openmetrics() == "# EOF\n"


def test_unit_suffix_accepted_and_declared() -> None:
    """``counter("x_seconds_total", unit="seconds")`` is valid: ``# UNIT x_seconds seconds``
    on family ``x_seconds`` (the family name, without ``_total``), read back by the parser."""
    registry = MetricsRegistry(created_series=False)
    registry.counter("x_seconds_total", "Busy time.", unit="seconds").inc(1.5)
    registry.histogram("rpc_seconds", "RPC.", unit="seconds", buckets=(1,)).observe(0.5)
    body = registry.export_openmetrics()
    assert body.startswith(
        "# TYPE rpc_seconds histogram\n# UNIT rpc_seconds seconds\n# HELP rpc_seconds RPC.\n"
    )
    assert (
        "# TYPE x_seconds counter\n# UNIT x_seconds seconds\n# HELP x_seconds Busy time.\n"
        "x_seconds_total 1.5\n"
    ) in body
    families = _parse(body)
    assert families["x_seconds"].unit == "seconds"
    assert families["rpc_seconds"].unit == "seconds"


# -- HELP (OM-05, TRICK-03/04) -----------------------------------------------------------------


def test_help_escapes_quote_backslash_and_newline() -> None:
    """OpenMetrics HELP escapes ``"`` as well as ``\\`` and LF (unlike text 0.0.4, which
    leaves ``"`` alone); the parser gives the original text back."""
    help_text = 'Say "hi" from C:\\dir\\ and a\\n, then\nline two.'
    registry = MetricsRegistry()
    registry.gauge("greeting", help_text).set(1)
    body = registry.export_openmetrics()
    assert '# HELP greeting Say \\"hi\\" from C:\\\\dir\\\\ and a\\\\n, then\\nline two.\n' in body
    assert _parse(body)["greeting"].documentation == help_text
    text = registry.export_prometheus()
    assert '# HELP greeting Say "hi" from C:\\\\dir\\\\ and a\\\\n, then\\nline two.\n' in text


def test_empty_help_writes_no_help_line() -> None:
    """An empty help writes no ``# HELP`` line (``# HELP x `` would mean the same, OM-04)."""
    registry = MetricsRegistry()
    registry.gauge("quiet").set(1)
    assert registry.export_openmetrics() == "# TYPE quiet gauge\nquiet 1.0\n# EOF\n"


# -- shapes the strict parser must accept --------------------------------------------------------


def test_labelled_family_without_series_writes_metadata_only() -> None:
    """A labelled family with no children writes its TYPE (and HELP) lines only; the parser
    reads an empty family."""
    registry = MetricsRegistry()
    registry.counter("pending_total", "Pending.", labelnames=("queue",))
    body = registry.export_openmetrics()
    assert body == "# TYPE pending counter\n# HELP pending Pending.\n# EOF\n"
    assert _parse(body)["pending"].samples == []


def test_negative_observations_leave_out_sum_and_count() -> None:
    """A negative ``_sum`` is invalid OpenMetrics, as is any ``_sum`` with a negative bucket
    bound (TRICK-15): such series are written without ``_sum``/``_count`` and parse."""
    registry = MetricsRegistry(created_series=False)
    registry.histogram("offset_seconds", "Offset.", buckets=(-1, 0, 1)).observe(-0.5)
    registry.histogram("drift_seconds", "Drift.", buckets=(1,)).observe(-3)
    body = registry.export_openmetrics()
    families = _parse(body)
    for name in ("offset_seconds", "drift_seconds"):
        names = {s.name for s in families[name].samples}
        assert names == {name + "_bucket"}
    assert 'offset_seconds_bucket{le="-1.0"} 0\n' in body
    assert 'drift_seconds_bucket{le="+Inf"} 1\n' in body


def test_every_sample_line_is_single_spaced() -> None:
    """Exactly one space between tokens, no trailing space, no tabs outside label values
    (OM-03), in a body with labels, exemplars and created series."""
    registry, _, _ = _recorded()
    for line in registry.export_openmetrics().splitlines():
        assert line == line.strip()
        assert "  " not in line
        assert "\t" not in line


def test_exemplar_label_values_are_escaped_in_openmetrics() -> None:
    """A quote, a backslash and a newline in an exemplar label value are escaped as the
    OpenMetrics grammar escapes label values (``\\"``, ``\\\\``, ``\\n``), so the line stays
    one line and the value ends where the grammar says."""
    registry = MetricsRegistry()
    registry.counter("jobs", "Jobs.").inc(1, exemplar={"trace": 'a"b\\c\nd'})
    body = registry.export_openmetrics()
    (line,) = [line for line in body.splitlines() if line.startswith("jobs_total ")]
    assert line.startswith('jobs_total 1.0 # {trace="a\\"b\\\\c\\nd"} 1.0 '), line


def test_summary_with_negative_values_stays_valid_openmetrics() -> None:
    """OpenMetrics allows no negative quantile value and no negative ``_sum``: those lines
    (and ``_count`` with ``_sum``) are left out there, the strict parser reads the rest, and
    the text format keeps them all."""
    registry = MetricsRegistry()
    summary = registry.summary("temp_celsius", "Temperatures.", quantiles=(0.1, 0.9))
    for value in (-40.0, -30.0, -20.0, -10.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0):
        summary.observe(value)
    body = registry.export_openmetrics()
    samples = {
        (s.name, s.labels.get("quantile")): s.value
        for family in parse_openmetrics(body)
        for s in family.samples
    }
    assert ("temp_celsius", "0.1") not in samples  # about -40: left out
    assert samples[("temp_celsius", "0.9")] > 0
    assert ("temp_celsius_sum", None) in samples  # the sum is 55: kept, with the count
    assert samples[("temp_celsius_count", None)] == 10
    summary.observe(-1000.0)
    body = registry.export_openmetrics()
    names = {s.name for family in parse_openmetrics(body) for s in family.samples}
    assert "temp_celsius_sum" not in names and "temp_celsius_count" not in names
    text = registry.export_prometheus()
    assert 'temp_celsius{quantile="0.1"} -' in text and "temp_celsius_sum -" in text
