"""Writing a node_exporter textfile-collector file."""

from __future__ import annotations

import contextlib
import os
import tempfile

from ..exposition import encode_text
from ..registry import MetricsRegistry
from ._core import global_registry


def write_textfile(path: str | os.PathLike[str], registry: MetricsRegistry | None = None) -> None:
    """Write ``registry`` (the global one if ``None``) to ``path`` in text format 0.0.4.

    The text goes to a temporary file in the same directory (named so the collector, which
    reads ``*.prom``, ignores it), is flushed to disk, then renamed over ``path``: a reader
    sees the old file or the new one, never half of either. The global registry is empty
    before ``init()``: the first such write logs a warning.
    """
    target = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(target))
    source = registry if registry is not None else global_registry("write_textfile")
    data = encode_text(source.collect() if source is not None else []).encode()
    fd, temporary = tempfile.mkstemp(
        dir=directory, prefix="." + os.path.basename(target) + ".", suffix=".tmp"
    )
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
