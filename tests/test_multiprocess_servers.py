"""Multi-process mode end to end, in real servers: gunicorn with sync workers and uvicorn
with ``--workers`` serve the apps of ``tests/mp_apps``, which count every ``/work`` request
(before answering it) in a counter and a histogram kept in the shared directory.

Thousands of requests go over the workers while workers are stopped (SIGTERM, under load)
and killed (SIGKILL, while idle) and the server replaces them; ``/metrics``, served by any
worker, then shows exactly the number of requests the clients got an answer to: the dead
workers' counts are kept (folded into the archive), nothing is counted twice. A real
Prometheus scraping all along sees the counter go from 0 to that number without a reset.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

from mp_servers import (
    Gunicorn,
    Kill,
    Load,
    LoadResult,
    Scraper,
    Server,
    Uvicorn,
    is_running,
    run_with_kills,
    scrape,
)
from prometheus_harness import PrometheusServer
from scrape_client import read_samples

REQUESTS = 10_000
RUN_TIMEOUT = 60.0  # the whole load, kills and replacements included
# Stop one worker under load (it finishes its request), kill one while no request is in
# progress (a SIGKILL between counting and answering would leave a request counted that no
# client saw answered), stop another.
KILLS = (
    Kill(2_500, signal.SIGTERM, idle=False),
    Kill(5_000, signal.SIGKILL, idle=True),
    Kill(7_500, signal.SIGTERM, idle=False),
)
COUNTER = ("mp_requests_total", ())
HISTOGRAM_COUNT = ("mp_request_seconds_count", ())
HISTOGRAM_SUM = ("mp_request_seconds_sum", ())
OBSERVED = 0.25  # what the apps observe per request
TKM = re.compile(r"(?P<pid>[0-9]+)-[^/]+\.tkm")


def _check_totals(server: Server, result: LoadResult, killed: Sequence[tuple[int, str]]) -> None:
    """Every answered request is counted once, in the counter and the histogram."""
    context = (
        f"answered {result.answered} in {result.attempts} attempts, by worker"
        f" {result.by_pid}, killed {killed}, failures {result.failures[:5]}"
    )
    assert result.answered == REQUESTS, context
    assert len(result.by_pid) >= 2, f"the load never spread over the workers: {context}"
    for _ in range(8):  # any worker answers: several scrapes, likely from every one
        samples = read_samples(scrape(server.port))
        assert samples.get(COUNTER) == result.answered, (samples.get(COUNTER), context)
        assert samples.get(HISTOGRAM_COUNT) == result.answered, (
            samples.get(HISTOGRAM_COUNT),
            context,
        )
        assert samples.get(HISTOGRAM_SUM) == OBSERVED * result.answered, (
            samples.get(HISTOGRAM_SUM),
            context,
        )
        bucket = ("mp_request_seconds_bucket", (("le", "0.5"),))
        assert samples.get(bucket) == result.answered, (samples.get(bucket), context)


def _check_directory(server: Server, result: LoadResult, killed: Sequence[tuple[int, str]]) -> None:
    """After a scrape: one file per live process that wrote (every worker that answered
    ``/work``; the master if it wrote), the archive holding the dead workers' counts, and
    nothing of the dead ones. (A file is made at a process's first write: a worker started
    too late to get a request may have none.)"""
    names = sorted(os.listdir(server.directory))
    workers = set(server.workers())
    wrote = {pid for pid in workers if result.by_pid.get(pid)}
    pids = {int(match["pid"]) for name in names if (match := TKM.fullmatch(name))}
    context = (
        f"files {names}; workers {sorted(workers)} (answered: {sorted(wrote)});"
        f" master {server.pid}; killed {killed}"
    )
    assert "archive.tkm" in names, context
    assert wrote <= pids <= workers | {server.pid}, context
    assert all(not is_running(pid) for pid, _ in killed), context
    per_process = [name for name in names if TKM.fullmatch(name)]
    assert len(per_process) == len(pids), f"a process with two files: {context}"
    others = set(names) - set(per_process) - {"archive.tkm", "lock", "removals.log"}
    assert not others, f"unexpected files {sorted(others)}: {context}"


def _run(server: Server, kills: Sequence[Kill]) -> tuple[LoadResult, list[tuple[int, str]]]:
    """The load with its kills, scraped all along: no scrape may lose an answered request
    or count one not yet sent."""
    started = time.monotonic()
    load = Load(server.port, REQUESTS, threads=8)
    with Scraper(server.port, load, COUNTER[0]) as scraper:
        result, killed = run_with_kills(server, load, kills, timeout=RUN_TIMEOUT)
    log = scraper.log
    print(
        f"{REQUESTS} requests in {time.monotonic() - started:.1f} s, {result.attempts} attempts;"
        f" by worker {result.by_pid}; {len(log.scrapes)} scrapes, {len(log.failures)} failed"
    )
    assert log.scrapes, f"no scrape succeeded during the run: {log.failures[:5]}"
    assert not log.violations(), (
        f"scrapes outside [answered before, started after]: {log.violations()[:10]}"
        f" of {len(log.scrapes)}; killed {killed}"
    )
    return result, killed


def test_gunicorn_counts_every_answered_request_through_worker_kills() -> None:
    """gunicorn, 4 sync workers, 10,000 requests, two workers stopped and one killed: the
    merged counter and histogram count equal the requests answered, from any worker."""
    with Gunicorn(workers=4) as server:
        result, killed = _run(server, KILLS)
        assert len(killed) == len(KILLS)
        _check_totals(server, result, killed)
        _check_directory(server, result, killed)
        assert "Traceback" not in server.log(), server.describe()


def test_uvicorn_counts_every_answered_request_through_worker_kills() -> None:
    """uvicorn, 2 spawned workers (each imports the app, which calls ``init``), 10,000
    requests, workers stopped and killed: the same exact totals."""
    with Uvicorn(workers=2) as server:
        result, killed = _run(server, KILLS)
        _check_totals(server, result, killed)
        _check_directory(server, result, killed)
        assert "Traceback" not in server.log(), server.describe()


# -- a real Prometheus --------------------------------------------------------------------


def _range_samples(prometheus: PrometheusServer, expr: str) -> list[tuple[float, float]]:
    """The raw samples of one series in the range vector ``expr``: (time, value) pairs."""
    url = f"{prometheus.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=10) as response:
        answer = json.load(response)
    assert answer["status"] == "success", answer
    assert answer["data"]["resultType"] == "matrix", answer
    series = answer["data"]["result"]
    assert len(series) == 1, series
    return [(float(t), float(v)) for t, v in series[0]["values"]]


def _value_is(expected: float) -> Callable[[list[dict[str, Any]]], bool]:
    """A ``wait_for`` predicate: one series, whose value is ``expected``."""

    def check(result: list[dict[str, Any]]) -> bool:
        return len(result) == 1 and float(result[0]["value"][1]) == expected

    return check


def test_prometheus_sees_the_exact_increase_across_worker_kills() -> None:
    """Prometheus scrapes the gunicorn app (any worker) every second: before the first
    request the counter is 0, after the run it equals the requests answered, and in between
    it never goes down (a dead worker's counts move to the archive without a dip), so the
    raw samples' last minus first is exactly the number of requests."""
    with (
        Gunicorn(workers=4) as server,
        PrometheusServer([("mp", f"127.0.0.1:{server.port}")], scrape_interval="1s") as prometheus,
    ):
        prometheus.wait_for("mp_requests_total", _value_is(0.0))
        result, killed = _run(server, KILLS)
        assert result.answered == REQUESTS
        for expr in ("mp_requests_total", "mp_request_seconds_count"):
            prometheus.wait_for(expr, _value_is(float(result.answered)))
            samples = _range_samples(prometheus, f"{expr}[5m]")
            values = [value for _, value in samples]
            context = f"{expr} samples {samples}; killed {killed}"
            assert values[0] == 0.0, context
            assert values[-1] == float(result.answered), context
            assert values[-1] - values[0] == REQUESTS, context
            between = [value for value in values if 0 < value < REQUESTS]
            assert len(between) >= 2, f"too few scrapes during the run: {context}"
            dips = [(a, b) for a, b in itertools.pairwise(values) if b < a]
            assert not dips, f"the counter went down (a reset to Prometheus): {dips}; {context}"
        resets = prometheus.query("resets(mp_requests_total[5m])")
        assert float(resets[0]["value"][1]) == 0.0, resets
