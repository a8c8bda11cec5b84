"""Run by `.venv-prefect`'s Python: the dates Prefect's own (server) schedule objects give for
each generated schedule in a window. Cases: [{"schedule", "start", "days", "count"}];
answers: [{"dates": [ISO UTC]} or {"error"}]."""

import asyncio
import json
import sys
import warnings
from datetime import UTC, datetime, timedelta

from prefect.server.schemas import schedules

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


def main(cases_file, answers_file):
    with open(cases_file) as given:
        cases = json.load(given)
    answers = []
    for case in cases:
        try:
            answers.append({"dates": asyncio.run(dates(case))})
        except Exception as exc:
            answers.append({"error": f"{type(exc).__name__}: {exc}"})
    with open(answers_file, "w") as out:
        json.dump(answers, out)


if __name__ == "__main__":
    main(*sys.argv[1:3])
