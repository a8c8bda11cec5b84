"""Run by `.venv-prefect`'s Python: the dates Prefect's own (server) schedule objects give for
each generated schedule in a window. Cases: [{"schedule", "start", "days", "count"}];
answers: [{"dates": [ISO UTC]} or {"error"}]."""

import asyncio
import warnings
from datetime import UTC, datetime, timedelta

from prefect.server.schemas import schedules
from tests.oracle.shared import answer_each

warnings.filterwarnings("ignore")


def build(spec):
    given = {"timezone": spec["timezone"]} if spec["timezone"] else {}  # omitted, not None
    if spec["kind"] == "cron":
        return schedules.CronSchedule(cron=spec["cron"], day_or=spec["day_or"], **given)
    if spec["kind"] == "interval":
        return schedules.IntervalSchedule(interval=timedelta(seconds=spec["interval"]),
                                          anchor_date=spec["anchor"], **given)  # fmt: skip
    return schedules.RRuleSchedule(rrule=spec["rrule"], **given)


async def dates(case):
    start = datetime.fromisoformat(case["start"])
    end = start + timedelta(days=case["days"], seconds=-1)  # inclusive in Prefect: one second less
    found = await build(case["schedule"]).get_dates(n=case["count"], start=start, end=end)
    return [moment.astimezone(UTC).isoformat() for moment in found]


def answer(index, case):
    return {"dates": asyncio.run(dates(case))}


if __name__ == "__main__":
    answer_each(answer)
