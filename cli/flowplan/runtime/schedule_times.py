"""When a schedule fires: a pure function of the schedule and a time window.

- cron: croniter in the schedule's time zone, honouring `day_or`. Across a DST change a fixed
  wall-clock time that happens twice (autumn) fires once, a time that does not exist (spring)
  fires at the first valid moment after it; an hourly cron (`*` hours) fires every real hour.
- interval: anchor + n * interval. Intervals of whole days step in wall-clock time of the
  schedule's time zone (a daily run stays at 09:00 across DST); shorter ones in absolute time.
  Without an anchor date, 2020-01-01 00:00 in the time zone anchors it (deterministic).
- rrule: dateutil; a rule without DTSTART starts at that same anchor, in the time zone.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from flowplan.domain.schedules import (
    DEFAULT_ANCHOR,
    CronSchedule,
    IntervalSchedule,
    RRuleSchedule,
    Schedule,
)


def next_run_times(
    schedule: Schedule, start: datetime, end: datetime, limit: int = 100
) -> list[datetime]:
    """The times in [start, end) at which `schedule` fires, in UTC, at most `limit` of them."""
    times: list[datetime] = []
    try:
        for moment in _times(schedule, start.astimezone(UTC)):
            if moment >= end or len(times) >= limit:
                break
            if moment >= start:
                times.append(moment.astimezone(UTC))
    except OverflowError:  # the next time is past the end of the calendar (year 9999)
        pass
    return times


def _zone(name: str | None) -> ZoneInfo:
    return ZoneInfo(name or "UTC")


def _times(schedule: Schedule, start: datetime) -> Iterator[datetime]:
    if isinstance(schedule, CronSchedule):
        return _cron_times(schedule, start)
    if isinstance(schedule, IntervalSchedule):
        return _interval_times(schedule, start)
    return _rrule_times(schedule, start)


def _cron_times(schedule: CronSchedule, start: datetime) -> Iterator[datetime]:
    from croniter import croniter

    zone = _zone(schedule.timezone)
    every_hour = schedule.cron.split()[1] == "*"
    # croniter returns times strictly after its start: begin a microsecond earlier
    iterator = croniter(
        schedule.cron, start.astimezone(zone) - timedelta(microseconds=1), day_or=schedule.day_or
    )
    previous_wall: datetime | None = None
    while True:
        moment: datetime = iterator.get_next(datetime)
        wall = moment.replace(tzinfo=None)
        if wall == previous_wall and not every_hour:
            continue  # the same wall-clock time again after clocks went back
        previous_wall = wall
        yield moment


def _interval_times(schedule: IntervalSchedule, start: datetime) -> Iterator[datetime]:
    zone = _zone(schedule.timezone)
    anchor = schedule.anchor_date or DEFAULT_ANCHOR.replace(tzinfo=zone)
    if anchor.tzinfo is None:
        anchor = anchor.replace(tzinfo=zone)
    step = schedule.interval
    if step.total_seconds() % 86400 == 0:  # whole days: same wall-clock time in the zone
        local_anchor = anchor.astimezone(zone).replace(tzinfo=None)
        local_start = start.astimezone(zone).replace(tzinfo=None)
        count = max(0, (local_start - local_anchor) // step - 1)
        while True:
            yield (local_anchor + count * step).replace(tzinfo=zone).astimezone(UTC)
            count += 1
    count = max(0, (start - anchor) // step)
    while True:
        yield anchor + count * step
        count += 1


def _rrule_times(schedule: RRuleSchedule, start: datetime) -> Iterator[datetime]:
    from dateutil import rrule

    zone = _zone(schedule.timezone)
    rule = rrule.rrulestr(schedule.rrule, dtstart=DEFAULT_ANCHOR.replace(tzinfo=zone))
    local = start.astimezone(zone)
    try:
        rule.after(local, inc=True)
    except TypeError:  # a DTSTART without a zone: the rule's times are wall-clock times
        local = local.replace(tzinfo=None)
    for moment in rule.xafter(local, inc=True):
        yield moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)
