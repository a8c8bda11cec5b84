"""`flowplan deployment schedule ...`: one deployment's schedules."""

from __future__ import annotations

from datetime import datetime

import typer

from flowplan import console
from flowplan.commands.common import YES, backend, confirm, parse_value
from flowplan.commands.options import OUTPUT, Output
from flowplan.domain.objects import Deployment, DeploymentSchedule
from flowplan.domain.schedules import CronSchedule, IntervalSchedule, RRuleSchedule, Schedule
from flowplan.domain.schedules import describe as describe_schedule
from flowplan.domain.specs import ScheduleSpec
from flowplan.errors import InvalidInput, ObjectNotFound, UsageError

app = typer.Typer(help="Manage a deployment's schedules.", no_args_is_help=True)

NAME = typer.Argument(..., help="'flow-name/deployment-name' or a deployment id.")
SCHEDULE = typer.Argument(..., help="The schedule's id or slug.")


def _find(deployment: Deployment, key: str) -> DeploymentSchedule:
    for schedule in deployment.schedules:
        if key in (schedule.id, schedule.slug):
            return schedule
    raise ObjectNotFound.named(
        "schedule", key, [s.slug for s in deployment.schedules], f" on {deployment.full_name!r}"
    )


@app.command("ls")
def ls(name: str = NAME, output: Output = OUTPUT) -> None:
    """List a deployment's schedules."""
    deployment = backend().read_deployment(name)
    if output is Output.json:
        console.out_json_list(schedule.to_json() for schedule in deployment.schedules)
        return
    if not deployment.schedules:
        console.err(f"Deployment {deployment.full_name!r} has no schedules.")
        return
    rows = [
        [s.slug, s.id, describe_schedule(s.schedule), "active" if s.active else "paused"]
        for s in deployment.schedules
    ]
    console.table(
        f"Schedules of {deployment.full_name}", ["Slug", "ID", "Schedule", "Status"], rows
    )


@app.command("create")
def create(
    name: str = NAME,
    cron: str = typer.Option(None, "--cron", help="A cron expression."),
    interval: str = typer.Option(None, "--interval", help="Seconds, PT10M or H:MM:SS."),
    rrule: str = typer.Option(None, "--rrule", help="An RFC 5545 recurrence rule."),
    timezone: str = typer.Option(
        None, "--timezone", help="An IANA time zone, such as Europe/Berlin."
    ),
    anchor_date: datetime = typer.Option(
        None, "--anchor-date", help="Start of an interval schedule."
    ),
    day_or: bool = typer.Option(True, "--day-or/--day-and", help="How cron day fields combine."),
    slug: str = typer.Option(None, "--slug", help="A stable name for the schedule."),
    parameters: str = typer.Option(None, "--parameters", help="Run parameters, as JSON."),
    inactive: bool = typer.Option(False, "--inactive", help="Create it paused."),
) -> None:
    """Add a schedule to a deployment (exactly one of --cron, --interval, --rrule)."""
    given = [flag for flag, value in (("--cron", cron), ("--interval", interval),
                                      ("--rrule", rrule)) if value is not None]  # fmt: skip
    if len(given) != 1:
        raise UsageError("give exactly one of --cron, --interval or --rrule")
    schedule: Schedule
    try:
        if cron is not None:
            schedule = CronSchedule(cron, timezone, day_or)
        elif interval is not None:
            schedule = IntervalSchedule(parse_value(interval), anchor_date, timezone)
        else:
            schedule = RRuleSchedule(rrule, timezone)
    except ValueError as exc:
        raise InvalidInput(f"{given[0]}: {exc}") from None
    params = parse_value(parameters) if parameters is not None else {}
    if not isinstance(params, dict):
        raise InvalidInput("--parameters must be a JSON object, such as '{\"n\": 1}'")
    spec = ScheduleSpec(schedule, active=not inactive, parameters=params, slug=slug)
    target = backend(changes=True)
    deployment = target.read_deployment(name)
    created = target.create_deployment_schedules(deployment.id, [spec])[0]
    console.out(f"Created schedule {created.slug!r} ({describe_schedule(schedule)}) on "
                f"{deployment.full_name!r}.")  # fmt: skip


def _set_active(name: str, key: str, active: bool) -> None:
    target = backend(changes=True)
    deployment = target.read_deployment(name)
    schedule = _find(deployment, key)
    target.update_deployment_schedule(deployment.id, schedule.id, {"active": active})
    done = "Resumed" if active else "Paused"
    console.out(f"{done} schedule {schedule.slug!r} of {deployment.full_name!r}.")


@app.command("pause")
def pause(name: str = NAME, schedule: str = SCHEDULE) -> None:
    """Pause one schedule."""
    _set_active(name, schedule, False)


@app.command("resume")
def resume(name: str = NAME, schedule: str = SCHEDULE) -> None:
    """Resume one schedule."""
    _set_active(name, schedule, True)


@app.command("delete")
def delete(name: str = NAME, schedule: str = SCHEDULE, yes: bool = YES) -> None:
    """Delete one schedule and its runs that have not started."""
    target = backend(changes=True)
    deployment = target.read_deployment(name)
    found = _find(deployment, schedule)
    confirm(f"Delete schedule {found.slug!r} of {deployment.full_name!r}?", yes)
    target.delete_deployment_schedule(deployment.id, found.id)
    console.out(f"Deleted schedule {found.slug!r} of {deployment.full_name!r}.")
