"""``python -m tachikoma_metrics demo``: serves the simulated workload; ``--once`` prints it."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from promtool import check_metrics
from tachikoma_metrics import names

SPEC_NAMES = {
    names.MISSIONS_STARTED,
    names.MISSIONS_COMPLETED,
    names.MISSIONS_FAILED,
    names.ACTIVE_MISSIONS,
    names.TOKENS_USED,
    names.API_CALLS,
    names.CONTEXT_USAGE,
}


def _sample_names(text: str) -> set[str]:
    return {s.name for f in text_string_to_metric_families(text) for s in f.samples}


def test_once_prints_the_workload_as_valid_text() -> None:
    """``--once`` prints an exposition holding every spec name, which promtool accepts."""
    done = subprocess.run(
        [sys.executable, "-m", "tachikoma_metrics", "demo", "--once"],
        capture_output=True,
        timeout=60,
        check=True,
    )
    text = done.stdout.decode()
    assert _sample_names(text) >= SPEC_NAMES
    assert "tachikoma_api_call_seconds_bucket" in _sample_names(text)
    check = check_metrics(done.stdout)
    assert check.returncode == 0, check.stdout + check.stderr


def test_demo_serves_until_interrupted() -> None:
    """The demo prints its URL, serves the workload there (and keeps simulating: missions
    started grow), and exits cleanly on Ctrl-C."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tachikoma_metrics", "demo", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "http://127.0.0.1:" in line, line
        url = line[line.index("http://") :].split()[0]

        def started() -> float:
            with urllib.request.urlopen(url, timeout=5) as response:
                body = response.read().decode()
            for family in text_string_to_metric_families(body):
                for sample in family.samples:
                    if sample.name == names.MISSIONS_STARTED:
                        return float(sample.value)
            raise AssertionError("missions started not exposed")

        first = started()
        assert first >= 25
        deadline = time.monotonic() + 15
        while started() <= first:
            assert time.monotonic() < deadline, "the simulated workload did not advance"
            time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
