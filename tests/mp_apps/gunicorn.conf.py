"""gunicorn settings for the multi-process tests: sync workers, and the master folds a dead
worker's metrics into the archive as soon as it has reaped it. The bind address and the
number of workers come from the command line.

The master calls ``init`` with the directory (before it forks the workers, as the docs
say), so ``mark_process_dead`` knows where the files are; the workers' own ``init``, when
they import the app, finds the registry already there."""

import os
from typing import Any

import tachikoma_metrics as metrics

metrics.init(multiprocess_dir=os.environ["TACHIKOMA_METRICS_MULTIPROC_DIR"])

worker_class = "sync"
timeout = 30
graceful_timeout = 10
accesslog = None
loglevel = "warning"


def child_exit(server: Any, worker: Any) -> None:
    """In the master, once it has reaped ``worker``."""
    metrics.mark_process_dead(worker.pid)
