"""When schedules fire: cron (day_or, time zones, DST), intervals (anchor, zone), rrules."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from flowplan.domain.schedules import CronSchedule, IntervalSchedule, RRuleSchedule
from flowplan.runtime.schedule_times import next_run_times


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def hours(times: list[datetime]) -> list[str]:
    return [t.strftime("%m-%d %H:%M") for t in times]


def test_cron_in_utc_with_window_and_limit() -> None:
    times = next_run_times(
        CronSchedule("*/15 * * * *"), utc(2026, 1, 1, 10, 0), utc(2026, 1, 1, 11)
    )
    assert hours(times) == ["01-01 10:00", "01-01 10:15", "01-01 10:30", "01-01 10:45"]
    assert len(next_run_times(CronSchedule("* * * * *"), utc(2026, 1, 1), utc(2026, 1, 2), 7)) == 7


def test_cron_day_or_false_needs_both_day_fields() -> None:
    # the 1st to 7th of the month AND a Monday: only one day in January 2026 (the 5th)
    cron = "0 9 1-7 * 1"
    both = next_run_times(CronSchedule(cron, day_or=False), utc(2026, 1, 1), utc(2026, 2, 1))
    either = next_run_times(CronSchedule(cron, day_or=True), utc(2026, 1, 1), utc(2026, 2, 1))
    assert hours(both) == ["01-05 09:00"]
    assert len(either) == 7 + 3  # 1st-7th, plus the Mondays 12, 19, 26


def test_cron_follows_the_time_zone_across_spring_forward() -> None:
    # Europe/Berlin: 2026-03-29 02:00 CET becomes 03:00 CEST; 02:30 does not exist that day
    # and fires as if the clocks had not changed yet, at 03:30 CEST (as Prefect's own dates)
    schedule = CronSchedule("30 2 * * *", "Europe/Berlin")
    times = next_run_times(schedule, utc(2026, 3, 27), utc(2026, 3, 31))
    assert hours(times) == ["03-27 01:30", "03-28 01:30", "03-29 01:30", "03-30 00:30"]


def test_cron_fires_once_for_a_wall_time_that_happens_twice_in_autumn() -> None:
    # 2026-10-25 03:00 CEST becomes 02:00 CET: 02:30 happens twice, the run happens once
    schedule = CronSchedule("30 2 * * *", "Europe/Berlin")
    times = next_run_times(schedule, utc(2026, 10, 23), utc(2026, 10, 27))
    assert hours(times) == ["10-23 00:30", "10-24 00:30", "10-25 00:30", "10-26 01:30"]


def test_an_hourly_cron_fires_once_per_wall_clock_hour_across_dst() -> None:
    """As Prefect's own dates: the hour shown twice in autumn fires once (24 runs in the
    25-hour day); the hour skipped in spring does not fire (23 runs)."""
    schedule = CronSchedule("0 * * * *", "Europe/Berlin")
    autumn = next_run_times(schedule, utc(2026, 10, 24, 22), utc(2026, 10, 25, 23))
    spring = next_run_times(schedule, utc(2026, 3, 28, 23), utc(2026, 3, 29, 22))
    assert len(autumn) == 24 and len(set(autumn)) == 24
    assert utc(2026, 10, 25, 1) not in autumn  # 02:00 CET, the second 02:00 of the day
    assert len(spring) == 23
    assert all(b - a == timedelta(hours=1) for a, b in itertools.pairwise(spring))


def test_daily_interval_keeps_its_wall_clock_time_across_dst() -> None:
    anchor = datetime.fromisoformat("2026-03-27T09:00:00+01:00")
    schedule = IntervalSchedule(timedelta(days=1), anchor, "Europe/Berlin")
    times = next_run_times(schedule, utc(2026, 3, 27), utc(2026, 3, 31))
    assert hours(times) == ["03-27 08:00", "03-28 08:00", "03-29 07:00", "03-30 07:00"]


def test_short_intervals_count_from_the_anchor_in_absolute_time() -> None:
    schedule = IntervalSchedule(timedelta(minutes=25), utc(2026, 1, 1, 0, 10))
    times = next_run_times(schedule, utc(2026, 1, 1, 1), utc(2026, 1, 1, 2))
    assert hours(times) == ["01-01 01:00", "01-01 01:25", "01-01 01:50"]
    # no anchor: 2020-01-01 00:00 anchors it, so the times never depend on when we look
    default = next_run_times(IntervalSchedule(600), utc(2026, 5, 5, 5, 3), utc(2026, 5, 5, 5, 30))
    assert hours(default) == ["05-05 05:10", "05-05 05:20"]


def test_rrule_with_and_without_dtstart() -> None:
    daily = RRuleSchedule("FREQ=DAILY;BYHOUR=9;BYMINUTE=0", "Europe/Berlin")
    assert hours(next_run_times(daily, utc(2026, 3, 28), utc(2026, 3, 31))) == [
        "03-28 08:00", "03-29 07:00", "03-30 07:00",
    ]  # fmt: skip
    with_start = RRuleSchedule("DTSTART:20260101T080000\nRRULE:FREQ=WEEKLY;BYDAY=MO", "UTC")
    assert hours(next_run_times(with_start, utc(2026, 1, 1), utc(2026, 1, 20))) == [
        "01-05 08:00", "01-12 08:00", "01-19 08:00",
    ]  # fmt: skip
    # a rule whose COUNT ran out long ago gives nothing, not an error
    assert (
        next_run_times(RRuleSchedule("FREQ=HOURLY;COUNT=5"), utc(2026, 1, 1), utc(2026, 2, 1)) == []
    )


def test_intervals_whose_next_time_is_past_year_9999_give_no_times() -> None:
    now = datetime(2026, 12, 5, tzinfo=UTC)
    longest = IntervalSchedule(999_999_999 * 86400.0)  # the next time lands past 9999
    assert next_run_times(longest, now, now + timedelta(days=100)) == []
    # an anchor near the end of time counts back from it, as Prefect's schedules do
    late_anchor = IntervalSchedule(3600, datetime(9999, 12, 31, 23, 30))
    times = next_run_times(late_anchor, now, now + timedelta(days=100))
    assert times[0] == datetime(2026, 12, 5, 0, 30, tzinfo=UTC)
    assert all(b - a == timedelta(hours=1) for a, b in itertools.pairwise(times))
    shortest = next_run_times(IntervalSchedule(1e-6), now, now + timedelta(days=100))
    assert len(shortest) == 100 and shortest[1] - shortest[0] == timedelta(microseconds=1)


NEW_YORK = "America/New_York"  # 2026: clocks forward on 03-08 at 02:00, back on 11-01 at 02:00


def test_days_and_hours_step_in_wall_clock_time_across_spring_forward() -> None:
    # 36 h from 03-06 12:00 EST: 03-08 00:00 EST, then 03-09 12:00 EDT (an hour less in real
    # time), 03-11 00:00 EDT
    schedule = IntervalSchedule(timedelta(hours=36), utc(2026, 3, 6, 17), NEW_YORK)
    times = next_run_times(schedule, utc(2026, 3, 6, 17), utc(2026, 3, 11, 5))
    assert hours(times) == ["03-06 17:00", "03-08 05:00", "03-09 16:00", "03-11 04:00"]
    # from inside the window: the run at or before the start, then the next ones
    later = next_run_times(schedule, utc(2026, 3, 8, 9), utc(2026, 3, 11, 5))
    assert hours(later) == ["03-09 16:00", "03-11 04:00"]
    # before the anchor: stepped back to a run at or before the start, as Prefect fires
    earlier = next_run_times(schedule, utc(2026, 3, 4, 15), utc(2026, 3, 8, 6))
    assert hours(earlier) == ["03-05 05:00", "03-06 17:00", "03-08 05:00"]


def test_days_and_hours_onto_a_skipped_or_repeated_wall_time() -> None:
    # 03-06 14:30 EST + 36 h = 03-08 02:30, a time the clocks skip: the offset from before
    # the change (07:30 UTC, 03:30 EDT); the next is 36 h after 03:30 EDT
    spring = IntervalSchedule(timedelta(hours=36), utc(2026, 3, 6, 19, 30), NEW_YORK)
    times = next_run_times(spring, utc(2026, 3, 6, 19), utc(2026, 3, 10))
    assert hours(times) == ["03-06 19:30", "03-08 07:30", "03-09 19:30"]
    # 10-30 13:30 EDT + 36 h = 11-01 01:30, which happens twice: the later one (EST)
    autumn = IntervalSchedule(timedelta(hours=36), utc(2026, 10, 30, 17, 30), NEW_YORK)
    times = next_run_times(autumn, utc(2026, 10, 30, 17), utc(2026, 11, 3))
    assert hours(times) == ["10-30 17:30", "11-01 06:30", "11-02 18:30"]


# the expected times below are what Prefect 3's own schedules give (`get_dates` of
# `prefect.server.schemas.schedules`, checked in .venv-prefect)


def test_a_window_that_starts_on_a_run_includes_it() -> None:
    daily = IntervalSchedule(timedelta(days=1), utc(2026, 1, 1, 9))
    assert hours(next_run_times(daily, utc(2026, 1, 5, 9), utc(2026, 1, 7, 10))) == [
        "01-05 09:00", "01-06 09:00", "01-07 09:00",
    ]  # fmt: skip
    days_and_hours = IntervalSchedule(timedelta(hours=36), utc(2026, 1, 1))
    assert hours(next_run_times(days_and_hours, utc(2026, 1, 4), utc(2026, 1, 8))) == [
        "01-04 00:00", "01-05 12:00", "01-07 00:00",
    ]  # fmt: skip
    rule = RRuleSchedule("FREQ=DAILY;BYHOUR=9;BYMINUTE=0", "Europe/Berlin")
    assert hours(next_run_times(rule, utc(2026, 1, 5, 8), utc(2026, 1, 7))) == [
        "01-05 08:00", "01-06 08:00",
    ]  # fmt: skip


def test_an_interval_fires_before_its_anchor() -> None:
    daily = IntervalSchedule(timedelta(days=1), utc(2026, 1, 10, 9))
    assert hours(next_run_times(daily, utc(2026, 1, 5), utc(2026, 1, 8))) == [
        "01-05 09:00", "01-06 09:00", "01-07 09:00",
    ]  # fmt: skip


def test_whole_days_keep_the_wall_clock_time_of_the_zone() -> None:
    every_other_day = IntervalSchedule(timedelta(days=2), utc(2026, 3, 20, 8), "Europe/Berlin")
    times = next_run_times(every_other_day, utc(2026, 3, 24, 8), utc(2026, 4, 2))
    assert hours(times) == ["03-24 08:00", "03-26 08:00", "03-28 08:00", "03-30 07:00",
                            "04-01 07:00"]  # fmt: skip


def test_an_rrule_start_without_a_zone_is_in_the_schedules_zone() -> None:
    rule = RRuleSchedule("DTSTART:20260105T090000\nRRULE:FREQ=DAILY;COUNT=3", "Europe/Berlin")
    assert hours(next_run_times(rule, utc(2026, 1, 1), utc(2026, 1, 30))) == [
        "01-05 08:00", "01-06 08:00", "01-07 08:00",
    ]  # fmt: skip


def test_a_window_given_in_another_zone_gives_utc_times() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    times = next_run_times(
        CronSchedule("0 * * * *"),
        datetime(2026, 1, 1, 10, tzinfo=berlin),
        datetime(2026, 1, 1, 12, tzinfo=berlin),
    )
    assert times == [utc(2026, 1, 1, 9), utc(2026, 1, 1, 10)]
    assert all(time.tzinfo is UTC for time in times)


def test_an_rrule_start_in_another_zone_is_read_in_the_schedules_zone() -> None:
    """As Prefect localizes it: DTSTART's wall-clock time, whatever zone it names."""

    def times(rule: str, zone: str | None, start: datetime) -> list[str]:
        return hours(next_run_times(RRuleSchedule(rule, zone), start, utc(2026, 1, 30)))

    utc_start = "DTSTART:20260105T090000Z\nRRULE:FREQ=DAILY;COUNT="
    assert times(utc_start + "2", "Europe/Berlin", utc(2026, 1, 1)) == [
        "01-05 08:00",
        "01-06 08:00",
    ]
    new_york_start = "DTSTART;TZID=America/New_York:20260105T090000\nRRULE:FREQ=DAILY;COUNT=2"
    assert times(new_york_start, "Europe/Berlin", utc(2026, 1, 1)) == ["01-05 08:00", "01-06 08:00"]
    # west of the start's zone: 09:00 in New York is after the window's start, 09:00 UTC before
    assert times(utc_start + "3", NEW_YORK, utc(2026, 1, 5, 12)) == [
        "01-05 14:00", "01-06 14:00", "01-07 14:00",
    ]  # fmt: skip
    assert times(utc_start + "2", None, utc(2026, 1, 1)) == ["01-05 09:00", "01-06 09:00"]


@pytest.fixture(params=["Asia/Tokyo", "America/Los_Angeles"])
def machine_zone(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """This process's local time zone is another one than UTC (the machine's must not
    matter): one far east, one with its own DST change (2026-03-08 10:00 UTC)."""
    monkeypatch.setenv("TZ", request.param)
    time.tzset()
    yield request.param
    monkeypatch.undo()
    time.tzset()


def test_the_machines_time_zone_changes_nothing(machine_zone: str) -> None:
    assert datetime(2026, 1, 1, tzinfo=UTC).astimezone().tzinfo != UTC
    start = datetime(
        2026, 3, 28, tzinfo=ZoneInfo("Europe/Berlin")
    )  # 08:00 in Tokyo, 15:00 in Los Angeles
    end = utc(2026, 3, 31)
    cron = next_run_times(CronSchedule("30 2 * * *", "Europe/Berlin"), start, end)
    assert hours(cron) == ["03-28 01:30", "03-29 01:30", "03-30 00:30"]
    daily = IntervalSchedule(timedelta(days=1), utc(2026, 3, 20, 8), "Europe/Berlin")
    assert hours(next_run_times(daily, start, end)) == ["03-28 08:00", "03-29 07:00", "03-30 07:00"]
    days_and_hours = IntervalSchedule(timedelta(hours=36), utc(2026, 3, 6, 17), NEW_YORK)
    assert hours(next_run_times(days_and_hours, utc(2026, 3, 8, 9), utc(2026, 3, 11, 5))) == [
        "03-09 16:00", "03-11 04:00",
    ]  # fmt: skip
    spring = IntervalSchedule(timedelta(hours=36), utc(2026, 3, 6, 19, 30), NEW_YORK)
    assert hours(next_run_times(spring, utc(2026, 3, 6, 19), utc(2026, 3, 10))) == [
        "03-06 19:30", "03-08 07:30", "03-09 19:30",
    ]  # fmt: skip
    rule = RRuleSchedule("FREQ=DAILY;BYHOUR=9;BYMINUTE=0", "Europe/Berlin")
    assert hours(next_run_times(rule, start, end)) == ["03-28 08:00", "03-29 07:00", "03-30 07:00"]
    short = IntervalSchedule(timedelta(minutes=25), utc(2026, 1, 1, 0, 10))
    assert hours(next_run_times(short, utc(2026, 1, 1, 1), utc(2026, 1, 1, 2))) == [
        "01-01 01:00", "01-01 01:25", "01-01 01:50",
    ]  # fmt: skip
    # intervals counted across the machine's own DST change
    across = IntervalSchedule(timedelta(minutes=25), utc(2026, 3, 7, 0, 10))
    assert hours(next_run_times(across, utc(2026, 3, 8, 9, 30), utc(2026, 3, 8, 11))) == [
        "03-08 09:30", "03-08 09:55", "03-08 10:20", "03-08 10:45",
    ]  # fmt: skip
    longer = IntervalSchedule(timedelta(hours=36), utc(2026, 3, 7, 0, 10))
    assert hours(next_run_times(longer, utc(2026, 3, 7), utc(2026, 3, 12))) == [
        "03-07 00:10", "03-08 12:10", "03-10 00:10", "03-11 12:10",
    ]  # fmt: skip
