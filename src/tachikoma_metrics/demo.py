"""A simulated Tachikoma workload, recorded with the library itself.

A mission is active from the moment it starts until it completes or fails, so
``started == completed + failed + active`` holds at every scrape: the active gauge moves
with ``inc()`` and ``dec()`` as missions start and end (never from a count kept
elsewhere), and the four mission metrics are exported by one collector that snapshots
them together, so a scrape never sees a mission half started or half ended.
"""

from __future__ import annotations

import argparse
import errno
import math
import random
import signal
import sys
import threading

from . import _global as metrics
from . import names
from ._version import __version__
from .instruments import Counter, Gauge
from .model import MetricFamily
from .registry import MetricsRegistry

PROG = "python -m tachikoma_metrics"
PROVIDERS = ("anthropic", "openai", "local")
# Each running mission ends at a tick with this chance (so about three run at a time).
END_CHANCE = 0.3
# The missions simulated at start-up end with this chance before the first export.
START_UP_END_CHANCE = 0.7
COMPLETION_CHANCE = 0.85


class Missions:
    """The mission counts as one collector: the four families change together under one
    lock, and ``collect()`` snapshots them under the same lock.

    A registry collects its collectors one after another while the workload keeps
    running, so four instruments registered separately could be read mid-update (the
    gauge before a start, the counter after it). Register this object instead.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started = Counter(names.MISSIONS_STARTED, "Missions started")
        self.completed = Counter(names.MISSIONS_COMPLETED, "Missions completed successfully")
        self.failed = Counter(names.MISSIONS_FAILED, "Missions that failed")
        self.active = Gauge(names.ACTIVE_MISSIONS, "Missions running now")
        self._families = (self.active, self.completed, self.failed, self.started)

    def start(self) -> None:
        with self._lock:
            self.started.inc()
            self.active.inc()

    def end(self, *, ok: bool) -> None:
        with self._lock:
            (self.completed if ok else self.failed).inc()
            self.active.dec()

    def describe(self) -> list[MetricFamily]:
        return [d for family in self._families for d in family.describe()]

    def collect(self) -> list[MetricFamily]:
        with self._lock:
            return [c for family in self._families for c in family.collect()]


class Workload:
    """Simulated missions, recorded into ``registry`` (the mission counts) and the global
    facade (model calls, tokens, context). Deterministic for a given ``seed``."""

    def __init__(self, registry: MetricsRegistry, seed: int = 28) -> None:
        self._rng = random.Random(seed)
        self._running = 0  # missions started and not yet ended
        self.missions = Missions()
        registry.register(self.missions)
        self.tokens = metrics.counter(
            names.TOKENS_USED, "Tokens used by model calls", labelnames=("provider",)
        )
        self.calls = metrics.counter(
            names.API_CALLS, "Model API calls", labelnames=("provider", "status")
        )
        self.context = metrics.gauge(
            names.CONTEXT_USAGE, "Share of the context window in use, percent"
        )
        self.latency = metrics.histogram(
            "tachikoma_api_call_seconds",
            "Model API call latency",
            labelnames=("provider",),
            buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            unit="seconds",
        )

    def start(self, missions: int) -> None:
        """Start ``missions`` missions, each making a few model calls."""
        rng = self._rng
        for _ in range(missions):
            self.missions.start()
            self._running += 1
            for _ in range(rng.randint(1, 4)):
                provider = rng.choice(PROVIDERS)
                ok = rng.random() > 0.1
                self.calls.labels(provider, "ok" if ok else "error").inc()
                self.latency.labels(provider).observe(round(rng.lognormvariate(-1.0, 0.8), 3))
                self.tokens.labels(provider).inc(rng.randint(200, 4000))
            self.context.set(round(rng.uniform(5, 95), 1))

    def end_some(self, chance: float) -> None:
        """End each running mission with probability ``chance``: completed or failed."""
        rng = self._rng
        for _ in range(self._running):
            if rng.random() < chance:
                self.missions.end(ok=rng.random() < COMPLETION_CHANCE)
                self._running -= 1

    def tick(self) -> None:
        """One simulated step: some running missions end and a new one starts."""
        self.end_some(END_CHANCE)
        self.start(1)


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be between 0 and 65535, got {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, got {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    version = f"tachikoma-metrics {__version__}"
    parser = argparse.ArgumentParser(prog=PROG)
    parser.add_argument("--version", action="version", version=version)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo", help="simulate a Tachikoma workload and serve its metrics over HTTP"
    )
    demo.add_argument("--version", action="version", version=version)
    demo.add_argument("--port", type=_port, default=9464, help="port to serve on (0: any free)")
    demo.add_argument("--host", default="127.0.0.1", help="address to listen on")
    demo.add_argument(
        "--missions", type=_non_negative_int, default=25, help="missions to simulate at start"
    )
    demo.add_argument(
        "--tick",
        type=_seconds,
        default=1.0,
        metavar="SECONDS",
        help="time between simulated steps, each starting one mission (default 1; the tests"
        " use a shorter one)",
    )
    demo.add_argument(
        "--once", action="store_true", help="print the exposition once and exit instead"
    )
    return parser


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m tachikoma_metrics demo``; returns the exit status."""
    args = _parser().parse_args(argv)
    workload = Workload(metrics.init())
    workload.start(args.missions)
    workload.end_some(START_UP_END_CHANCE)
    if args.once:
        print(metrics.export_prometheus(), end="")
        return 0
    from .transport.server import start_http_server

    try:
        server = start_http_server(args.port, args.host)
    except OSError as error:  # the port is taken, the host unknown, the address not ours...
        reason = error.strerror or str(error)
        if error.errno == errno.EADDRINUSE:
            reason += " (choose another --port, or --port 0 for any free one)"
        print(
            f"{PROG} demo: cannot listen on {_address(args.host, args.port)}: {reason}",
            file=sys.stderr,
        )
        return 1
    page = server.url.rsplit("/", 1)[0] + "/"
    print(
        f"serving the simulated Tachikoma workload on {server.url} (Ctrl-C to stop);"
        f" open {page} in a browser for the live page",
        flush=True,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(args.tick):
            workload.tick()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0
