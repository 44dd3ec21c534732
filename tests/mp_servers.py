"""Real multi-process servers for the multi-process tests: gunicorn (sync workers) and
uvicorn (``--workers``) serving the apps of ``tests/mp_apps`` from a subprocess, a load of
keep-alive-less HTTP clients that can pause so a worker is killed while idle, and helpers
to find a server's workers.

Every wait polls a condition against a deadline and fails with what it saw last (the
server's log included). A server runs in its own process group (session): leaving its
``with`` block stops the master gracefully, then kills whatever is left of the group, and
removes its temporary directory, whatever happened inside the block.
"""

from __future__ import annotations

import contextlib
import http.client
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from prometheus_harness import free_port

TESTS = Path(__file__).resolve().parent
ENV = "TACHIKOMA_METRICS_MULTIPROC_DIR"
START_TIMEOUT = 30.0  # a server's start-up, and a worker's replacement
STOP_TIMEOUT = 15.0  # a graceful stop before the process group is killed
REQUEST_TIMEOUT = 10.0  # one HTTP request; never reached when tests pass


class ServerError(AssertionError):
    """A server did not start, died, or did not get where a test waited for it to be."""


# -- processes ----------------------------------------------------------------------------


def _stat(pid: int) -> tuple[str, int, int] | None:
    """State, parent id and process group of a process, or ``None`` if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[2])


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def is_running(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie."""
    stat = _stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")


def children(pid: int) -> list[int]:
    """The running (not zombie) children of ``pid``, sorted."""
    found = []
    for child in _all_pids():
        stat = _stat(child)
        if stat is not None and stat[1] == pid and stat[0] not in ("Z", "X"):
            found.append(child)
    return sorted(found)


def group_members(pgid: int) -> list[int]:
    """The running (not zombie) processes of process group ``pgid``."""
    found = []
    for pid in _all_pids():
        stat = _stat(pid)
        if stat is not None and stat[2] == pgid and stat[0] not in ("Z", "X"):
            found.append(pid)
    return sorted(found)


def command_line(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace")


def poll(
    what: str,
    condition: Callable[[], object],
    *,
    timeout: float,
    describe: Callable[[], str] = lambda: "",
    interval: float = 0.05,
) -> object:
    """Call ``condition`` until it returns something true, and return that; after
    ``timeout`` seconds, ``ServerError`` naming ``what`` (with ``describe()``)."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise ServerError(f"after {timeout} s, still not: {what}\n{describe()}")
        time.sleep(interval)


# -- HTTP ---------------------------------------------------------------------------------


def http_get(port: int, path: str, *, timeout: float = REQUEST_TIMEOUT) -> tuple[int, bytes]:
    """One GET on a new connection (``Connection: close``): status and body. Network
    errors raise ``OSError`` (or ``http.client.HTTPException``)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Connection": "close"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def scrape(port: int) -> str:
    """``/metrics`` in Prometheus text 0.0.4 (no ``Accept``, no compression)."""
    status, body = http_get(port, "/metrics")
    if status != 200:
        raise ServerError(f"/metrics answered {status}: {body[:2000]!r}")
    return body.decode()


# -- servers ------------------------------------------------------------------------------


class Server:
    """A server command run in its own session from ``tests/``, with ``ENV`` naming a fresh
    temporary directory (``self.directory``) and its output in a log file (``log()``).

    ``workers(self)`` says which of its processes are workers (subclasses know)."""

    # Attempts at starting when the port ``free_port`` chose was taken in between.
    START_ATTEMPTS = 3

    def __init__(self, command: Sequence[str], workers: int) -> None:
        self.command = list(command)
        self.expected_workers = workers
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        self.directory = Path()
        self._log_path = Path()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def log(self) -> str:
        """Everything the server wrote so far (stdout and stderr)."""
        try:
            return self._log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"

    def describe(self) -> str:
        return (
            f"server: {' '.join(self.command)}\n"
            f"master {self.process.pid if self.process else '?'}"
            f" exit status {self.process.poll() if self.process else '?'};"
            f" workers {self.workers() if self.process else '?'}\n"
            f"directory {sorted(os.listdir(self.directory)) if self.directory.is_dir() else '?'}"
            f"\nlog:\n{self.log()[-6000:]}"
        )

    def workers(self) -> list[int]:
        raise NotImplementedError

    def check_running(self) -> None:
        """``ServerError`` (with the log) if the master has exited."""
        if self.process is None or self.process.poll() is not None:
            raise ServerError(f"the server is not running\n{self.describe()}")

    def _arguments(self) -> list[str]:
        """The command line with ``{port}`` filled in."""
        return [part.format(port=self.port) for part in self.command]

    def __enter__(self) -> Server:
        self._tempdir = tempfile.TemporaryDirectory(
            prefix="tachikoma-mp-", ignore_cleanup_errors=True
        )
        root = Path(self._tempdir.name)
        self.directory = root / "metrics"
        self.directory.mkdir()
        self._log_path = root / "server.log"
        env = {**os.environ, ENV: str(self.directory), "PYTHONUNBUFFERED": "1"}
        env["PYTHONPATH"] = os.pathsep.join(
            [str(TESTS), *filter(None, [os.environ.get("PYTHONPATH")])]
        )
        env.pop("http_proxy", None)
        env.pop("HTTP_PROXY", None)
        try:
            for attempt in range(1, self.START_ATTEMPTS + 1):
                self.port = free_port()
                self._log_path = root / f"server-{attempt}.log"
                with self._log_path.open("wb") as log:
                    self.process = subprocess.Popen(
                        self._arguments(),
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=log,
                        cwd=TESTS,
                        env=env,
                        start_new_session=True,
                    )
                try:
                    self.wait_ready()
                    break
                except ServerError:
                    if "in use" not in self.log() or attempt == self.START_ATTEMPTS:
                        raise
                    self._terminate()
        except BaseException:
            self._stop()
            raise
        return self

    def wait_ready(self, exclude: Sequence[int] = ()) -> list[int]:
        """Wait until the server answers ``/ping`` and runs its full set of workers, none of
        them in ``exclude`` (workers killed earlier); return the workers."""

        def ready() -> list[int] | None:
            self.check_running()
            if "Traceback" in self.log():  # a worker failed (to start): no use waiting
                raise ServerError(f"the server logged a traceback\n{self.describe()}")
            workers = self.workers()
            if len(workers) != self.expected_workers or set(workers) & set(exclude):
                return None
            try:
                status, _ = http_get(self.port, "/ping", timeout=2.0)
            except (OSError, http.client.HTTPException):
                return None
            return workers if status == 200 else None

        found = poll(
            f"{self.expected_workers} workers (none of {list(exclude)}) answering /ping",
            ready,
            timeout=START_TIMEOUT,
            describe=self.describe,
        )
        assert isinstance(found, list)
        return found

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop()

    def _stop(self) -> None:
        try:
            self._terminate()
        finally:
            tempdir, self._tempdir = self._tempdir, None
            if tempdir is not None:
                tempdir.cleanup()

    def _terminate(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        pgid = process.pid  # the session leader: its group is the server's
        try:
            if process.poll() is None:
                process.terminate()  # the master stops its workers gracefully
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=STOP_TIMEOUT)
        finally:
            # Whatever is left of the group (the master if it hung, orphaned workers) dies.
            deadline = time.monotonic() + STOP_TIMEOUT
            while group_members(pgid):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pgid, signal.SIGKILL)
                if time.monotonic() > deadline:
                    raise ServerError(f"process group {pgid} survived SIGKILL")
                time.sleep(0.02)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=STOP_TIMEOUT)


class Gunicorn(Server):
    """gunicorn with ``workers`` sync workers serving ``mp_apps.wsgi_app:app``, configured by
    ``mp_apps/gunicorn.conf.py`` (whose ``child_exit`` hook calls ``mark_process_dead``)."""

    def __init__(
        self,
        workers: int = 4,
        *,
        app: str = "mp_apps.wsgi_app:app",
        config: Path = TESTS / "mp_apps" / "gunicorn.conf.py",
    ) -> None:
        super().__init__(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--config",
                str(config),
                "--bind",
                "127.0.0.1:{port}",
                "--workers",
                str(workers),
                app,
            ],
            workers,
        )

    def workers(self) -> list[int]:
        # gunicorn forks its workers itself: every child of the master is one.
        return children(self.pid) if self.process is not None else []


class Uvicorn(Server):
    """uvicorn with ``--workers`` serving ``mp_apps.asgi_app:app``; its workers are spawned
    (each imports the app, which calls ``init``), and the master restarts a dead one."""

    def __init__(self, workers: int = 2, *, app: str = "mp_apps.asgi_app:app") -> None:
        super().__init__(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--host",
                "127.0.0.1",
                "--port",
                "{port}",
                "--workers",
                str(workers),
                "--no-access-log",
                "--log-level",
                "warning",
                "--timeout-graceful-shutdown",
                "10",
                app,
            ],
            workers,
        )

    def workers(self) -> list[int]:
        # The master's other child is multiprocessing's resource tracker: not a worker.
        if self.process is None:
            return []
        return [pid for pid in children(self.pid) if "spawn_main" in command_line(pid)]


# -- load ---------------------------------------------------------------------------------


@dataclass
class LoadResult:
    """What the clients saw: answers per worker id, and every failed attempt."""

    answered: int = 0
    by_pid: dict[int, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    attempts: int = 0


class Load:
    """``threads`` clients sending ``GET /work`` (one connection each) until ``total``
    requests got a 200; a failed attempt is sent again (a request the server never
    answered was never counted: the apps count before answering, and no worker dies
    with a request in progress, see ``pause``). ``run`` with a ``deadline``."""

    def __init__(self, port: int, total: int, *, threads: int = 8) -> None:
        self.port = port
        self.total = total
        self.threads = threads
        self.result = LoadResult()
        self._lock = threading.Condition()
        self._taken = 0  # requests started or answered: at most total
        self._started = 0  # attempts started, failed ones included: never decreases
        self._in_flight = 0
        self._open = True  # clients may start requests
        self._stop = False
        self._errors: list[BaseException] = []
        self._workers: list[threading.Thread] = []

    # -- the clients --

    def _take(self) -> bool:
        with self._lock:
            while True:
                if self._stop or self._taken >= self.total:
                    return False
                if self._open:
                    self._taken += 1
                    self._started += 1
                    self._in_flight += 1
                    return True
                self._lock.wait()

    def _done(self, pid: int | None, failure: str | None) -> None:
        with self._lock:
            self._in_flight -= 1
            self.result.attempts += 1
            if pid is None:
                self._taken -= 1  # sent again
                assert failure is not None
                self.result.failures.append(failure)
                if len(self.result.failures) > max(100, self.total // 20):
                    self._stop = True  # something is badly wrong: stop, the test fails
            else:
                self.result.answered += 1
                self.result.by_pid[pid] = self.result.by_pid.get(pid, 0) + 1
            self._lock.notify_all()

    def _client(self) -> None:
        try:
            while self._take():
                try:
                    status, body = http_get(self.port, "/work")
                except (OSError, http.client.HTTPException) as error:
                    self._done(None, repr(error))
                    continue
                if status == 200:
                    self._done(int(body), None)
                else:
                    self._done(None, f"HTTP {status}: {body[:200]!r}")
        except BaseException as error:
            with self._lock:
                self._errors.append(error)
                self._stop = True
                self._in_flight = 0
                self._lock.notify_all()
            raise

    # -- the controller --

    def start(self) -> None:
        for n in range(self.threads):
            thread = threading.Thread(target=self._client, name=f"mp-load-{n}", daemon=True)
            self._workers.append(thread)
            thread.start()

    def answered(self) -> int:
        with self._lock:
            return self.result.answered

    def started(self) -> int:
        """Attempts started so far (answered, failed or in progress)."""
        with self._lock:
            return self._started

    def wait_answered(self, count: int, deadline: float) -> None:
        """Wait until ``count`` requests were answered (or the load has stopped)."""
        with self._lock:
            while self.result.answered < count and not self._stop and not self._errors:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ServerError(
                        f"only {self.result.answered} of {count} requests answered in time"
                        f" ({len(self.result.failures)} failures, last:"
                        f" {self.result.failures[-3:]})"
                    )
                self._lock.wait(min(left, 0.5))
            self._raise()

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """Count a request outside the load (a scrape) as in progress for the block, once
        the load is not paused: so ``paused`` waits for it too."""
        with self._lock:
            while not self._open and not self._stop:
                self._lock.wait()
            self._in_flight += 1
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1
                self._lock.notify_all()

    @contextlib.contextmanager
    def paused(self, deadline: float) -> Iterator[None]:
        """No request in progress inside the block: clients finish what they sent, then
        wait; they start again when the block ends."""
        with self._lock:
            self._open = False
            try:
                while self._in_flight and not self._errors:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise ServerError(f"{self._in_flight} requests still in progress")
                    self._lock.wait(min(left, 0.5))
                self._raise()
            except BaseException:
                self._open = True
                self._lock.notify_all()
                raise
        try:
            yield
        finally:
            with self._lock:
                self._open = True
                self._lock.notify_all()

    def finish(self, deadline: float) -> LoadResult:
        """Wait for every client to end (``total`` answered, or stopped); the result."""
        try:
            self.wait_answered(self.total, deadline)
        finally:
            with self._lock:
                self._stop = True
                self._open = True
                self._lock.notify_all()
            for thread in self._workers:
                thread.join(max(0.1, deadline - time.monotonic()) + REQUEST_TIMEOUT)
        if any(thread.is_alive() for thread in self._workers):
            raise ServerError("load threads did not stop")
        self._raise()
        return self.result

    def stop(self) -> None:
        """End the load now (on failure): clients stop after their current request."""
        with self._lock:
            self._stop = True
            self._open = True
            self._lock.notify_all()
        for thread in self._workers:
            thread.join(REQUEST_TIMEOUT + 1)

    def _raise(self) -> None:
        if self._errors:
            raise self._errors[0]


# -- scrapes during a load ----------------------------------------------------------------


@dataclass
class ScrapeLog:
    """What ``Scraper`` saw: per scrape (requests answered before it began, the counter's
    value, attempts started by its end); scrapes that failed (a worker killed mid-scrape)."""

    scrapes: list[tuple[int, float, int]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def violations(self) -> list[tuple[int, float, int]]:
        """Scrapes whose value lost an answered request or counted one never sent."""
        return [(low, value, high) for low, value, high in self.scrapes if not low <= value <= high]


class Scraper:
    """Scrape ``/metrics`` (any worker) again and again while ``load`` runs, reading the
    unlabelled counter ``name``: an answered request was counted before its answer, so
    every scrape must show at least the requests answered before it began and at most the
    attempts started by its end."""

    def __init__(self, port: int, load: Load, name: str, *, interval: float = 0.1) -> None:
        self.port = port
        self.load = load
        self.key = (name, ())
        self.interval = interval
        self.log = ScrapeLog()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="mp-scraper", daemon=True)

    def _run(self) -> None:
        try:
            self._scrape_until_stopped()
        except BaseException as error:  # re-raised by __exit__, in the test's thread
            self._error = error

    def _scrape_until_stopped(self) -> None:
        # Imported here: scrape_client needs pytest, this module does not otherwise.
        from scrape_client import read_samples

        while not self._stop.is_set():
            text = None
            with self.load.slot():  # no scrape runs in a worker killed while idle
                low = self.load.answered()
                try:
                    text = scrape(self.port)
                except (OSError, http.client.HTTPException, ServerError) as error:
                    self.log.failures.append(repr(error))
                high = self.load.started()
            if text is not None:
                value = read_samples(text).get(self.key)
                self.log.scrapes.append((low, math.nan if value is None else value, high))
            self._stop.wait(self.interval)

    def __enter__(self) -> Scraper:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(REQUEST_TIMEOUT + 1)
        if self._thread.is_alive():
            raise ServerError("the scraper did not stop")
        if self._error is not None and exc is None:
            raise self._error


# -- kills --------------------------------------------------------------------------------


@dataclass
class Kill:
    """Send ``signal`` to a worker once ``after`` requests were answered; ``idle``: pause the
    load first, so the worker dies with no request in progress (needed for SIGKILL, which
    would otherwise lose answers of requests already counted)."""

    after: int
    signal: signal.Signals
    idle: bool


def run_with_kills(
    server: Server, load: Load, kills: Sequence[Kill], *, timeout: float
) -> tuple[LoadResult, list[tuple[int, str]]]:
    """Run ``load`` against ``server``, killing a worker that has answered requests at each
    of ``kills``; wait until the load is done and the server runs its full set of fresh
    workers again. The load's result, and the workers killed with their signal's name."""
    deadline = time.monotonic() + timeout
    killed: list[tuple[int, str]] = []
    load.start()
    try:
        for kill in kills:
            load.wait_answered(kill.after, deadline)
            with contextlib.ExitStack() as stack:
                if kill.idle:
                    stack.enter_context(load.paused(deadline))
                victim = _victim(server, load, [pid for pid, _ in killed])
                os.kill(victim, kill.signal)
                killed.append((victim, kill.signal.name))
        result = load.finish(deadline)
    except BaseException:
        load.stop()
        raise
    server.wait_ready(exclude=[pid for pid, _ in killed])
    return result, killed


def _victim(server: Server, load: Load, killed: Sequence[int]) -> int:
    """A live worker that has answered requests (so it holds counts), not killed before."""
    server.check_running()
    with load._lock:
        served = dict(load.result.by_pid)
    live = [pid for pid in server.workers() if pid not in killed]
    candidates = sorted((pid for pid in live if served.get(pid)), key=lambda pid: -served[pid])
    if not candidates:
        raise ServerError(f"no live worker has answered yet: served {served}, live {live}")
    return candidates[0]
