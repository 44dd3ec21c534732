"""The tests' side of the one warning a transport logs when it exports the global registry
before ``init()``: reset the once-per-process flag, then take out the record expected."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import pytest

from tachikoma_metrics.transport import _core


def uninitialised_warnings(records: list[logging.LogRecord]) -> list[logging.LogRecord]:
    """The records among ``records`` that are the "exported before init()" warning."""
    return [
        r
        for r in records
        if r.name == "tachikoma_metrics"
        and r.levelno == logging.WARNING
        and "init() has not been called" in r.getMessage()
    ]


@contextlib.contextmanager
def warned_once(caplog: pytest.LogCaptureFixture, transport: str) -> Iterator[None]:
    """Run the block as a fresh process would (the warning not yet logged); at its end,
    exactly one such warning must have been logged, naming ``transport`` and both fixes.
    That record is taken out of ``caplog``, so guards failing on any warning still work."""
    _core._reset_uninitialised_warning()
    start = len(caplog.records)
    yield
    warned = uninitialised_warnings(caplog.records[start:])
    assert len(warned) == 1, [r.getMessage() for r in warned]
    message = warned[0].getMessage()
    assert message.startswith(f"{transport} is exporting the global registry"), message
    assert "call tachikoma_metrics.init()" in message.lower(), message
    assert "pass registry=" in message, message
    caplog.records.remove(warned[0])  # the handler's own list: get_records() shares it
    _core._reset_uninitialised_warning()  # as a fresh process: the next test may warn
