"""Multi-process mode in real processes: forked and spawned children write, die (cleanly or
by SIGKILL), and the collecting process sees exact totals; gauge modes; removals across
processes; compaction (pid reuse, concurrent scrapes and compactions); damaged files;
start-up errors. Servers and pools are in test_multiprocess_servers/pool."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

import tachikoma_metrics as metrics
from promtool import check_metrics
from tachikoma_metrics import MetricsRegistry, _global
from tachikoma_metrics.testing import sample_value

FORK = multiprocessing.get_context("fork")
DEADLINE = 30.0


@pytest.fixture
def directory(tmp_path: Path) -> str:
    path = tmp_path / "mp"
    path.mkdir()
    return str(path)


def run_children(target: Callable[..., None], args: list[tuple[Any, ...]]) -> None:
    """Run one forked child per argument tuple, all at once; each must exit 0 in time."""
    children = [FORK.Process(target=target, args=one) for one in args]
    for child in children:
        child.start()
    try:
        for child in children:
            child.join(DEADLINE)
            assert child.exitcode == 0, f"child exited with {child.exitcode}"
    finally:
        for child in children:
            if child.is_alive():
                child.kill()
                child.join()


def tkm_files(directory: str) -> list[str]:
    return sorted(name for name in os.listdir(directory) if name.endswith(".tkm"))


def value(
    registry: MetricsRegistry, name: str, labels: dict[str, str] | None = None
) -> float | None:
    return sample_value(registry, name, labels)


# -- totals -----------------------------------------------------------------------------------


def test_forked_children_with_threads_give_exact_totals(directory: str) -> None:
    registry = MetricsRegistry(multiprocess_dir=directory)
    requests = registry.counter("requests", "Requests.", ["code"])
    latency = registry.histogram("latency_seconds", "Latency.", buckets=[0.1, 1.0])
    plain = registry.counter("plain", "Unlabelled.")
    threads, per_thread = 8, 500

    def child(code: str) -> None:
        def hammer() -> None:
            handle = requests.labels(code)
            for i in range(per_thread):
                handle.inc()
                latency.observe(0.05 if i % 2 else 0.5)
                plain.inc(0.5)

        workers = [threading.Thread(target=hammer) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()

    run_children(child, [("200",), ("200",), ("500",), ("404",)])
    plain.inc(1)  # the parent writes too
    each = threads * per_thread
    assert value(registry, "requests_total", {"code": "200"}) == 2 * each
    assert value(registry, "requests_total", {"code": "500"}) == each
    assert value(registry, "latency_seconds_count") == 4 * each
    assert value(registry, "latency_seconds_bucket", {"le": "0.1"}) == 2 * each
    assert value(registry, "latency_seconds_sum") == pytest.approx(4 * each * 0.275)
    assert value(registry, "plain_total") == 4 * each * 0.5 + 1
    # The dead children were folded into the archive: one file left, the parent's.
    assert len(tkm_files(directory)) == 2  # the parent's and archive.tkm
    assert "archive.tkm" in tkm_files(directory)
    assert plain.get() == 1.0  # get() is this process's own value


def test_a_forked_child_starts_from_zero_and_never_writes_the_parents_file(directory: str) -> None:
    registry = MetricsRegistry(multiprocess_dir=directory)
    counter = registry.counter("jobs", "Jobs.")
    counter.inc(5)
    parent_files = tkm_files(directory)
    assert len(parent_files) == 1

    def child() -> None:
        assert counter.get() == 0.0
        counter.inc(2)
        assert counter.get() == 2.0

    run_children(child, [()])
    counter.inc(1)
    assert value(registry, "jobs_total") == 8
    assert counter.get() == 6


def test_a_forked_child_keeps_no_descriptor_of_the_parents_locks(directory: str) -> None:
    registry = MetricsRegistry(multiprocess_dir=directory)
    counter = registry.counter("jobs", "Jobs.")
    counter.inc()
    registry.collect()  # the directory lock is open in the parent now
    parent_file = os.path.join(directory, tkm_files(directory)[0])

    def opened() -> set[str]:
        names = set()
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):
                names.add(os.readlink(f"/proc/self/fd/{fd}"))
        return names

    assert os.path.join(directory, "lock") in opened()

    def child() -> None:
        held = opened()
        # Maps of the parent's file may stay (never written), but neither its lock
        # descriptor nor the directory lock's: a dead parent must not look alive.
        assert os.path.join(directory, "lock") not in held
        before = sum(1 for fd in os.listdir("/proc/self/fd") if _points_to(fd, parent_file))
        assert before <= 1  # the parent's writer map's own descriptor, at most
        counter.inc()
        registry.collect()

    run_children(child, [()])
    assert value(registry, "jobs_total") == 2


def _points_to(fd: str, path: str) -> bool:
    try:
        return os.readlink(f"/proc/self/fd/{fd}") == path
    except OSError:
        return False


def test_spawned_children_calling_init_merge_with_the_parent(directory: str) -> None:
    registry = MetricsRegistry(multiprocess_dir=directory)
    counter = registry.counter("spawned", "Spawned work.")
    counter.inc()
    for method in ("spawn", "forkserver"):
        context = multiprocessing.get_context(method)
        child = context.Process(target=_spawned_child, args=(directory, 3))
        child.start()
        child.join(DEADLINE)
        assert child.exitcode == 0
    assert value(registry, "spawned_total") == 7


def _spawned_child(directory: str, amount: int) -> None:
    registry = MetricsRegistry(multiprocess_dir=directory)
    registry.counter("spawned", "Spawned work.").inc(amount)


# -- gauges -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("livesum", {(): 3.0}),
        ("sum", {(): 13.0}),
        ("livemin", {(): 1.0}),
        ("min", {(): 1.0}),
        ("livemax", {(): 2.0}),
        ("max", {(): 10.0}),
        ("mostrecent", {(): 2.0}),
        ("livemostrecent", {(): 2.0}),
    ],
)
def test_gauge_modes_over_live_and_dead_processes(
    directory: str, mode: str, expected: dict[tuple[str, ...], float]
) -> None:
    registry = MetricsRegistry(multiprocess_dir=directory)
    gauge = registry.gauge("level", "Level.", multiprocess_mode=mode)
    gauge.set(1)  # the parent: live
    run_children(lambda: gauge.set(10), [()])  # dead, set before the live child's value
    ready, release = FORK.Event(), FORK.Event()

    def live_child() -> None:
        gauge.set(2)
        ready.set()
        release.wait(DEADLINE)

    child = FORK.Process(target=live_child)
    child.start()
    try:
        assert ready.wait(DEADLINE)
        assert value(registry, "level") == expected[()]
    finally:
        release.set()
        child.join(DEADLINE)


def test_gauge_all_modes_add_a_pid_label(directory: str) -> None:
    registry = MetricsRegistry(multiprocess_dir=directory)
    every = registry.gauge("every", "All.", ["k"], multiprocess_mode="all")
    live = registry.gauge("live", "Live all.", ["k"], multiprocess_mode="liveall")
    every.labels("a").set(1)
    live.labels("a").set(1)
    pids: list[int] = []

    def child() -> None:
        every.labels("a").set(5)
        live.labels("a").set(5)

    child_process = FORK.Process(target=child)
    child_process.start()
    child_process.join(DEADLINE)
    pids.append(child_process.pid or 0)
    me = str(os.getpid())
    assert value(registry, "every", {"k": "a", "pid": me}) == 1
    assert value(registry, "every", {"k": "a", "pid": str(pids[0])}) == 5
    assert value(registry, "live", {"k": "a", "pid": me}) == 1
    assert value(registry, "live", {"k": "a", "pid": str(pids[0])}) is None
    text = registry.export_prometheus()
    assert check_metrics(text.encode()).returncode == 0


def test_callback_gauges_are_read_in_the_serving_process(directory: str) -> None:
    registry = MetricsRegistry(multiprocess_dir=directory)
    gauge = registry.gauge("queue", "Queue depth.")
    run_children(lambda: gauge.set_function(lambda: 100.0), [()])
    gauge.set_function(lambda: 7.0)
    assert value(registry, "queue") == 7.0
    gauge.set_function(lambda: "nope")  # type: ignore[arg-type, return-value]
    assert "queue" not in registry.export_prometheus()
    assert value(registry, "tachikoma_metrics_collector_errors_total", {"collector": "Gauge"}) == 1


def test_custom_collectors_are_collected_in_the_serving_process(directory: str) -> None:
    registry = MetricsRegistry(multiprocess_dir=directory)

    class Temperature:
        def collect(self) -> list[metrics.GaugeMetricFamily]:
            return [metrics.GaugeMetricFamily("temperature", "Now.", value=os.getpid())]

    registry.register(Temperature())
    assert value(registry, "temperature") == os.getpid()


# -- removals ---------------------------------------------------------------------------------


def test_remove_clear_and_reset_apply_to_every_process(directory: str) -> None:
    registry = MetricsRegistry(multiprocess_dir=directory)
    requests = registry.counter("requests", "R.", ["code"])
    latency = registry.histogram("latency", "L.", ["code"], buckets=[1.0])
    state = registry.gauge("state", "S.", ["k"], multiprocess_mode="max")
    asked, answered = FORK.Queue(), FORK.Queue()

    def child() -> None:
        requests.labels("200").inc(3)
        requests.labels("404").inc(1)
        requests.labels("500").inc(1)
        latency.labels("200").observe(0.5)
        state.labels("x").set(7)
        answered.put("written")
        asked.get(timeout=DEADLINE)
        requests.labels("200").inc(10)  # the same handle, after the removal
        answered.put("written again")
        asked.get(timeout=DEADLINE)

    process = FORK.Process(target=child)
    process.start()
    try:
        assert answered.get(timeout=DEADLINE) == "written"
        requests.labels("200").inc(100)
        assert value(registry, "requests_total", {"code": "200"}) == 103
        requests.remove("200")
        assert requests.remove_matching(code="500") == 1  # only the child holds it
        requests.remove("404")  # the child's, and ours (none here yet)
        with pytest.raises(KeyError):
            requests.remove("999")  # nowhere
        latency.clear()
        state.clear()
        requests.labels("404").inc(2)
        requests.labels("404").reset()
        assert value(registry, "requests_total", {"code": "200"}) is None
        assert value(registry, "requests_total", {"code": "404"}) == 0
        assert value(registry, "requests_total", {"code": "500"}) is None
        assert value(registry, "latency_count", {"code": "200"}) is None
        assert value(registry, "state", {"k": "x"}) is None
        asked.put("go")
        assert answered.get(timeout=DEADLINE) == "written again"
        assert value(registry, "requests_total", {"code": "200"}) == 10
        asked.put("exit")
    finally:
        process.join(DEADLINE)
    # Folded into the archive with the removals applied; the log keeps only live marks.
    assert value(registry, "requests_total", {"code": "200"}) == 10
    assert value(registry, "requests_total", {"code": "404"}) == 0
    assert value(registry, "requests_total", {"code": "500"}) is None
    requests.labels("200").inc()
    assert value(registry, "requests_total", {"code": "200"}) == 11


# -- exemplars, info, stateset ----------------------------------------------------------------


def test_exemplars_infos_and_statesets_cross_processes(directory: str) -> None:
    registry = MetricsRegistry(multiprocess_dir=directory)
    counter = registry.counter("traced", "T.")
    histogram = registry.histogram("timed", "T.", buckets=[1.0])
    build = registry.info("build", "B.")
    phase = registry.stateset("phase", "P.", states=["starting", "ready"])

    def child() -> None:
        counter.inc(2, exemplar={"trace_id": "abc"})
        histogram.observe(0.5, exemplar={"trace_id": "def"})
        build.info({"version": "1.2.3"})
        phase.state("ready")

    run_children(child, [()])
    text = registry.export_openmetrics()
    assert 'traced_total 2.0 # {trace_id="abc"} 2.0' in text
    assert 'timed_bucket{le="1.0"} 1 # {trace_id="def"} 0.5' in text
    assert 'build_info{version="1.2.3"} 1' in text
    assert 'phase{phase="ready"} 1' in text
    parsed = {f.name: f for f in text_string_to_metric_families(registry.export_prometheus())}
    assert {"traced", "timed", "build_info", "phase"} <= set(parsed)


# -- what a single process would export ------------------------------------------------------


def test_merged_export_equals_one_process_holding_the_same_totals(directory: str) -> None:
    merged = MetricsRegistry(multiprocess_dir=directory)
    single = MetricsRegistry()
    for registry in (merged, single):
        registry.counter("c", "C.", ["a"])
        registry.histogram("h", "H.", ["a"], buckets=[0.5, 2.0])
        registry.gauge("g", "G.", ["a"], multiprocess_mode="sum")

    def record(registry: MetricsRegistry, part: int) -> None:
        for i in range(50):
            registry.counter("c", "C.", ["a"]).labels(str(i % 3)).inc(part)
            registry.histogram("h", "H.", ["a"], buckets=[0.5, 2.0]).labels("x").observe(i / 10)
        registry.gauge("g", "G.", ["a"], multiprocess_mode="sum").labels("y").inc(part)

    run_children(lambda part: record(merged, part), [(1,), (2,), (3,)])
    for part in (1, 2, 3):
        record(single, part)
    assert merged.export_prometheus() == single.export_prometheus()
    assert merged.export_openmetrics(created=False) == single.export_openmetrics(created=False)
    assert merged.export_protobuf(created=False) == single.export_protobuf(created=False)
    assert check_metrics(merged.export_prometheus().encode()).returncode == 0


# -- compaction -------------------------------------------------------------------------------


def test_a_hundred_dead_workers_leave_one_archive(directory: str) -> None:
    registry = MetricsRegistry(multiprocess_dir=directory)
    counter = registry.counter("work", "W.", ["worker"])
    for batch in range(10):
        run_children(
            lambda n: counter.labels(str(n % 20)).inc(n), [(batch * 10 + i,) for i in range(10)]
        )
    registry.counter("work", "W.", ["worker"])  # nothing written here: no file of ours
    assert sum(value(registry, "work_total", {"worker": str(w)}) or 0 for w in range(20)) == sum(
        range(100)
    )
    assert tkm_files(directory) == ["archive.tkm"]


def test_mark_process_dead_compacts_at_once(directory: str) -> None:
    registry = MetricsRegistry(multiprocess_dir=directory)
    counter = registry.counter("work", "W.")
    counter.inc()
    child = FORK.Process(target=counter.inc, args=(4,))
    child.start()
    child.join(DEADLINE)
    assert len(tkm_files(directory)) == 2
    assert metrics.mark_process_dead(child.pid or 0, registry) == 1
    assert len(tkm_files(directory)) == 2  # ours and the archive
    assert value(registry, "work_total") == 5
    with pytest.raises(ValueError, match="not in multi-process mode"):
        metrics.mark_process_dead(1, MetricsRegistry())
    with pytest.raises(TypeError, match="pid must be an int"):
        metrics.mark_process_dead("12")  # type: ignore[arg-type]


def test_mark_process_dead_in_a_master_that_never_called_init(
    directory: str, fresh_facade: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = MetricsRegistry(multiprocess_dir=directory)
    counter = registry.counter("work", "W.")
    run_children(counter.inc, [(2,)])
    run_children(counter.inc, [(3,)])
    assert metrics.mark_process_dead(1, path=directory) == 2
    assert tkm_files(directory) == ["archive.tkm"]
    run_children(counter.inc, [(4,)])
    monkeypatch.setenv("TACHIKOMA_METRICS_MULTIPROC_DIR", directory)
    assert metrics.mark_process_dead(1) == 1
    assert value(registry, "work_total") == 9
    monkeypatch.delenv("TACHIKOMA_METRICS_MULTIPROC_DIR")
    with pytest.raises(ValueError, match="no path= or TACHIKOMA_METRICS_MULTIPROC_DIR"):
        metrics.mark_process_dead(1)


def test_a_file_with_a_live_processes_pid_is_folded_when_its_lock_is_free(directory: str) -> None:
    registry = MetricsRegistry(multiprocess_dir=directory)
    counter = registry.counter("work", "W.")
    counter.inc(1)
    # A dead process whose pid is now ours (pid reuse): its file has our pid in its name.
    run_children(lambda: counter.inc(2), [()])
    registry2 = MetricsRegistry(multiprocess_dir=directory)  # noqa: F841 (keeps nothing locked)
    child_files = []

    def child() -> None:
        counter.inc(4)

    process = FORK.Process(target=child)
    process.start()
    process.join(DEADLINE)
    for name in tkm_files(directory):
        if name != "archive.tkm" and not name.startswith(f"{os.getpid()}-"):
            renamed = os.path.join(directory, f"{os.getpid()}-{name.split('-', 1)[1]}")
            os.rename(os.path.join(directory, name), renamed)
            child_files.append(renamed)
    assert value(registry, "work_total") == 7
    assert not any(os.path.exists(path) for path in child_files)
    counter.inc(1)
    assert value(registry, "work_total") == 8


def test_concurrent_scrapes_and_compactions_never_lose_or_double_count(directory: str) -> None:
    registry = MetricsRegistry(multiprocess_dir=directory)
    counter = registry.counter("work", "W.")
    stop = threading.Event()
    seen: list[list[float]] = [[], []]
    failures: list[BaseException] = []

    def scraper(totals: list[float]) -> None:
        reader = MetricsRegistry(multiprocess_dir=directory)
        reader.counter("work", "W.")
        try:
            while not stop.is_set():
                totals.append(value(reader, "work_total") or 0.0)
        except BaseException as error:  # reported below
            failures.append(error)

    scrapers = [threading.Thread(target=scraper, args=(totals,)) for totals in seen]
    for thread in scrapers:
        thread.start()
    try:
        for _ in range(6):
            run_children(counter.inc, [(1,)] * 8)
            compactors = [FORK.Process(target=_compact, args=(directory,)) for _ in range(2)]
            for compactor in compactors:
                compactor.start()
            for compactor in compactors:
                compactor.join(DEADLINE)
                assert compactor.exitcode == 0
    finally:
        stop.set()
        for thread in scrapers:
            thread.join(DEADLINE)
    assert not failures
    for totals in seen:
        assert totals, "a scraper saw nothing"
        assert totals == sorted(totals), "a scrape saw the total go down"
    assert value(registry, "work_total") == 48
    assert tkm_files(directory) == ["archive.tkm"]


def _compact(directory: str) -> None:
    MetricsRegistry(multiprocess_dir=directory).storage.compact()  # type: ignore[attr-defined]


# -- crashes and damage -----------------------------------------------------------------------


def test_a_worker_killed_mid_write_leaves_readable_files(directory: str) -> None:
    registry = MetricsRegistry(multiprocess_dir=directory)
    counter = registry.counter("written", "W.", ["k"])
    histogram = registry.histogram("spread", "S.", buckets=[1.0, 10.0])
    # No lock: a child killed while holding one would leave it held for good.
    progress = FORK.Value("q", 0, lock=False)

    def writer() -> None:
        i = 0
        while True:
            counter.labels(str(i % 50)).inc()
            histogram.observe(i % 20)
            i += 1
            progress.value = i

    process = FORK.Process(target=writer)
    process.start()
    deadline = time.monotonic() + DEADLINE
    while progress.value < 20000 and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(process.pid or 0, signal.SIGKILL)
    process.join(DEADLINE)
    done = progress.value
    total = sum(value(registry, "written_total", {"k": str(k)}) or 0 for k in range(50))
    count = value(registry, "spread_count") or 0
    # Every increment the child finished counts; at most the one under way besides.
    assert done <= total <= done + 1
    assert done <= count <= done + 1
    assert value(registry, "spread_bucket", {"le": "+Inf"}) == count
    assert value(registry, "tachikoma_metrics_multiprocess_errors_total") is None


def test_a_corrupt_file_is_reported_and_the_rest_kept(
    directory: str, caplog: pytest.LogCaptureFixture
) -> None:
    registry = MetricsRegistry(multiprocess_dir=directory)
    counter = registry.counter("kept", "K.", ["k"])
    counter.labels("mine").inc(3)
    run_children(lambda: [counter.labels(str(i)).inc() for i in range(100)] and None, [()])
    victim = MetricsRegistry(multiprocess_dir=directory)
    victim_counter = victim.counter("kept", "K.", ["k"])
    ready, release = FORK.Event(), FORK.Event()

    def damaged() -> None:
        for i in range(100):
            victim_counter.labels(f"d{i}").inc()
        ready.set()
        release.wait(DEADLINE)

    process = FORK.Process(target=damaged)
    process.start()
    try:
        assert ready.wait(DEADLINE)
        name = next(n for n in tkm_files(directory) if n.startswith(f"{process.pid}-"))
        with open(os.path.join(directory, name), "r+b") as handle:
            handle.seek(4000)
            handle.write(b"\xff" * 64)  # inside a record: its checksum fails
        with caplog.at_level(logging.WARNING, logger="tachikoma_metrics"):
            assert value(registry, "kept_total", {"k": "mine"}) == 3
            assert value(registry, "kept_total", {"k": "99"}) == 1  # the archive: intact
            assert value(registry, "kept_total", {"k": "d0"}) == 1  # before the damage
            assert value(registry, "kept_total", {"k": "d99"}) is None  # after it
            assert value(registry, "tachikoma_metrics_multiprocess_errors_total") == 1
        assert any("corrupt" in r.getMessage() and name in r.getMessage() for r in caplog.records)
    finally:
        release.set()
        process.join(DEADLINE)
    # Dead now: folded (what could be read) and removed; the error is still counted.
    assert value(registry, "kept_total", {"k": "d0"}) == 1
    assert name not in tkm_files(directory)
    assert value(registry, "tachikoma_metrics_multiprocess_errors_total") == 1


def test_a_truncated_file_is_reported(directory: str) -> None:
    registry = MetricsRegistry(multiprocess_dir=directory)
    counter = registry.counter("kept", "K.")
    counter.inc()
    run_children(counter.inc, [(5,)])
    storage: Any = registry.storage
    storage.compact()
    path = os.path.join(directory, "archive.tkm")
    with open(path, "r+b") as handle:
        handle.truncate(100)
    assert value(registry, "kept_total") == 1
    assert value(registry, "tachikoma_metrics_multiprocess_errors_total") == 1


# -- switching it on --------------------------------------------------------------------------


def test_bad_directories_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        MetricsRegistry(multiprocess_dir=tmp_path / "missing")
    (tmp_path / "file").write_text("")
    with pytest.raises(NotADirectoryError, match="is not a directory"):
        MetricsRegistry(multiprocess_dir=tmp_path / "file")
    with pytest.raises(PermissionError, match="is not writable"):
        MetricsRegistry(multiprocess_dir="/proc/self")
    with pytest.raises(TypeError, match="must be a path"):
        MetricsRegistry(multiprocess_dir=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not both"):
        MetricsRegistry(multiprocess_dir=tmp_path, storage=metrics.storage.MEMORY)
    with pytest.raises(ValueError, match="multiprocess_mode must be one of"):
        MetricsRegistry().gauge("g", "G.", multiprocess_mode="average")


@pytest.fixture
def fresh_facade() -> Iterator[None]:
    saved = _global._registry, _global._initialized
    _global._registry, _global._initialized = None, False
    try:
        yield
    finally:
        _global._registry, _global._initialized = saved


def test_init_moves_instruments_made_before_it(directory: str, fresh_facade: None) -> None:
    requests = metrics.counter("early", "Made at import.", ["code"])
    handle = requests.labels("200")
    single = metrics.histogram("early_latency", "L.", buckets=[1.0])
    handle.inc()  # paused: dropped
    registry = metrics.init(multiprocess_dir=directory)
    assert metrics.init(multiprocess_dir=directory) is registry
    handle.inc(2)
    single.observe(0.5)
    run_children(lambda: handle.inc(3), [()])
    assert value(registry, "early_total", {"code": "200"}) == 5
    assert value(registry, "early_latency_count") == 1
    with pytest.raises(ValueError, match="already records in"):
        metrics.init(multiprocess_dir=os.path.dirname(directory))


def test_init_reads_the_environment_variable_only_when_called(
    directory: str, fresh_facade: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TACHIKOMA_METRICS_MULTIPROC_DIR", directory)
    counter = metrics.counter("from_env", "E.")
    assert tkm_files(directory) == []
    registry = metrics.init()
    counter.inc()
    assert type(registry.storage).__name__ == "MultiprocessStorage"
    assert len(tkm_files(directory)) == 1


def test_init_after_recording_in_memory_refuses_to_move(directory: str, fresh_facade: None) -> None:
    metrics.init()
    with pytest.raises(ValueError, match="already started recording in process memory"):
        metrics.init(multiprocess_dir=directory)
