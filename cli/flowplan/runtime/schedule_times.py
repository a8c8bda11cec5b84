"""When a schedule fires: a pure function of the schedule and a time window.

- cron: croniter over wall-clock times of the schedule's zone, honouring `day_or`, as Prefect
  does. Across a DST change a wall-clock time that happens twice (autumn) fires once (at its
  first occurrence), a time that does not exist (spring) fires as if the clocks had not
  changed yet (02:30 becomes 03:30).
- interval: anchor + n * interval, n negative too (the anchor sets the phase, not a first
  run: Prefect fires before it). Intervals of whole days step in wall-clock time of the
  schedule's time zone (a daily run stays at 09:00 across DST); shorter ones in absolute time;
  days and hours (25 h, 36 h) as Prefect steps them: the whole interval added to the
  wall-clock time, from the run at or before the window's start in absolute time.
  A naive anchor date is UTC (as Prefect reads it); without one, 2020-01-01 00:00 in the
  time zone anchors it (deterministic).
- rrule: dateutil; a rule without DTSTART starts at that same anchor, in the time zone; a
  DTSTART's wall-clock time is in the schedule's zone whatever zone it names (as Prefect).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from flowplan.domain.schedules import (
    DEFAULT_ANCHOR,
    CronSchedule,
    IntervalSchedule,
    RRuleSchedule,
    Schedule,
    anchor_of,
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
    """croniter over wall-clock times of the zone, each made a moment as Prefect makes it: a
    time that does not exist (spring) with the offset from before the change (02:30 -> 03:30),
    a time that happens twice (autumn) once, at its first occurrence."""
    from croniter import croniter

    zone = _zone(schedule.timezone)
    # croniter returns times strictly after its start: begin a microsecond earlier
    local = (start.astimezone(zone) - timedelta(microseconds=1)).replace(tzinfo=None)
    iterator = croniter(schedule.cron, local, day_or=schedule.day_or)
    seen: set[datetime] = set()
    while True:
        wall: datetime = iterator.get_next(datetime)
        moment = wall.replace(tzinfo=zone).astimezone(UTC)  # fold=0: the earlier offset
        if moment not in seen:
            seen.add(moment)
            yield moment


def _interval_times(schedule: IntervalSchedule, start: datetime) -> Iterator[datetime]:
    zone = _zone(schedule.timezone)
    anchor = anchor_of(schedule)
    step = schedule.interval
    if step.total_seconds() % 86400 == 0:  # whole days: same wall-clock time in the zone
        local_anchor = anchor.astimezone(zone).replace(tzinfo=None)
        local_start = start.astimezone(zone).replace(tzinfo=None)
        count = (local_start - local_anchor) // step - 1  # before the anchor too, as Prefect
        while True:
            yield (local_anchor + count * step).replace(tzinfo=zone).astimezone(UTC)
            count += 1
    anchor = anchor.astimezone(UTC)  # absolute time: a zone's datetime adds wall-clock time
    if step > timedelta(days=1):
        yield from _days_and_rest(anchor, step, start, zone)
    count = (start - anchor) // step
    while True:
        yield anchor + count * step
        count += 1


def _days_and_rest(
    anchor: datetime, step: timedelta, start: datetime, zone: ZoneInfo
) -> Iterator[datetime]:
    """An interval of days and some hours, as Prefect (pendulum) steps it: from the last run
    at or before `start` in real time from the anchor (a whole number of intervals, rounded
    toward the anchor, then stepped back while past `start`), each next run the whole interval
    added to the wall-clock time in the zone (a time the clocks skip moves forward, a time that
    happens twice is its second occurrence). Across a DST change the runs keep their
    wall-clock time, so they are an hour off the runs an anchor on the other side would give."""
    count = int((start - anchor) / step)
    while anchor + count * step > start:
        count -= 1
    moment = anchor + count * step
    while True:
        if moment >= start:
            yield moment
        moment = _wall_moment(moment.astimezone(zone).replace(tzinfo=None) + step, zone)


def _wall_moment(wall: datetime, zone: ZoneInfo) -> datetime:
    """The moment of a wall-clock time in `zone` as pendulum makes it: a time that happens
    twice is the later one; a time the clocks skip has the offset from before the change."""
    early, late = wall.replace(tzinfo=zone, fold=0), wall.replace(tzinfo=zone, fold=1)
    if early.utcoffset() != late.utcoffset():
        exists = early.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wall
        return (late if exists else early).astimezone(UTC)
    return early.astimezone(UTC)


def _rrule_times(schedule: RRuleSchedule, start: datetime) -> Iterator[datetime]:
    from dateutil import rrule

    zone = _zone(schedule.timezone)
    rule = rrule.rrulestr(schedule.rrule, dtstart=DEFAULT_ANCHOR.replace(tzinfo=zone))
    local = start.astimezone(zone)
    try:
        rule.after(local)  # (only to see whether the rule compares with an aware time)
    except TypeError:  # a DTSTART without a zone: the rule's times are wall-clock times
        local = local.replace(tzinfo=None)
    moments: Iterator[datetime] = rule.xafter(local, inc=True)
    first = next(moments, None)
    if first is None:
        return
    if first.tzinfo not in (None, zone):
        # a DTSTART in another zone (`Z`, a TZID): Prefect reads its wall-clock time in the
        # schedule's zone. From 26 h earlier (the widest gap between two zones' clocks), so
        # that no time moved into the window by that is missed.
        moments = rule.xafter(local - timedelta(hours=26))
    else:
        moments = itertools.chain([first], moments)
    for moment in moments:
        yield moment.replace(tzinfo=zone)
