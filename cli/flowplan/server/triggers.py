"""Where deployment triggers are evaluated: a thread of `flowplan server`. It evaluates the
events not yet seen when a webhook stored one (at once) and otherwise every `INTERVAL` seconds
(the runtime's events, written by workers, and proactive windows closing). Without a running
server, events wait in the store and are evaluated when one starts."""

from __future__ import annotations

import sys
import threading
import time
from datetime import timedelta
from typing import TYPE_CHECKING

from flowplan.errors import FlowplanError

if TYPE_CHECKING:
    from flowplan.backends.local import LocalBackend

INTERVAL = 0.2  # seconds between passes when nothing wakes it
BACKOFF_MAX = 30.0
RETENTION = timedelta(days=7)  # events older than this are deleted (Prefect's default too)
PRUNE_EVERY = 3600.0  # seconds


class TriggerService:
    def __init__(self, backend: LocalBackend) -> None:
        self.backend = backend
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="flowplan-triggers", daemon=True)

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self.backend.evaluate_triggers()  # the first pass places the cursor before any request
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        from flowplan.domain.clock import utcnow

        failures, pruned = 0, 0.0
        while not self._stop.is_set():
            if time.monotonic() - pruned > PRUNE_EVERY and not failures:
                pruned = time.monotonic()
                try:
                    self.backend.prune_events(before=utcnow() - RETENTION)
                except FlowplanError as exc:
                    sys.stderr.write(f"Deleting old events failed ({exc}); retrying later.\n")
            self._wake.wait(INTERVAL if not failures else min(BACKOFF_MAX, 0.5 * 2**failures))
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                while self.backend.evaluate_triggers() and not self._stop.is_set():
                    pass  # a full batch: more are waiting
            except FlowplanError as exc:
                failures += 1
                sys.stderr.write(f"Trigger evaluation failed ({exc}); retrying.\n")
                continue
            except Exception:  # a bug: logged, and the server keeps serving
                failures += 1
                import traceback

                sys.stderr.write(traceback.format_exc())
                continue
            failures = 0
