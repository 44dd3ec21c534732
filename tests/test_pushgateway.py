"""push_to_gateway / delete_from_gateway against a real Pushgateway (Debian's package)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

import tachikoma_metrics
from prometheus_harness import free_port
from tachikoma_metrics import MetricsRegistry, PushError, delete_from_gateway, push_to_gateway
from tachikoma_metrics.transport.push import gateway_url
from uninitialised import warned_once

GROUP = {"instance": "host/1", "zone": "eu west"}
JOB = "batch/nightly"


@pytest.fixture(scope="module")
def gateway() -> Iterator[str]:
    """A Pushgateway on 127.0.0.1, stopped (and its files removed) afterwards."""
    binary = shutil.which("prometheus-pushgateway")
    if binary is None:
        pytest.fail("prometheus-pushgateway is not installed: run `bash scripts/test.sh`")
    port = free_port()
    with tempfile.TemporaryDirectory() as workdir, open(f"{workdir}/log", "w+b") as log:
        process = subprocess.Popen(
            [binary, f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while not _ready(url):
                if process.poll() is not None:
                    log.seek(0)
                    pytest.fail(f"pushgateway exited: {log.read().decode(errors='replace')}")
                if time.monotonic() > deadline:
                    pytest.fail("pushgateway did not become ready within 30 s")
                time.sleep(0.05)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/-/ready", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def pushed(url: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """The gateway's own exposition of pushed metrics: name -> labels -> value."""
    with urllib.request.urlopen(url + "/metrics", timeout=5) as response:
        body = response.read().decode()
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if sample.labels.get("job") == JOB:
                labels = tuple(sorted(sample.labels.items()))
                found.setdefault(sample.name, {})[labels] = sample.value
    return found


def group_labels(**extra: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted({"job": JOB, **GROUP, **extra}.items()))


def test_url_uses_base64_for_slashes_and_empty_values() -> None:
    """Values with '/' or empty values take the Pushgateway's base64 form; others are quoted."""
    url = gateway_url("localhost:9091", "a/b", {"instance": "", "zone": "eu west"})
    assert url == "http://localhost:9091/metrics/job@base64/YS9i/instance@base64/=/zone/eu%20west"


def test_put_post_and_delete(gateway: str) -> None:
    """PUT replaces the group, POST adds without replacing, DELETE removes the group; a
    grouping key and job holding '/' and spaces arrive intact."""
    first = MetricsRegistry()
    first.counter("jobs_done_total", "Jobs done.", labelnames=("kind",)).labels("x").inc(3)
    first.gauge("last_success_unixtime", "Last success.").set(1700000000)
    push_to_gateway(gateway, JOB, first, GROUP)
    seen = pushed(gateway)
    assert seen["jobs_done_total"] == {group_labels(kind="x"): 3.0}
    assert seen["last_success_unixtime"] == {group_labels(): 1700000000.0}

    second = MetricsRegistry()
    second.gauge("batch_size", "Batch size.").set(42)
    push_to_gateway(gateway, JOB, second, GROUP, method="POST")
    seen = pushed(gateway)
    assert seen["batch_size"] == {group_labels(): 42.0}
    assert seen["jobs_done_total"] == {group_labels(kind="x"): 3.0}, "POST must not replace"

    push_to_gateway(gateway, JOB, second, GROUP)  # PUT: only what is pushed remains
    seen = pushed(gateway)
    assert "jobs_done_total" not in seen
    assert seen["batch_size"] == {group_labels(): 42.0}

    delete_from_gateway(gateway, JOB, GROUP)
    assert pushed(gateway) == {}


def test_global_registry_when_none(
    gateway: str, fresh_facade: None, caplog: pytest.LogCaptureFixture
) -> None:
    """``registry=None`` pushes the global registry: nothing before ``init()`` (the first
    such push logs one warning saying so), the recorded values after it."""
    hits = tachikoma_metrics.counter("facade_pushes_total", "Pushes.")
    hits.inc()
    try:
        with warned_once(caplog, "push_to_gateway"):
            for _ in range(2):
                push_to_gateway(gateway, JOB, grouping_key=GROUP)
                assert "facade_pushes_total" not in pushed(gateway)
        tachikoma_metrics.init()
        hits.inc(2)
        push_to_gateway(gateway, JOB, grouping_key=GROUP)
        assert pushed(gateway)["facade_pushes_total"] == {group_labels(): 2.0}
    finally:
        delete_from_gateway(gateway, JOB, GROUP)


def test_http_error_says_status_and_message(gateway: str) -> None:
    """A push the gateway refuses raises PushError with the status and the gateway's words."""
    as_counter = MetricsRegistry()
    as_counter.counter("shared_things_total", "Things.").inc()
    push_to_gateway(gateway, "refusal-a", as_counter)
    as_gauge = MetricsRegistry()
    as_gauge.gauge("shared_things_total", "Things.").set(1)
    try:
        # The same name with another type in another group is inconsistent: refused.
        with pytest.raises(PushError) as caught:
            push_to_gateway(gateway, "refusal-b", as_gauge)
    finally:
        delete_from_gateway(gateway, "refusal-a")
    assert caught.value.status == 400
    assert "shared_things_total" in caught.value.message
    assert "400" in str(caught.value)


def test_unreachable_gateway_times_out_with_os_error() -> None:
    """Nothing listening: the push fails with an OSError quickly, per the timeout."""
    port = free_port()
    started = time.monotonic()
    with pytest.raises((OSError, urllib.error.URLError)):
        push_to_gateway(f"127.0.0.1:{port}", "job", MetricsRegistry(), timeout=2)
    assert time.monotonic() - started < 10


def test_method_other_than_put_or_post_is_refused() -> None:
    """Only PUT and POST push; anything else is a ValueError naming it."""
    with pytest.raises(ValueError, match="PATCH"):
        push_to_gateway("localhost:1", "job", MetricsRegistry(), method="PATCH")
