"""The README's quickstart runs as written and prints what it promises."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.mark.usefixtures("fresh_facade")
def test_quickstart_runs_and_exports_what_it_recorded() -> None:
    """The first python block of the README executes and its export holds its values."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert blocks, "README.md has no python block"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(blocks[0], "README.md", "exec"), {})
    text = out.getvalue()
    assert "tachikoma_missions_started_total 1\n" in text
    assert "tachikoma_active_missions 3\n" in text
    assert 'tachikoma_api_calls_total{provider="anthropic",status="ok"} 2\n' in text
    assert 'tachikoma_api_call_seconds_count{provider="anthropic"} 1\n' in text


def test_collector_example_registers_and_exports() -> None:
    """The README's custom collector example works as written."""
    import tachikoma_metrics as metrics

    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    example = next(block for block in blocks if "def collect(self)" in block)
    registry = metrics.MetricsRegistry()
    exec(compile(example, "README.md", "exec"), {"metrics": metrics, "reg": registry})
    assert 'queue_depth{queue="default"} 42\n' in registry.export_prometheus()


@pytest.mark.usefixtures("fresh_facade")
def test_other_types_example_runs_after_the_quickstart() -> None:
    """The README's block of the other types runs after the quickstart, as written, and
    its OpenMetrics export holds each of them."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    example = next(block for block in blocks if "metrics.summary(" in block)
    namespace: dict[str, object] = {}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(blocks[0], "README.md", "exec"), namespace)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(example, "README.md", "exec"), namespace)
    text = out.getvalue()
    assert "# TYPE tachikoma_llm_latency_seconds summary\n" in text
    assert 'tachikoma_llm_latency_seconds{provider="anthropic",quantile="0.5"} 0.4' in text
    assert 'tachikoma_build_info{version="1.2.3"} 1.0\n' in text
    assert 'tachikoma_upstream_seconds_bucket{le="+Inf"} 1\n' in text
    assert "# TYPE tachikoma_mission_state stateset\n" in text
    assert 'tachikoma_mission_state{tachikoma_mission_state="running"} 1.0\n' in text
    assert "tachikoma_queue_depth 2.0\n" in text
    assert "tachikoma_tool_errors_total 0.0\n" in text
    assert 'tachikoma_api_call_seconds_count{provider="anthropic"} 2\n' in text
