"""``promtool check metrics``: the Prometheus project's own parser and linter of the text
format (Debian package ``prometheus``), run on an exposition body."""

from __future__ import annotations

import shutil
import subprocess

import pytest


def promtool() -> str:
    """The path of ``promtool``; the test fails (never skips) where it is missing."""
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool is not installed: run the set-up script `bash scripts/test.sh`, which"
            " installs the Debian package 'prometheus' that provides promtool"
        )
    return path


def check_metrics(body: bytes) -> subprocess.CompletedProcess[bytes]:
    """``promtool check metrics`` with ``body`` on its standard input; its exit status and
    output are the caller's to judge."""
    return subprocess.run(
        [promtool(), "check", "metrics"], input=body, capture_output=True, timeout=60, check=False
    )
