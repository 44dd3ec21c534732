"""A real Prometheus server and scrape targets, for end-to-end tests.

``PrometheusServer`` runs the Debian ``/usr/bin/prometheus`` on 127.0.0.1 with a generated
configuration and a temporary data directory, and stops it and removes the directory on exit,
whatever happened inside the ``with`` block. ``MetricsTarget`` serves ``GET /metrics`` from a
function the test supplies, and records what the scraper asked for.

Nothing here sleeps blindly: every wait polls a condition against a deadline and, when the
deadline passes, fails with what it saw last (Prometheus' stderr, the last query result and
the targets' health), so a failure says why.
"""

from __future__ import annotations

import gzip
import http.server
import json
import os
import socket
import subprocess
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import tachikoma_metrics

PROMETHEUS = "/usr/bin/prometheus"

# Every HTTP request the harness makes goes to 127.0.0.1 directly: an ``http_proxy`` in the
# environment must never route the test's queries elsewhere.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _http_get(url: str, *, timeout: float = 5.0) -> tuple[int, bytes]:
    """Status and body of a GET; HTTP error statuses are returned, not raised."""
    try:
        with _OPENER.open(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


class PrometheusError(RuntimeError):
    """Prometheus did not start, died, or answered an API call with an error."""


class PrometheusServer:
    """A Prometheus server scraping the given targets, for the duration of a ``with`` block.

    ``targets`` lists ``(job_name, "host:port")`` pairs; each becomes its own scrape job with
    ``metrics_path: /metrics``, so queries can select a target by ``job``. A bare
    ``"host:port"`` string is also accepted and gets the job name ``job``.
    ``extra_flags`` are appended to the command line (for example
    ``"--enable-feature=native-histograms"``).
    """

    READY_TIMEOUT = 30.0
    STOP_TIMEOUT = 10.0
    # Attempts at starting when the port chosen by ``free_port`` was taken in between.
    START_ATTEMPTS = 3

    def __init__(
        self,
        targets: Iterable[tuple[str, str] | str],
        *,
        scrape_interval: str = "1s",
        extra_flags: Sequence[str] = (),
        job: str = "test",
    ) -> None:
        self.targets_config: list[tuple[str, str]] = [
            (job, target) if isinstance(target, str) else (target[0], target[1])
            for target in targets
        ]
        jobs = [name for name, _ in self.targets_config]
        if len(set(jobs)) != len(jobs):
            raise ValueError(f"job names must be unique, got {jobs}")
        self.scrape_interval = scrape_interval
        self.extra_flags = tuple(extra_flags)
        self.port = 0
        self.url = ""
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr_path: Path | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> PrometheusServer:
        if not os.access(PROMETHEUS, os.X_OK):
            raise PrometheusError(
                f"{PROMETHEUS} is missing: install the Debian package 'prometheus'"
                " (the set-up script `bash scripts/test.sh` does)"
            )
        self._tempdir = tempfile.TemporaryDirectory(
            prefix="tachikoma-prometheus-", ignore_cleanup_errors=True
        )
        try:
            self._start()
        except BaseException:
            self._stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop()

    def _start(self) -> None:
        assert self._tempdir is not None
        root = Path(self._tempdir.name)
        config_path = root / "prometheus.yml"
        # JSON is YAML: no YAML library, and no quoting mistakes in job names.
        config_path.write_text(json.dumps(self._config(), indent=2), encoding="utf-8")
        for attempt in range(1, self.START_ATTEMPTS + 1):
            self.port = free_port()
            self.url = f"http://127.0.0.1:{self.port}"
            self._stderr_path = root / f"prometheus-{attempt}.log"
            with self._stderr_path.open("wb") as stderr:
                # stderr goes to a file, not a pipe: a pipe nobody reads could fill up and
                # block Prometheus.
                self._process = subprocess.Popen(
                    [
                        PROMETHEUS,
                        f"--config.file={config_path}",
                        f"--storage.tsdb.path={root / 'data'}",
                        f"--web.listen-address=127.0.0.1:{self.port}",
                        "--log.level=warn",
                        *self.extra_flags,
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=stderr,
                    stderr=stderr,
                    cwd=root,
                )
            try:
                self._wait_ready()
                return
            except PrometheusError:
                port_taken = "address already in use" in self.stderr()
                if not port_taken or attempt == self.START_ATTEMPTS:
                    raise
                self._terminate()

    def _config(self) -> dict[str, Any]:
        return {
            "global": {
                "scrape_interval": self.scrape_interval,
                "scrape_timeout": self.scrape_interval,
                "evaluation_interval": self.scrape_interval,
            },
            "scrape_configs": [
                {
                    "job_name": job,
                    "metrics_path": "/metrics",
                    "scheme": "http",
                    "static_configs": [{"targets": [target]}],
                }
                for job, target in self.targets_config
            ],
        }

    def _wait_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self.READY_TIMEOUT
        last = "no answer yet"
        while True:
            returncode = self._process.poll()
            if returncode is not None:
                raise PrometheusError(
                    f"prometheus exited with status {returncode} before it was ready;"
                    f" its output:\n{self.stderr()}"
                )
            try:
                status, body = _http_get(f"{self.url}/-/ready", timeout=2.0)
            except OSError as error:  # not listening yet
                last = repr(error)
            else:
                if status == 200:
                    return
                last = f"HTTP {status}: {body[:200]!r}"
            if time.monotonic() > deadline:
                raise PrometheusError(
                    f"prometheus was not ready after {self.READY_TIMEOUT} s ({last});"
                    f" its output:\n{self.stderr()}"
                )
            time.sleep(0.1)

    def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=self.STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=self.STOP_TIMEOUT)

    def _stop(self) -> None:
        try:
            self._terminate()
        finally:
            tempdir, self._tempdir = self._tempdir, None
            if tempdir is not None:
                tempdir.cleanup()

    def stderr(self) -> str:
        """What Prometheus has logged so far (empty once the server is stopped)."""
        if self._stderr_path is None:
            return ""
        try:
            return self._stderr_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    # -- HTTP API ----------------------------------------------------------------------------

    def _api(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        if self._process is None:
            raise PrometheusError("prometheus is not running (use it inside its `with` block)")
        url = f"{self.url}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        status, body = _http_get(url)
        try:
            answer = json.loads(body)
        except ValueError:
            raise PrometheusError(f"GET {url}: HTTP {status}, not JSON: {body[:500]!r}") from None
        if status != 200 or answer.get("status") != "success":
            raise PrometheusError(
                f"GET {url}: HTTP {status}: {answer.get('errorType')}: {answer.get('error')}"
            )
        return answer["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector ``expr`` evaluates to now.

        A list of ``{"metric": {label: value}, "value": [unix_time, "value as text"]}``.
        """
        data = self._api("/api/v1/query", {"query": expr})
        if data["resultType"] != "vector":
            raise PrometheusError(f"{expr!r} gave a {data['resultType']}, not an instant vector")
        result: list[dict[str, Any]] = data["result"]
        return result

    def targets(self) -> list[dict[str, Any]]:
        """The active targets as ``/api/v1/targets`` reports them (health, lastError, ...)."""
        data = self._api("/api/v1/targets", {"state": "active"})
        targets: list[dict[str, Any]] = data["activeTargets"]
        return targets

    def describe_targets(self) -> str:
        """One line per target: job, URL, health and last error; for failure messages."""
        try:
            targets = self.targets()
        except (OSError, PrometheusError) as error:
            return f"(targets unavailable: {error!r})"
        return "\n".join(
            f"  job={t['labels'].get('job')!r} url={t.get('scrapeUrl')} health={t.get('health')}"
            f" lastScrape={t.get('lastScrape')} lastError={t.get('lastError')!r}"
            for t in targets
        )

    def wait_for(
        self,
        expr: str,
        predicate: Callable[[list[dict[str, Any]]], bool],
        timeout: float = 30.0,
    ) -> list[dict[str, Any]]:
        """Poll ``query(expr)`` every 0.2 s until ``predicate(result)`` holds; return that result.

        After ``timeout`` seconds, ``AssertionError`` with the last result, the targets' health
        and Prometheus' output. Also fails at once if Prometheus has exited.
        """
        deadline = time.monotonic() + timeout
        last: object = "no answer yet"
        while True:
            if self._process is not None and self._process.poll() is not None:
                raise AssertionError(
                    f"prometheus exited (status {self._process.returncode}) while waiting for"
                    f" {expr!r}; its output:\n{self.stderr()}"
                )
            try:
                result = self.query(expr)
            except (OSError, PrometheusError) as error:
                last = error
            else:
                if predicate(result):
                    return result
                last = result
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"after {timeout} s, {expr!r} still does not satisfy the condition.\n"
                    f"last result: {last!r}\n"
                    f"targets:\n{self.describe_targets()}\n"
                    f"prometheus output:\n{self.stderr() or '(none)'}"
                )
            time.sleep(0.2)


# (content type, body) or (content type, body, extra response headers)
Response = tuple[str, bytes] | tuple[str, bytes, Mapping[str, str]]


def negotiated(registry: tachikoma_metrics.MetricsRegistry, headers: Mapping[str, str]) -> Response:
    """What ``registry`` answers a scrape with these request headers: the format
    ``tachikoma_metrics.negotiate`` picks from ``Accept``, gzip-compressed when it says so."""
    chosen = tachikoma_metrics.negotiate(headers.get("accept"), headers.get("accept-encoding"))
    body = chosen.encode(registry.collect())
    if chosen.compression == "gzip":
        return chosen.content_type, gzip.compress(body), {"Content-Encoding": "gzip"}
    if chosen.compression is not None:
        raise AssertionError(f"unknown compression {chosen.compression!r}")
    return chosen.content_type, body


class MetricsTarget:
    """An HTTP server on 127.0.0.1 that answers ``GET /metrics`` with ``respond(headers)``.

    ``respond`` gets the request headers and returns ``(content_type, body)``, or
    ``(content_type, body, extra_headers)`` (for example ``{"Content-Encoding": "gzip"}``).
    If it raises, the request gets a 500 and the exception is kept: ``raise_errors()``
    re-raises the first one in the test's thread, so the test fails with the real error.
    Other paths get 404. ``accept_headers`` and ``requests`` record what scrapers sent.
    """

    JOIN_TIMEOUT = 10.0

    def __init__(self, respond: Callable[[Mapping[str, str]], Response]) -> None:
        self.respond = respond
        self._lock = threading.Lock()
        self._requests: list[dict[str, str]] = []
        self._responses: list[dict[str, str]] = []
        self._errors: list[BaseException] = []
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def address(self) -> str:
        """``"127.0.0.1:PORT"``, as a Prometheus static target."""
        return f"127.0.0.1:{self.port}"

    @property
    def requests(self) -> list[dict[str, str]]:
        """The headers of every ``/metrics`` request so far, oldest first (a copy)."""
        with self._lock:
            return [dict(request) for request in self._requests]

    @property
    def responses(self) -> list[dict[str, str]]:
        """The headers sent with every successful ``/metrics`` answer, oldest first (a copy)."""
        with self._lock:
            return [dict(response) for response in self._responses]

    @property
    def accept_headers(self) -> list[str | None]:
        """The ``Accept`` header of every ``/metrics`` request so far (``None`` if absent)."""
        return [request.get("accept") for request in self.requests]

    @property
    def errors(self) -> list[BaseException]:
        """Exceptions ``respond`` raised so far."""
        with self._lock:
            return list(self._errors)

    def raise_errors(self) -> None:
        """Re-raise the first exception ``respond`` raised, if any."""
        errors = self.errors
        if errors:
            raise errors[0]

    def __enter__(self) -> MetricsTarget:
        target = self

        class Handler(http.server.BaseHTTPRequestHandler):
            # HTTP/1.0: one request per connection, so no handler thread lingers on an idle
            # keep-alive connection after the test.
            protocol_version = "HTTP/1.0"
            timeout = 10

            def do_GET(self) -> None:
                if urllib.parse.urlsplit(self.path).path != "/metrics":
                    self._send(404, "text/plain; charset=utf-8", b"not found\n", {})
                    return
                headers = {name.lower(): value for name, value in self.headers.items()}
                with target._lock:
                    target._requests.append(headers)
                try:
                    answer = target.respond(headers)
                    content_type, body = answer[0], answer[1]
                    extra: Mapping[str, str] = answer[2] if len(answer) > 2 else {}
                except Exception as error:
                    with target._lock:
                        target._errors.append(error)
                    text = "".join(traceback.format_exception(error))
                    self._send(500, "text/plain; charset=utf-8", text.encode(), {})
                    return
                with target._lock:
                    target._responses.append({"content-type": content_type, **extra})
                self._send(200, content_type, body, extra)

            def _send(
                self, status: int, content_type: str, body: bytes, extra: Mapping[str, str]
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in extra.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # no line on stderr per scrape

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"metrics-target-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        server, self._server = self._server, None
        thread, self._thread = self._thread, None
        if server is None:
            return
        try:
            server.shutdown()
        finally:
            server.server_close()
            if thread is not None:
                thread.join(timeout=self.JOIN_TIMEOUT)
                if thread.is_alive():
                    raise RuntimeError(f"{thread.name} did not stop")
