"""What the WSGI and ASGI apps have in common: the instruments and the recording."""

from __future__ import annotations

import os

import tachikoma_metrics as metrics

ENV = "TACHIKOMA_METRICS_MULTIPROC_DIR"

# Every answered ``/work`` request was counted in both before its answer was sent.
REQUESTS = metrics.counter("mp_requests_total", "Requests to /work, counted before answering.")
LATENCY = metrics.histogram(
    "mp_request_seconds", "A fixed 0.25 per /work request.", buckets=(0.1, 0.5, 1.0)
)
OBSERVED = 0.25  # exact in binary: any sum of them is exact, in any order

metrics.init(multiprocess_dir=os.environ[ENV])


def record_request() -> bytes:
    """Count one ``/work`` request; the answer's body (this process's id)."""
    REQUESTS.inc()
    LATENCY.observe(OBSERVED)
    return f"{os.getpid()}\n".encode()


def pid_body() -> bytes:
    return f"{os.getpid()}\n".encode()
