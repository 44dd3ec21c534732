"""Headless Chromium (Debian's ``chromium``) driven over its DevTools protocol, standard
library only: ``--remote-debugging-pipe`` reads JSON commands, NUL-terminated, on fd 3 and
writes answers and events on fd 4.

``browser()`` starts one Chromium (as root with ``--no-sandbox``) with a temporary profile,
and always kills its whole process group and removes the profile. ``Browser.open(url)``
gives a ``Tab`` whose console errors, uncaught exceptions and error log entries (failed
requests, Content-Security-Policy violations) are collected in ``Tab.errors``.

Run as a script, it serves the demo workload and saves a screenshot of the live page:
``python3 tests/chromium.py docs/img/live-page.png``.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

TIMEOUT = 15.0  # one DevTools command, or Chromium's start; never reached when tests pass

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class DevToolsError(AssertionError):
    """A DevTools command failed, timed out, or Chromium went away."""


class Browser:
    """One running Chromium; commands go out on one pipe, answers and events come back on
    the other, read by a thread of its own."""

    def __init__(self, process: subprocess.Popen[bytes], commands: int, answers: int) -> None:
        self.process = process
        self._commands = commands
        self._answers = answers
        self._ids = itertools.count(1)
        self._lock = threading.Condition()
        self._results: dict[int, dict[str, Any]] = {}
        self._listeners: dict[str, Callable[[dict[str, Any]], None]] = {}
        self._closed = False
        self._reader = threading.Thread(target=self._read, name="chromium-devtools", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        buffer = b""
        try:
            while chunk := os.read(self._answers, 1 << 16):
                buffer += chunk
                *messages, buffer = buffer.split(b"\0")
                for raw in messages:
                    self._dispatch(json.loads(raw))
        finally:
            with self._lock:
                self._closed = True
                self._lock.notify_all()

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "id" in message:
            with self._lock:
                self._results[message["id"]] = message
                self._lock.notify_all()
        elif (listener := self._listeners.get(message.get("sessionId", ""))) is not None:
            listener(message)

    def send(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        """Run one command (in ``session``, a tab's, or the browser's) and return its
        result; a DevTools error or no answer in ``TIMEOUT`` raises ``DevToolsError``."""
        number = next(self._ids)
        message: dict[str, Any] = {"id": number, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT
        with self._lock:
            while number not in self._results:
                left = deadline - time.monotonic()
                if self._closed or left <= 0:
                    raise DevToolsError(f"no answer to {method} (Chromium closed: {self._closed})")
                self._lock.wait(left)
            answer = self._results.pop(number)
        if "error" in answer:
            raise DevToolsError(f"{method} failed: {answer['error']}")
        result: dict[str, Any] = answer.get("result", {})
        return result

    def open(self, url: str, *, width: int = 1100, height: int = 900) -> Tab:
        """A new tab of ``width`` x ``height`` CSS pixels, with console, exception and log
        events collected, navigated to ``url``."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})
        tab = Tab(self, target, session["sessionId"])
        self._listeners[tab.session] = tab._event
        for domain in ("Runtime", "Log", "Page"):
            tab.send(f"{domain}.enable")
        tab.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        tab.send("Page.navigate", {"url": url})
        return tab


class Tab:
    """One page of a ``Browser``."""

    def __init__(self, browser: Browser, target: str, session: str) -> None:
        self.browser = browser
        self.target = target
        self.session = session
        self.errors: list[str] = []  # console errors, exceptions, error log entries

    def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.browser.send(method, params, self.session)

    def _event(self, message: dict[str, Any]) -> None:
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            args = params.get("args", [])
            self.errors.append("console: " + " ".join(str(a.get("value", a)) for a in args))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            thrown = details.get("exception", {}).get("description") or details.get("text")
            self.errors.append(f"exception: {thrown}")
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            self.errors.append(
                f"log ({entry.get('source')}): {entry.get('text')} {entry.get('url', '')}"
            )

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (JSON-serialisable)."""
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise DevToolsError(f"{expression!r} raised: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = TIMEOUT) -> Any:
        """Poll ``expression`` until it is truthy; its value. Times out with the last one."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"still {value!r} after {timeout} s: {expression}")
            time.sleep(0.05)

    def screenshot(self, path: Path, *, full_page: bool = True) -> bytes:
        """Save a PNG of the page (the whole of it, or the viewport) to ``path``; its bytes."""
        shot = self.send(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": full_page}
        )
        data = base64.b64decode(shot["data"])
        path.write_bytes(data)
        return data

    def close(self) -> None:
        self.browser._listeners.pop(self.session, None)
        self.browser.send("Target.closeTarget", {"targetId": self.target})


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's header (its IHDR chunk)."""
    assert data[:8] == PNG_SIGNATURE, "not a PNG"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _arguments(profile: str) -> list[str]:
    arguments = [
        "--headless",
        "--remote-debugging-pipe",
        f"--user-data-dir={profile}",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-default-apps",
        "--disable-sync",
        "--no-first-run",
        "--no-default-browser-check",
        "--hide-scrollbars",
        "--mute-audio",
        "--force-color-profile=srgb",
    ]
    if os.geteuid() == 0:  # Chromium refuses to run as root inside its sandbox
        arguments.append("--no-sandbox")
    return [*arguments, "about:blank"]


def _high(fd: int) -> int:
    """``fd`` moved to 10 or above, so that placing the pipe on 3 and 4 clobbers neither."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.set_inheritable(moved, False)  # Popen's pass_fds lets through the two it passes
    os.close(fd)
    return moved


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL Chromium's process group, reap Chromium, and wait (boundedly) until the rest
    of the group (renderers, zygotes: reaped by init) is gone too, so none still writes
    into the profile while it is removed."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(TIMEOUT)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.02)


@contextlib.contextmanager
def browser() -> Iterator[Browser]:
    """A headless Chromium for the block; afterwards its process group is killed (whatever
    happened) and its temporary profile removed. Its stderr ends a start-up failure."""
    executable = shutil.which("chromium")
    assert executable, "chromium is not installed: run scripts/test.sh (it installs it)"
    with (
        tempfile.TemporaryDirectory(
            prefix="tachikoma-chromium-", ignore_cleanup_errors=True
        ) as profile,
        tempfile.TemporaryFile() as stderr,
    ):
        yield from _run(executable, profile, stderr)


def _run(executable: str, profile: str, stderr: BinaryIO) -> Iterator[Browser]:
    commands_read, commands_write = map(_high, os.pipe())
    answers_read, answers_write = map(_high, os.pipe())
    # Chromium wants the pipe on fds 3 and 4 exactly: bash moves them there and execs (dash
    # only redirects fds 0-9).
    shell = f'exec "$0" "$@" 3<&{commands_read} 4>&{answers_write}'
    process = subprocess.Popen(
        ["/bin/bash", "-c", shell, executable, *_arguments(profile)],
        pass_fds=(commands_read, answers_write),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        start_new_session=True,  # its own process group: renderers and helpers die with it
    )
    os.close(commands_read)
    os.close(answers_write)
    driven: Browser | None = None
    try:
        driven = Browser(process, commands_write, answers_read)
        try:
            driven.send("Browser.getVersion")  # started and answering
        except (DevToolsError, OSError) as error:
            stderr.seek(0)
            said = stderr.read().decode(errors="replace")[-3000:]
            raise DevToolsError(f"Chromium did not start ({error}); its stderr:\n{said}") from None
        yield driven
    finally:
        _kill_group(process)
        os.close(commands_write)  # then the reader meets the end of the answers and stops
        if driven is not None:
            driven._reader.join(TIMEOUT)
        os.close(answers_read)


def _demo_screenshot(target: Path) -> None:
    """Serve the demo workload, let the page poll it for a while, save a screenshot."""
    from tachikoma_metrics import start_http_server
    from tachikoma_metrics.demo import Workload
    from tachikoma_metrics.testing import isolated

    with isolated() as registry, start_http_server(0, "127.0.0.1", registry=registry) as server:
        workload = Workload(registry)
        workload.start(12)
        with browser() as chromium:
            tab = chromium.open(f"http://127.0.0.1:{server.port}/", width=1100, height=1000)
            for _ in range(40):  # 20 s: the sparklines fill with ten polls
                workload.tick()
                time.sleep(0.5)
            tab.wait_for("document.querySelectorAll('#families section').length > 0")
            assert not tab.errors, tab.errors
            size = png_size(tab.screenshot(target, full_page=False))
    print(f"{target}: {size[0]}x{size[1]}")


if __name__ == "__main__":
    _demo_screenshot(Path(sys.argv[1]))
