"""Prometheus text format 0.0.4: exact bytes, written by hand from the format's rules.

Every expected string here was written from the exposition checklist (sections 1 and 8)
and the Go encoder's rules, not produced by this library.
"""

from __future__ import annotations

import math

import pytest

from tachikoma_metrics import MetricsRegistry


def _body(registry: MetricsRegistry) -> bytes:
    text = registry.export_prometheus()
    assert isinstance(text, str)
    return text.encode("utf-8")


def test_empty_registry_exports_nothing(registry: MetricsRegistry) -> None:
    """A registry with no families exports the empty string."""
    assert registry.export_prometheus() == ""


def test_small_registry_exact_bytes(registry: MetricsRegistry) -> None:
    """A counter, a gauge and a labelled histogram render exactly, families sorted by name.

    Label pairs are sorted by name with ``le`` last, series in a stable order, counts and
    values in Go's shortest form, ``le`` in the OpenMetrics canonical form (``1.0``).
    """
    calls = registry.counter(
        "app_requests_total", "Requests handled.", labelnames=("method", "code")
    )
    registry.gauge("app_temperature_celsius", "Temperature.", unit="celsius").set(21.5)
    lat = registry.histogram(
        "app_latency_seconds", "Latency.", labelnames=("route",), buckets=(0.1, 1, 2.5)
    )
    calls.labels("post", "500").inc()
    calls.labels("get", "200").inc(3)
    calls.labels(method="get", code="404").inc(0.5)
    for value in (0.0625, 0.5, 3):
        lat.labels("/b").observe(value)
    lat.labels("/a").observe(1)
    expected = (
        "# HELP app_latency_seconds Latency.\n"
        "# TYPE app_latency_seconds histogram\n"
        'app_latency_seconds_bucket{route="/a",le="0.1"} 0\n'
        'app_latency_seconds_bucket{route="/a",le="1.0"} 1\n'
        'app_latency_seconds_bucket{route="/a",le="2.5"} 1\n'
        'app_latency_seconds_bucket{route="/a",le="+Inf"} 1\n'
        'app_latency_seconds_sum{route="/a"} 1\n'
        'app_latency_seconds_count{route="/a"} 1\n'
        'app_latency_seconds_bucket{route="/b",le="0.1"} 1\n'
        'app_latency_seconds_bucket{route="/b",le="1.0"} 2\n'
        'app_latency_seconds_bucket{route="/b",le="2.5"} 2\n'
        'app_latency_seconds_bucket{route="/b",le="+Inf"} 3\n'
        'app_latency_seconds_sum{route="/b"} 3.5625\n'
        'app_latency_seconds_count{route="/b"} 3\n'
        "# HELP app_requests_total Requests handled.\n"
        "# TYPE app_requests_total counter\n"
        'app_requests_total{code="200",method="get"} 3\n'
        'app_requests_total{code="404",method="get"} 0.5\n'
        'app_requests_total{code="500",method="post"} 1\n'
        "# HELP app_temperature_celsius Temperature.\n"
        "# TYPE app_temperature_celsius gauge\n"
        "app_temperature_celsius 21.5\n"
    )
    assert registry.export_prometheus() == expected
    assert _body(registry) == expected.encode("utf-8")


def test_families_sorted_by_name_not_creation_order(registry: MetricsRegistry) -> None:
    """Families come out sorted by name whatever order they were created in."""
    registry.gauge("zeta", "Z.")
    registry.gauge("alpha", "A.")
    registry.gauge("mid", "M.")
    assert registry.export_prometheus() == (
        "# HELP alpha A.\n# TYPE alpha gauge\nalpha 0\n"
        "# HELP mid M.\n# TYPE mid gauge\nmid 0\n"
        "# HELP zeta Z.\n# TYPE zeta gauge\nzeta 0\n"
    )


def test_series_order_is_stable_and_sorted(registry: MetricsRegistry) -> None:
    """Series come out sorted by label values, not by creation order, on every export."""
    g = registry.gauge("g", "G.", labelnames=("k",))
    for key in ("c", "a", "b"):
        g.labels(key).set(1)
    expected = '# HELP g G.\n# TYPE g gauge\ng{k="a"} 1\ng{k="b"} 1\ng{k="c"} 1\n'
    assert registry.export_prometheus() == expected
    assert registry.export_prometheus() == expected
    g.labels("0").set(2)
    assert registry.export_prometheus() == (
        '# HELP g G.\n# TYPE g gauge\ng{k="0"} 2\ng{k="a"} 1\ng{k="b"} 1\ng{k="c"} 1\n'
    )


def test_help_escaping(registry: MetricsRegistry) -> None:
    """HELP escapes backslash as ``\\\\`` and LF as ``\\n``; double quotes stay raw (TXT-03)."""
    registry.gauge("m", 'Path C:\\tmp\nsecond "q"')
    registry.gauge("n", "a\\n")  # backslash then n (TRICK-04)
    registry.gauge("o", "")
    assert registry.export_prometheus() == (
        '# HELP m Path C:\\\\tmp\\nsecond "q"\n# TYPE m gauge\nm 0\n'
        "# HELP n a\\\\n\n# TYPE n gauge\nn 0\n"
        "# HELP o \n# TYPE o gauge\no 0\n"
    )


def test_label_value_escaping(registry: MetricsRegistry) -> None:
    """Label values escape ``\\``, ``"`` and LF only; TAB and non-ASCII pass raw (TXT-05).

    Covers TRICK-01 (backslash-n versus a real newline), TRICK-02 (trailing backslash),
    TRICK-37 (``#``, braces, commas inside a value) and TRICK-22 (raw TAB).
    """
    g = registry.gauge("g", "G.", labelnames=("id", "p"))
    values = [
        "C:\\DIR\\FILE.TXT",
        'say "hi"',
        "line1\nline2",
        "a\\nb",
        "a\\\nb",
        "C:\\",
        "tab\there",
        "Grüße",
        "",
        'x # y}, z="',
    ]
    for number, value in enumerate(values):
        g.labels(str(number), value).set(1)
    expected = (
        "# HELP g G.\n"
        "# TYPE g gauge\n"
        r'g{id="0",p="C:\\DIR\\FILE.TXT"} 1' + "\n"
        r'g{id="1",p="say \"hi\""} 1' + "\n"
        r'g{id="2",p="line1\nline2"} 1' + "\n"
        r'g{id="3",p="a\\nb"} 1' + "\n"
        r'g{id="4",p="a\\\nb"} 1' + "\n"
        r'g{id="5",p="C:\\"} 1' + "\n"
        'g{id="6",p="tab\there"} 1\n'
        'g{id="7",p="Grüße"} 1\n'
        'g{id="8",p=""} 1\n'
        r'g{id="9",p="x # y}, z=\""} 1' + "\n"
    )
    assert registry.export_prometheus() == expected
    body = _body(registry)
    assert b'p="Gr\xc3\xbc\xc3\x9fe"' in body
    assert b'p="tab\there"' in body
    assert b"\\t" not in body


def test_label_escaping_in_histogram_series(registry: MetricsRegistry) -> None:
    """Escaped label values are written the same way on bucket, sum and count lines."""
    h = registry.histogram("h", "H.", labelnames=("p",), buckets=(1,))
    h.labels('q"\\\n').observe(2)
    assert registry.export_prometheus() == (
        "# HELP h H.\n"
        "# TYPE h histogram\n"
        r'h_bucket{p="q\"\\\n",le="1.0"} 0' + "\n"
        r'h_bucket{p="q\"\\\n",le="+Inf"} 1' + "\n"
        r'h_sum{p="q\"\\\n"} 2' + "\n"
        r'h_count{p="q\"\\\n"} 1' + "\n"
    )


def test_value_rendering_table(registry: MetricsRegistry) -> None:
    """Values are written as Go's ``FormatFloat(v, 'g', -1, 64)`` writes them (TXT-06)."""
    table = [
        (1.0, "1"),
        (0.25, "0.25"),
        (1e6, "1e+06"),
        (-1234567.0, "-1.234567e+06"),
        (1e-05, "1e-05"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
        (math.nan, "NaN"),
        (-0.0, "0"),
        (0.0, "0"),
        (-1.0, "-1"),
        (10.0, "10"),
        (0.1, "0.1"),
        (0.1 + 0.2, "0.30000000000000004"),
        (0.0001, "0.0001"),
        (1e-07, "1e-07"),
        (5e-324, "5e-324"),
        (100000.0, "100000"),
        (999999.0, "999999"),
        (123456789.0, "1.23456789e+08"),
        (1.458255915e9, "1.458255915e+09"),
        (1e15, "1e+15"),
        (1e16, "1e+16"),
        (1e20, "1e+20"),
        (-1e20, "-1e+20"),
        (1.1e23, "1.1e+23"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (1234567.125, "1.234567125e+06"),
        (123456.5, "123456.5"),
    ]
    g = registry.gauge("v", "Values.", labelnames=("case",))
    for number, (value, _) in enumerate(table):
        g.labels(f"{number:02d}").set(value)
    lines = [f'v{{case="{number:02d}"}} {text}\n' for number, (_, text) in enumerate(table)]
    assert registry.export_prometheus() == "# HELP v Values.\n# TYPE v gauge\n" + "".join(lines)


@pytest.mark.parametrize(("value", "text"), [(3, "3"), (-7, "-7"), (2_000_000, "2e+06")])
def test_integer_values_render_like_floats(
    registry: MetricsRegistry, value: int, text: str
) -> None:
    """An int given to a gauge is written as the equal float is."""
    registry.gauge("g", "G.").set(value)
    assert registry.export_prometheus() == f"# HELP g G.\n# TYPE g gauge\ng {text}\n"


def test_counter_values_and_large_totals(registry: MetricsRegistry) -> None:
    """Counter totals use the same rendering: ``0.5``, ``1e+06``, ``1.5e+06``."""
    c = registry.counter("c_total", "C.", labelnames=("k",))
    c.labels("a").inc(0.5)
    c.labels("b").inc(1e6)
    c.labels("c").inc(1e6)
    c.labels("c").inc(5e5)
    assert registry.export_prometheus() == (
        "# HELP c_total C.\n# TYPE c_total counter\n"
        'c_total{k="a"} 0.5\nc_total{k="b"} 1e+06\nc_total{k="c"} 1.5e+06\n'
    )


def test_labelled_family_without_children_writes_only_metadata(registry: MetricsRegistry) -> None:
    """A labelled family with no series yet writes its HELP and TYPE lines only (TXT-15)."""
    registry.counter("c_total", "Nothing yet.", labelnames=("k",))
    registry.gauge("g", "Nothing.", labelnames=("k",))
    registry.histogram("h", "None.", labelnames=("k",))
    assert registry.export_prometheus() == (
        "# HELP c_total Nothing yet.\n# TYPE c_total counter\n"
        "# HELP g Nothing.\n# TYPE g gauge\n"
        "# HELP h None.\n# TYPE h histogram\n"
    )


def test_histogram_without_observations_exposes_zero_buckets(registry: MetricsRegistry) -> None:
    """An unlabelled histogram with no observations writes every bucket, sum and count as 0."""
    registry.histogram("lat_seconds", "Latency.")
    assert registry.export_prometheus() == (
        "# HELP lat_seconds Latency.\n"
        "# TYPE lat_seconds histogram\n"
        'lat_seconds_bucket{le="0.005"} 0\n'
        'lat_seconds_bucket{le="0.01"} 0\n'
        'lat_seconds_bucket{le="0.025"} 0\n'
        'lat_seconds_bucket{le="0.05"} 0\n'
        'lat_seconds_bucket{le="0.075"} 0\n'
        'lat_seconds_bucket{le="0.1"} 0\n'
        'lat_seconds_bucket{le="0.25"} 0\n'
        'lat_seconds_bucket{le="0.5"} 0\n'
        'lat_seconds_bucket{le="0.75"} 0\n'
        'lat_seconds_bucket{le="1.0"} 0\n'
        'lat_seconds_bucket{le="2.5"} 0\n'
        'lat_seconds_bucket{le="5.0"} 0\n'
        'lat_seconds_bucket{le="7.5"} 0\n'
        'lat_seconds_bucket{le="10.0"} 0\n'
        'lat_seconds_bucket{le="+Inf"} 0\n'
        "lat_seconds_sum 0\n"
        "lat_seconds_count 0\n"
    )


def test_le_rendering_in_openmetrics_canonical_form(registry: MetricsRegistry) -> None:
    """``le`` is written as OpenMetrics' canonical float: ``.0`` on integral bounds (pinned)."""
    registry.histogram("h", "H.", buckets=(-1, 0, 1e-05, 1, 2.5, 10, 1e6))
    les = [
        line.split('le="')[1].split('"')[0]
        for line in registry.export_prometheus().splitlines()
        if line.startswith("h_bucket")
    ]
    assert les == ["-1.0", "0.0", "1e-05", "1.0", "2.5", "10.0", "1e+06", "+Inf"]


def test_histogram_sum_rendering_and_infinite_observation(registry: MetricsRegistry) -> None:
    """The sum is written with Go's float rules; an infinite observation makes it ``+Inf``."""
    h = registry.histogram("h", "H.", buckets=(1,))
    h.observe(1e6)
    assert registry.export_prometheus().endswith("h_sum 1e+06\nh_count 1\n")
    h.observe(math.inf)
    assert registry.export_prometheus() == (
        '# HELP h H.\n# TYPE h histogram\nh_bucket{le="1.0"} 0\nh_bucket{le="+Inf"} 2\n'
        "h_sum +Inf\nh_count 2\n"
    )


def test_every_line_ends_with_lf_and_no_cr(registry: MetricsRegistry) -> None:
    """The body is UTF-8 with LF line ends only: it ends with ``\\n`` and holds no ``\\r``."""
    registry.counter("c_total", "C.\nsecond line", labelnames=("k",)).labels("v\nw").inc()
    registry.gauge("g", "G.").set(math.nan)
    registry.histogram("h", "H.", labelnames=("k",)).labels("é").observe(0.2)
    body = _body(registry)
    assert body.endswith(b"\n")
    assert b"\r" not in body
    assert not body.startswith(b"\xef\xbb\xbf")
    for line in body.split(b"\n")[:-1]:
        assert line, "no empty lines"
        assert line.startswith((b"# HELP ", b"# TYPE ", b"c_total", b"g", b"h_"))


def test_each_export_shows_current_values(registry: MetricsRegistry) -> None:
    """Every export reads the values anew: nothing rendered earlier is served stale."""
    c = registry.counter("c_total", "C.", labelnames=("k",))
    g = registry.gauge("g", "G.")
    c.labels("a").inc()
    g.set(0.5)
    assert registry.export_prometheus() == (
        '# HELP c_total C.\n# TYPE c_total counter\nc_total{k="a"} 1\n'
        "# HELP g G.\n# TYPE g gauge\ng 0.5\n"
    )
    c.labels("a").inc(1e6)
    c.labels("b").inc(2)
    g.set(-0.0)
    assert registry.export_prometheus() == (
        '# HELP c_total C.\n# TYPE c_total counter\nc_total{k="a"} 1.000001e+06\n'
        'c_total{k="b"} 2\n'
        "# HELP g G.\n# TYPE g gauge\ng 0\n"
    )
    c.remove("a")
    c.labels("a").inc(3)
    g.set(math.nan)
    assert registry.export_prometheus() == (
        '# HELP c_total C.\n# TYPE c_total counter\nc_total{k="a"} 3\nc_total{k="b"} 2\n'
        "# HELP g G.\n# TYPE g gauge\ng NaN\n"
    )
