from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from flowplan.domain.schedules import (
    CronSchedule,
    IntervalSchedule,
    RRuleSchedule,
    as_schedule,
    derived_slug,
    describe,
    schedule_from_json,
)


def test_mappings_become_schedule_objects() -> None:
    assert as_schedule({"cron": "0 2 * * *"}) == CronSchedule("0 2 * * *")
    assert as_schedule({"interval": "PT10M"}) == IntervalSchedule(timedelta(minutes=10))
    assert as_schedule({"rrule": "FREQ=DAILY", "timezone": "UTC"}) == RRuleSchedule(
        "FREQ=DAILY", "UTC"
    )
    anchored = as_schedule({"interval": 60, "anchor_date": "2030-01-01T00:00:00+00:00"})
    assert isinstance(anchored, IntervalSchedule)
    assert anchored.anchor_date == datetime(2030, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"cron": "61 * * * *"}, "invalid cron expression '61 \\* \\* \\* \\*' \\(minute"),
        ({"interval": 0}, "greater than 0"),
        ({"interval": "soon"}, "is not an interval"),
        ({"rrule": "FREQ=SOMETIMES"}, "invalid rrule"),
        ({"cron": "0 * * * *", "timezone": "Europe/Berln"}, "did you mean 'Europe/Berlin'"),
        ({"cron": "0 * * * *", "catchup": True}, "unknown key\\(s\\) for a cron schedule: catchup"),
        ({"cron": "0 * * * *", "interval": 5}, "exactly one of cron, interval or rrule"),
        ({}, "got nothing"),
    ],
)
def test_bad_schedules_say_what_is_wrong(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        schedule_from_json(data)


def test_json_round_trip() -> None:
    for schedule in (
        CronSchedule("0 2 * * 1-5", "Europe/Berlin", day_or=False),
        IntervalSchedule(600.5, datetime(2030, 1, 1, tzinfo=UTC), "UTC"),  # type: ignore[arg-type]
        RRuleSchedule("FREQ=HOURLY"),
    ):
        assert schedule_from_json(schedule.to_json()) == schedule
    assert IntervalSchedule(600).to_json()["interval"] == 600  # type: ignore[arg-type]


def test_derived_slugs_are_stable_and_content_based() -> None:
    cron = CronSchedule("0 2 * * *")
    assert derived_slug(cron) == derived_slug(CronSchedule("0 2 * * *"))
    assert derived_slug(cron).startswith("cron-")
    assert derived_slug(cron) != derived_slug(CronSchedule("0 3 * * *"))
    assert derived_slug(cron, {"a": 1}) != derived_slug(cron)


def test_describe() -> None:
    assert describe(CronSchedule("0 2 * * *", "UTC")) == "cron '0 2 * * *' (UTC)"
    assert describe(IntervalSchedule(90)) == "every 90s"  # type: ignore[arg-type]
    assert describe(RRuleSchedule("FREQ=DAILY")) == "rrule 'FREQ=DAILY'"


def test_the_canonical_form_makes_defaults_explicit() -> None:
    """What a Prefect server writes back (UTC zones, a now-anchored interval made explicit,
    DTSTART added to a rule) compares equal to the declared form flowplan sent."""
    from flowplan.domain.schedules import canonical

    declared = IntervalSchedule(timedelta(days=1), None, "Europe/Berlin")
    stored = IntervalSchedule(timedelta(days=1), datetime(2019, 12, 31, 23, tzinfo=UTC),
                              "Europe/Berlin")  # fmt: skip
    assert canonical(declared) == canonical(stored)
    assert canonical(declared)["anchor_date"] is None
    naive = IntervalSchedule(60, datetime(2024, 1, 1, 12), "Europe/Berlin")
    assert canonical(naive)["anchor_date"] == "2024-01-01T12:00:00+00:00"  # naive: UTC, as Prefect
    assert canonical(IntervalSchedule(60, datetime(2024, 1, 1, 12), "UTC")) != canonical(naive)
    rule = RRuleSchedule("FREQ=DAILY;BYHOUR=3")
    assert canonical(rule) == canonical(
        RRuleSchedule("DTSTART:20200101T000000\nFREQ=DAILY;BYHOUR=3", "UTC")
    )
    assert canonical(RRuleSchedule("DTSTART:20210101T000000\nFREQ=DAILY"))["rrule"].startswith(
        "DTSTART:2021"
    )
    assert canonical(CronSchedule("0 2 * * *")) == {"cron": "0 2 * * *", "timezone": "UTC",
                                                    "day_or": True}  # fmt: skip
