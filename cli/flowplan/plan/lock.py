"""The apply lock: a lease on the target, waited for up to a timeout, taken over from a holder
that is known to be dead (same host, process gone), cleared by `flowplan force-unlock`."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from flowplan.backends.protocol import Backend
from flowplan.errors import FlowplanError

LOCK = "flowplan-apply"
TTL_SECONDS = 3600


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _dead(holder: str) -> bool:
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def clear_dead_lock(backend: Backend) -> str | None:
    """Release the lock when its holder is known to be dead (an apply killed after its last
    write leaves it so); returns that holder. A live or foreign holder's lock is left alone."""
    lease = backend.read_lease(LOCK)
    if lease is not None and _dead(lease.holder) and backend.release_lease(LOCK, lease.holder):
        return lease.holder
    return None


@contextmanager
def apply_lock(backend: Backend, timeout: float) -> Iterator[str]:
    holder = _holder()
    deadline = time.monotonic() + timeout
    while backend.acquire_lease(LOCK, holder, TTL_SECONDS) is None:
        if clear_dead_lock(backend) is not None:
            continue
        lease = backend.read_lease(LOCK)
        if time.monotonic() >= deadline:
            who = f"{lease.holder}, since {lease.acquired:%Y-%m-%d %H:%M:%S} UTC" if lease else "?"
            raise FlowplanError(
                f"another apply holds the lock on this target ({who}); waited {timeout:g} s",
                hint="wait for it, raise --lock-timeout, or if that process is gone run"
                " 'flowplan force-unlock'",
            )
        time.sleep(0.1)
    try:
        yield holder
    finally:
        backend.release_lease(LOCK, holder)
