"""The worker's loop services (heartbeat, scheduler, claims, cancellations, late runs, crash
detection), each on its own thread: a slow one never delays another (a scheduler tick over
10,000 schedules does not hold back heartbeats), and one that fails is logged and retried
with backoff instead of ending the worker."""

from __future__ import annotations

import threading
from collections.abc import Callable

from flowplan.errors import StoreFault

BACKOFF_FIRST = 0.5
BACKOFF_MAX = 60.0


def backoff(failures: int, interval: float) -> float:
    """Seconds to wait after `failures` failures in a row: doubling from the shorter of half a
    second and the interval, at most a minute."""
    return float(min(BACKOFF_MAX, min(BACKOFF_FIRST, interval) * 2.0 ** (failures - 1)))


class Service:
    def __init__(
        self,
        name: str,
        interval: float,
        step: Callable[[], object],
        say: Callable[[str], None],
        stop: threading.Event,
        on_store_fault: Callable[[StoreFault], None] | None = None,
        rests: Callable[[], bool] | None = None,
    ) -> None:
        """`on_store_fault`: told when the store itself fails (full disk, read-only, replaced):
        no retry helps that, so the service ends and the worker stops. `rests`: asked after
        each step; while it says so, the service waits for `kick` instead of its interval (an
        idle worker wakes no thread for it)."""
        self.name, self.interval, self.step, self.say, self.stop = name, interval, step, say, stop
        self.on_store_fault = on_store_fault
        self.rests = rests
        self._kicked = threading.Event()
        self.failures = 0
        self.passes = 0  # steps that succeeded
        self.thread = threading.Thread(target=self._loop, name=f"flowplan-{name}", daemon=True)

    def start(self) -> Service:
        self.thread.start()
        return self

    def kick(self) -> None:
        """Step now, if the service rests (or as soon as its current step ends)."""
        self._kicked.set()

    def _wait(self, delay: float | None) -> bool:
        """Wait `delay` seconds, or till kicked (None); whether the worker stops."""
        if delay is not None:
            return self.stop.wait(delay)
        self._kicked.wait()
        self._kicked.clear()
        return self.stop.is_set()

    def _loop(self) -> None:
        delay: float | None = 0.0
        while not self._wait(delay):
            try:
                self.step()
            except StoreFault as fault:
                if self.on_store_fault is None:
                    raise
                self.on_store_fault(fault)
                return
            except Exception as exc:  # isolated: log, back off, try again
                self.failures += 1
                delay = backoff(self.failures, self.interval)
                self.say(
                    f"Worker service {self.name!r} failed ({type(exc).__name__}: {exc});"
                    f" retrying in {delay:g} s."
                )
                continue
            if self.failures:
                self.say(f"Worker service {self.name!r} works again.")
            self.failures = 0
            self.passes += 1
            delay = None if self.rests is not None and self.rests() else self.interval
