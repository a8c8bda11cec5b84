"""One watcher of the store per server, for the websocket streams: while any stream is open, a
thread asks SQLite every `POLL` seconds whether another connection (this server's own writes,
a worker's, the CLI's) committed since it last asked (`PRAGMA data_version`, which reads no
table), and wakes every stream when one did. A stream reads the store only when woken, not on a
timer of its own; with no stream open, the thread ends."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

POLL = 0.05  # seconds between asks while a stream is open


class ChangeWatch:
    """A counter of the store's commits seen (`generation`) and a way to wait for the next."""

    def __init__(self, path: Path, interval: float = POLL) -> None:
        self._path, self._interval = path, interval
        self._changed = threading.Condition()
        self._generation = 0
        self._watchers = 0
        self._running = False

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        """While inside, the store is watched (the first watcher starts the thread)."""
        with self._changed:
            self._watchers += 1
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="flowplan-changes", daemon=True).start()
        try:
            yield
        finally:
            with self._changed:
                self._watchers -= 1

    @property
    def generation(self) -> int:
        with self._changed:
            return self._generation

    def wait(self, seen: int, timeout: float) -> int:
        """The generation once it is past `seen` (or after `timeout` seconds)."""
        with self._changed:
            self._changed.wait_for(lambda: self._generation != seen, timeout)
            return self._generation

    def poke(self) -> None:
        """Wake every waiter as if the store had changed (a stream was closed)."""
        with self._changed:
            self._generation += 1
            self._changed.notify_all()

    def _run(self) -> None:
        uri = self._path.resolve().as_uri() + "?mode=rw"  # never creates the store
        connection: sqlite3.Connection | None = None
        last = None
        try:
            while True:
                with self._changed:
                    if not self._watchers:
                        self._running = False
                        return
                try:
                    if connection is None:
                        connection = sqlite3.connect(uri, uri=True, check_same_thread=False)
                    version = connection.execute("PRAGMA data_version").fetchone()[0]
                except sqlite3.Error:  # not there yet, or busy: the streams read it anyway
                    version = None
                if version is None or version != last:
                    last = version
                    self.poke()
                time.sleep(self._interval)
        finally:
            if connection is not None:
                connection.close()
