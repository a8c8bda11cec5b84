"""`flowplan force-unlock`: clear the apply lock left by a process that died."""

from __future__ import annotations

from flowplan import console
from flowplan.commands.common import YES, backend, confirm
from flowplan.plan.lock import LOCK


def force_unlock(yes: bool = YES) -> None:
    """Remove the apply lock on the target (only when its holder is gone)."""
    target = backend(changes=True)
    lease = target.read_lease(LOCK)
    if lease is None:
        console.out("The target is not locked.")
        return
    console.out(f"Locked by {lease.holder} since {lease.acquired:%Y-%m-%d %H:%M:%S} UTC.")
    confirm("Remove this lock?", yes)
    target.release_lease(LOCK)
    console.out("Lock removed.")
