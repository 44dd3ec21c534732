"""OpenMetrics and protobuf export: tachikoma_metrics vs prometheus_client, in one process.

Prints a markdown table of medians and ratios, each OpenMetrics row against its target from
issue 3 ("Benchmark": at least 10x faster), and one row setting our protobuf export against
our own OpenMetrics export (issue 7: protobuf must not be slower). Run from the repository
root::

    python bench/bench_formats.py            # full run
    python bench/bench_formats.py --quick    # smoke run, fewer repetitions
    python bench/bench_formats.py --json results.json

The method is ``bench_core.py``'s live export, and its helpers are imported from there:
before every timed export, 100 random existing series change and one new series appears
(outside the timed region, from one seeded plan, identically on both sides); the two sides
alternate (ours, baseline, ours, baseline, ...) after one untimed warm-up round; the table
shows medians in ms and the ratio of medians baseline/ours.

Timed calls:

* ours, OpenMetrics: ``registry.export_openmetrics().encode()`` (``created=False`` for the
  rows without ``_created`` series);
* ours, protobuf: ``registry.export_protobuf()``;
* baseline, rows 1-6: ``prometheus_client.openmetrics.exposition.generate_latest(registry)``.
  pc has no protobuf encoder, so the protobuf rows 3-4 are reported against pc's
  OpenMetrics time; they have no target and are informational;
* baseline, row 7: our own ``registry.export_openmetrics().encode()`` of a second registry
  holding the same series (target: ratio >= 1.0, protobuf not slower).

``_created`` series: OpenMetrics has them, so the first rows run with them on both sides.
``prometheus_client.disable_created_metrics()`` is process-global, so the rows without them
run after; row 7 does not use pc and runs last, with ``_created`` on (our default). Each
output is checked for the presence (or absence) of ``_created`` samples.

Sanity check after every export, outside the timed region: each side's body is read back
just before that side's next export (parsing evicts the CPU caches, so it precedes both sides'
timed exports alike), and the two bodies of a round are compared. OpenMetrics bodies are parsed
with ``prometheus_client.openmetrics.parser`` and must hold the same (sample name, labels,
value) set, ``_created`` values excepted (their presence is compared, their values are not:
the two sides stamp series at different instants). Our protobuf body is decoded by a
small wire-format reader here and compared against the baseline's OpenMetrics body the same
way. Mismatches are warnings on stderr. The exit code is always 0: this is a report, not a
test.
"""

from __future__ import annotations

import math
import statistics
import struct
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import prometheus_client as pc
from prometheus_client.openmetrics.exposition import generate_latest as om_generate_latest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

import tachikoma_metrics as tm
from bench_core import (
    Row,
    _fmt,
    _interleaved,
    _live_pair,
    parse_args,
    print_header,
    run_report,
    write_json,
)

TARGET = 10.0  # OpenMetrics rows, against prometheus_client
PB_VS_OM_TARGET = 1.0  # our protobuf against our OpenMetrics: not slower

# (sample name, sorted labels with ``le`` as a float) -> value, or None for ``_created``
Samples = dict[tuple[str, tuple[tuple[str, Any], ...]], float | None]


@dataclass
class FormatRow(Row):
    """A ``bench_core.Row``; informational rows have no target and never count as met."""

    informational: bool = False

    @property
    def result(self) -> str:
        if self.informational:
            return "info"
        return "PASS" if self.met else "FAIL"


@dataclass(frozen=True)
class Case:
    key: str
    title: str
    kind: str  # "counter" or "histogram"
    size: int
    ours_format: str  # "openmetrics" or "protobuf"
    created: bool  # _created series on both sides
    baseline: str = "pc"  # "pc" (its OpenMetrics) or "ours" (our OpenMetrics)
    target: float | None = TARGET  # None: informational


@dataclass
class Checks:
    """What the sanity checks found over every export of one row."""

    exports_checked: int = 0
    mismatches: int = 0
    created_problems: int = 0
    notes: list[str] = field(default_factory=list)

    def warn(self, key: str, message: str) -> None:
        if len(self.notes) < 5:
            self.notes.append(message)
            print(f"WARNING: {key}: {message}", file=sys.stderr)


# -- normalising both outputs to one sample set -----------------------------------------------


def _key(name: str, labels: dict[str, str]) -> tuple[str, tuple[tuple[str, Any], ...]]:
    return name, tuple(sorted((k, float(v) if k == "le" else v) for k, v in labels.items()))


def _om_samples(body: bytes) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            out[_key(s.name, s.labels)] = None if s.name.endswith("_created") else s.value
    return out


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes) -> dict[int, list[Any]]:
    """One protobuf message: field number -> values (varint int, double, or bytes)."""
    out: dict[int, list[Any]] = {}
    pos = 0
    while pos < len(buf):
        tag, pos = _varint(buf, pos)
        wire = tag & 7
        value: Any
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:  # every fixed64 field in metrics.proto is a double
            value = struct.unpack_from("<d", buf, pos)[0]
            pos += 8
        elif wire == 2:
            n, pos = _varint(buf, pos)
            value = buf[pos : pos + n]
            pos += n
        elif wire == 5:
            value = buf[pos : pos + 4]
            pos += 4
        else:
            raise ValueError(f"unexpected wire type {wire}")
        out.setdefault(tag >> 3, []).append(value)
    if pos != len(buf):
        raise ValueError("message overruns its length")
    return out


def _delimited(body: bytes) -> Iterator[dict[int, list[Any]]]:
    pos = 0
    while pos < len(body):
        n, pos = _varint(body, pos)
        if pos + n > len(body):
            raise ValueError("delimited message overruns the body")
        yield _fields(body[pos : pos + n])
        pos += n


def _pb_samples(body: bytes) -> Samples:
    """Our protobuf body as the samples OpenMetrics would show (counter and histogram only)."""
    out: Samples = {}
    for fam in _delimited(body):
        name = fam[1][0].decode()
        kind = fam.get(3, [0])[0]
        for raw in fam.get(4, []):
            metric = _fields(raw)
            labels = {}
            for pair in metric.get(1, []):
                lp = _fields(pair)
                labels[lp[1][0].decode()] = lp[2][0].decode()
            if kind == 0:  # COUNTER, family named <name>_total
                counter = _fields(metric[3][0])
                out[_key(name, labels)] = counter.get(1, [0.0])[0]
                if 3 in counter:
                    out[_key(name.removesuffix("_total") + "_created", labels)] = None
            elif kind == 4:  # HISTOGRAM
                hist = _fields(metric[7][0])
                count = hist.get(1, [0])[0]
                have_inf = False
                for raw_bucket in hist.get(3, []):
                    bucket = _fields(raw_bucket)
                    upper = bucket[2][0]
                    have_inf = have_inf or upper == math.inf
                    le = {**labels, "le": str(upper)}
                    out[_key(name + "_bucket", le)] = bucket.get(1, [0])[0]
                if not have_inf:  # written only with an exemplar; Prometheus uses the count
                    out[_key(name + "_bucket", {**labels, "le": "+Inf"})] = count
                out[_key(name + "_sum", labels)] = hist.get(2, [0.0])[0]
                out[_key(name + "_count", labels)] = count
                if 15 in hist:
                    out[_key(name + "_created", labels)] = None
            else:
                raise ValueError(f"unexpected metric type {kind} in {name}")
    return out


def _compare(ours: Samples, theirs: Samples) -> str | None:
    """``None`` when the two sample sets agree, else a short description of the difference."""
    only_ours = ours.keys() - theirs.keys()
    only_pc = theirs.keys() - ours.keys()
    differ = [
        k
        for k in ours.keys() & theirs.keys()
        if (ours[k] is None) != (theirs[k] is None)
        or (
            ours[k] is not None and not math.isclose(ours[k], theirs[k], rel_tol=1e-9)  # type: ignore[arg-type]
        )
    ]
    if not (only_ours or only_pc or differ):
        return None
    parts = []
    for label, keys in (("only ours", only_ours), ("only pc", only_pc), ("values differ", differ)):
        if keys:
            example = sorted(keys, key=repr)[0]
            parts.append(f"{len(keys)} {label} (e.g. {example})")
    return "; ".join(parts)


def _read_back(case: Case, checks: Checks, body: bytes, ours: bool) -> Samples | None:
    """One side's body as samples, or ``None`` (counted and warned) when it cannot be read."""
    try:
        if not ours or case.ours_format == "openmetrics":
            if not body.endswith(b"# EOF\n"):
                checks.warn(case.key, "an OpenMetrics body does not end with '# EOF\\n'")
            return _om_samples(body)
        return _pb_samples(body)
    except Exception as exc:  # a body the parser rejects is a finding, not a crash
        checks.mismatches += 1
        checks.warn(case.key, f"could not read an export back: {exc!r}")
        return None


def _judge(case: Case, checks: Checks, ours: Samples | None, theirs: Samples | None) -> None:
    """Compare one round's two bodies, read back (``None``: already reported)."""
    checks.exports_checked += 1
    if ours is None or theirs is None:
        return
    for who, samples in (("ours", ours), ("baseline", theirs)):
        n_created = sum(name.endswith("_created") for name, _ in samples)
        if case.created and not n_created:
            checks.created_problems += 1
            checks.warn(case.key, f"{who}: no _created series although they are enabled")
        if not case.created and n_created:
            checks.created_problems += 1
            checks.warn(case.key, f"{who}: {n_created} _created series although disabled")
    problem = _compare(ours, theirs)
    if problem is not None:
        checks.mismatches += 1
        checks.warn(case.key, f"the two exports disagree: {problem}")


# -- one row ----------------------------------------------------------------------------------


def _openmetrics_export(registry: tm.MetricsRegistry) -> bytes:
    return registry.export_openmetrics().encode()


def _openmetrics_export_no_created(registry: tm.MetricsRegistry) -> bytes:
    return registry.export_openmetrics(created=False).encode()


def _measure(case: Case, reps: int) -> tuple[FormatRow, dict[str, Any]]:
    ours_export: Callable[[tm.MetricsRegistry], bytes]
    if case.ours_format == "protobuf":
        ours_export = tm.MetricsRegistry.export_protobuf
    elif case.created:
        ours_export = _openmetrics_export
    else:
        ours_export = _openmetrics_export_no_created
    ours, theirs = _live_pair(case.kind, case.size, reps, ours_export, om_generate_latest)
    if case.baseline == "ours":
        # A second registry of ours, on the same seeded plan (pc's side is left unused).
        theirs, _ = _live_pair(case.kind, case.size, reps, _openmetrics_export, om_generate_latest)

    checks = Checks()
    ours_read: list[Samples | None] = [None]

    # Each side's previous body is read back just before that side's next export: parsing
    # evicts the CPU caches, so it must precede both sides' timed exports alike. The two
    # bodies of one round (both sides in the same state) are then compared.
    def before_ours() -> None:
        if ours.last:
            ours_read[0] = _read_back(case, checks, ours.last, ours=True)
        ours.mutate()

    def before_theirs() -> None:
        if theirs.last:
            _judge(case, checks, ours_read[0], _read_back(case, checks, theirs.last, ours=False))
        theirs.mutate()

    t_ours, t_pc = _interleaved(ours.run, theirs.run, reps, before_ours, before_theirs)
    _judge(
        case,
        checks,
        _read_back(case, checks, ours.last, ours=True),
        _read_back(case, checks, theirs.last, ours=False),
    )

    ms_ours = [t / 1e6 for t in t_ours]
    ms_pc = [t / 1e6 for t in t_pc]
    m_ours, m_pc = statistics.median(ms_ours), statistics.median(ms_pc)
    informational = case.target is None
    row = FormatRow(
        case.key,
        case.title,
        "ms",
        m_ours,
        m_pc,
        m_pc / m_ours,
        math.nan if case.target is None else case.target,
        True,
        ms_ours,
        ms_pc,
        informational,
    )
    info = {
        "ours_format": case.ours_format,
        "created": case.created,
        "series": case.size + reps + 1,
        "bytes_ours": len(ours.last),
        "bytes_pc": len(theirs.last),
        "lines_pc": theirs.last.count(b"\n"),
        **asdict(checks),
    }
    if case.ours_format == "openmetrics":
        info["lines_ours"] = ours.last.count(b"\n")
    return row, info


# -- report -----------------------------------------------------------------------------------


def table(rows: list[FormatRow]) -> str:
    out = [
        "| # | benchmark | tachikoma_metrics | baseline (OpenMetrics) | ratio | target | result |",
        "|---|---|---:|---:|---:|---:|:---:|",
    ]
    for i, r in enumerate(rows, 1):
        target = "none (informational)" if r.informational else f">= {r.target:g}x"
        out.append(
            f"| {i} | {r.title} | {_fmt(r.ours, r.unit)} | {_fmt(r.pc, r.unit)} "
            f"| {r.ratio:.2f}x faster | {target} | {r.result} |"
        )
    return "\n".join(out)


CASES_CREATED = (
    Case(
        "om_counter_created",
        "OpenMetrics, counter, 10,000 label sets, `_created` on",
        "counter",
        10_000,
        "openmetrics",
        True,
    ),
    Case(
        "om_histogram_created",
        "OpenMetrics, histogram, 1,000 label sets, `_created` on",
        "histogram",
        1_000,
        "openmetrics",
        True,
    ),
    Case(
        "pb_counter",
        "protobuf (ours) vs pc OpenMetrics, counter, 10,000 label sets, created on",
        "counter",
        10_000,
        "protobuf",
        True,
        target=None,
    ),
    Case(
        "pb_histogram",
        "protobuf (ours) vs pc OpenMetrics, histogram, 1,000 label sets, created on",
        "histogram",
        1_000,
        "protobuf",
        True,
        target=None,
    ),
)
CASES_NO_CREATED = (
    Case(
        "om_counter_no_created",
        "OpenMetrics, counter, 10,000 label sets, `_created` off",
        "counter",
        10_000,
        "openmetrics",
        False,
    ),
    Case(
        "om_histogram_no_created",
        "OpenMetrics, histogram, 1,000 label sets, `_created` off",
        "histogram",
        1_000,
        "openmetrics",
        False,
    ),
)


CASES_OURS = (
    Case(
        "pb_vs_om_counter",
        "protobuf (ours) vs OpenMetrics (ours), counter, 10,000 label sets, created on",
        "counter",
        10_000,
        "protobuf",
        True,
        baseline="ours",
        target=PB_VS_OM_TARGET,
    ),
)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__, argv)

    reps = 3 if args.quick else 11
    header = print_header(
        args.quick,
        f"exports: {reps} reps after a warm-up, "
        "live (100 series change, 1 appears between exports); interleaved ours/pc",
    )

    started = time.perf_counter()
    rows: list[FormatRow] = []
    export_info: dict[str, dict[str, Any]] = {}
    # pc reads this switch at collect time; PROMETHEUS_DISABLE_CREATED_SERIES in the
    # environment would have turned it off at import, so switch it on explicitly first.
    pc.enable_created_metrics()
    for case in CASES_CREATED:
        row, info = _measure(case, reps)
        rows.append(row)
        export_info[case.key] = info
    pc.disable_created_metrics()  # process-global: every row after this has no _created
    for case in CASES_NO_CREATED:
        row, info = _measure(case, reps)
        rows.append(row)
        export_info[case.key] = info
    for case in CASES_OURS:  # pc is not timed: its process-wide _created switch does not matter
        row, info = _measure(case, reps)
        rows.append(row)
        export_info[case.key] = info
    elapsed = time.perf_counter() - started

    print(table(rows))
    print()
    scored = [r for r in rows if not r.informational]
    met = sum(r.met for r in scored)
    problems = sum(i["mismatches"] + i["created_problems"] for i in export_info.values())
    checked = sum(i["exports_checked"] for i in export_info.values())
    print(f"elapsed: {elapsed:.1f} s")
    print(f"sanity checks: {checked} export pairs compared, {problems} problems")
    print(f"targets: {met}/{len(scored)} met (rows 3-4 are informational)")

    if args.json:
        rows_json = [
            {**asdict(r), "target": None if r.informational else r.target, "result": r.result}
            for r in rows
        ]
        write_json(
            args.json,
            {
                **header,
                "export_reps": reps,
                "elapsed_s": elapsed,
                "export_output": export_info,
                "rows": rows_json,
                "targets_met": met,
                "targets_total": len(scored),
            },
        )
    return 0


if __name__ == "__main__":
    run_report(main)
