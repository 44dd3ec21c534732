"""gunicorn settings for the multi-process tests: sync workers, and the master folds a dead
worker's metrics into the archive as soon as it has reaped it. The bind address and the
number of workers come from the command line."""

from typing import Any

import tachikoma_metrics as metrics

worker_class = "sync"
timeout = 30
graceful_timeout = 10
accesslog = None
loglevel = "warning"


def child_exit(server: Any, worker: Any) -> None:
    """In the master, once it has reaped ``worker``."""
    metrics.mark_process_dead(worker.pid)
