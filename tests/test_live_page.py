"""The live page (``transport/page.py``, served by ``transport/_core.py``): what the
endpoints answer a browser and everyone else, then the page itself in real headless
Chromium (``tests/chromium.py``): no console errors, the values shown and refreshed, behind
a path prefix under WSGI and ASGI, families coming and going, a failing scrape reported.
"""

from __future__ import annotations

import gzip
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from werkzeug.middleware.dispatcher import DispatcherMiddleware

import tachikoma_metrics as metrics
from app_servers import uvicorn_server, werkzeug_server
from chromium import PNG_SIGNATURE, Browser, Tab, browser, png_size
from scrape_client import TEXT_004, fetch, read_samples
from tachikoma_metrics import MetricsRegistry
from tachikoma_metrics.collectors import GaugeMetricFamily
from tachikoma_metrics.transport import page

# What Chromium sends when it navigates to a page.
BROWSER_ACCEPT = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
)
HTML = "text/html; charset=utf-8"
TRICKY = 'a"<i>\n'  # a label value that must reach the page as text, not markup
PAGE_LIMIT = 16_000  # bytes, uncompressed: "small"


def _registry() -> MetricsRegistry:
    """One family of each type, with known values."""
    registry = MetricsRegistry()
    registry.gauge("live_level", "Level <b>now</b>", labelnames=("who",)).labels(TRICKY).set(42)
    registry.counter("live_jobs_total", "Jobs done").inc(3)
    latency = registry.histogram("live_seconds", "Latency", buckets=(0.1, 0.5, 1.0))
    for value in (0.05, 0.2, 0.3, 0.7, 2.0):
        latency.observe(value)
    registry.summary("live_summary_seconds", "Summary", quantiles=(0.5, 0.9)).observe(1.0)
    registry.info("live_build", "Build").info({"version": "1.2.3"})
    registry.stateset("live_state", "State", states=("a", "b")).state("a")
    return registry


def _level(registry: MetricsRegistry) -> Any:
    return registry.get("live_level").labels(TRICKY)


# -- what a browser and everyone else get (no Chromium) -----------------------------------------


@pytest.fixture
def served() -> Iterator[tuple[MetricsRegistry, int]]:
    registry = _registry()
    with metrics.start_http_server(0, registry=registry) as server:
        yield registry, server.port


def test_a_browser_gets_the_page_at_the_root(served: tuple[MetricsRegistry, int]) -> None:
    """``/`` with a browser's ``Accept`` is the page: HTML, small, naming no URL but the
    metrics path relative to it, under a Content-Security-Policy that allows only its own
    script and style and requests to its own origin; gzip when asked."""
    _, port = served
    reply = fetch(port, "/", headers={"Accept": BROWSER_ACCEPT})
    assert reply.status == 200
    assert reply.header("Content-Type") == HTML
    assert reply.header("Vary") == "Accept, Accept-Encoding"
    policy = reply.header("Content-Security-Policy") or ""
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    assert re.search(r"script-src 'sha256-[A-Za-z0-9+/]+=*';", policy), policy
    assert len(reply.body) < PAGE_LIMIT, len(reply.body)
    assert b'<body data-src="./metrics">' in reply.body
    assert b"http:" not in reply.body and b"https:" not in reply.body
    assert re.findall(rb'(?:src|href)="([^"]*)"', reply.body) == [b"data:,", b"./metrics"]
    zipped = fetch(port, "/", headers={"Accept": BROWSER_ACCEPT, "Accept-Encoding": "gzip"})
    assert zipped.header("Content-Encoding") == "gzip"
    assert gzip.decompress(zipped.body) == reply.body


def test_everyone_else_sees_no_change(served: tuple[MetricsRegistry, int]) -> None:
    """Without HTML in ``Accept`` (scrapers, curl, ``fetch()``), ``/`` is still a 404, and
    ``/metrics`` serves metrics even to a browser, exactly as Prometheus scrapes them."""
    registry, port = served
    for accept in (None, "*/*", "text/plain", "text/html;q=0.5,text/plain"):
        reply = fetch(port, "/", headers={"Accept": accept} if accept else {})
        assert reply.status == 404, accept
        assert reply.header("Vary") == "Accept", accept  # a browser gets the page there
    for accept in (BROWSER_ACCEPT, "text/plain;version=0.0.4"):
        reply = fetch(port, "/metrics", headers={"Accept": accept})
        assert reply.header("Content-Type") == TEXT_004
        assert reply.body == registry.export_prometheus().encode()


def test_head_and_other_methods_on_the_page(served: tuple[MetricsRegistry, int]) -> None:
    """HEAD gets GET's headers (its length) and no body; POST gets 405 with ``Allow``."""
    _, port = served
    get = fetch(port, "/", headers={"Accept": BROWSER_ACCEPT})
    head = fetch(port, "/", method="HEAD", headers={"Accept": BROWSER_ACCEPT})
    assert (head.status, head.body) == (200, b"")
    assert head.header("Content-Length") == str(len(get.body))
    assert head.header("Content-Type") == HTML
    post = fetch(port, "/", method="POST", body=b"x", headers={"Accept": BROWSER_ACCEPT})
    assert (post.status, post.header("Allow")) == (405, "GET, HEAD")


def _not_found(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"the app's own 404\n"]


def test_mounted_the_mount_point_serves_page_or_metrics() -> None:
    """Mounted under ``/prefix`` (werkzeug's ``DispatcherMiddleware``), the mount point,
    with or without its slash, is the page for a browser (polling its own URL:
    ``data-src=""``) and the metrics for anyone else, as before; ``/prefix/metrics`` is
    always the metrics; a custom path unmounted is polled relative to ``/``."""
    registry = _registry()
    app = DispatcherMiddleware(_not_found, {"/prefix": metrics.make_wsgi_app(registry)})
    with werkzeug_server(app) as port:
        for target in ("/prefix", "/prefix/"):
            reply = fetch(port, target, headers={"Accept": BROWSER_ACCEPT})
            assert (reply.status, reply.header("Content-Type")) == (200, HTML), target
            assert b'<body data-src="">' in reply.body
            reply = fetch(port, target)
            assert reply.body == registry.export_prometheus().encode(), target
        reply = fetch(port, "/prefix/metrics", headers={"Accept": BROWSER_ACCEPT})
        assert reply.header("Content-Type") == TEXT_004
    with werkzeug_server(metrics.make_wsgi_app(registry, path="/stats/now")) as port:
        reply = fetch(port, "/", headers={"Accept": BROWSER_ACCEPT})
        assert b'<body data-src="./stats/now">' in reply.body


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        (BROWSER_ACCEPT, True),
        ("text/html", True),
        ("application/xhtml+xml", True),
        ("text/html;q=0.9,text/plain;q=0.9", True),  # a tie goes to the page
        ("text/html;q=0.5,application/openmetrics-text", False),
        ("text/html;q=0", False),
        ("text/*", False),
        ("*/*", False),
        ("", False),
        (None, False),
        ("text/html;q=nonsense", False),
    ],
)
def test_prefers_html(accept: str | None, html: bool) -> None:
    """HTML must be named and ranked at least as high as any exposition format named."""
    assert page.prefers_html(accept) is html


# -- the page in headless Chromium --------------------------------------------------------------

VALUE = "document.querySelector({!r})?.textContent"
LEVEL_CELL = "#family-live_level td.num"


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with browser() as driven:
        yield driven


@pytest.fixture
def tab_of(chromium: Browser) -> Iterator[Callable[[str], Tab]]:
    """Opens tabs, and closes them after the test."""
    tabs: list[Tab] = []

    def open_tab(url: str) -> Tab:
        tabs.append(chromium.open(url))
        return tabs[-1]

    yield open_tab
    for tab in tabs:
        tab.close()


def _shows(tab: Tab, selector: str, text: str) -> None:
    """Wait until the element's text is ``text`` (each poll of the page is 2 s apart)."""
    tab.wait_for(f"{VALUE.format(selector)} === {text!r}")


def _luminance(rgb: str) -> float:
    channels = [int(c) / 255 for c in re.findall(r"\d+", rgb)[:3]]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(foreground: str, background: str) -> float:
    light, dark = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def _lowest_contrast(tab: Tab) -> float:
    """The lowest contrast ratio of any text colour on the page against its background."""
    colours = tab.evaluate(
        "[...document.querySelectorAll('h2, code, .help, .type, th, td, p, label, input')]"
        ".map(e => getComputedStyle(e).color)"
    )
    background = tab.evaluate("getComputedStyle(document.body).backgroundColor")
    return min(_contrast(colour, background) for colour in set(colours))


def test_page_shows_values_and_refreshes(
    served: tuple[MetricsRegistry, int], tab_of: Callable[[str], Tab], tmp_path: Path
) -> None:
    """The page served at ``/`` loads without a console error, shows every family with its
    help text and values (label values and help as text, never markup), a histogram's
    estimated quantiles and bars, a summary's quantiles; a changed value appears at the next
    poll, a counter gets a rate; text has WCAG AA contrast (4.5:1) in the light and the
    dark colour scheme; the screenshot is saved."""
    registry, port = served
    tab = tab_of(f"http://127.0.0.1:{port}/")
    _shows(tab, LEVEL_CELL, "42")
    names = tab.evaluate(
        "[...document.querySelectorAll('main section h2 code')].map(e => e.textContent)"
    )
    assert names == [
        "live_build",
        "live_jobs",
        "live_level",
        "live_seconds",
        "live_state",
        "live_summary_seconds",
    ]
    text = tab.evaluate("document.getElementById('families').innerText")
    assert "Level <b>now</b>" in text and '{who="a\\"<i>\\n"}' in text
    assert tab.evaluate("document.querySelector('main b, main i')") is None
    assert "0.4 · 1 · 1" in text  # p50, p90, p99 estimated from the buckets
    assert "0.5: 1 · 0.9: 1" in text  # the summary's own quantiles
    assert tab.evaluate("document.querySelectorAll('#family-live_seconds rect').length") == 4

    _level(registry).set(43.5)
    registry.get("live_jobs").inc(2)
    _shows(tab, LEVEL_CELL, "43.5")
    _shows(tab, "#family-live_jobs td.num", "5")
    rate = tab.wait_for(
        VALUE.format("#family-live_jobs td.num:nth-child(3)")
        + " !== '—' && "
        + VALUE.format("#family-live_jobs td.num:nth-child(3)")
    )
    assert float(rate) > 0
    tab.wait_for("document.querySelectorAll('#family-live_jobs polyline').length === 1")

    for scheme in ("dark", "light"):  # the screenshot below is the light one
        features = [{"name": "prefers-color-scheme", "value": scheme}]
        tab.send("Emulation.setEmulatedMedia", {"features": features})
        assert _lowest_contrast(tab) >= 4.5, scheme
    assert tab.evaluate("document.getElementById('q').labels[0].textContent") == "Filter families"

    shot = tab.screenshot(tmp_path / "live-page.png")
    assert shot[:8] == PNG_SIGNATURE and png_size(shot)[0] == 1100
    assert not tab.errors, tab.errors


def _wsgi_prefix_app(registry: MetricsRegistry) -> DispatcherMiddleware:
    return DispatcherMiddleware(_not_found, {"/prefix": metrics.make_wsgi_app(registry)})


@pytest.mark.parametrize("target", ["/prefix", "/prefix/"])
def test_page_behind_a_wsgi_prefix(tab_of: Callable[[str], Tab], target: str) -> None:
    """Mounted under ``/prefix``, the page opened at the mount point (with or without the
    slash) polls the mount point and shows the values, then the new one."""
    registry = _registry()
    with werkzeug_server(_wsgi_prefix_app(registry)) as port:
        tab = tab_of(f"http://127.0.0.1:{port}{target}")
        _shows(tab, LEVEL_CELL, "42")
        _level(registry).set(7)
        _shows(tab, LEVEL_CELL, "7")
        assert not tab.errors, tab.errors


def test_page_behind_an_asgi_mount(tab_of: Callable[[str], Tab]) -> None:
    """Mounted by Starlette under ``/internal`` (``root_path``), under uvicorn: the same."""
    registry = _registry()
    app = Starlette(routes=[Mount("/internal", app=metrics.make_asgi_app(registry))])
    with uvicorn_server(app) as port:
        tab = tab_of(f"http://127.0.0.1:{port}/internal/")
        _shows(tab, LEVEL_CELL, "42")
        _level(registry).set(-1)
        _shows(tab, LEVEL_CELL, "-1")
        assert not tab.errors, tab.errors


def test_page_behind_basic_auth(tab_of: Callable[[str], Tab]) -> None:
    """With ``basic_auth=``, the page needs the credentials like the metrics, and its polls
    carry the ones the browser was given (its authentication cache, same origin)."""
    registry = _registry()
    with metrics.start_http_server(0, registry=registry, basic_auth=("ops", "s3cret")) as server:
        denied = fetch(server.port, "/", headers={"Accept": BROWSER_ACCEPT})
        assert denied.status == 401 and b"<html" not in denied.body
        tab = tab_of(f"http://ops:s3cret@127.0.0.1:{server.port}/")
        _shows(tab, LEVEL_CELL, "42")
        _level(registry).set(41)
        _shows(tab, LEVEL_CELL, "41")
        assert not tab.errors, tab.errors


def test_families_come_and_go_and_the_filter(
    served: tuple[MetricsRegistry, int], tab_of: Callable[[str], Tab]
) -> None:
    """A family registered while the page is open appears at the next poll, and goes when
    unregistered; the filter (focused with the ``/`` key) keeps only matching families."""
    registry, port = served
    tab = tab_of(f"http://127.0.0.1:{port}/")
    _shows(tab, LEVEL_CELL, "42")
    late = registry.gauge("live_late", "Came late")
    late.set(9)
    _shows(tab, "#family-live_late td.num", "9")
    registry.unregister(late)
    tab.wait_for("document.getElementById('family-live_late') === null")
    key = {"key": "/", "code": "Slash", "text": "/", "windowsVirtualKeyCode": 191}
    tab.send("Input.dispatchKeyEvent", {"type": "keyDown", **key})
    tab.send("Input.dispatchKeyEvent", {"type": "keyUp", **key})
    assert tab.evaluate("document.activeElement.id") == "q"
    tab.send("Input.insertText", {"text": "latency"})
    assert tab.evaluate("document.getElementById('q').value") == "latency"  # "/" not typed
    shown = (
        "[...document.querySelectorAll('main section:not([hidden]) h2 code')]"
        ".map(e => e.textContent)"
    )
    assert tab.evaluate(shown) == ["live_seconds"]
    assert tab.evaluate("document.getElementById('count').textContent") == "1 of 6 families"
    assert not tab.errors, tab.errors


def test_failures_are_shown_and_the_page_recovers(tab_of: Callable[[str], Tab]) -> None:
    """A collector that raises is left out and counted (the page shows the rest and the
    errors family); a scrape answering 500 is reported on the page, which keeps the last
    values and recovers at the next good poll."""

    class Broken:
        def collect(self) -> list[GaugeMetricFamily]:
            raise OSError("cannot read /proc/nothing")

    registry = _registry()
    registry.register(Broken())
    failing = threading.Event()
    inner = metrics.make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if failing.is_set() and "html" not in environ.get("HTTP_ACCEPT", ""):
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
            return [b"scrape exploded\n"]
        return inner(environ, start_response)

    with werkzeug_server(DispatcherMiddleware(_not_found, {"/prefix": app})) as port:
        tab = tab_of(f"http://127.0.0.1:{port}/prefix/")
        _shows(tab, LEVEL_CELL, "42")
        errors_family = "document.getElementById('family-tachikoma_metrics_collector_errors')"
        tab.wait_for(errors_family + " !== null")
        failing.set()
        message = tab.wait_for(VALUE.format("#error"))
        assert "HTTP 500 scrape exploded" in message and "Showing the last values" in message
        assert tab.evaluate(VALUE.format(LEVEL_CELL)) == "42"
        failing.clear()
        _level(registry).set(8)
        _shows(tab, LEVEL_CELL, "8")
        assert tab.evaluate(VALUE.format("#error")) == ""
    # The browser logs each failed request; nothing else may have gone wrong.
    assert tab.errors and all("status of 500" in error for error in tab.errors), tab.errors


def test_global_registry_before_and_after_init(
    fresh_facade: None, tab_of: Callable[[str], Tab]
) -> None:
    """Serving the global registry, the page shows an empty list before ``init()`` and the
    families once they record."""
    with metrics.start_http_server(0) as server:
        tab = tab_of(f"http://127.0.0.1:{server.port}/")
        tab.wait_for(VALUE.format("#count") + " === '0 of 0 families'")
        metrics.init()
        metrics.gauge("live_global", "Global").set(5)
        _shows(tab, "#family-live_global td.num", "5")
        assert not tab.errors, tab.errors
    assert read_samples(metrics.export_prometheus()) == {("live_global", ()): 5.0}
