"""The scheduler service: inserts runs ahead for active schedules (at least 3 runs and 1 hour,
at most 100 runs and 100 days, like Prefect), removes future runs no schedule wants any more,
and renames overdue runs `Late`. One tick is idempotent (runs are keyed by deployment, schedule
and time), so a tick that dies halfway, or two schedulers at once, lose or double nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flowplan.backends.protocol import RuntimeBackend
from flowplan.domain.objects import schedule_problem
from flowplan.runtime.schedule_times import next_run_times

MIN_RUNS = 3
MAX_RUNS = 100
MIN_AHEAD = timedelta(hours=1)
MAX_AHEAD = timedelta(days=100)
LATE_AFTER = timedelta(seconds=15)
LEASE = "scheduler"


@dataclass(frozen=True)
class Skipped:
    """A schedule the scheduler could not fill, and why."""

    deployment_id: str
    schedule_id: str
    problem: str


@dataclass(frozen=True)
class TickResult:
    inserted: int
    dropped: int
    late: int
    skipped: tuple[Skipped, ...] = ()


def runs_ahead(times: list[datetime], now: datetime) -> list[datetime]:
    """The first times up to the point where there are at least MIN_RUNS and the last one is
    at least MIN_AHEAD away."""
    for index, moment in enumerate(times):
        if index + 1 >= MIN_RUNS and moment >= now + MIN_AHEAD:
            return times[: index + 1]
    return times


def fill(backend: RuntimeBackend, now: datetime) -> TickResult:
    """Drop runs no schedule wants and insert runs ahead. A schedule that cannot be filled
    (a stored row with an unknown time zone, ...) is skipped and returned: the others go on."""
    dropped = backend.drop_unscheduled_runs(now=now)
    inserted = 0
    skipped: list[Skipped] = []
    for due in backend.read_schedules_to_fill(
        now=now, min_runs=MIN_RUNS, min_until=now + MIN_AHEAD
    ):
        if due.schedule is None:
            skipped.append(Skipped(due.deployment_id, due.schedule_id, due.problem or "unreadable"))
            continue
        try:
            times = next_run_times(due.schedule.schedule, now, now + MAX_AHEAD, MAX_RUNS)
        except Exception as exc:  # a stored schedule that passed no validation: skip it
            skipped.append(Skipped(due.deployment_id, due.schedule_id, schedule_problem(exc)))
            continue
        inserted += backend.insert_scheduled_runs(
            due.deployment_id, due.schedule, runs_ahead(times, now)
        )
    return TickResult(inserted, dropped, 0, tuple(skipped))


def mark_late(backend: RuntimeBackend, now: datetime) -> int:
    return backend.mark_late_runs(before=now - LATE_AFTER)


def tick(backend: RuntimeBackend, now: datetime) -> TickResult:
    filled = fill(backend, now)
    return TickResult(filled.inserted, filled.dropped, mark_late(backend, now), filled.skipped)
