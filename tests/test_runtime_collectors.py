"""The runtime collectors: process (``/proc``), platform (``python_info``) and GC.

Their values equal what ``/proc/self/stat``, ``/proc/self/status``, ``/proc/stat``,
``resource`` and ``gc.get_stats()`` say when read here independently (moving values
bracketed by readings before and after the scrape); their families, types, label names and
help texts equal ``prometheus_client``'s own collectors'; promtool and both of
``prometheus_client``'s parsers accept the output. A fake ``/proc`` that is missing or
garbage leaves the process families out of that export, counted in
``tachikoma_metrics_collector_errors_total{collector="ProcessCollector"}`` and logged,
while the other collectors are served, and the next export recovers once it is readable.
``enable_runtime_collectors`` registers each kind once, never at import, and in
multi-process mode the process collector reports the process serving the scrape.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import prometheus_client
import pytest
from prometheus_client.openmetrics import exposition as pc_om_exposition
from prometheus_client.openmetrics import parser as om_parser
from prometheus_client.parser import text_string_to_metric_families

import tachikoma_metrics
from metrics_proto import decode_families
from promtool import check_metrics
from scrape_client import fetch
from tachikoma_metrics import (
    MetricFamily,
    MetricsRegistry,
    RegistrationError,
    _global,
    start_http_server,
)
from tachikoma_metrics.collectors import (
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    enable_runtime_collectors,
)
from tachikoma_metrics.collectors._process import UNLIMITED
from tachikoma_metrics.testing import sample_value

TICKS = float(os.sysconf("SC_CLK_TCK"))
PAGE = float(os.sysconf("SC_PAGE_SIZE"))
ERRORS = "tachikoma_metrics_collector_errors_total"
PROCESS = (
    "process_cpu_seconds",
    "process_max_fds",
    "process_open_fds",
    "process_resident_memory_bytes",
    "process_start_time_seconds",
    "process_virtual_memory_bytes",
)
GC = ("python_gc_collections", "python_gc_objects_collected", "python_gc_objects_uncollectable")
MIB = 1024 * 1024
FORK = multiprocessing.get_context("fork")


# -- independent readings of this process ----------------------------------------------------


def stat_fields(pid: str = "self") -> list[str]:
    with open(f"/proc/{pid}/stat") as file:
        return file.read().rpartition(")")[2].split()


def status_bytes(key: str) -> float:
    """A ``kB`` line of ``/proc/self/status`` (``VmRSS``, ``VmSize``) in bytes."""
    with open("/proc/self/status") as file:
        for line in file:
            if line.startswith(key + ":"):
                number, unit = line.split()[1:3]
                assert unit == "kB"
                return float(number) * 1024
    raise AssertionError(f"no {key} in /proc/self/status")


def cpu_seconds() -> float:
    fields = stat_fields()
    return float(fields[11]) / TICKS + float(fields[12]) / TICKS


def boot_time() -> float:
    with open("/proc/stat") as file:
        for line in file:
            if line.startswith("btime "):
                return float(line.split()[1])
    raise AssertionError("no btime in /proc/stat")


def values(registry: MetricsRegistry) -> dict[str, float]:
    """Every unlabelled sample and each GC sample (``name{generation}``) as exported."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(registry.export_prometheus()):
        for sample in family.samples:
            key = sample.name + "".join(f"{{{v}}}" for v in sample.labels.values())
            out[key] = sample.value
    return out


# -- a fake /proc --------------------------------------------------------------------------


def stat_line(
    *,
    comm: str = "python3",
    utime: int = 250,
    stime: int = 150,
    start: int = 12345,
    vsize: int = 1_000_000,
    rss: int = 200,
) -> str:
    before = ["S", "1", "2", "3", "0", "-1", "4194560", "10", "0", "0", "0"]
    after = ["0", "0", "20", "0", "1", "0", str(start), str(vsize), str(rss)]
    fields = [*before, str(utime), str(stime), *after, *(["0"] * 28)]
    return f"4242 ({comm}) " + " ".join(fields) + "\n"


LIMITS = """Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            {soft}                 {hard}                files
Max address space         unlimited            unlimited            bytes
"""


def make_proc(
    root: Path,
    pid: str = "self",
    *,
    stat: str | None = None,
    limits: str | None = None,
    fds: int = 7,
    btime: str = "1700000000",
) -> Path:
    """A procfs root with what the process collector reads of ``pid``."""
    base = root / pid
    (base / "fd").mkdir(parents=True, exist_ok=True)
    for fd in range(fds):
        (base / "fd" / str(fd)).write_text("")
    (base / "stat").write_text(stat_line() if stat is None else stat)
    (base / "limits").write_text(LIMITS.format(soft=1024, hard=4096) if limits is None else limits)
    (root / "stat").write_text(f"cpu  1 2 3 4\nintr 1 2 3\nbtime {btime}\nprocesses 99\n")
    return root


@pytest.fixture
def fake_proc(tmp_path: Path) -> Path:
    return make_proc(tmp_path / "proc")


# -- values against the real /proc -----------------------------------------------------------


def test_process_values_match_proc_and_resource(registry: MetricsRegistry) -> None:
    """Each process family equals the independent reading: CPU time and memory bracketed
    by readings before and after, descriptors and limits exactly, start time exactly."""
    ProcessCollector(registry=registry)
    fds_before = len(os.listdir("/proc/self/fd"))
    cpu_before = cpu_seconds()
    rss_before, vm_before = status_bytes("VmRSS"), status_bytes("VmSize")
    got = values(registry)
    rss_after, vm_after = status_bytes("VmRSS"), status_bytes("VmSize")
    cpu_after = cpu_seconds()
    fds_after = len(os.listdir("/proc/self/fd"))

    assert cpu_before <= got["process_cpu_seconds_total"] <= cpu_after
    # The kernel's RSS counters are summed lazily per CPU: a small slack either side.
    assert (
        min(rss_before, rss_after) - MIB
        <= got["process_resident_memory_bytes"]
        <= max(rss_before, rss_after) + MIB
    )
    assert (
        min(vm_before, vm_after) - MIB
        <= got["process_virtual_memory_bytes"]
        <= max(vm_before, vm_after) + MIB
    )
    assert fds_before == fds_after == got["process_open_fds"]
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    assert got["process_max_fds"] == (UNLIMITED if soft == resource.RLIM_INFINITY else soft)
    start = float(stat_fields()[19]) / TICKS + boot_time()
    assert got["process_start_time_seconds"] == start
    # The start time is this process's: after the machine booted, before the test ran.
    assert boot_time() <= start <= time.time()


def test_process_values_follow_the_process(registry: MetricsRegistry) -> None:
    """Opening descriptors, touching memory and burning CPU show in the next scrape."""
    ProcessCollector(registry=registry)
    first = values(registry)
    with tempfile.TemporaryFile() as f:
        extra = [os.dup(f.fileno()) for _ in range(20)]
        try:
            block = bytearray(64 * MIB)
            block[:: int(PAGE)] = b"\x01" * len(block[:: int(PAGE)])  # touch every page
            deadline = time.monotonic() + 10
            start = cpu_seconds()
            while cpu_seconds() < start + 0.05 and time.monotonic() < deadline:
                sum(range(10_000))
            second = values(registry)
            del block
        finally:
            for fd in extra:
                os.close(fd)
    assert second["process_open_fds"] == first["process_open_fds"] + 21  # the file + 20 dups
    assert (
        second["process_resident_memory_bytes"] >= first["process_resident_memory_bytes"] + 60 * MIB
    )
    assert second["process_cpu_seconds_total"] >= first["process_cpu_seconds_total"] + 0.05
    third = values(registry)
    assert third["process_open_fds"] == first["process_open_fds"]
    assert third["process_start_time_seconds"] == first["process_start_time_seconds"]


def test_gc_values_match_get_stats(registry: MetricsRegistry) -> None:
    """Each generation's three counters lie between ``gc.get_stats()`` read before and
    after the scrape; a full collection shows in generation 2."""
    GCCollector(registry=registry)
    before = gc.get_stats()
    got = values(registry)
    after = gc.get_stats()
    assert len(before) == 3
    for generation, (low, high) in enumerate(zip(before, after, strict=True)):
        for name, key in zip(GC, ("collections", "collected", "uncollectable"), strict=True):
            value = got[f"{name}_total{{{generation}}}"]
            assert low[key] <= value <= high[key], (name, generation)
    gc.collect()
    assert values(registry)["python_gc_collections_total{2}"] >= after[2]["collections"] + 1


def test_python_info_matches_platform(registry: MetricsRegistry) -> None:
    """``python_info`` carries the ``platform`` module's answers as labels, value 1."""
    PlatformCollector(registry=registry)
    major, minor, patchlevel = platform.python_version_tuple()
    assert (
        sample_value(
            registry,
            "python_info",
            {
                "implementation": platform.python_implementation(),
                "major": major,
                "minor": minor,
                "patchlevel": patchlevel,
                "version": platform.python_version(),
            },
        )
        == 1.0
    )


def test_platform_from_a_given_platform_object(registry: MetricsRegistry) -> None:
    """``platform=`` replaces the ``platform`` module (as in ``prometheus_client``)."""

    class Fake:
        def python_implementation(self) -> str:
            return "PyPy"

        def python_version(self) -> str:
            return "3.10.14"

        def python_version_tuple(self) -> tuple[str, str, str]:
            return ("3", "10", "14")

    PlatformCollector(platform=Fake(), registry=registry)
    labels = {"implementation": "PyPy", "major": "3", "minor": "10", "patchlevel": "14"}
    assert sample_value(registry, "python_info", {**labels, "version": "3.10.14"}) == 1.0


# -- the same families as prometheus_client's ------------------------------------------------


def _shape(text: str, *, openmetrics: bool = False) -> dict[str, tuple[str, str, frozenset[str]]]:
    parse = om_parser.text_string_to_metric_families if openmetrics else None
    parse = parse or text_string_to_metric_families
    return {
        f.name: (f.type, f.documentation, frozenset(k for s in f.samples for k in s.labels))
        for f in parse(text)
    }


def test_same_families_types_labels_and_help_as_prometheus_client(
    registry: MetricsRegistry,
) -> None:
    """Side by side with ``prometheus_client``'s ``ProcessCollector``, ``PlatformCollector``
    and ``GCCollector``: the same family names, types, help texts and label names, in
    Prometheus text and in OpenMetrics; the values that do not move are equal."""
    enable_runtime_collectors(registry)
    theirs = prometheus_client.CollectorRegistry()
    prometheus_client.ProcessCollector(registry=theirs)
    prometheus_client.PlatformCollector(registry=theirs)
    prometheus_client.GCCollector(registry=theirs)
    ours_text = registry.export_prometheus()
    their_text = prometheus_client.generate_latest(theirs).decode()
    assert _shape(ours_text) == _shape(their_text)
    assert len(_shape(ours_text)) == 10
    ours_om = registry.export_openmetrics()
    their_om = pc_om_exposition.generate_latest(theirs).decode()
    assert _shape(ours_om, openmetrics=True) == _shape(their_om, openmetrics=True)
    ours, their_values = values(registry), {}
    for family in text_string_to_metric_families(their_text):
        for s in family.samples:
            their_values[s.name + "".join(f"{{{v}}}" for v in s.labels.values())] = s.value
    for steady in ("process_max_fds", "process_start_time_seconds"):
        assert ours[steady] == their_values[steady]
    assert sum(k.startswith("python_info") for k in their_values) == 1
    info_labels = next(
        s.labels
        for f in text_string_to_metric_families(their_text)
        for s in f.samples
        if s.name == "python_info"
    )
    assert sample_value(registry, "python_info", info_labels) == 1.0


def test_promtool_and_parsers_accept_every_format(registry: MetricsRegistry) -> None:
    """promtool passes the text with no lint complaint; both parsers and the protobuf
    decoder read all ten families with the right types."""
    enable_runtime_collectors(registry)
    text = registry.export_prometheus().encode()
    checked = check_metrics(text)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout == checked.stderr == b""  # no lint complaints either
    assert len(list(text_string_to_metric_families(text.decode()))) == 10
    assert len(list(om_parser.text_string_to_metric_families(registry.export_openmetrics()))) == 10
    decoded = decode_families(registry.export_protobuf())
    kinds = {f.name: f.type for f in decoded}
    assert kinds["process_cpu_seconds_total"] == 0  # COUNTER
    assert kinds["process_open_fds"] == 1  # GAUGE
    assert kinds["python_gc_collections_total"] == 0


# -- bad input: a fake /proc ---------------------------------------------------------------


def test_a_fake_proc_is_read_as_proc5_says(tmp_path: Path) -> None:
    """Every field from the right place: CPU from utime + stime in clock ticks, RSS in
    pages, start time from starttime ticks after btime; a command name with spaces and
    parentheses; a numeric pid from the ``pid`` callable; the namespace prefix."""
    root = make_proc(
        tmp_path / "proc",
        "4242",
        stat=stat_line(comm="my ) (odd) name", utime=333, stime=111, start=5000, rss=7),
        fds=5,
        btime="1600000000",
    )
    registry = MetricsRegistry()
    ProcessCollector(namespace="app", pid=lambda: 4242, proc=root, registry=registry)
    got = values(registry)
    assert got == {
        "app_process_cpu_seconds_total": 333 / TICKS + 111 / TICKS,
        "app_process_max_fds": 1024.0,
        "app_process_open_fds": 5.0,
        "app_process_resident_memory_bytes": 7 * PAGE,
        "app_process_start_time_seconds": 5000 / TICKS + 1600000000,
        "app_process_virtual_memory_bytes": 1_000_000.0,
    }
    # prometheus_client reads the same fake /proc to the same numbers.
    theirs = prometheus_client.CollectorRegistry()
    prometheus_client.ProcessCollector(
        namespace="app", pid=lambda: 4242, proc=str(root), registry=theirs
    )
    their_text = prometheus_client.generate_latest(theirs).decode()
    assert {
        s.name: s.value for f in text_string_to_metric_families(their_text) for s in f.samples
    } == got


def test_an_unlimited_descriptor_limit_is_client_golangs_largest_uint64(tmp_path: Path) -> None:
    """A soft limit of ``unlimited`` is 2^64 - 1, as client_golang's procfs reads it."""
    root = make_proc(tmp_path / "proc", limits=LIMITS.format(soft="unlimited", hard="unlimited"))
    registry = MetricsRegistry()
    ProcessCollector(proc=root, registry=registry)
    assert sample_value(registry, "process_max_fds") == UNLIMITED == 18446744073709551615.0


def _break_root(root: Path) -> None:
    os.rename(root, root.with_name("elsewhere"))


def _write(relative: str, text: str) -> Callable[[Path], None]:
    def breaker(root: Path) -> None:
        (root / relative).write_text(text)

    return breaker


def _write_bytes(relative: str, data: bytes) -> Callable[[Path], None]:
    def breaker(root: Path) -> None:
        (root / relative).write_bytes(data)

    return breaker


def _remove(relative: str) -> Callable[[Path], None]:
    def breaker(root: Path) -> None:
        path = root / relative
        if path.is_dir():
            for child in path.iterdir():
                child.unlink()
            path.rmdir()
        else:
            path.unlink()

    return breaker


BREAKAGES: dict[str, tuple[Callable[[Path], None], str]] = {
    "root missing": (_break_root, "No such file or directory"),
    "stat missing": (_remove("self/stat"), "self/stat"),
    "stat garbage": (_write("self/stat", "hello world\n"), "not a /proc/<pid>/stat line"),
    "stat empty": (_write("self/stat", ""), "not a /proc/<pid>/stat line"),
    "stat field not a number": (
        _write("self/stat", stat_line().replace(" 250 ", " 2x0 ")),
        "utime is not a whole number",
    ),
    "stat cut short": (_write("self/stat", "4242 (python3) S 1 2 3\n"), "at least 24 fields"),
    "limits missing": (_remove("self/limits"), "self/limits"),
    "limits garbage": (_write("self/limits", "\x00\x01garbage"), "no 'Max open files' line"),
    "limits soft not a number": (
        _write("self/limits", LIMITS.format(soft="lots", hard=1)),
        "soft is not a whole number",
    ),
    "fd directory missing": (_remove("self/fd"), "self/fd"),
    "no btime": (_write("stat", "cpu 1 2 3\n"), "no 'btime' line"),
    "btime garbage": (_write("stat", "btime soon\n"), "btime is not a whole number"),
    "stat binary": (_write_bytes("self/stat", b"\xff\xfe\x00) \x80\x81"), "at least 24 fields"),
}


@pytest.mark.parametrize("case", sorted(BREAKAGES))
def test_a_broken_proc_leaves_the_process_families_out_counted_and_logged(
    case: str, fake_proc: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The scrape keeps working: no ``process_*`` family, the other collectors served,
    the failure counted under the collector's type name and logged with the file and what
    is wrong; once the fake /proc is whole again the next scrape has all six again."""
    breaker, message = BREAKAGES[case]
    registry = MetricsRegistry()
    ProcessCollector(proc=fake_proc, registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    breaker(fake_proc)
    with caplog.at_level(logging.WARNING, logger="tachikoma_metrics"):
        got = values(registry)
    assert not any(name.startswith("process_") for name in got)
    assert any(name.startswith("python_info") for name in got)
    assert "python_gc_collections_total{0}" in got
    assert got[ERRORS + "{ProcessCollector}"] == 1.0
    assert "collector ProcessCollector failed" in caplog.text
    assert message in caplog.text
    check = check_metrics(registry.export_prometheus().encode())
    assert check.returncode == 0, check.stdout + check.stderr

    if fake_proc.exists():
        shutil.rmtree(fake_proc)
    else:
        shutil.rmtree(fake_proc.with_name("elsewhere"))
    make_proc(fake_proc)
    healed = values(registry)
    assert sorted(n for n in healed if n.startswith("process_")) == sorted(
        n + "_total" if n.endswith("cpu_seconds") else n for n in PROCESS
    )
    assert healed[ERRORS + "{ProcessCollector}"] == 2.0  # the failed scrape and the check above


def test_a_pid_callable_that_raises_is_a_counted_failure(fake_proc: Path) -> None:
    """A ``pid`` function that raises fails that collection like an unreadable file."""

    def pid() -> int:
        raise RuntimeError("no worker pid yet")

    registry = MetricsRegistry()
    ProcessCollector(pid=pid, proc=fake_proc, registry=registry)
    PlatformCollector(registry=registry)
    got = values(registry)
    assert got[ERRORS + "{ProcessCollector}"] == 1.0
    assert not any(name.startswith("process_") for name in got)
    assert any(name.startswith("python_info") for name in got)


def test_a_name_filter_skips_the_process_collector_unread(tmp_path: Path) -> None:
    """``describe()`` names the families, so ``?name[]=python_info`` never reads /proc:
    a missing one is no failure there."""
    registry = MetricsRegistry()
    ProcessCollector(proc=tmp_path / "absent", registry=registry)
    PlatformCollector(registry=registry)
    assert [f.name for f in registry.collect(names=["python_info"])] == ["python_info"]
    assert [f.name for f in registry.collect(names=[ERRORS])] == []  # nothing failed
    assert registry.collect(names=["process_open_fds"]) == []  # read now, and failed
    assert [f.name for f in registry.collect(names=[ERRORS])] == [
        "tachikoma_metrics_collector_errors"
    ]


def test_bad_arguments_raise_naming_them() -> None:
    """A namespace making an invalid name, a pid that is no function: errors naming them."""
    with pytest.raises(ValueError, match="invalid metric name '1x_process_cpu_seconds'"):
        ProcessCollector(namespace="1x")
    with pytest.raises(TypeError, match="pid must be a callable"):
        ProcessCollector(pid=4242)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="namespace must be a str"):
        ProcessCollector(namespace=None)  # type: ignore[arg-type]


# -- where there is nothing to read --------------------------------------------------------


def test_off_linux_the_process_collector_is_absent_quietly(
    monkeypatch: pytest.MonkeyPatch, registry: MetricsRegistry
) -> None:
    """Without /proc (not Linux) and no ``proc=``: no families, no error, not enabled."""
    monkeypatch.setattr(sys, "platform", "darwin")
    collector = ProcessCollector()
    assert not collector.available
    assert collector.collect() == collector.describe() == []
    enabled = enable_runtime_collectors(registry)
    assert [type(c) for c in enabled] == [PlatformCollector, GCCollector]
    assert registry.get("process_cpu_seconds") is None
    got = values(registry)
    assert not any(n.startswith(("process_", "tachikoma_")) for n in got)
    # Given a procfs root, it reads it on any platform.
    assert ProcessCollector(proc="/proc").available


def test_off_cpython_the_gc_collector_is_absent(
    monkeypatch: pytest.MonkeyPatch, registry: MetricsRegistry
) -> None:
    """Off CPython the GC collector exposes nothing and is not enabled."""
    monkeypatch.setattr(platform, "python_implementation", lambda: "PyPy")
    collector = GCCollector()
    assert not collector.available
    assert collector.collect() == collector.describe() == []
    enabled = enable_runtime_collectors(registry)
    assert [type(c) for c in enabled] == [ProcessCollector, PlatformCollector]


# -- enable_runtime_collectors ---------------------------------------------------------------


def test_enable_twice_registers_each_kind_once(registry: MetricsRegistry) -> None:
    """A second call returns the same collectors and adds nothing."""
    first = enable_runtime_collectors(registry)
    assert [type(c) for c in first] == [ProcessCollector, PlatformCollector, GCCollector]
    assert enable_runtime_collectors(registry) == first
    families = [f.name for f in text_string_to_metric_families(registry.export_prometheus())]
    assert len(families) == len(set(families)) == 10
    for collector in first:  # exactly one registration each: one unregister removes it
        registry.unregister(collector)
    assert registry.collect() == []


def test_enable_keeps_a_collector_registered_by_hand(
    registry: MetricsRegistry, fake_proc: Path
) -> None:
    """A process collector registered by hand is kept, not doubled or replaced."""
    mine = ProcessCollector(proc=fake_proc, registry=registry)
    enabled = enable_runtime_collectors(registry)
    assert enabled[0] is mine
    assert sample_value(registry, "process_open_fds") == 7.0


def test_enable_from_many_threads_at_once_registers_each_kind_once(
    registry: MetricsRegistry,
) -> None:
    """Eight threads enabling at once: no error, one collector of each kind."""
    barrier = threading.Barrier(8)
    results: list[tuple[Any, ...]] = []
    errors: list[BaseException] = []

    def enable() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(enable_runtime_collectors(registry))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=enable) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert len(results) == 8 and all(r == results[0] for r in results)
    families = [f.name for f in registry.collect()]
    assert len(families) == len(set(families)) == 10


def test_a_taken_name_raises_and_registers_nothing(registry: MetricsRegistry) -> None:
    """Another collector owning ``python_info`` is a ``RegistrationError`` naming it, and
    the process collector this call had registered is unregistered again."""
    registry.gauge("python_info", "Someone else's")
    with pytest.raises(RegistrationError, match="'python_info' is already used"):
        enable_runtime_collectors(registry)
    assert registry.get("process_cpu_seconds") is None
    assert registry.get("python_gc_collections") is None


def test_self_metrics_appear_beside_the_runtime_families(
    registry: MetricsRegistry, fake_proc: Path
) -> None:
    """The collector-error self-metric has its own name: it is exported next to the runtime
    families (no clash), from the first failure on."""
    enable_runtime_collectors(registry)
    assert not any(n.startswith("tachikoma_") for n in values(registry))
    registry.register(ProcessCollector(namespace="worker", proc=fake_proc / "gone"))
    got = values(registry)
    assert got[ERRORS + "{ProcessCollector}"] == 1.0
    assert "process_cpu_seconds_total" in got
    assert sum(n.startswith("python_info") for n in got) == 1
    assert check_metrics(registry.export_prometheus().encode()).returncode == 0


# -- the global registry ---------------------------------------------------------------------


@pytest.mark.usefixtures("fresh_facade")
def test_enable_without_a_registry_uses_the_global_one() -> None:
    """Registered in the facade registry: nothing is exported before ``init()``, all ten
    families after; calling again changes nothing."""
    enabled = enable_runtime_collectors()
    assert tachikoma_metrics.export_prometheus() == ""
    registry = tachikoma_metrics.init()
    assert enable_runtime_collectors() == enabled
    assert registry.get("python_info") is enabled[1]
    names = [f.name for f in text_string_to_metric_families(tachikoma_metrics.export_prometheus())]
    assert len(names) == len(set(names)) == 10
    assert _global._registry is registry


def test_importing_the_package_registers_no_runtime_collector() -> None:
    """Never at import: a fresh interpreter that imports the package and calls ``init()``
    exports nothing."""
    code = (
        "import tachikoma_metrics as m, tachikoma_metrics.collectors;"
        " r = m.init(); print(repr(m.export_prometheus()), r.collect())"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "'' []"


# -- multi-process mode ----------------------------------------------------------------------


def _worker(directory: str, ready: Any, done: Any) -> None:
    """A worker of the same directory: counts, holds 40 extra descriptors, waits."""
    registry = MetricsRegistry(multiprocess_dir=directory)
    registry.counter("jobs", "Jobs done").inc(5)
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(40)]
    ready.set()
    done.wait(30)
    for fd in held:
        os.close(fd)


def test_multiprocess_registry_reports_the_serving_process(tmp_path: Path) -> None:
    """With ``multiprocess_dir``, instrument families merge every process's files while
    the process collector reads the process collecting (serving the scrape): its
    descriptors and start time, not a live worker's."""
    directory = tmp_path / "mp"
    directory.mkdir()
    registry = MetricsRegistry(multiprocess_dir=directory)
    enable_runtime_collectors(registry)
    ready, done = FORK.Event(), FORK.Event()
    child = FORK.Process(target=_worker, args=(str(directory), ready, done))
    child.start()
    try:
        assert ready.wait(30), "the worker did not start"
        values(registry)  # the first merge opens the worker's file and keeps it open
        fds_before = len(os.listdir("/proc/self/fd"))
        got = values(registry)
        fds_after = len(os.listdir("/proc/self/fd"))
        assert got["jobs_total"] == 5.0  # the worker's count, merged
        # This process's descriptors, counted while it serves the scrape (the storage may
        # hold its directory lock meanwhile), far below the worker's, which holds 40 more.
        assert fds_before == fds_after
        assert fds_before <= got["process_open_fds"] <= fds_before + 8
        # The worker holds 40 more than it inherited (after the fork it let go of a few
        # of this process's descriptors: its locks), so well above ours either way.
        assert len(os.listdir(f"/proc/{child.pid}/fd")) >= fds_before + 30
        start = float(stat_fields()[19]) / TICKS + boot_time()
        assert got["process_start_time_seconds"] == start
        assert got["python_gc_collections_total{0}"] >= 0
        check = check_metrics(registry.export_prometheus().encode())
        assert check.returncode == 0, check.stdout + check.stderr
    finally:
        done.set()
        child.join(30)
        if child.is_alive():
            child.kill()
            child.join(10)
    assert child.exitcode == 0


def test_describe_names_what_collect_returns(fake_proc: Path) -> None:
    """``describe()`` gives the families ``collect()`` gives, without series."""
    for collector in (ProcessCollector(proc=fake_proc), PlatformCollector(), GCCollector()):
        described: list[MetricFamily] = collector.describe()
        collected = collector.collect()
        assert [(f.name, f.type, f.help, f.labelnames) for f in described] == [
            (f.name, f.type, f.help, f.labelnames) for f in collected
        ]
        assert all(not f.samples for f in described)


def test_served_over_http_with_a_failing_collector_beside_them(
    registry: MetricsRegistry, tmp_path: Path
) -> None:
    """Through the HTTP endpoint: the runtime families and the error count of a broken
    process collector (another namespace, a missing /proc) in one 200 answer; a name
    filter serves ``python_info`` alone."""
    enable_runtime_collectors(registry)
    registry.register(ProcessCollector(namespace="worker", proc=tmp_path / "missing"))
    with start_http_server(0, registry=registry) as server:
        reply = fetch(server.port)
        filtered = fetch(server.port, "/metrics?name[]=python_info")
    assert reply.status == 200
    names = {f.name for f in text_string_to_metric_families(reply.body.decode())}
    assert len(names) == 11  # ten runtime families and the error count
    assert "tachikoma_metrics_collector_errors" in names
    assert not any(n.startswith("worker_") for n in names)
    assert filtered.status == 200
    assert [f.name for f in text_string_to_metric_families(filtered.body.decode())] == [
        "python_info"
    ]
