"""The README's quickstart runs as written and prints what it promises; so do its
multi-process recipes, in real gunicorn and uvicorn servers and in pools of every start
method."""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mp_servers import Gunicorn, Server, Uvicorn, http_get, is_running, poll, scrape

README = Path(__file__).resolve().parent.parent / "README.md"
TIMEOUT = 60.0  # a recipe's whole run; never reached when tests pass


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def _recipe(first_line: str) -> str:
    """The README's python block that starts with the comment ``first_line``."""
    found = [block for block in _blocks() if block.startswith(first_line + "\n")]
    assert len(found) == 1, f"README.md has {len(found)} python blocks starting {first_line!r}"
    return found[0]


def _counted(text: str, name: str) -> float:
    match = re.search(rf"^{name} (\S+)$", text, re.M)
    assert match, f"no {name} in\n{text}"
    return float(match.group(1))


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


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_pool_recipe_counts_every_item_with_every_start_method(method: str, tmp_path: Path) -> None:
    """The README's ``multiprocessing.Pool`` block, run as a script under each start
    method, prints the total of every worker's increments."""
    block = next(block for block in _blocks() if "multiprocessing.Pool(" in block)
    script = tmp_path / "pool_recipe.py"
    script.write_text(block, encoding="utf-8")
    run = (
        "import multiprocessing, runpy, sys\n"
        f"multiprocessing.set_start_method({method!r})\n"
        "runpy.run_path(sys.argv[1], run_name='__main__')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", run, str(script)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "\nmyjob_items_total 1000\n" in done.stdout, done.stdout + done.stderr


def _serve_recipe(server: Server, requests: int) -> None:
    """``requests`` requests to the recipe's app, spread over its workers, are all counted
    in the merged ``/metrics``, whichever worker serves it."""
    before = _counted(scrape(server.port), "myapp_requests_total")
    for _ in range(requests):
        status, body = http_get(server.port, "/")
        assert status == 200 and body == b"ok\n", (status, body)
    text = scrape(server.port)
    assert _counted(text, "myapp_requests_total") == before + requests, server.describe()


def test_gunicorn_recipe_merges_workers_and_folds_an_exited_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's ``gunicorn.conf.py`` and ``myapp.py`` under a real gunicorn with two
    workers: every request is counted; a worker stopped with SIGTERM is folded into the
    archive by the ``child_exit`` hook before any scrape, and its requests still count."""
    (tmp_path / "gunicorn.conf.py").write_text(_recipe("# gunicorn.conf.py"), encoding="utf-8")
    (tmp_path / "myapp.py").write_text(_recipe("# myapp.py"), encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    with Gunicorn(2, app="myapp:app", config=tmp_path / "gunicorn.conf.py") as server:
        _serve_recipe(server, 20)
        total = _counted(scrape(server.port), "myapp_requests_total")
        assert _counted(scrape(server.port), "myapp_requests_in_progress") == 0.0
        # A worker that has written (has a file): it answered some of the requests.
        names = os.listdir(server.directory)
        writers = [w for w in server.workers() if any(n.startswith(f"{w}-") for n in names)]
        assert writers, server.describe()
        victim = writers[0]

        def folded() -> bool:
            names = os.listdir(server.directory)
            mine = [name for name in names if name.startswith(f"{victim}-")]
            return not is_running(victim) and "archive.tkm" in names and not mine

        os.kill(victim, signal.SIGTERM)
        poll(
            f"worker {victim} gone, its file folded by child_exit",
            folded,
            timeout=TIMEOUT,
            describe=server.describe,
        )
        server.wait_ready(exclude=[victim])
        assert _counted(scrape(server.port), "myapp_requests_total") >= total
        _serve_recipe(server, 10)
        assert "Traceback" not in server.log(), server.describe()


def test_uvicorn_recipe_merges_spawned_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's ``myasgi.py`` under ``uvicorn --workers 2``: every request is counted
    in the merged ``/metrics``."""
    (tmp_path / "myasgi.py").write_text(_recipe("# myasgi.py"), encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    with Uvicorn(2, app="myasgi:app") as server:
        _serve_recipe(server, 20)
        assert "Traceback" not in server.log(), server.describe()
