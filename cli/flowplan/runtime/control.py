"""What a flow-run process does for the worker that follows it: it says when a flow call with
a timeout starts and ends (the worker enforces the timeout too, for a flow that ignores the
one raised inside it), and turns SIGTERM (cancel, timeout, a worker stopping) into an
exception, so that the flow's `finally:` blocks run before the process ends.

The worker passes the write end of a pipe as `FLOWPLAN_CONTROL_FD`; each message is one JSON
object on a line. Without the variable (the engine started by hand) nothing is sent."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading

_fd: int | None = None


class Terminated(BaseException):
    """The run's process got SIGTERM: the flow is interrupted, and reports no state."""


def install() -> None:
    """Take the control channel from the environment (so the flow's own processes do not
    inherit it) and raise `Terminated` on SIGTERM."""
    global _fd
    value = os.environ.pop("FLOWPLAN_CONTROL_FD", "")
    if value.isdigit():
        _fd = int(value)
        with contextlib.suppress(OSError):
            os.set_inheritable(_fd, False)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminated)


def _terminated(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: let the `finally:` blocks run
    raise Terminated()


def tell(message: dict[str, object]) -> None:
    """Send `message` to the worker; a worker that is gone does not stop the run."""
    if _fd is None:
        return
    with contextlib.suppress(OSError):
        os.write(_fd, (json.dumps(message) + "\n").encode())


def end_by_sigterm() -> None:
    """End this process as killed by SIGTERM (the worker reads that as "it was stopped")."""
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)
    os._exit(128 + signal.SIGTERM)
