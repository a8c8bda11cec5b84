"""The steps a worker runs as services for its pool and the store, besides claiming and
following its own runs: its heartbeat, crash detection of dead peers' runs, the scheduler
(under a leader lease), late-run marking, and deleting finished runs past a retention. Each
returns the step its service calls (see `services`), on its own store connection."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from datetime import timedelta

from flowplan.backends.protocol import RuntimeBackend
from flowplan.domain.clock import utcnow
from flowplan.domain.objects import StateType
from flowplan.errors import ObjectNotFound
from flowplan.runtime import scheduler
from flowplan.runtime.infrastructure import Infrastructure

RETENTION_CHUNK = 1000  # runs deleted between two looks at whether the worker is stopping

Step = Callable[[], object]


def heartbeat(backend: RuntimeBackend, pool: str, name: str, interval: float,
              queues: Sequence[str]) -> Step:  # fmt: skip
    def step() -> None:
        backend.worker_heartbeat(pool, name, interval)
        backend.mark_polled(pool, queues)

    return step


def crash_detection(
    backend: RuntimeBackend,
    say: Callable[[str], None],
    infrastructure: Callable[[], Infrastructure | None],
) -> Step:
    """Runs of dead workers become CRASHED; the worker's infrastructure (once it has one)
    removes what they left."""

    def step() -> None:
        for run in backend.crash_orphaned_runs():
            say(f"Flow run {run.name!r} ({run.id}) crashed: {run.state.message}")
        kind = infrastructure()
        if kind is not None:
            kind.reap(crashed_among(backend))

    return step


def schedules(
    backend: RuntimeBackend, worker: str, lease_seconds: float, say: Callable[[str], None]
) -> Step:
    """The pool's schedules filled, by the worker that holds the scheduler's lease; a stored
    schedule that cannot be read is skipped and said once."""
    reported: set[tuple[str, str]] = set()

    def step() -> None:
        if backend.acquire_lease(scheduler.LEASE, worker, lease_seconds) is None:
            return  # another worker is the scheduler
        result = scheduler.fill(backend, utcnow())
        for skipped in result.skipped:
            key = (skipped.schedule_id, skipped.problem)
            if key not in reported:
                reported.add(key)
                say(
                    f"Schedule {skipped.schedule_id} of deployment {skipped.deployment_id}"
                    f" skipped: {skipped.problem}"
                )

    return step


def late_runs(backend: RuntimeBackend) -> Step:
    return lambda: scheduler.mark_late(backend, utcnow())


def retention(
    backend: RuntimeBackend, kept: timedelta, stop: threading.Event, say: Callable[[str], None]
) -> Step:
    def step() -> None:
        before, deleted = utcnow() - kept, 0
        while not stop.is_set():  # a chunk at a time: a stopping worker never waits
            done = backend.delete_finished_runs(ended_before=before, limit=RETENTION_CHUNK)
            deleted += done
            if done < RETENTION_CHUNK:
                break
        if deleted:
            say(f"Deleted {deleted:,} finished flow run(s) older than the retention"
                f" ({duration(kept)}) with their logs.")  # fmt: skip

    return step


def crashed_among(backend: RuntimeBackend) -> Callable[[Sequence[str]], list[str]]:
    """Which of these runs ended CRASHED (runs this store does not know are left alone: they
    may be another store's, on the same infrastructure)."""

    def crashed(run_ids: Sequence[str]) -> list[str]:
        found = []
        for run_id in run_ids:
            with contextlib.suppress(ObjectNotFound):
                if backend.read_flow_run(run_id).state.type is StateType.CRASHED:
                    found.append(run_id)
        return found

    return crashed


def duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
