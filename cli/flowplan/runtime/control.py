"""SIGTERM in a flow-run process (cancel, timeout, a worker stopping, its worker gone) becomes
an exception, so that the flow's `finally:` blocks run before the process ends; the process
then ends as killed by SIGTERM, which its worker reads as "it was stopped"."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading


class Terminated(BaseException):
    """The run's process got SIGTERM: the flow is interrupted, and reports no state."""


def install() -> None:
    """Raise `Terminated` on SIGTERM."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminated)


def _terminated(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: let the `finally:` blocks run
    raise Terminated()


def end_by_sigterm() -> None:
    """End this process as killed by SIGTERM (the worker reads that as "it was stopped")."""
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)
    os._exit(128 + signal.SIGTERM)
