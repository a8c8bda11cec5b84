"""Schedule times, Prefect as the oracle: for generated cron, interval and rrule schedules
(time zones, naive and aware anchors, windows across DST changes), the runs flowplan's scheduler
makes fall at the dates Prefect's own schedule objects give. One departure: interval and rrule
times within the hour a zone's clocks change may differ (flowplan keeps sub-day intervals in
real time and reads a wall-clock time the zone skips with the offset before the change;
Prefect's result there depends on its Python version, pendulum below 3.13 and `whenever` above,
and can drop or shift a run)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flowplan.domain.schedules import CronSchedule, IntervalSchedule, RRuleSchedule, Schedule
from flowplan.runtime.schedule_times import next_run_times
from tests.oracle import schedules
from tests.oracle.harness import ask_prefect, collect

COUNT = 150  # bench/oracle_bench.py runs many more, random


def schedule(spec: dict[str, Any]) -> Schedule:
    if spec["kind"] == "cron":
        return CronSchedule(spec["cron"], spec["timezone"], spec["day_or"])
    if spec["kind"] == "interval":
        return IntervalSchedule(timedelta(seconds=spec["interval"]),
                                datetime.fromisoformat(spec["anchor"]), spec["timezone"])  # fmt: skip
    return RRuleSchedule(spec["rrule"], spec["timezone"])


def flowplan_dates(case: dict[str, Any]) -> list[str]:
    start = datetime.fromisoformat(case["start"])
    end = start + timedelta(days=case["days"])
    times = next_run_times(schedule(case["schedule"]), start, end, case["count"])
    return [moment.astimezone(UTC).isoformat() for moment in times]


def differences(batch: list[dict[str, Any]]) -> tuple[list[str], int]:
    """(the cases where flowplan's times differ from Prefect's, the number of cases that
    differ only at the documented departure: interval or rrule times within the hour the
    zone's clocks change)."""
    found, departures = [], 0
    for case, theirs in zip(batch, ask_prefect("schedules", batch), strict=True):
        if "error" in theirs:
            found.append(f"{case}: Prefect refused it: {theirs['error']}")
            continue
        ours = flowplan_dates(case)
        if ours == theirs["dates"]:
            continue
        # a run moved or dropped shifts which dates a count-limited list ends with: compare
        # the dates both lists reach
        last = min(max(ours, default=""), max(theirs["dates"], default=""))
        differing = {d for d in set(ours) ^ set(theirs["dates"]) if d <= last}
        spec = case["schedule"]
        if spec["kind"] != "cron" and all(_at_clock_change(d, spec["timezone"]) for d in differing):
            departures += 1
            continue
        extra = sorted(set(ours) - set(theirs["dates"]))[:4]
        missing = sorted(set(theirs["dates"]) - set(ours))[:4]
        found.append(f"{case}\n  only flowplan: {extra}\n  only Prefect: {missing}"
                     f" ({len(ours)} vs {len(theirs['dates'])} dates)")  # fmt: skip
    return found, departures


def _at_clock_change(moment: str, timezone: str | None) -> bool:
    """The zone's clocks change within an hour of `moment`."""
    zone = ZoneInfo(timezone or "UTC")
    at = datetime.fromisoformat(moment)
    before, after = (at + timedelta(hours=shift) for shift in (-1.5, 1.5))
    return before.astimezone(zone).utcoffset() != after.astimezone(zone).utcoffset()


def test_the_runs_flowplan_schedules_fall_at_prefects_dates() -> None:
    batch = collect(schedules.cases(), COUNT)
    assert len(batch) > COUNT * 0.9
    found, departures = differences(batch)
    assert departures < COUNT / 10
    assert not found, f"{len(found)} of {len(batch)} cases differ:\n" + "\n".join(found[:20])
