"""Multi-process mode: each process keeps its values in a file of its own in one directory,
and collection merges them all (see ``docs/multiprocess.md``).

``MultiprocessStorage`` is the storage a registry made with ``multiprocess_dir=`` uses;
``init(multiprocess_dir=...)`` moves the global registry onto it.
"""

from ._storage import MultiprocessStorage, check_directory

ENVIRONMENT_VARIABLE = "TACHIKOMA_METRICS_MULTIPROC_DIR"

__all__ = ["ENVIRONMENT_VARIABLE", "MultiprocessStorage", "check_directory"]
