"""A simulated Tachikoma workload, recorded with the library itself."""

from __future__ import annotations

import random
import signal
import threading

from . import _global as metrics
from . import names

PROVIDERS = ("anthropic", "openai", "local")


def run_workload(missions: int = 25, seed: int = 28) -> None:
    """Record ``missions`` simulated missions into the global registry (``init()`` first)."""
    rng = random.Random(seed)
    started = metrics.counter(names.MISSIONS_STARTED, "Missions started")
    completed = metrics.counter(names.MISSIONS_COMPLETED, "Missions completed successfully")
    failed = metrics.counter(names.MISSIONS_FAILED, "Missions that failed")
    active = metrics.gauge(names.ACTIVE_MISSIONS, "Missions running now")
    tokens = metrics.counter(
        names.TOKENS_USED, "Tokens used by model calls", labelnames=("provider",)
    )
    calls = metrics.counter(names.API_CALLS, "Model API calls", labelnames=("provider", "status"))
    context = metrics.gauge(names.CONTEXT_USAGE, "Share of the context window in use, percent")
    latency = metrics.histogram(
        "tachikoma_api_call_seconds",
        "Model API call latency",
        labelnames=("provider",),
        buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
        unit="seconds",
    )
    running = 0
    for _ in range(missions):
        started.inc()
        running += 1
        active.set(running)
        for _ in range(rng.randint(1, 4)):
            provider = rng.choice(PROVIDERS)
            ok = rng.random() > 0.1
            calls.labels(provider, "ok" if ok else "error").inc()
            latency.labels(provider).observe(round(rng.lognormvariate(-1.0, 0.8), 3))
            tokens.labels(provider).inc(rng.randint(200, 4000))
        context.set(round(rng.uniform(5, 95), 1))
        if rng.random() < 0.85:
            completed.inc()
        else:
            failed.inc()
        if rng.random() < 0.7:
            running -= 1
            active.dec()


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m tachikoma_metrics demo``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tachikoma_metrics")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo", help="simulate a Tachikoma workload and serve its metrics over HTTP"
    )
    demo.add_argument("--port", type=int, default=9464, help="port to serve on (0: any free)")
    demo.add_argument("--host", default="127.0.0.1", help="address to listen on")
    demo.add_argument("--missions", type=int, default=25, help="missions to simulate at start")
    demo.add_argument(
        "--once", action="store_true", help="print the exposition once and exit instead"
    )
    args = parser.parse_args(argv)
    metrics.init()
    run_workload(args.missions)
    if args.once:
        print(metrics.export_prometheus(), end="")
        return 0
    from .transport.server import start_http_server

    server = start_http_server(args.port, args.host)
    print(f"serving the simulated Tachikoma workload on {server.url} (Ctrl-C to stop)", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    seed = 29
    try:
        while not stop.wait(1.0):  # one more simulated mission a second
            run_workload(1, seed=seed)
            seed += 1
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0
