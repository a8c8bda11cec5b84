from __future__ import annotations

import itertools

import pytest
from croniter import croniter

from flowplan.domain.schedule_rules import (
    cron_problem,
    datetime_problem,
    parse_interval,
    rrule_problem,
    timezone_problem,
)


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("0 2 * * *", None),
        ("*/15 9-17 * * mon-fri", None),
        ("0 0 1,15 jan,jul *", None),
        ("@daily", None),
        ("0 0 L * *", None),
        ("61 * * * *", "minute must be 0-59, got 61"),
        ("0 24 * * *", "hour must be 0-23, got 24"),
        ("0 0 0 * *", "day of month must be 1-31, got 0"),
        ("0 0 * 13 *", "month must be 1-12, got 13"),
        ("0 0 * * 8", "day of week must be 0-7, got 8"),
        ("*/0 * * * *", "minute step must be a positive whole number, got '0'"),
        ("* * * *", "expected 5 fields (minute hour day-of-month month day-of-week), got 4"),
        ("H * * * *", "the random and hashed forms (R, H) are not supported"),
        ("R 2 * * *", "the random and hashed forms (R, H) are not supported"),
        ("0 0 * * THU", None),
        ("0 0 * MAR *", None),
    ],
)
def test_cron(expression: str, problem: str | None) -> None:
    assert cron_problem(expression) == problem


def test_cron_agrees_with_croniter_on_standard_syntax() -> None:
    fields = ["*", "0", "5", "59", "60", "1-5", "5-1", "*/5", "1,2,61", "0-23/2", "jan", "mon", "x"]
    checked = 0
    for minute, hour, dom in itertools.product(fields, repeat=3):
        for month, dow in (("*", "*"), ("jan", "mon"), ("13", "*"), ("*", "9")):
            expression = f"{minute} {hour} {dom} {month} {dow}"
            ours = cron_problem(expression) is None
            theirs = croniter.is_valid(expression)
            if ours != theirs:
                # croniter accepts names in any field and reversed ranges; we are stricter
                # only where croniter itself would fail at run time or misread the value
                assert ours is False, expression
                assert any(n in expression for n in ("jan", "mon", "5-1", "60")), expression
            checked += 1
    assert checked == len(fields) ** 3 * 4


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(600, 600), (600.5, 600.5), ("PT10M", 600), ("PT1H30M", 5400), ("P1D", 86400),
     ("1:30:00", 5400), ("600", 600), ("P1W", 604800), ("1 day, 0:00:01", 86401)],
)  # fmt: skip
def test_interval_forms(value: object, seconds: float) -> None:
    assert parse_interval(value) == seconds


@pytest.mark.parametrize(
    ("value", "message"),
    [(0, "interval must be greater than 0"), (-5, "interval must be greater than 0"),
     ("PT0S", "interval must be greater than 0"), ("ten minutes", "is not an interval"),
     ("P1M", "years and months have no fixed length"), (True, "got a boolean"), ("P", "not an interval")],
)  # fmt: skip
def test_bad_intervals(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_interval(value)


def test_timezones_rrules_and_datetimes() -> None:
    assert timezone_problem("Europe/Berlin") is None
    assert (
        timezone_problem("Europe/Berln")
        == "unknown time zone 'Europe/Berln'; did you mean 'Europe/Berlin'?"
    )
    assert rrule_problem("FREQ=DAILY;INTERVAL=1") is None
    assert rrule_problem("RRULE:FREQ=WEEKLY;BYDAY=MO,WE") is None
    assert (rrule_problem("FREQ=SOMETIMES") or "").startswith("invalid rrule")
    assert "at most 6500" in (rrule_problem("FREQ=DAILY;" + "BYHOUR=1;" * 800) or "")
    assert datetime_problem("2024-01-01T00:00:00") is None
    assert datetime_problem("2024-01-01") is None
    assert datetime_problem("yesterday") is not None
