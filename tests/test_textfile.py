"""``write_textfile``: node_exporter textfile-collector files, written atomically.

The file must pass ``promtool check metrics``; a reader polling it while it is rewritten
1,000 times must only ever see whole files; and neither success nor failure may leave a
temporary file behind.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import shutil
import stat
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

import tachikoma_metrics
from promtool import check_metrics
from tachikoma_metrics import MetricsRegistry, write_textfile
from tachikoma_metrics.transport import textfile as textfile_module
from uninitialised import warned_once

TIMEOUT = 60.0
REWRITES = 1_000
FILLER = 150  # series besides the sentinel: about 6 KB


def _registry() -> tuple[MetricsRegistry, tachikoma_metrics.Gauge]:
    registry = MetricsRegistry()
    sentinel = registry.gauge("textfile_sentinel", "Which rewrite this is.")
    jobs = registry.counter("textfile_jobs_total", "Jobs.", labelnames=("queue", "result"))
    for n in range(FILLER):
        jobs.labels(f"queue-{n:05d}", "ok").inc(n)
    latency = registry.histogram("textfile_run_seconds", "Run time.", buckets=(1, 10))
    latency.observe(3)
    registry.gauge("textfile_odd", "Odd labels.", labelnames=("v",)).labels('a"b\\c\nd').set(1)
    return registry, sentinel


def _leftovers(directory: Path, *expected: str) -> list[str]:
    return sorted(set(os.listdir(directory)) - set(expected))


def test_written_file_passes_promtool(tmp_path: Path) -> None:
    """The file holds exactly the registry's text exposition, and ``promtool check
    metrics`` accepts it with no error and no lint warning."""
    registry, sentinel = _registry()
    sentinel.set(42)
    target = tmp_path / "app.prom"
    write_textfile(target, registry)
    data = target.read_bytes()
    assert data == registry.export_prometheus().encode()
    result = check_metrics(data)
    output = (result.stdout + result.stderr).decode("utf-8", "replace")
    assert result.returncode == 0, output
    assert output == ""
    assert _leftovers(tmp_path, "app.prom") == []


def test_reader_never_sees_a_partial_file(tmp_path: Path) -> None:
    """A reader polling the file while it is rewritten 1,000 times with a changing sentinel
    only ever reads whole files: each one parses, ends with a complete line, has every
    series, and a sentinel value that was written, never older than the last one read.
    Afterwards the file holds the last value and no temporary file is left."""
    registry, sentinel = _registry()
    target = tmp_path / "app.prom"
    sentinel.set(-1)
    write_textfile(target, registry)
    series = len(registry.export_prometheus().splitlines()) - 2 * 4  # minus HELP/TYPE lines

    first_read = threading.Event()
    writer_done = threading.Event()
    problems: list[str] = []
    seen: list[float] = []

    def check(data: bytes) -> float:
        assert data.endswith(b"\n"), f"last line incomplete: {data[-80:]!r}"
        families = {f.name: f for f in text_string_to_metric_families(data.decode("utf-8"))}
        count = sum(len(family.samples) for family in families.values())
        assert count == series, f"{count} series instead of {series}"
        (sample,) = families["textfile_sentinel"].samples
        value = float(sample.value)
        assert value == int(value) and -1 <= value < REWRITES, f"sentinel {value}"
        assert not seen or value >= seen[-1], f"sentinel went back: {seen[-1]} -> {value}"
        return value

    def reader() -> None:
        try:
            while True:
                done = writer_done.is_set()  # read once more after the writer finished
                seen.append(check(target.read_bytes()))
                first_read.set()
                if done:
                    return
        except BaseException as error:  # reported by the test thread
            problems.append(f"read #{len(seen) + 1}: {error!r}")
            first_read.set()

    # Switch threads every 0.1 ms: the reader and writer interleave finely, and the writer,
    # which gives up the GIL at each system call, never waits the default 5 ms to get it
    # back (1,000 rewrites could otherwise take minutes behind a busy reader).
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    thread = threading.Thread(target=reader, name="test-textfile-reader")
    thread.start()
    try:
        assert first_read.wait(TIMEOUT)
        for value in range(REWRITES):
            sentinel.set(value)
            write_textfile(target, registry)
    finally:
        writer_done.set()
        thread.join(TIMEOUT)
        sys.setswitchinterval(previous)
    assert not thread.is_alive()
    assert problems == []
    assert len(seen) > 1
    assert seen[-1] == REWRITES - 1
    assert _leftovers(tmp_path, "app.prom") == []


def test_temporary_file_is_hidden_from_the_collector(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The temporary file is written in the target's directory under a name the collector
    (which reads ``*.prom``) ignores, whole, before it is renamed over the target."""
    registry, _ = _registry()
    target = tmp_path / "app.prom"
    renames: list[tuple[str, str, bytes]] = []
    real_replace = os.replace

    def recording_replace(source: Any, destination: Any) -> None:
        renames.append((os.fspath(source), os.fspath(destination), Path(source).read_bytes()))
        real_replace(source, destination)

    monkeypatch.setattr(textfile_module.os, "replace", recording_replace)
    write_textfile(target, registry)
    ((source, destination, content),) = renames
    assert Path(source).parent == tmp_path
    assert not source.endswith(".prom")
    assert os.path.abspath(destination) == str(target)
    assert content == registry.export_prometheus().encode()


def test_file_is_readable_by_the_collector_user(tmp_path: Path) -> None:
    """The written file is readable by group and others (node_exporter usually runs as
    another user), whatever the temporary file's private mode was."""
    target = tmp_path / "app.prom"
    write_textfile(target, MetricsRegistry())
    mode = stat.S_IMODE(target.stat().st_mode)
    assert mode & 0o044 == 0o044


def test_str_and_relative_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ``str`` path and a path relative to the working directory both work, and a shorter
    rewrite leaves none of the longer old content behind."""
    registry, _ = _registry()
    monkeypatch.chdir(tmp_path)
    write_textfile("app.prom", registry)
    small = MetricsRegistry()
    small.gauge("textfile_small", "Small.").set(1)
    write_textfile(str(tmp_path / "app.prom"), small)
    assert (tmp_path / "app.prom").read_bytes() == small.export_prometheus().encode()
    assert _leftovers(tmp_path, "app.prom") == []


def test_global_registry_when_none(
    tmp_path: Path, fresh_facade: None, caplog: pytest.LogCaptureFixture
) -> None:
    """``registry=None`` writes the global registry: an empty file before ``init()`` (the
    first such write logs one warning saying so), the recorded values after it."""
    target = tmp_path / "app.prom"
    gauge = tachikoma_metrics.gauge("textfile_facade_level", "Level.")
    with warned_once(caplog, "write_textfile"):
        for _ in range(2):
            write_textfile(target)
            assert target.read_bytes() == b""
    tachikoma_metrics.init()
    gauge.set(5)
    write_textfile(target)
    samples = [
        (s.name, s.value)
        for f in text_string_to_metric_families(target.read_text())
        for s in f.samples
    ]
    assert samples == [("textfile_facade_level", 5.0)]


# -- failures -----------------------------------------------------------------------------------


def test_missing_directory_raises(tmp_path: Path) -> None:
    """A path in a directory that does not exist raises ``FileNotFoundError``; nothing is
    created, not even the directory."""
    with pytest.raises(FileNotFoundError):
        write_textfile(tmp_path / "absent" / "app.prom", MetricsRegistry())
    assert os.listdir(tmp_path) == []


def test_directory_removed_raises(tmp_path: Path) -> None:
    """When the collector's directory has been removed, the write raises and leaves
    nothing behind."""
    directory = tmp_path / "textfiles"
    directory.mkdir()
    write_textfile(directory / "app.prom", MetricsRegistry())
    shutil.rmtree(directory)
    with pytest.raises(FileNotFoundError):
        write_textfile(directory / "app.prom", MetricsRegistry())
    assert os.listdir(tmp_path) == []


def test_target_that_is_a_directory_raises_and_cleans_up(tmp_path: Path) -> None:
    """When the rename itself fails (the target is a directory), the error propagates, the
    directory is untouched, and the temporary file is removed."""
    target = tmp_path / "app.prom"
    target.mkdir()
    (target / "inside").write_text("keep")
    with pytest.raises(OSError):
        write_textfile(target, MetricsRegistry())
    assert _leftovers(tmp_path, "app.prom") == []
    assert os.listdir(target) == ["inside"]


@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_failed_write_keeps_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    """A write that fails on the disk (no space at ``fsync``) or at the rename raises that
    error, leaves the previous file exactly as it was and removes the temporary file."""
    registry, sentinel = _registry()
    target = tmp_path / "app.prom"
    sentinel.set(1)
    write_textfile(target, registry)
    before = target.read_bytes()

    def no_space(*args: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(textfile_module.os, failing, no_space)
    sentinel.set(2)
    with pytest.raises(OSError) as raised:
        write_textfile(target, registry)
    monkeypatch.undo()
    assert raised.value.errno == errno.ENOSPC
    assert target.read_bytes() == before
    assert _leftovers(tmp_path, "app.prom") == []


def test_interrupted_write_cleans_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ``KeyboardInterrupt`` during the write (not only an ``OSError``) still removes the
    temporary file and propagates."""
    target = tmp_path / "app.prom"

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(textfile_module.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_textfile(target, MetricsRegistry())
    monkeypatch.undo()
    assert os.listdir(tmp_path) == []


# -- names (issue 8) ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["", "textfiles/", "./"])
def test_a_path_without_a_file_name_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    """An empty path, or one ending in a separator, names no file: ``ValueError`` quoting
    the path, and nothing is written anywhere (``""`` used to put its temporary file in
    the parent of the working directory)."""
    work = tmp_path / "work"
    (work / "textfiles").mkdir(parents=True)
    monkeypatch.chdir(work)
    with pytest.raises(ValueError, match=repr(path).replace("\\", "\\\\")):
        write_textfile(path, MetricsRegistry())
    assert sorted(os.listdir(tmp_path)) == ["work"]
    assert sorted(os.listdir(work)) == ["textfiles"]
    assert os.listdir(work / "textfiles") == []


@pytest.mark.parametrize("length", [254, 255])
def test_longest_file_names_work(tmp_path: Path, length: int) -> None:
    """File names up to the file system's limit (255 bytes) are written: the temporary
    file's name is short, not the target's name plus a suffix (which made 254 fail)."""
    target = tmp_path / ("a" * (length - len(".prom")) + ".prom")
    registry, _ = _registry()
    write_textfile(target, registry)
    assert target.read_bytes() == registry.export_prometheus().encode()
    assert _leftovers(tmp_path, target.name) == []


def test_temporary_file_is_short_hidden_and_beside_the_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The temporary file sits in the target's directory (a relative target in the working
    directory), with a short hidden name that the collector's ``*.prom`` does not match."""
    monkeypatch.chdir(tmp_path)
    renames: list[str] = []
    real_replace = os.replace

    def recording_replace(source: Any, destination: Any) -> None:
        renames.append(os.fspath(source))
        real_replace(source, destination)

    monkeypatch.setattr(textfile_module.os, "replace", recording_replace)
    write_textfile("app.prom", MetricsRegistry())
    (source,) = renames
    assert os.path.dirname(os.path.abspath(source)) == str(tmp_path)
    name = os.path.basename(source)
    assert name.startswith(".") and len(name) <= 32
    assert not fnmatch.fnmatch(name, "*.prom")
    assert _leftovers(tmp_path, "app.prom") == []


def test_errors_name_the_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Failures keep their class and ``errno`` and name the target, not the temporary
    file: a missing directory, no space left at ``fsync``, a directory in the way."""
    missing = tmp_path / "absent" / "app.prom"
    with pytest.raises(FileNotFoundError) as raised:
        write_textfile(missing, MetricsRegistry())
    assert raised.value.filename == str(missing)
    assert str(missing) in str(raised.value)

    in_the_way = tmp_path / "dir.prom"
    in_the_way.mkdir()
    with pytest.raises(IsADirectoryError) as raised_dir:
        write_textfile(in_the_way, MetricsRegistry())
    assert raised_dir.value.filename == str(in_the_way)

    def no_space(*args: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    target = tmp_path / "app.prom"
    monkeypatch.setattr(textfile_module.os, "fsync", no_space)
    with pytest.raises(OSError) as raised_space:
        write_textfile(target, MetricsRegistry())
    monkeypatch.undo()
    assert raised_space.value.errno == errno.ENOSPC
    assert raised_space.value.filename == str(target)
    assert _leftovers(tmp_path, "dir.prom") == []
