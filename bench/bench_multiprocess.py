"""tachikoma_metrics vs prometheus_client in multi-process mode, side by side in one process.

Issue 11's "Performance" points: per-operation cost in multi-process mode, the scrape after
100 workers have each lived, written 200 series and died, and the scrape of 8 live workers
with 10,000 series each. Prints a markdown table of medians and ratios. Run from the
repository root::

    python bench/bench_multiprocess.py            # full run (two to three minutes)
    python bench/bench_multiprocess.py --quick    # smoke run (about 30 seconds)
    python bench/bench_multiprocess.py --json results.json

Method:

* prometheus_client (pc) chooses its multi-process mode when it is imported, from the
  environment variable ``PROMETHEUS_MULTIPROC_DIR``, so this script sets it (to a fresh
  temporary directory) before importing it, and checks that the mode took. Ours is a
  ``MetricsRegistry(multiprocess_dir=...)``. Every directory is fresh and temporary.
* Hot operations (``inc()``, ``labels("a", "b").inc()``, ``observe(v)`` with the default
  buckets): ``bench_core.py``'s method, run in this process with both libraries in
  multi-process mode: a timed loop of N calls, collector off, the two libraries
  interleaved after one warm-up, median ns/op and the ratio pc/ours. Afterwards both hot
  directories are scraped and each total is checked against the number of calls.
* Workers are real child processes (``multiprocessing``, fork context). Each one makes its
  own instruments (pc: ``Counter(..., registry=None)``; ours: its own
  ``MetricsRegistry(multiprocess_dir=d)``), adds ``1 + j % 5`` to series ``j`` of one
  labelled counter (two labels), then exits (a dead worker) or signals that it is ready and
  blocks on an ``Event`` (a live worker). The scraping process is this one, with its own
  registry per directory: pc ``CollectorRegistry()`` + ``MultiProcessCollector(registry,
  d)``, timed ``generate_latest(registry)``; ours ``MetricsRegistry(multiprocess_dir=d)``,
  timed ``registry.export_prometheus().encode()`` (collect + encode, the bytes a scrape
  handler serves).
* Scrape after deaths, per round (fresh directories): 100 workers write 200 series each and
  die, in three directories: ours (10 workers at a time, nobody calls
  ``mark_process_dead``), ours again and pc (one worker at a time, and as soon as each has
  exited ``mark_process_dead(pid)`` is called, as gunicorn's ``child_exit`` hook does; pc's
  own only removes live-gauge files). Timed: each ``mark_process_dead`` call, the first
  scrape of each directory (ours without ``mark_process_dead`` folds the 100 dead files
  into the archive inside that scrape), then steady-state scrapes interleaved ours/pc.
  Then 4 live workers (200 series each) join ours and pc's directories and the scrape is
  timed again (ours: 4 live files plus the archive). Issue 11 asks the steady-state scrape
  after the deaths to be no slower than that one.
* 8 live workers x 10,000 series each (a fresh directory per library, no dead workers):
  interleaved scrapes, reported against pc with no target.
* Every scraped body is parsed (``prometheus_client.parser``) outside the timed region
  and its ``mp_requests_total`` samples are compared with the values the workers wrote;
  a mismatch is a warning on stderr and counted in the ``sanity checks`` line.

The exit code is always 0: this is a report, not a test.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile

# prometheus_client reads PROMETHEUS_MULTIPROC_DIR once, at import, to choose its value
# class: it must be set before prometheus_client (or bench_core, which imports it) is.
_ROOT = tempfile.mkdtemp(prefix="bench_mp_")
_PC_HOT_DIR = os.path.join(_ROOT, "pc-hot")
os.mkdir(_PC_HOT_DIR)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = _PC_HOT_DIR
_MAIN_PID = os.getpid()


def _remove_root() -> None:
    if os.getpid() == _MAIN_PID:  # never from a worker
        shutil.rmtree(_ROOT, ignore_errors=True)


atexit.register(_remove_root)

import math  # noqa: E402
import multiprocessing  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import asdict, dataclass  # noqa: E402
from itertools import count  # noqa: E402
from multiprocessing.synchronize import Event, Semaphore  # noqa: E402
from typing import Any  # noqa: E402

import prometheus_client as pc  # noqa: E402
from prometheus_client import CollectorRegistry, generate_latest  # noqa: E402
from prometheus_client import multiprocess as pc_multiprocess  # noqa: E402
from prometheus_client import values as pc_values  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

import tachikoma_metrics as tm  # noqa: E402
from bench_core import (  # noqa: E402
    LABELS,
    _interleaved,
    _loop_inc,
    _loop_labels_inc,
    _loop_observe,
    _timed,
    histogram_values,
    parse_args,
    print_header,
    run_report,
    write_json,
)

FORK = multiprocessing.get_context("fork")
FAMILY = "mp_requests_total"  # the workers' counter (pc strips and re-adds ``_total``)
WORKER_LABELS = ("route", "status")
DEAD_WORKERS = 100
DEAD_SERIES = 200
LIVE_WORKERS = 4
BIG_WORKERS = 8
BIG_SERIES = 10_000
BATCH = 10  # dead workers started at a time

_problems: list[str] = []
_dirs = count()


def _warn(message: str) -> None:
    _problems.append(message)
    print(f"WARNING: {message}", file=sys.stderr)


def _new_dir(tag: str) -> str:
    path = os.path.join(_ROOT, f"{tag}-{next(_dirs)}")
    os.mkdir(path)
    return path


@dataclass
class Row:
    key: str
    title: str
    unit: str  # "ns/op" or "ms"
    ours: float
    pc: float
    ratio: float  # pc/ours ("x faster"), or as the row's title says
    target: float | None  # None: reported, no target
    samples_ours: list[float]
    samples_pc: list[float]

    @property
    def met(self) -> bool:
        return self.target is None or self.ratio >= self.target


# -- hot operations in multi-process mode -----------------------------------------------------


def _hot_row(
    key: str,
    title: str,
    ours: Callable[[], None],
    theirs: Callable[[], None],
    n: int,
    reps: int,
) -> Row:
    t_ours, t_pc = _interleaved(ours, theirs, reps)
    ns_ours = [t / n for t in t_ours]
    ns_pc = [t / n for t in t_pc]
    m_ours, m_pc = statistics.median(ns_ours), statistics.median(ns_pc)
    return Row(key, title, "ns/op", m_ours, m_pc, m_pc / m_ours, 4.0, ns_ours, ns_pc)


def bench_hot(n: int, reps: int) -> list[Row]:
    """``inc()``, ``labels("a", "b").inc()`` and ``observe(v)``, both libraries writing to
    their multi-process files; then both hot directories are scraped and checked."""
    ours_dir = _new_dir("ours-hot")
    ours_reg = tm.MetricsRegistry(multiprocess_dir=ours_dir)
    values = histogram_values(n)
    rows = []

    c_ours = ours_reg.counter("hot_plain_total", "plain counter")
    c_pc = pc.Counter("hot_plain_total", "plain counter", registry=None)
    rows.append(
        _hot_row(
            "mp_counter_inc",
            "unlabelled `Counter.inc()`",
            _loop_inc(c_ours, n),
            _loop_inc(c_pc, n),
            n,
            reps,
        )
    )
    fam_ours = ours_reg.counter("hot_labelled_total", "labelled counter", labelnames=LABELS)
    fam_pc = pc.Counter("hot_labelled_total", "labelled counter", LABELS, registry=None)
    rows.append(
        _hot_row(
            "mp_labels_inc",
            '`family.labels("a", "b").inc()` (lookup every call)',
            _loop_labels_inc(fam_ours, n),
            _loop_labels_inc(fam_pc, n),
            n,
            reps,
        )
    )
    h_ours = ours_reg.histogram("hot_hist", "histogram")
    h_pc = pc.Histogram("hot_hist", "histogram", registry=None)
    rows.append(
        _hot_row(
            "mp_histogram_observe",
            "`Histogram.observe(v)`, default buckets",
            _loop_observe(h_ours, values),
            _loop_observe(h_pc, values),
            n,
            reps,
        )
    )

    # The calls must have reached the files: scrape both hot directories the multi-process
    # way and check every total (warm-up round included).
    calls = float(n * (reps + 1))
    expected = {
        ("hot_plain_total", ()): calls,
        ("hot_labelled_total", (("a", "a"), ("b", "b"))): calls,
        ("hot_hist_count", ()): calls,
    }
    for side, body in (
        ("ours", ours_reg.export_prometheus().encode()),
        ("pc", _pc_scraper(_PC_HOT_DIR)()),
    ):
        got = _samples(body)
        for key, want in expected.items():
            if got.get(key) != want:
                _warn(f"hot ops, {side}: {key[0]} is {got.get(key)}, expected {want}")
    return rows


# -- workers ----------------------------------------------------------------------------------


def _worker_labels(series: int) -> list[tuple[str, str]]:
    """``series`` distinct (route, status) pairs, 10 statuses per route."""
    return [(f"/route/{j // 10}", str(200 + j % 10)) for j in range(series)]


def _expected(workers: int, series: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The merged ``mp_requests_total`` samples after ``workers`` workers wrote ``series``."""
    return {
        (FAMILY, tuple(sorted(zip(WORKER_LABELS, pair, strict=True)))): float(workers * (1 + j % 5))
        for j, pair in enumerate(_worker_labels(series))
    }


def _worker(
    lib: str, path: str, series: int, ready: Semaphore | None, release: Event | None
) -> None:
    """A worker process: make the instruments, write ``series`` series, then exit (dead
    worker) or signal ``ready`` and block until ``release`` (live worker)."""
    pairs = _worker_labels(series)
    family: Any
    if lib == "pc":
        # Forget whatever this process inherited from the bench process (its hot
        # instruments' files): a worker writes only its own series to its own files.
        pc_values.close_all_multiprocess_files()
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
        family = pc.Counter(FAMILY, "requests", WORKER_LABELS, registry=None)
    else:
        registry = tm.MetricsRegistry(multiprocess_dir=path)
        family = registry.counter(FAMILY, "requests", labelnames=WORKER_LABELS)
    for j, (route, status) in enumerate(pairs):
        family.labels(route, status).inc(1 + j % 5)
    if ready is not None and release is not None:
        ready.release()
        release.wait()


def _run_dead(
    lib: str,
    path: str,
    workers: int,
    series: int,
    on_exit: Callable[[int], None] | None = None,
) -> tuple[list[int], list[float]]:
    """``workers`` workers write ``series`` series each into ``path`` and exit; their pids.

    Without ``on_exit``, ``BATCH`` workers run at a time. With it, one at a time, and
    ``on_exit(pid)`` is called (and timed, ms, the second list) as soon as each has exited,
    the way a gunicorn master's ``child_exit`` hook is."""
    pids: list[int] = []
    times: list[float] = []
    batch = BATCH if on_exit is None else 1
    for start in range(0, workers, batch):
        procs = [
            FORK.Process(target=_worker, args=(lib, path, series, None, None))
            for _ in range(min(batch, workers - start))
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
            if p.exitcode != 0:
                _warn(f"{lib} dead worker {p.pid} exited with {p.exitcode}")
            pid = p.pid
            assert pid is not None
            pids.append(pid)
            if on_exit is not None:
                times.append(_timed(functools.partial(on_exit, pid)) / 1e6)
    return pids, times


class _Live:
    """``workers`` live workers that wrote ``series`` series each into ``path`` and now block
    until ``stop()``."""

    def __init__(self, lib: str, path: str, workers: int, series: int) -> None:
        self.lib = lib
        self.release = FORK.Event()
        ready = FORK.Semaphore(0)
        self.procs = [
            FORK.Process(target=_worker, args=(lib, path, series, ready, self.release))
            for _ in range(workers)
        ]
        for p in self.procs:
            p.start()
        for p in self.procs:
            if not ready.acquire(timeout=120):
                raise RuntimeError(f"{lib} live worker {p.pid} did not get ready")

    def stop(self) -> list[int]:
        self.release.set()
        pids = []
        for p in self.procs:
            p.join()
            if p.exitcode != 0:
                _warn(f"{self.lib} live worker {p.pid} exited with {p.exitcode}")
            assert p.pid is not None
            pids.append(p.pid)
        return pids


# -- scrapes ----------------------------------------------------------------------------------


def _pc_scraper(path: str) -> Callable[[], bytes]:
    registry = CollectorRegistry()
    pc_multiprocess.MultiProcessCollector(registry, path)
    return lambda: generate_latest(registry)


def _ours_registry(path: str) -> tm.MetricsRegistry:
    return tm.MetricsRegistry(multiprocess_dir=path)


def _ours_scraper(registry: tm.MetricsRegistry) -> Callable[[], bytes]:
    return lambda: registry.export_prometheus().encode()


def _samples(body: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def _check(what: str, body: bytes, expected: dict[Any, float]) -> None:
    """``body``'s ``mp_requests_total`` samples must be exactly ``expected``."""
    try:
        got = {k: v for k, v in _samples(body).items() if k[0] == FAMILY}
    except Exception as exc:  # a body that does not parse is a problem, not a crash
        _warn(f"{what}: body does not parse ({exc!r})")
        return
    if got.keys() != expected.keys():
        _warn(f"{what}: {len(got)} series, expected {len(expected)}")
    elif not all(math.isclose(got[k], v, rel_tol=1e-9) for k, v in expected.items()):
        bad = next(k for k, v in expected.items() if not math.isclose(got[k], v, rel_tol=1e-9))
        _warn(f"{what}: {bad} is {got[bad]}, expected {expected[bad]}")


def _check_folded(what: str, path: str) -> None:
    """Ours: no dead process's file is left in ``path`` (all folded into ``archive.tkm``)."""
    left = [n for n in os.listdir(path) if n.endswith(".tkm") and n != "archive.tkm"]
    if left:
        _warn(f"{what}: {len(left)} process file(s) left in {path}, expected none")


class _Timed:
    """Scrape with ``fn`` and keep the last body (for the check outside the timed region)."""

    def __init__(self, fn: Callable[[], bytes]) -> None:
        self.fn = fn
        self.body = b""

    def __call__(self) -> None:
        self.body = self.fn()

    def once(self) -> float:
        """One timed scrape, ms."""
        return _timed(self) / 1e6


def _interleave_ms(ours: _Timed, theirs: _Timed, reps: int) -> tuple[list[float], list[float]]:
    t_ours, t_pc = _interleaved(ours, theirs, reps)
    return [t / 1e6 for t in t_ours], [t / 1e6 for t in t_pc]


@dataclass
class _DeadSamples:
    first_ours: list[float]
    first_marked: list[float]
    first_pc: list[float]
    mark_ours: list[float]
    mark_pc: list[float]
    steady_ours: list[float]
    steady_pc: list[float]
    live_ours: list[float]
    live_pc: list[float]


def _dead_round(acc: _DeadSamples, reps: int) -> None:
    """One round of the scrape-after-deaths scenario, fresh directories."""
    d_ours, d_marked, d_pc = _new_dir("ours-dead"), _new_dir("ours-marked"), _new_dir("pc-dead")
    dead = _expected(DEAD_WORKERS, DEAD_SERIES)
    _run_dead("ours", d_ours, DEAD_WORKERS, DEAD_SERIES)  # nobody calls mark_process_dead
    # mark_process_dead(pid) as a gunicorn master's child_exit hook calls it: once per
    # worker, as soon as it has exited.
    reg_marked = _ours_registry(d_marked)
    _, times = _run_dead(
        "ours",
        d_marked,
        DEAD_WORKERS,
        DEAD_SERIES,
        lambda pid: tm.mark_process_dead(pid, registry=reg_marked),
    )
    acc.mark_ours.extend(times)
    _, times = _run_dead(
        "pc",
        d_pc,
        DEAD_WORKERS,
        DEAD_SERIES,
        lambda pid: pc_multiprocess.mark_process_dead(pid, d_pc),
    )
    acc.mark_pc.extend(times)
    _check_folded("after mark_process_dead", d_marked)

    ours = _Timed(_ours_scraper(_ours_registry(d_ours)))
    marked = _Timed(_ours_scraper(reg_marked))
    theirs = _Timed(_pc_scraper(d_pc))
    acc.first_ours.append(ours.once())  # folds the 100 dead files into the archive
    acc.first_marked.append(marked.once())
    acc.first_pc.append(theirs.once())
    for what, t in (("ours first", ours), ("ours marked first", marked), ("pc first", theirs)):
        _check(f"dead scenario, {what} scrape", t.body, dead)
    _check_folded("after the first scrape", d_ours)

    s_ours, s_pc = _interleave_ms(ours, theirs, reps)
    acc.steady_ours.extend(s_ours)
    acc.steady_pc.extend(s_pc)
    _check("dead scenario, ours steady scrape", ours.body, dead)
    _check("dead scenario, pc steady scrape", theirs.body, dead)

    live_ours = _Live("ours", d_ours, LIVE_WORKERS, DEAD_SERIES)
    try:
        live_pc = _Live("pc", d_pc, LIVE_WORKERS, DEAD_SERIES)
        try:
            l_ours, l_pc = _interleave_ms(ours, theirs, reps)
        finally:
            live_pc.stop()
    finally:
        live_ours.stop()
    acc.live_ours.extend(l_ours)
    acc.live_pc.extend(l_pc)
    both = _expected(DEAD_WORKERS + LIVE_WORKERS, DEAD_SERIES)
    _check("4 live + archive, ours scrape", ours.body, both)
    _check("4 live + dead files, pc scrape", theirs.body, both)


def _row(key: str, title: str, ours: list[float], theirs: list[float], target: float | None) -> Row:
    m_ours, m_pc = statistics.median(ours), statistics.median(theirs)
    return Row(key, title, "ms", m_ours, m_pc, m_pc / m_ours, target, ours, theirs)


def bench_dead(rounds: int, reps: int) -> tuple[list[Row], Row]:
    """The scrape-after-deaths rows, and ours-against-ours: steady state after the deaths
    against 4 live workers plus the archive (ratio live/dead, at least 1)."""
    acc = _DeadSamples([], [], [], [], [], [], [], [], [])
    for _ in range(rounds):
        _dead_round(acc, reps)
    size = f"{DEAD_WORKERS} dead workers x {DEAD_SERIES} series"
    rows = [
        _row(
            "dead_first_scrape",
            f"first scrape after {size} (ours folds them into the archive in this scrape)",
            acc.first_ours,
            acc.first_pc,
            None,
        ),
        _row(
            "dead_mark_process_dead",
            "`mark_process_dead(pid)`, per call, right after each worker exits"
            " (ours folds its file into the archive; pc removes its live-gauge files)",
            acc.mark_ours,
            acc.mark_pc,
            None,
        ),
        _row(
            "dead_first_scrape_marked",
            "first scrape after those `mark_process_dead` calls (pc: its first scrape)",
            acc.first_marked,
            acc.first_pc,
            None,
        ),
        _row(
            "dead_steady_scrape",
            f"steady-state scrape after {size}",
            acc.steady_ours,
            acc.steady_pc,
            20.0,
        ),
        _row(
            "live4_archive_scrape",
            f"scrape, {LIVE_WORKERS} live workers x {DEAD_SERIES} series + the {DEAD_WORKERS}"
            " dead (ours: their archive)",
            acc.live_ours,
            acc.live_pc,
            None,
        ),
    ]
    m_dead, m_live = statistics.median(acc.steady_ours), statistics.median(acc.live_ours)
    own = Row(
        "dead_vs_live4",
        f"ours: steady scrape after {DEAD_WORKERS} deaths vs {LIVE_WORKERS} live + archive",
        "ms",
        m_dead,
        m_live,
        m_live / m_dead,
        1.0,
        acc.steady_ours,
        acc.live_ours,
    )
    return rows, own


def bench_big(reps: int) -> Row:
    """8 live workers x 10,000 series each, a fresh directory per library."""
    d_ours, d_pc = _new_dir("ours-big"), _new_dir("pc-big")
    live_ours = _Live("ours", d_ours, BIG_WORKERS, BIG_SERIES)
    try:
        live_pc = _Live("pc", d_pc, BIG_WORKERS, BIG_SERIES)
        try:
            ours = _Timed(_ours_scraper(_ours_registry(d_ours)))
            theirs = _Timed(_pc_scraper(d_pc))
            t_ours, t_pc = _interleave_ms(ours, theirs, reps)
        finally:
            live_pc.stop()
    finally:
        live_ours.stop()
    expected = _expected(BIG_WORKERS, BIG_SERIES)
    _check("8 live x 10,000, ours scrape", ours.body, expected)
    _check("8 live x 10,000, pc scrape", theirs.body, expected)
    return _row(
        "live8_big_scrape",
        f"scrape, {BIG_WORKERS} live workers x {BIG_SERIES:,} series",
        t_ours,
        t_pc,
        None,
    )


# -- report -----------------------------------------------------------------------------------


def _fmt(value: float, unit: str) -> str:
    return f"{value:,.1f} ns/op" if unit == "ns/op" else f"{value:,.2f} ms"


def table(
    rows: Sequence[Row], columns: tuple[str, str], ratio_name: str = "", first: int = 1
) -> str:
    """Rows numbered from ``first``. Ratios against pc read "x faster" (or "x slower" below
    1); with ``ratio_name`` the plain ratio is printed, followed by that name."""
    out = [
        f"| # | operation | {columns[0]} median | {columns[1]} median | ratio | target | result |",
        "|---|---|---:|---:|---:|---:|:---:|",
    ]
    for i, r in enumerate(rows, first):
        if ratio_name:
            ratio = f"{r.ratio:.2f} ({ratio_name})"
        elif r.ratio >= 1:
            ratio = f"{r.ratio:.2f}x faster"
        else:
            ratio = f"{1 / r.ratio:.2f}x slower"
        if r.target is None:
            target, result = "none", "info"
        else:
            target, result = f">= {r.target:g}x", "PASS" if r.met else "FAIL"
        out.append(
            f"| {i} | {r.title} | {_fmt(r.ours, r.unit)} | {_fmt(r.pc, r.unit)} "
            f"| {ratio} | {target} | {result} |"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__, argv)
    if not getattr(pc_values.ValueClass, "_multiprocess", False):
        raise RuntimeError("prometheus_client is not in multi-process mode")

    hot_n, hot_reps = (20_000, 3) if args.quick else (200_000, 7)
    rounds, scrape_reps = (1, 3) if args.quick else (3, 5)
    big_reps = 2 if args.quick else 5
    header = print_header(
        args.quick,
        f"hot ops: N={hot_n:,} x {hot_reps} reps; scrapes after deaths: {rounds} rounds x "
        f"{scrape_reps} reps; 8 live x 10,000: {big_reps} reps; interleaved ours/pc",
    )

    started = time.perf_counter()
    # Scrape scenarios first, so that the workers fork from a process with no hot
    # instruments yet (each worker makes its own anyway).
    dead_rows, own = bench_dead(rounds, scrape_reps)
    t_dead = time.perf_counter()
    big = bench_big(big_reps)
    t_big = time.perf_counter()
    hot = bench_hot(hot_n, hot_reps)
    elapsed = time.perf_counter() - started
    parts = f"deaths {t_dead - started:.1f} s, 8 x 10,000 {t_big - t_dead:.1f} s"

    rows = [*hot, *dead_rows, big]
    print(table(rows, ("tachikoma_metrics", "prometheus_client")))
    print()
    print("Ours against ours: the steady scrape after the deaths must be no slower than")
    print(f"one with {LIVE_WORKERS} live workers plus the archive (ratio live/dead):")
    print()
    columns = ("ours after deaths", f"ours {LIVE_WORKERS} live + archive")
    print(table([own], columns, "live/dead", len(rows) + 1))
    print()
    targeted = [r for r in [*rows, own] if r.target is not None]
    met = sum(r.met for r in targeted)
    print(f"elapsed: {elapsed:.1f} s ({parts}, hot ops {elapsed - (t_big - started):.1f} s)")
    print(f"sanity checks: {len(_problems)} problem(s)")
    print(f"targets: {met}/{len(targeted)} met")

    if args.json:
        write_json(
            args.json,
            {
                **header,
                "hot_n": hot_n,
                "hot_reps": hot_reps,
                "dead_rounds": rounds,
                "scrape_reps": scrape_reps,
                "big_reps": big_reps,
                "rows": [{**asdict(r), "met": r.met} for r in rows],
                # "ours" is the steady scrape after the deaths, "pc" the 4-live one (both ours)
                "ours_vs_ours": {**asdict(own), "met": own.met},
                "problems": _problems,
                "targets_met": met,
                "targets_total": len(targeted),
            },
        )
    return 0


if __name__ == "__main__":
    run_report(main)
