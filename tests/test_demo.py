"""``python -m tachikoma_metrics demo``: serves the simulated workload; ``--once`` prints it.

Every test runs the demo as a child process; the ones that leave it serving kill it on the
way out, whatever happened.
"""

from __future__ import annotations

import contextlib
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

import tachikoma_metrics
from promtool import check_metrics
from tachikoma_metrics import names

DEMO = [sys.executable, "-m", "tachikoma_metrics", "demo"]
SPEC_NAMES = {
    names.MISSIONS_STARTED,
    names.MISSIONS_COMPLETED,
    names.MISSIONS_FAILED,
    names.ACTIVE_MISSIONS,
    names.TOKENS_USED,
    names.API_CALLS,
    names.CONTEXT_USAGE,
}
MISSION_NAMES = (
    names.MISSIONS_STARTED,
    names.MISSIONS_COMPLETED,
    names.MISSIONS_FAILED,
    names.ACTIVE_MISSIONS,
)


def _sample_names(text: str) -> set[str]:
    return {s.name for f in text_string_to_metric_families(text) for s in f.samples}


def _missions(text: str) -> dict[str, float]:
    """The four mission samples (started, completed, failed, active) of an exposition."""
    values = {
        sample.name: float(sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name in MISSION_NAMES
    }
    assert set(values) == set(MISSION_NAMES), values
    return values


def _assert_missions_add_up(values: dict[str, float]) -> None:
    started = values[names.MISSIONS_STARTED]
    ended = values[names.MISSIONS_COMPLETED] + values[names.MISSIONS_FAILED]
    active = values[names.ACTIVE_MISSIONS]
    assert active >= 0, values
    assert started == ended + active, values


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*DEMO, *args], capture_output=True, text=True, timeout=60, check=False)


def _first_line(process: subprocess.Popen[str], timeout: float = 30.0) -> str:
    """The first line the process prints, or a failure after ``timeout`` seconds."""
    assert process.stdout is not None
    stdout = process.stdout
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        pytest.fail(f"the demo printed nothing within {timeout} s")


@contextlib.contextmanager
def _serving(*args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """The demo serving on a free port: the process and its /metrics URL. The process is
    killed on the way out if it is still running."""
    process = subprocess.Popen(
        [*DEMO, "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = _first_line(process)
        assert "http://127.0.0.1:" in line, (line, process.poll())
        yield process, line[line.index("http://") :].split()[0]
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def _scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        body: bytes = response.read()
    return body.decode()


def test_once_prints_the_workload_as_valid_text() -> None:
    """``--once`` prints an exposition holding every spec name, which promtool accepts."""
    done = subprocess.run([*DEMO, "--once"], capture_output=True, timeout=60, check=True)
    text = done.stdout.decode()
    assert _sample_names(text) >= SPEC_NAMES
    assert "tachikoma_api_call_seconds_bucket" in _sample_names(text)
    check = check_metrics(done.stdout)
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.parametrize("missions", [0, 1, 25, 400])
def test_once_missions_add_up(missions: int) -> None:
    """With ``--missions N``, N missions have started, and every one of them is either
    active or has completed or failed."""
    done = _run("--once", "--missions", str(missions))
    assert done.returncode == 0, done.stderr
    values = _missions(done.stdout)
    assert values[names.MISSIONS_STARTED] == missions
    _assert_missions_add_up(values)
    if missions >= 25:  # the start-up mix shows all three outcomes
        assert values[names.MISSIONS_COMPLETED] > 0
        assert values[names.MISSIONS_FAILED] > 0
        assert values[names.ACTIVE_MISSIONS] > 0


def test_missions_add_up_at_every_scrape_across_ticks() -> None:
    """While the demo keeps simulating (a fast ``--tick``), every scrape shows
    started = completed + failed + active: the active gauge carries the missions still
    running from earlier ticks instead of restarting its count at each tick."""
    with _serving("--tick", "0.02") as (process, url):
        first = _missions(_scrape(url))
        _assert_missions_add_up(first)
        started_seen = {first[names.MISSIONS_STARTED]}
        last = first
        deadline = time.monotonic() + 30
        while len(started_seen) < 8:  # scrapes over at least seven more ticks
            assert process.poll() is None, "the demo stopped"
            assert time.monotonic() < deadline, f"the workload did not advance: {last}"
            last = _missions(_scrape(url))
            _assert_missions_add_up(last)
            assert last[names.MISSIONS_STARTED] >= first[names.MISSIONS_STARTED]
            started_seen.add(last[names.MISSIONS_STARTED])
            time.sleep(0.01)
        ended = names.MISSIONS_COMPLETED, names.MISSIONS_FAILED
        assert sum(last[n] for n in ended) > sum(first[n] for n in ended), (first, last)


def test_demo_serves_until_interrupted() -> None:
    """The demo prints its URL, serves the workload there (and keeps simulating: missions
    started grow), and exits cleanly on Ctrl-C."""
    with _serving() as (process, url):
        first = _missions(_scrape(url))[names.MISSIONS_STARTED]
        assert first == 25
        deadline = time.monotonic() + 15
        while _missions(_scrape(url))[names.MISSIONS_STARTED] <= first:
            assert time.monotonic() < deadline, "the simulated workload did not advance"
            time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0


@pytest.mark.parametrize("where", [(), ("demo",)])
def test_version(where: tuple[str, ...]) -> None:
    """``--version`` (before or after ``demo``) prints the package version and exits 0."""
    done = subprocess.run(
        [sys.executable, "-m", "tachikoma_metrics", *where, "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == f"tachikoma-metrics {tachikoma_metrics.__version__}\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--missions", "-3"), "argument --missions: must be 0 or more, got -3"),
        (("--missions", "many"), "argument --missions: expected a whole number, got 'many'"),
        (("--port", "70000"), "argument --port: must be between 0 and 65535, got 70000"),
        (("--tick", "0"), "argument --tick: must be more than 0 seconds, got 0"),
        (("--tick", "nan"), "argument --tick: must be more than 0 seconds, got nan"),
    ],
)
def test_bad_arguments_are_refused(args: tuple[str, ...], message: str) -> None:
    """A bad option value ends with usage and a one-line reason (exit status 2), before
    anything is simulated or served."""
    done = _run(*args, "--once")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("usage: python -m tachikoma_metrics demo")
    assert done.stderr.endswith(f"python -m tachikoma_metrics demo: error: {message}\n")
    assert "Traceback" not in done.stderr


def test_port_in_use_is_one_line() -> None:
    """A port already taken ends with one line naming the address and port on stderr and
    exit status 1, not a traceback."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _run("--port", str(port))
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    prefix = f"python -m tachikoma_metrics demo: cannot listen on 127.0.0.1:{port}: "
    assert done.stderr.startswith(prefix), done.stderr
    assert "in use" in done.stderr
    assert "Traceback" not in done.stderr
