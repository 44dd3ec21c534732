"""tachikoma_metrics vs prometheus_client, side by side in one process.

Prints a markdown table of medians and ratios, each row against its target from issue 2
("Performance"), for the gauge and paused-facade rows issue 7, and for the summary rows the
summary issue (observe with quantiles no slower than prometheus_client's). Run from the
repository root::

    python bench/bench_core.py            # full run (about a minute or two)
    python bench/bench_core.py --quick    # smoke run, fewer repetitions
    python bench/bench_core.py --json results.json

Method:

* Hot operations: ``time.perf_counter_ns`` around a loop of N calls (timeit style, loop
  overhead included on both sides), garbage collection disabled during the loop, repeated
  R times with the two libraries interleaved (ours, pc, ours, pc, ...) after one untimed
  warm-up each. Reported: median ns/op per library and the ratio of medians pc/ours.
  Gauges (``inc()``, ``dec()``, ``set(v)``, a cached child's ``set(v)``) are hot operations,
  and so are summaries' ``observe(v)`` (ours with quantiles 0.5/0.9/0.99, pc's without any,
  as it has none): our loop includes the flushes of the buffer into the quantile sketch.
* Paused facade instruments: the same interleaved method, but both sides are ours: a
  paused instrument (the facade's state before ``init()``, built on a private registry so
  that it does not depend on global state; see ``_paused``) against the same call on a
  live one. Reported in a second table, ratio of medians paused/live, lower is better.
* Exports, measured live: before every timed export, 100 random existing series change and
  one new series appears (outside the timed region, identically for both libraries).
  Timed: ``MetricsRegistry.export_prometheus().encode()`` (bytes, as a scrape handler
  serves them) against ``prometheus_client.generate_latest(registry)`` with ``_created``
  series disabled. Interleaved, median ms.
* Memory: ``tracemalloc``, each library from a fresh registry: traced memory after creating
  10,000 labelled children, writing each once and exporting once (export text dropped), minus
  traced memory before, with ``gc.collect()`` around. Reported per child, ratio ours/pc.
* Native histograms (issue 10, a third table): a native-only ``observe(v)`` against pc's
  classic one and our classic one (default buckets), one three-way interleaving; memory per
  native child with 100 populated buckets against a pc classic child (the memory method,
  2,000 children); a live protobuf export of 1,000 native series with 50 buckets each,
  reported against our protobuf export of 1,000 classic series, with no target.

The exit code is always 0: this is a report, not a test.
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import math
import platform
import random
import statistics
import sys
import time
import traceback
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from itertools import islice, repeat
from typing import Any, NoReturn, TypeVar

import prometheus_client as pc
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

import tachikoma_metrics as tm
from tachikoma_metrics.instruments.summary import Summary

perf_counter_ns = time.perf_counter_ns

LABELS = ("a", "b")
SEED = 20240611

FamilyT = TypeVar("FamilyT")


@dataclass
class Row:
    key: str
    title: str
    unit: str  # "ns/op", "ms", "B/child"
    ours: float
    pc: float
    ratio: float  # speed rows: pc/ours ("x faster"); memory rows: ours/pc
    target: float
    higher_is_better: bool
    samples_ours: list[float]
    samples_pc: list[float]

    @property
    def met(self) -> bool:
        if self.higher_is_better:
            return self.ratio >= self.target
        return self.ratio <= self.target


# -- timing helpers ---------------------------------------------------------------------------


def _timed(fn: Callable[[], None]) -> int:
    """Nanoseconds for one call of ``fn`` with the collector off."""
    gc.collect()
    gc.disable()
    try:
        t0 = perf_counter_ns()
        fn()
        return perf_counter_ns() - t0
    finally:
        gc.enable()


def _interleaved(
    ours: Callable[[], None],
    theirs: Callable[[], None],
    reps: int,
    before_ours: Callable[[], None] | None = None,
    before_theirs: Callable[[], None] | None = None,
) -> tuple[list[int], list[int]]:
    """Run ours, pc, ours, pc, ... ``reps`` times each after one warm-up; ns per run."""
    out_ours: list[int] = []
    out_pc: list[int] = []
    for i in range(reps + 1):
        if before_ours is not None:
            before_ours()
        t_ours = _timed(ours)
        if before_theirs is not None:
            before_theirs()
        t_pc = _timed(theirs)
        if i:  # the first round is a warm-up
            out_ours.append(t_ours)
            out_pc.append(t_pc)
    return out_ours, out_pc


def _hot_row(
    key: str,
    title: str,
    target: float,
    ours: Callable[[], None],
    theirs: Callable[[], None],
    n: int,
    reps: int,
) -> Row:
    t_ours, t_pc = _interleaved(ours, theirs, reps)
    ns_ours = [t / n for t in t_ours]
    ns_pc = [t / n for t in t_pc]
    m_ours, m_pc = statistics.median(ns_ours), statistics.median(ns_pc)
    return Row(key, title, "ns/op", m_ours, m_pc, m_pc / m_ours, target, True, ns_ours, ns_pc)


# -- hot operations ---------------------------------------------------------------------------


def _loop_inc(metric: Any, n: int) -> Callable[[], None]:
    def run() -> None:
        m = metric
        for _ in repeat(None, n):
            m.inc()

    return run


def _loop_labels_inc(family: Any, n: int) -> Callable[[], None]:
    def run() -> None:
        f = family
        for _ in repeat(None, n):
            f.labels("a", "b").inc()

    return run


def _loop_observe(metric: Any, values: Sequence[float]) -> Callable[[], None]:
    def run() -> None:
        m = metric
        for v in values:
            m.observe(v)

    return run


def histogram_values(count: int) -> list[float]:
    """A deterministic, varied cycle of values spanning every default bucket (and +Inf)."""
    rng = random.Random(SEED)
    base = [math.exp(rng.uniform(math.log(0.001), math.log(20.0))) for _ in range(1009)]
    return list(islice(_cycle(base), count))


def _cycle(values: list[float]) -> Any:
    while True:
        yield from values


def bench_hot(n: int, reps: int) -> list[Row]:
    ours_reg = tm.MetricsRegistry()
    pc_reg = CollectorRegistry()
    rows = []

    c_ours = ours_reg.counter("hot_plain_total", "plain counter")
    c_pc = pc.Counter("hot_plain_total", "plain counter", registry=pc_reg)
    rows.append(
        _hot_row(
            "counter_inc",
            "unlabelled `Counter.inc()`",
            3.0,
            _loop_inc(c_ours, n),
            _loop_inc(c_pc, n),
            n,
            reps,
        )
    )

    fam_ours = ours_reg.counter("hot_labelled_total", "labelled counter", labelnames=LABELS)
    fam_pc = pc.Counter("hot_labelled_total", "labelled counter", LABELS, registry=pc_reg)
    rows.append(
        _hot_row(
            "child_inc",
            'cached child `.inc()` (`child = family.labels("a", "b")`)',
            3.0,
            _loop_inc(fam_ours.labels("a", "b"), n),
            _loop_inc(fam_pc.labels("a", "b"), n),
            n,
            reps,
        )
    )
    rows.append(
        _hot_row(
            "labels_inc",
            '`family.labels("a", "b").inc()` (lookup every call)',
            5.0,
            _loop_labels_inc(fam_ours, n),
            _loop_labels_inc(fam_pc, n),
            n,
            reps,
        )
    )

    values = histogram_values(n)
    h_ours = ours_reg.histogram("hot_hist", "histogram")
    h_pc = pc.Histogram("hot_hist", "histogram", registry=pc_reg)
    rows.append(
        _hot_row(
            "histogram_observe",
            "`Histogram.observe(v)`, default buckets",
            4.0,
            _loop_observe(h_ours, values),
            _loop_observe(h_pc, values),
            n,
            reps,
        )
    )
    # Same data recorded on both sides: a cheap guard against comparing unlike work.
    if h_ours.get().count != sum(
        s.value for s in h_pc.collect()[0].samples if s.name == "hot_hist_count"
    ):
        print("WARNING: histogram counts differ between libraries", file=sys.stderr)
    return rows


# -- gauges (issue 7) -------------------------------------------------------------------------

GAUGE_VALUES = (0.25, 1.5, -3.0, 42.0, 1e-3, 7.75, -0.5)


def gauge_values(count: int) -> list[float]:
    """``count`` plain floats cycling through ``GAUGE_VALUES``, for the ``set(v)`` rows."""
    return list(islice(_cycle(list(GAUGE_VALUES)), count))


def _loop_dec(metric: Any, n: int) -> Callable[[], None]:
    def run() -> None:
        m = metric
        for _ in repeat(None, n):
            m.dec()

    return run


def _loop_set(metric: Any, values: Sequence[float]) -> Callable[[], None]:
    def run() -> None:
        m = metric
        for v in values:
            m.set(v)

    return run


def _pc_value(metric: Any) -> float:
    """The one sample of a ``prometheus_client`` gauge series, read the public way."""
    return float(metric.collect()[0].samples[0].value)


def bench_gauges(n: int, reps: int) -> list[Row]:
    """Gauge ``inc()``, ``dec()``, ``set(v)`` and a cached child's ``set(v)`` against pc."""
    ours_reg = tm.MetricsRegistry()
    pc_reg = CollectorRegistry()
    values = gauge_values(n)
    rows = []
    expected: dict[str, float] = {}
    pairs: dict[str, tuple[Any, Any]] = {}

    for key, title, method, expect in (
        ("gauge_inc", "unlabelled `Gauge.inc()`", _loop_inc, float(n * (reps + 1))),
        ("gauge_dec", "unlabelled `Gauge.dec()`", _loop_dec, -float(n * (reps + 1))),
    ):
        g_ours = ours_reg.gauge(f"hot_{key}", "gauge")
        g_pc = pc.Gauge(f"hot_{key}", "gauge", registry=pc_reg)
        rows.append(_hot_row(key, title, 3.0, method(g_ours, n), method(g_pc, n), n, reps))
        expected[key], pairs[key] = expect, (g_ours, g_pc)

    g_ours = ours_reg.gauge("hot_gauge_set", "gauge")
    g_pc = pc.Gauge("hot_gauge_set", "gauge", registry=pc_reg)
    rows.append(
        _hot_row(
            "gauge_set",
            f"unlabelled `Gauge.set(v)`, v cycling through {len(GAUGE_VALUES)} floats",
            3.0,
            _loop_set(g_ours, values),
            _loop_set(g_pc, values),
            n,
            reps,
        )
    )
    expected["gauge_set"], pairs["gauge_set"] = values[-1], (g_ours, g_pc)

    fam_ours = ours_reg.gauge("hot_gauge_labelled", "gauge", labelnames=LABELS)
    fam_pc = pc.Gauge("hot_gauge_labelled", "gauge", LABELS, registry=pc_reg)
    child_ours, child_pc = fam_ours.labels("a", "b"), fam_pc.labels("a", "b")
    rows.append(
        _hot_row(
            "gauge_child_set",
            'cached gauge child `.set(v)` (`child = family.labels("a", "b")`)',
            3.0,
            _loop_set(child_ours, values),
            _loop_set(child_pc, values),
            n,
            reps,
        )
    )
    expected["gauge_child_set"], pairs["gauge_child_set"] = values[-1], (child_ours, child_pc)

    # Both libraries must end where the calls say they should: same work on both sides.
    for key, (ours, theirs) in pairs.items():
        got = (ours.get(), _pc_value(theirs))
        if got != (expected[key], expected[key]):
            print(
                f"WARNING: {key}: expected {expected[key]}, got (ours, pc) {got}", file=sys.stderr
            )
    return rows


# -- summaries with quantiles ----------------------------------------------------------------

SUMMARY_QUANTILES = (0.5, 0.9, 0.99)


def _pc_count(metric: Any) -> float:
    """The ``_count`` sample of a ``prometheus_client`` summary series."""
    return float(next(s.value for s in metric.collect()[0].samples if s.name.endswith("_count")))


def bench_summary(n: int, reps: int) -> list[Row]:
    """``Summary.observe(v)`` with quantiles 0.5, 0.9 and 0.99 (unlabelled, and a cached
    child) against ``prometheus_client.Summary.observe(v)``, which computes no quantiles.

    Ours buffers each value and adds a full buffer (256 values) to the quantile sketch
    inside ``observe``: the timed loops include those flushes, so the figure is the whole
    cost of an observation. Every read would flush too; none is timed here.
    """
    ours_reg = tm.MetricsRegistry()
    pc_reg = CollectorRegistry()
    values = histogram_values(n)
    rows = []

    s_ours = ours_reg.get_or_create(Summary, "hot_summary", "summary", quantiles=SUMMARY_QUANTILES)
    s_pc = pc.Summary("hot_summary", "summary", registry=pc_reg)
    rows.append(
        _hot_row(
            "summary_observe",
            "unlabelled `Summary.observe(v)`, quantiles 0.5/0.9/0.99 (pc: none)",
            1.0,
            _loop_observe(s_ours, values),
            _loop_observe(s_pc, values),
            n,
            reps,
        )
    )

    fam_ours = ours_reg.get_or_create(
        Summary, "hot_summary_labelled", "summary", LABELS, quantiles=SUMMARY_QUANTILES
    )
    fam_pc = pc.Summary("hot_summary_labelled", "summary", LABELS, registry=pc_reg)
    child_ours, child_pc = fam_ours.labels("a", "b"), fam_pc.labels("a", "b")
    rows.append(
        _hot_row(
            "summary_child_observe",
            'cached summary child `.observe(v)` (`child = family.labels("a", "b")`)',
            1.0,
            _loop_observe(child_ours, values),
            _loop_observe(child_pc, values),
            n,
            reps,
        )
    )

    # Same work on both sides: every call recorded (warm-up round included).
    calls = float(n * (reps + 1))
    for key, ours, theirs in (
        ("summary_observe", s_ours, s_pc),
        ("summary_child_observe", child_ours, child_pc),
    ):
        got = (float(ours.get().count), _pc_count(theirs))
        if got != (calls, calls):
            print(f"WARNING: {key}: expected {calls} each, got (ours, pc) {got}", file=sys.stderr)
    return rows


# -- paused facade instruments vs live ones (issue 7) ------------------------------------------

PAUSED_KEYS = ("paused_counter_inc", "paused_histogram_observe", "paused_labels_inc")


def _paused(family: FamilyT) -> tuple[FamilyT, Callable[[], None]]:
    """Put ``family`` in the state a facade instrument is in before ``init()``; return it
    with the function that brings it alive, as ``init()`` does.

    The ONLY use of private API in this script. It mirrors ``_global.py``: the facade
    pauses each family it hands out before ``init()`` (``family._suspend()`` today) and
    ``init()`` resumes them (``family._resume()``). Doing it on a family of a private
    registry keeps the bench independent of the process-global facade (``init()`` is
    one-way), so the paused rows measure the same thing in any order. If the facade's
    mechanism is renamed or changed, adapt this function and nothing else.
    """
    family._suspend()
    return family, family._resume


def _paused_row(
    key: str,
    title: str,
    target: float,
    paused: Callable[[], None],
    live: Callable[[], None],
    n: int,
    reps: int,
) -> Row:
    """A hot-op row of a paused instrument against the same call on a live one: ``ours`` is
    the paused time, ``pc`` the live time (both ours), ratio paused/live, lower is better."""
    t_paused, t_live = _interleaved(paused, live, reps)
    ns_paused = [t / n for t in t_paused]
    ns_live = [t / n for t in t_live]
    m_paused, m_live = statistics.median(ns_paused), statistics.median(ns_live)
    return Row(
        key, title, "ns/op", m_paused, m_live, m_paused / m_live, target, False, ns_paused, ns_live
    )


def bench_paused(n: int, reps: int) -> list[Row]:
    """Paused ``inc()``, ``observe(v)`` and ``labels("a", "b").inc()`` against live ones."""
    paused_reg = tm.MetricsRegistry()
    live_reg = tm.MetricsRegistry()
    values = histogram_values(n)
    rows = []

    c_paused, wake_c = _paused(paused_reg.counter("paused_plain_total", "paused counter"))
    c_live = live_reg.counter("paused_plain_total", "live counter")
    rows.append(
        _paused_row(
            PAUSED_KEYS[0],
            "paused facade `Counter.inc()` vs live",
            0.8,
            _loop_inc(c_paused, n),
            _loop_inc(c_live, n),
            n,
            reps,
        )
    )

    h_paused, wake_h = _paused(paused_reg.histogram("paused_hist", "paused histogram"))
    h_live = live_reg.histogram("paused_hist", "live histogram")
    rows.append(
        _paused_row(
            PAUSED_KEYS[1],
            "paused facade `Histogram.observe(v)`, default buckets, vs live",
            0.8,
            _loop_observe(h_paused, values),
            _loop_observe(h_live, values),
            n,
            reps,
        )
    )

    fam_paused, wake_f = _paused(
        paused_reg.counter("paused_labelled_total", "paused family", labelnames=LABELS)
    )
    fam_live = live_reg.counter("paused_labelled_total", "live family", labelnames=LABELS)
    rows.append(
        _paused_row(
            PAUSED_KEYS[2],
            'paused facade `family.labels("a", "b").inc()` vs live',
            0.8,
            _loop_labels_inc(fam_paused, n),
            _loop_labels_inc(fam_live, n),
            n,
            reps,
        )
    )

    # The paused side must really have been paused (recorded nothing) and the live side
    # live; and the paused handles must come alive when woken, as they do at init().
    calls = n * (reps + 1)
    child_paused = fam_paused.labels("a", "b")
    recorded = {
        "paused": (c_paused.get(), h_paused.get().count, child_paused.get()),
        "live": (c_live.get(), h_live.get().count, fam_live.labels("a", "b").get()),
    }
    if recorded["paused"] != (0, 0, 0) or recorded["live"] != (calls, calls, calls):
        print(f"WARNING: paused rows: unexpected totals {recorded}", file=sys.stderr)
    for wake in (wake_c, wake_h, wake_f):
        wake()
    c_paused.inc()
    h_paused.observe(0.5)
    child_paused.inc()
    awake = (c_paused.get(), h_paused.get().count, child_paused.get())
    if awake != (1, 1, 1):
        print(f"WARNING: paused handles did not come alive: {awake}", file=sys.stderr)
    return rows


# -- live exports -----------------------------------------------------------------------------


def _label_pairs(count: int) -> list[tuple[str, str]]:
    """``count`` distinct (service, endpoint) pairs, 100 endpoints per service."""
    return [(f"svc-{i // 100:03d}", f"ep-{i % 100:03d}") for i in range(count)]


class _LiveExport:
    """One library's family plus the between-exports mutation, driven by a shared plan."""

    def __init__(
        self,
        family: Any,
        write: Callable[[Any, float], None],
        export: Callable[[], bytes],
        pairs: list[tuple[str, str]],
        plan: list[tuple[list[int], tuple[str, str], list[float]]],
    ) -> None:
        self.family = family
        self.write = write
        self.export = export
        self.pairs = list(pairs)
        self.children = [family.labels(*p) for p in self.pairs]
        self.plan = plan
        self.step = 0
        self.last: bytes = b""

    def mutate(self) -> None:
        changed, new_pair, values = self.plan[self.step]
        self.step += 1
        for idx, v in zip(changed, values, strict=True):
            self.write(self.children[idx], v)
        child = self.family.labels(*new_pair)
        for v in values[:3]:
            self.write(child, v)
        self.children.append(child)

    def run(self) -> None:
        self.last = self.export()


def _plan(
    size: int, rounds: int, rng: random.Random
) -> list[tuple[list[int], tuple[str, str], list[float]]]:
    plan = []
    for r in range(rounds):
        # indices among children existing at that round (earlier new ones included)
        changed = [rng.randrange(size + r) for _ in range(100)]
        new_pair = (f"svc-{rng.randrange(1000):03d}", f"new-{r:04d}")
        values = [math.exp(rng.uniform(math.log(0.001), math.log(20.0))) for _ in range(100)]
        plan.append((changed, new_pair, values))
    return plan


def _samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text.decode())
        for s in family.samples
    }


def _same_samples(ours: bytes, theirs: bytes) -> bool:
    a, b = _samples(ours), _samples(theirs)
    return a.keys() == b.keys() and all(math.isclose(a[k], b[k], rel_tol=1e-9) for k in a)


def _inc(child: Any, v: float) -> None:
    child.inc()


def _observe(child: Any, v: float) -> None:
    child.observe(v)


def _live_pair(
    kind: str,
    size: int,
    reps: int,
    ours_export: Callable[[tm.MetricsRegistry], bytes],
    pc_export: Callable[[CollectorRegistry], bytes],
) -> tuple[_LiveExport, _LiveExport]:
    """Ours and pc, each a fresh registry with one ``kind`` family ("counter" or "histogram")
    of ``size`` label sets, exported by ``ours_export``/``pc_export``, and the same seeded
    plan for ``reps + 1`` rounds of changes."""
    rng = random.Random(SEED + size)
    pairs = _label_pairs(size)
    plan = _plan(size, reps + 1, rng)

    ours_reg = tm.MetricsRegistry()
    pc_reg = CollectorRegistry()
    if kind == "counter":
        fam_ours: Any = ours_reg.counter("export_total", "export bench", labelnames=LABELS)
        fam_pc: Any = pc.Counter("export_total", "export bench", LABELS, registry=pc_reg)
        write = _inc
    else:
        fam_ours = ours_reg.histogram("export_seconds", "export bench", labelnames=LABELS)
        fam_pc = pc.Histogram("export_seconds", "export bench", LABELS, registry=pc_reg)
        write = _observe

    ours = _LiveExport(fam_ours, write, functools.partial(ours_export, ours_reg), pairs, plan)
    theirs = _LiveExport(fam_pc, write, functools.partial(pc_export, pc_reg), pairs, plan)
    # initial state: every child written (histograms: three observations each)
    init_rng = random.Random(SEED)
    for i in range(len(pairs)):
        vals = [math.exp(init_rng.uniform(math.log(0.001), math.log(20.0))) for _ in range(3)]
        for lib in (ours, theirs):
            for v in vals if kind == "histogram" else vals[:1]:
                lib.write(lib.children[i], v)
    return ours, theirs


def _text_export(registry: tm.MetricsRegistry) -> bytes:
    return registry.export_prometheus().encode()


def _export_row(
    key: str, title: str, kind: str, size: int, reps: int, target: float
) -> tuple[Row, dict[str, int]]:
    ours, theirs = _live_pair(kind, size, reps, _text_export, generate_latest)
    t_ours, t_pc = _interleaved(ours.run, theirs.run, reps, ours.mutate, theirs.mutate)
    assert b"_created" not in theirs.last, "prometheus_client output has _created series"
    lines = {
        "ours": ours.last.count(b"\n"),
        "pc": theirs.last.count(b"\n"),
        "bytes_ours": len(ours.last),
        "bytes_pc": len(theirs.last),
    }
    if lines["ours"] != lines["pc"]:
        print(f"WARNING: {key}: line counts differ: {lines}", file=sys.stderr)
    # Both exports must say the same thing: same series, same values (float sums compared
    # loosely, since the two libraries may add observations in different orders).
    if not _same_samples(ours.last, theirs.last):
        print(f"WARNING: {key}: the two exports disagree on series or values", file=sys.stderr)
    ms_ours = [t / 1e6 for t in t_ours]
    ms_pc = [t / 1e6 for t in t_pc]
    m_ours, m_pc = statistics.median(ms_ours), statistics.median(ms_pc)
    row = Row(key, title, "ms", m_ours, m_pc, m_pc / m_ours, target, True, ms_ours, ms_pc)
    return row, lines


# -- memory -----------------------------------------------------------------------------------


def _populate_ours(kind: str, pairs: list[tuple[str, str]]) -> Any:
    reg = tm.MetricsRegistry()
    if kind == "counter":
        fam: Any = reg.counter("mem_total", "memory bench", labelnames=LABELS)
        for p in pairs:
            fam.labels(*p).inc()
    else:
        fam = reg.histogram("mem_seconds", "memory bench", labelnames=LABELS)
        for i, p in enumerate(pairs):
            fam.labels(*p).observe((i % 200) / 10.0)
    text = reg.export_prometheus()
    del text
    return reg


def _populate_pc(kind: str, pairs: list[tuple[str, str]]) -> Any:
    reg = CollectorRegistry()
    if kind == "counter":
        fam: Any = pc.Counter("mem_total", "memory bench", LABELS, registry=reg)
        for p in pairs:
            fam.labels(*p).inc()
    else:
        fam = pc.Histogram("mem_seconds", "memory bench", LABELS, registry=reg)
        for i, p in enumerate(pairs):
            fam.labels(*p).observe((i % 200) / 10.0)
    text = generate_latest(reg)
    del text
    return reg


def _traced_delta(build: Callable[[], Any]) -> int:
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    kept = build()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    del kept
    gc.collect()
    return after - before


def bench_memory(size: int, reps: int) -> list[Row]:
    pairs = _label_pairs(size)
    rows = []
    tracemalloc.start()
    try:
        for kind, title, target in (
            ("counter", "memory per labelled counter child", 0.5),
            ("histogram", "memory per labelled histogram child", 0.2),
        ):
            # warm up module-level caches on both sides before measuring
            _populate_ours(kind, pairs[:10])
            _populate_pc(kind, pairs[:10])
            b_ours: list[float] = []
            b_pc: list[float] = []
            for _ in range(reps):
                b_ours.append(_traced_delta(lambda k=kind: _populate_ours(k, pairs)) / size)
                b_pc.append(_traced_delta(lambda k=kind: _populate_pc(k, pairs)) / size)
            m_ours, m_pc = statistics.median(b_ours), statistics.median(b_pc)
            rows.append(
                Row(
                    f"memory_{kind}",
                    f"{title} ({size:,} children)",
                    "B/child",
                    m_ours,
                    m_pc,
                    m_ours / m_pc,
                    target,
                    False,
                    b_ours,
                    b_pc,
                )
            )
    finally:
        tracemalloc.stop()
    return rows


# -- native histograms (issue 10) --------------------------------------------------------------

NATIVE_KEYS = ("native_observe_vs_pc", "native_observe_vs_classic", "memory_native")


def _interleaved3(runs: Sequence[Callable[[], None]], reps: int) -> list[list[int]]:
    """Like ``_interleaved``, for any number of sides: a, b, c, a, b, c, ... after one
    untimed warm-up round; ns per run, per side."""
    out: list[list[int]] = [[] for _ in runs]
    for i in range(reps + 1):
        times = [_timed(run) for run in runs]
        if i:
            for samples, t in zip(out, times, strict=True):
                samples.append(t)
    return out


def native_hundred() -> list[float]:
    """100 values, one in each of 100 consecutive native buckets at schema 3 (factor 1.1):
    ``2^((k - 0.5)/8)`` for k from -50 to 49."""
    return [2 ** ((k - 0.5) / 8) for k in range(-50, 50)]


def bench_native(n: int, reps: int, mem_children: int, mem_reps: int) -> tuple[list[Row], Row]:
    """Issue 10's rows: a native-only ``Histogram.observe(v)`` against prometheus_client's
    classic one (default buckets) and against our own classic one, timed in one
    three-way interleaving (native, classic, pc); memory per native child with 100
    populated buckets against a pc classic child (default buckets); and, reported without
    a target, a live protobuf export of 1,000 native series with 50 populated buckets each
    (against our protobuf export of 1,000 classic series, default buckets, for scale).

    The observe loops include the flushes of the native buffer (every 256 values), so the
    figure is the whole cost of an observation; row 4's values (log-uniform from 0.001 to
    20: 115 native buckets at schema 3, under the limit of 160).
    """
    ours_reg = tm.MetricsRegistry()
    pc_reg = CollectorRegistry()
    values = histogram_values(n)
    native = ours_reg.histogram("hot_native", "native histogram", native=True)
    classic = ours_reg.histogram("hot_classic", "classic histogram")
    theirs = pc.Histogram("hot_native", "classic histogram", registry=pc_reg)
    t_native, t_classic, t_pc = _interleaved3(
        [
            _loop_observe(native, values),
            _loop_observe(classic, values),
            _loop_observe(theirs, values),
        ],
        reps,
    )
    ns_native = [t / n for t in t_native]
    ns_classic = [t / n for t in t_classic]
    ns_pc = [t / n for t in t_pc]
    m_native, m_classic, m_pc = (statistics.median(x) for x in (ns_native, ns_classic, ns_pc))
    rows = [
        Row(
            "native_observe_vs_pc",
            "native `Histogram.observe(v)` (native only) vs pc classic, default buckets",
            "ns/op",
            m_native,
            m_pc,
            m_pc / m_native,
            2.5,
            True,
            ns_native,
            ns_pc,
        ),
        Row(
            "native_observe_vs_classic",
            "native `Histogram.observe(v)` vs our classic `observe(v)`, default buckets",
            "ns/op",
            m_native,
            m_classic,
            m_native / m_classic,
            2.0,
            False,
            ns_native,
            ns_classic,
        ),
    ]
    calls = n * (reps + 1)
    got = (native.get().count, classic.get().count, _pc_count(theirs))
    if got != (calls, calls, calls):
        print(f"WARNING: native observe rows: expected {calls} each, got {got}", file=sys.stderr)
    rows.append(_native_memory_row(mem_children, mem_reps))
    return rows, _native_export_row(reps)


def _native_memory_row(children: int, reps: int) -> Row:
    hundred = native_hundred()
    pairs = _label_pairs(children)

    def ours() -> Any:
        reg = tm.MetricsRegistry()
        fam = reg.histogram("mem_seconds", "memory bench", labelnames=LABELS, native=True)
        for p in pairs:
            child = fam.labels(*p)
            for v in hundred:
                child.observe(v)
        reg.export_protobuf()
        return reg

    def theirs() -> Any:
        reg = CollectorRegistry()
        fam = pc.Histogram("mem_seconds", "memory bench", LABELS, registry=reg)
        for p in pairs:
            child = fam.labels(*p)
            for v in hundred:
                child.observe(v)
        generate_latest(reg)
        return reg

    ours()  # warm module-level caches on both sides before measuring
    theirs()
    b_ours: list[float] = []
    b_pc: list[float] = []
    tracemalloc.start()
    try:
        for _ in range(reps):
            b_ours.append(_traced_delta(ours) / children)
            b_pc.append(_traced_delta(theirs) / children)
    finally:
        tracemalloc.stop()
    m_ours, m_pc = statistics.median(b_ours), statistics.median(b_pc)
    return Row(
        "memory_native",
        f"memory per native child, 100 populated buckets ({children:,} children) vs pc classic",
        "B/child",
        m_ours,
        m_pc,
        m_ours / m_pc,
        1.0,
        False,
        b_ours,
        b_pc,
    )


def _native_export_row(reps: int) -> Row:
    """Live protobuf export, 1,000 native series of 50 populated buckets each, against our
    protobuf export of 1,000 classic series (default buckets): reported, no target."""
    size = 1_000
    pairs = _label_pairs(size)
    rng = random.Random(SEED + 10)
    native_reg = tm.MetricsRegistry()
    classic_reg = tm.MetricsRegistry()
    native_fam = native_reg.histogram("export_seconds", "native", labelnames=LABELS, native=True)
    classic_fam = classic_reg.histogram("export_seconds", "classic", labelnames=LABELS)
    native_children = [native_fam.labels(*p) for p in pairs]
    classic_children = [classic_fam.labels(*p) for p in pairs]
    for i, (nat, cls) in enumerate(zip(native_children, classic_children, strict=True)):
        start = i % 50 - 25  # each series: 50 consecutive buckets, offset per series
        for k in range(start, start + 50):
            v = 2 ** ((k - 0.5) / 8)
            nat.observe(v)
            cls.observe(v)
    plan = [
        [(rng.randrange(size), math.exp(rng.uniform(-1.0, 1.0))) for _ in range(100)]
        for _ in range(reps + 1)
    ]
    steps = {"native": 0, "classic": 0}

    def mutate(which: str, children: list[Any]) -> Callable[[], None]:
        def run() -> None:
            for idx, v in plan[steps[which]]:
                children[idx].observe(v)
            steps[which] += 1

        return run

    out: dict[str, bytes] = {}

    def export(which: str, reg: tm.MetricsRegistry) -> Callable[[], None]:
        def run() -> None:
            out[which] = reg.export_protobuf()

        return run

    t_native, t_classic = _interleaved(
        export("native", native_reg),
        export("classic", classic_reg),
        reps,
        mutate("native", native_children),
        mutate("classic", classic_children),
    )
    native_value = native_children[0].get().native
    if native_value is None or len(native_value.positive_deltas) != 50:
        print("WARNING: native export row: series do not hold 50 buckets", file=sys.stderr)
    ms_native = [t / 1e6 for t in t_native]
    ms_classic = [t / 1e6 for t in t_classic]
    m_native, m_classic = statistics.median(ms_native), statistics.median(ms_classic)
    row = Row(
        "export_native_protobuf",
        f"live protobuf export, 1,000 native series x 50 buckets ({len(out['native']):,} B)"
        f" vs 1,000 classic, default buckets ({len(out['classic']):,} B)",
        "ms",
        m_native,
        m_classic,
        m_classic / m_native,
        0.0,
        True,
        ms_native,
        ms_classic,
    )
    return row


def native_table(rows: list[Row], export: Row, first: int) -> str:
    """The native rows: each names its baseline; the export row is reported, no target."""
    out = [
        "| # | benchmark | native histogram | baseline | ratio | target | result |",
        "|---|---|---:|---:|---:|---:|:---:|",
    ]
    for i, r in enumerate(rows, first):
        if r.higher_is_better:
            ratio, target = f"{r.ratio:.2f}x faster", f">= {r.target:g}x"
        else:
            ratio, target = f"{r.ratio:.3f} (native/baseline)", f"<= {r.target:g}"
        out.append(
            f"| {i} | {r.title} | {_fmt(r.ours, r.unit)} | {_fmt(r.pc, r.unit)} "
            f"| {ratio} | {target} | {'PASS' if r.met else 'FAIL'} |"
        )
    out.append(
        f"| {first + len(rows)} | {export.title} | {_fmt(export.ours, export.unit)} "
        f"| {_fmt(export.pc, export.unit)} | {export.ratio:.2f} (classic/native) "
        "| none (reported) | info |"
    )
    return "\n".join(out)


# -- report -----------------------------------------------------------------------------------


def _fmt(value: float, unit: str) -> str:
    if unit == "ns/op":
        return f"{value:,.1f} ns/op"
    if unit == "ms":
        return f"{value:,.2f} ms"
    return f"{value:,.0f} B/child"


def table(
    rows: list[Row],
    first: int = 1,
    columns: tuple[str, str] = ("tachikoma_metrics", "prometheus_client"),
    lower_ratio: str = "ours/pc",
) -> str:
    """Rows numbered from ``first``; ``columns`` name the two time columns and
    ``lower_ratio`` the ratio of lower-is-better rows."""
    out = [
        f"| # | benchmark | {columns[0]} | {columns[1]} | ratio | target | result |",
        "|---|---|---:|---:|---:|---:|:---:|",
    ]
    for i, r in enumerate(rows, first):
        if r.higher_is_better:
            ratio, target = f"{r.ratio:.2f}x faster", f">= {r.target:g}x"
        else:
            ratio, target = f"{r.ratio:.3f} ({lower_ratio})", f"<= {r.target:g}"
        out.append(
            f"| {i} | {r.title} | {_fmt(r.ours, r.unit)} | {_fmt(r.pc, r.unit)} "
            f"| {ratio} | {target} | {'PASS' if r.met else 'FAIL'} |"
        )
    return "\n".join(out)


# -- command line, header, JSON and crash guard (shared with bench_formats.py) ---------------


def parse_args(doc: str, argv: list[str] | None) -> argparse.Namespace:
    """``--quick`` and ``--json PATH``; the description is the first paragraph of ``doc``."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (smoke run)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    return parser.parse_args(argv)


def print_header(quick: bool, method: str) -> dict[str, Any]:
    """Print the interpreter, both libraries' versions and the mode (``method`` after it);
    return the same as the opening fields of the JSON results."""
    mode = "quick" if quick else "full"
    pc_version = metadata.version("prometheus_client")
    tm_version = metadata.version("tachikoma-metrics")
    print(f"python {platform.python_implementation()} {sys.version.split()[0]} ({sys.platform})")
    print(f"prometheus_client {pc_version}, tachikoma_metrics {tm_version}")
    print(f"mode: {mode}; {method}")
    print()
    return {
        "python": sys.version,
        "implementation": platform.python_implementation(),
        "prometheus_client": pc_version,
        "tachikoma_metrics": tm_version,
        "mode": mode,
    }


def write_json(path: str, payload: dict[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(payload, fh, indent=2)
        fh.write("\n")


def run_report(main: Callable[[], int]) -> NoReturn:
    """Run a benchmark's ``main`` as a report, not a test: a crash is printed and still ends
    with a ``targets:`` line, and the exit code is always 0."""
    try:
        main()
    except Exception:
        traceback.print_exc()
        print("targets: 0/0 met (benchmark crashed)")
    sys.exit(0)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__, argv)

    # Checked at collect time in prometheus_client; called before anything is created anyway.
    pc.disable_created_metrics()

    hot_n, hot_reps = (20_000, 3) if args.quick else (200_000, 7)
    export_reps = 3 if args.quick else 11
    mem_reps = 1 if args.quick else 3
    header = print_header(
        args.quick,
        f"hot ops: N={hot_n:,} x {hot_reps} reps, "
        f"exports: {export_reps} reps, memory: {mem_reps} reps; interleaved ours/pc",
    )

    started = time.perf_counter()
    rows = bench_hot(hot_n, hot_reps)
    export_info = {}
    exports = (
        ("export_counter", "live text export, counter, 10,000 label sets", "counter", 10_000),
        ("export_histogram", "live text export, histogram, 1,000 label sets", "histogram", 1_000),
    )
    for key, title, kind, size in exports:
        row, info = _export_row(key, title, kind, size, export_reps, 10.0)
        rows.append(row)
        export_info[key] = info
    rows.extend(bench_memory(10_000, mem_reps))
    rows.extend(bench_gauges(hot_n, hot_reps))
    rows.extend(bench_summary(hot_n, hot_reps))
    paused = bench_paused(hot_n, hot_reps)
    native, native_export = bench_native(hot_n, hot_reps, 2_000, mem_reps)
    elapsed = time.perf_counter() - started

    print(table(rows))
    print()
    print("Paused facade instruments (before `init()`) against the same call on live ones:")
    print()
    print(table(paused, len(rows) + 1, ("paused (before init)", "live"), "paused/live"))
    print()
    print("Native histograms (issue 10): each row names its baseline; the export is reported:")
    print()
    print(native_table(native, native_export, len(rows) + len(paused) + 1))
    print()
    rows.extend(paused)
    rows.extend(native)
    met = sum(r.met for r in rows)
    print(f"elapsed: {elapsed:.1f} s")
    print(f"targets: {met}/{len(rows)} met")

    if args.json:
        write_json(
            args.json,
            {
                **header,
                "hot_n": hot_n,
                "hot_reps": hot_reps,
                "export_reps": export_reps,
                "memory_reps": mem_reps,
                "export_output": export_info,
                # Paused rows: "ours" is the paused time, "pc" the live time (both ours).
                # Native rows: "ours" is the native histogram, "pc" its baseline (pc's
                # classic histogram, or our classic one for native_observe_vs_classic).
                "rows": [
                    {
                        **asdict(r),
                        "met": r.met,
                        "baseline": "live"
                        if r.key in PAUSED_KEYS
                        else "tachikoma_metrics classic"
                        if r.key == "native_observe_vs_classic"
                        else "prometheus_client",
                    }
                    for r in rows
                ],
                "native_export": {**asdict(native_export), "baseline": "tachikoma classic"},
                "targets_met": met,
                "targets_total": len(rows),
            },
        )
    return 0


if __name__ == "__main__":
    run_report(main)
