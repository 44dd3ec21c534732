"""tachikoma_metrics vs prometheus_client, side by side in one process.

Prints a markdown table of medians and ratios, each row against its target from issue 2
("Performance"). Run from the repository root::

    python bench/bench_core.py            # full run (about a minute or two)
    python bench/bench_core.py --quick    # smoke run, fewer repetitions
    python bench/bench_core.py --json results.json

Method:

* Hot operations: ``time.perf_counter_ns`` around a loop of N calls (timeit style, loop
  overhead included on both sides), garbage collection disabled during the loop, repeated
  R times with the two libraries interleaved (ours, pc, ours, pc, ...) after one untimed
  warm-up each. Reported: median ns/op per library and the ratio of medians pc/ours.
* Exports, measured live: before every timed export, 100 random existing series change and
  one new series appears (outside the timed region, identically for both libraries).
  Timed: ``MetricsRegistry.export_prometheus().encode()`` (bytes, as a scrape handler
  serves them) against ``prometheus_client.generate_latest(registry)`` with ``_created``
  series disabled. Interleaved, median ms.
* Memory: ``tracemalloc``, each library from a fresh registry: traced memory after creating
  10,000 labelled children, writing each once and exporting once (export text dropped), minus
  traced memory before, with ``gc.collect()`` around. Reported per child, ratio ours/pc.

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
from typing import Any, NoReturn

import prometheus_client as pc
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

import tachikoma_metrics as tm

perf_counter_ns = time.perf_counter_ns

LABELS = ("a", "b")
SEED = 20240611


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


# -- report -----------------------------------------------------------------------------------


def _fmt(value: float, unit: str) -> str:
    if unit == "ns/op":
        return f"{value:,.1f} ns/op"
    if unit == "ms":
        return f"{value:,.2f} ms"
    return f"{value:,.0f} B/child"


def table(rows: list[Row]) -> str:
    out = [
        "| # | benchmark | tachikoma_metrics | prometheus_client | ratio | target | result |",
        "|---|---|---:|---:|---:|---:|:---:|",
    ]
    for i, r in enumerate(rows, 1):
        if r.higher_is_better:
            ratio, target = f"{r.ratio:.2f}x faster", f">= {r.target:g}x"
        else:
            ratio, target = f"{r.ratio:.3f} (ours/pc)", f"<= {r.target:g}"
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
    elapsed = time.perf_counter() - started

    print(table(rows))
    print()
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
                "rows": [{**asdict(r), "met": r.met} for r in rows],
                "targets_met": met,
                "targets_total": len(rows),
            },
        )
    return 0


if __name__ == "__main__":
    run_report(main)
