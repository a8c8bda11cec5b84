"""What the process-based worker types share: reading a run's pipes without ever blocking the
worker for good, and stopping a run's process group with a grace period."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import threading
import time
from collections.abc import Iterator

LEFTOVER_POLL = 0.05


class Pipe:
    """The read end of a pipe, read line by line until it ends or `close()` is called: a
    process that escaped the run's group and holds the pipe open cannot keep a reader
    waiting once the worker stops listening."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._wake_read, self._wake_write = os.pipe()
        self._lock = threading.Lock()
        self._closed = False
        self._reading = False

    def lines(self) -> Iterator[str]:
        with self._lock:
            if self._closed:
                return
            self._reading = True
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        poller.register(self._wake_read, select.POLLIN)
        buffer = b""
        try:
            while True:
                ready = {fd for fd, _ in poller.poll()}
                if self._wake_read in ready:
                    break
                chunk = os.read(self.fd, 1 << 16)
                if not chunk:
                    break
                *complete, buffer = (buffer + chunk).split(b"\n")
                for line in complete:
                    yield line.decode("utf-8", errors="replace")
            if buffer:
                yield buffer.decode("utf-8", errors="replace")
        finally:
            with self._lock:
                self._reading = False
                self._close()

    def close(self) -> None:
        with self._lock:
            if self._reading:
                with contextlib.suppress(OSError):
                    os.write(self._wake_write, b"x")  # the reader closes it all
            else:
                self._close()

    def _close(self) -> None:
        if not self._closed:
            self._closed = True
            for fd in (self.fd, self._wake_read, self._wake_write):
                with contextlib.suppress(OSError):
                    os.close(fd)


def signal_group(pgid: int, signum: int) -> bool:
    """Send `signum` to a run's process group; False when nothing of it is left."""
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def end_group(pgid: int, grace: float) -> None:
    """SIGTERM to the group, then SIGKILL to what is left after `grace` seconds."""
    if not signal_group(pgid, signal.SIGTERM):
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not signal_group(pgid, 0):
            return
        time.sleep(LEFTOVER_POLL)
    signal_group(pgid, signal.SIGKILL)
