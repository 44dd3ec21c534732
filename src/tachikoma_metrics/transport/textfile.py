"""Writing a node_exporter textfile-collector file."""

from __future__ import annotations

import contextlib
import os
import tempfile

from ..exposition import encode_text
from ..registry import MetricsRegistry
from ._core import global_registry

# The temporary file's name: hidden, short (a 255-byte target name still works), and not
# ending in ``.prom``, so the collector, which reads ``*.prom``, never picks it up.
TEMPORARY_PREFIX = ".textfile-"
TEMPORARY_SUFFIX = ".tmp"


def write_textfile(path: str | os.PathLike[str], registry: MetricsRegistry | None = None) -> None:
    """Write ``registry`` (the global one if ``None``) to ``path`` in text format 0.0.4.

    The text goes to a temporary file beside ``path`` (``.textfile-XXXXXXXX.tmp``: hidden,
    and ignored by the collector, which reads ``*.prom``), is flushed to disk, then renamed
    over ``path``: a reader sees the old file or the new one, never half of either.
    ``path`` must name a file: an empty path, or one ending in a separator, raises
    ``ValueError``. A failure raises the ``OSError`` (same class and ``errno``) with
    ``filename`` set to ``path``; no temporary file is left behind. The global registry is
    empty before ``init()``: the first such write logs a warning.
    """
    target = os.fspath(path)
    if not isinstance(target, str):
        raise TypeError(f"path must be a str or os.PathLike[str], got {path!r}")
    if not os.path.basename(target):
        raise ValueError(f"write_textfile needs a file name, got the path {target!r}")
    directory = os.path.dirname(target) or "."
    source = registry if registry is not None else global_registry("write_textfile")
    data = encode_text(source.collect() if source is not None else []).encode()
    try:
        _write(directory, target, data)
    except OSError as error:
        if error.errno is None:
            raise
        raise type(error)(error.errno, error.strerror, target) from error


def _write(directory: str, target: str, data: bytes) -> None:
    fd, temporary = tempfile.mkstemp(
        dir=directory, prefix=TEMPORARY_PREFIX, suffix=TEMPORARY_SUFFIX
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
