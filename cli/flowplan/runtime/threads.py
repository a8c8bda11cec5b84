"""Threads a worker keeps for its runs: each run is followed by two (its supervisor and the
reader of its output), and starting a thread costs the worker more CPU than handing work to
one that waits (about 0.1 ms against 0.02 ms here, at hundreds of runs a second). A thread
waits `IDLE_SECONDS` for more work, then ends."""

from __future__ import annotations

import queue
import threading
import traceback
from collections.abc import Callable

IDLE_SECONDS = 30.0


class Task:
    """Work handed to a kept thread: `join` waits for its end, as a thread's `join` does."""

    def __init__(self, name: str, target: Callable[[], object]) -> None:
        self.name, self.target = name, target
        self.done = threading.Event()

    def join(self, timeout: float | None = None) -> bool:
        """True when the task ended (within `timeout`)."""
        return self.done.wait(timeout)


class Threads:
    def __init__(self, idle_seconds: float = IDLE_SECONDS) -> None:
        self._idle_seconds = idle_seconds
        self._lock = threading.Lock()
        self._waiting: list[queue.SimpleQueue[Task]] = []  # of the threads waiting for work

    def start(self, name: str, target: Callable[[], object]) -> Task:
        """Run `target` on a waiting thread (a new one when none waits), named `name` while it
        runs. An exception it raises is printed, as a thread's is, and the thread goes on."""
        task = Task(name, target)
        with self._lock:
            inbox = self._waiting.pop() if self._waiting else None
        if inbox is None:
            inbox = queue.SimpleQueue()
            threading.Thread(target=self._serve, args=(inbox,), name=name, daemon=True).start()
        inbox.put(task)
        return task

    def _serve(self, inbox: queue.SimpleQueue[Task]) -> None:
        task = inbox.get()
        while True:
            threading.current_thread().name = task.name
            try:
                task.target()
            except BaseException:  # as an uncaught exception in a thread: said, not fatal
                traceback.print_exc()
            finally:
                task.done.set()
            with self._lock:
                self._waiting.append(inbox)
            try:
                task = inbox.get(timeout=self._idle_seconds)
            except queue.Empty:
                with self._lock:
                    if inbox in self._waiting:  # nobody took this thread: it ends
                        self._waiting.remove(inbox)
                        return
                task = inbox.get()  # taken just as the wait ended: its task is on the way


THREADS = Threads()  # the process's: every worker in it shares them
