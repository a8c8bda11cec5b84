"""Where deployment triggers are evaluated: a thread of `flowplan server`. It evaluates the
events not yet seen when a webhook stored one (at once) and otherwise every `INTERVAL` seconds
(the runtime's events, written by workers, and proactive windows closing). Without a running
server, events wait in the store and are evaluated when one starts."""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING

from flowplan.errors import FlowplanError

if TYPE_CHECKING:
    from flowplan.backends.local import LocalBackend

INTERVAL = 0.2  # seconds between passes when nothing wakes it
BACKOFF_MAX = 30.0


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
        failures = 0
        while not self._stop.is_set():
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
