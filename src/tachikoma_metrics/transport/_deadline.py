"""Socket I/O bounded by a deadline for a whole exchange, not per read.

A socket timeout bounds each ``recv`` or ``send``: a peer that trickles one byte just
inside it keeps an exchange alive forever. ``DeadlineIO`` sets the socket's timeout to
the time left before ``deadline`` at every call, so the whole exchange ends by then (with
``TimeoutError``). The HTTP server and the Pushgateway client both use it.
"""

from __future__ import annotations

import io
import socket
import time
from typing import Any


class DeadlineIO(io.RawIOBase):
    """Reads and writes ``sock``; every call fails with ``TimeoutError`` once ``deadline``
    (a ``time.monotonic()`` value, or ``None`` for no limit) has passed. ``eof`` says
    whether a read has met the end of the stream."""

    def __init__(self, sock: socket.socket, deadline: float | None = None) -> None:
        super().__init__()
        self.sock = sock
        self.deadline = deadline
        self.eof = False

    def _arm(self) -> None:
        if self.deadline is None:
            return
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out")
        self.sock.settimeout(left)

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self._arm()
        count = self.sock.recv_into(buffer)
        if count == 0:
            self.eof = True
        return count

    def write(self, data: Any) -> int:
        self._arm()
        return self.sock.send(data)

    def write_all(self, data: bytes | bytearray | memoryview) -> None:
        """Send all of ``data`` (by the deadline)."""
        with memoryview(data) as view:
            sent = 0
            while sent < len(view):
                sent += self.write(view[sent:])


class DeadlineWriter(io.BufferedIOBase):
    """An unbuffered ``wfile``: each ``write`` sends everything by the raw's deadline."""

    def __init__(self, raw: DeadlineIO) -> None:
        super().__init__()
        self._raw = raw

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._raw.write_all(data)
        return len(data)
