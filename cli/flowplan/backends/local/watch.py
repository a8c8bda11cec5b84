"""Waiting for the store to change, without polling it: every write transaction that commits
touches the store file's modification time (`Store.write`), and a `StoreWatch` is told of that
by the kernel (Linux inotify, through ctypes: no dependency). A worker blocked in `wait` sees a
new run as soon as its writer committed it, from any process on the machine (SQLite's WAL mode
needs them all on one machine anyway).

Where inotify is missing (another system, or the per-user limit of inotify instances reached)
`open_watch` returns None and callers poll as before."""

from __future__ import annotations

import contextlib
import os
import select
from pathlib import Path

IN_ATTRIB = 0x00000004  # metadata changed: what os.utime() causes
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC
READ_SIZE = 4096  # bytes read at a time from a descriptor being drained


class StoreWatch:
    """The changes of one store file. `wait` returns when the file was touched (True), when
    `timeout` passed or `wake` was called (False); `close` when nobody waits any more."""

    def __init__(self, events: int) -> None:
        self._events = events  # the inotify descriptor
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._held: tuple[int, ...] = (events, self._wake_r, self._wake_w)  # until closed
        self._poll = select.poll()  # not select(): a descriptor past 1023 is fine
        for fd in (events, self._wake_r):
            self._poll.register(fd, select.POLLIN)

    def wait(self, timeout: float) -> bool:
        ready = {fd for fd, _ in self._poll.poll(timeout * 1000)}
        if self._wake_r in ready:
            _drain(self._wake_r)
            return False
        if not ready:
            return False
        _drain(self._events)  # one wake for all the commits since the last one
        return True

    def wake(self) -> None:
        """End the wait under way, or the next one if none is."""
        with contextlib.suppress(BlockingIOError):  # the pipe is full: a wake is waiting
            os.write(self._wake_w, b"!")

    def close(self) -> None:
        """Give its descriptors back (once: a number closed twice may be another's by then)."""
        held, self._held = self._held, ()
        for fd in held:
            os.close(fd)


def open_watch(path: Path) -> StoreWatch | None:
    """A watch of `path`, or None where the system cannot give one."""
    try:
        import ctypes

        libc = ctypes.CDLL(None)  # the C library this Python runs on
        init, add = libc.inotify_init1, libc.inotify_add_watch
    except (OSError, AttributeError):  # no libc by that name, or no inotify in it
        return None
    events = init(IN_NONBLOCK | IN_CLOEXEC)
    if events == -1:  # no descriptor left, or the limit of instances per user reached
        return None
    if add(events, os.fsencode(path), IN_ATTRIB) == -1:  # no such file, or no watch left
        os.close(events)
        return None
    try:
        return StoreWatch(events)
    except OSError:  # no descriptors left for its wake pipe
        os.close(events)
        return None


def _drain(fd: int) -> None:
    with contextlib.suppress(BlockingIOError):
        while os.read(fd, READ_SIZE):
            pass
