"""Schedule values: `CronSchedule`, `IntervalSchedule`, `RRuleSchedule` and their JSON form.

The JSON form is Prefect's (`{"cron": ..., "timezone": ..., "day_or": ...}`, `{"interval":
<seconds>, "anchor_date": ..., "timezone": ...}`, `{"rrule": ..., "timezone": ...}`), so the same
mapping works in `prefect.yaml`, in the store and over Prefect's REST API. Constructing a
schedule validates it and raises ValueError with a message that says what is wrong.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flowplan.domain.schedule_rules import (
    check_interval_seconds,
    cron_problem,
    datetime_problem,
    parse_interval,
    rrule_problem,
    timezone_problem,
)


def _check_timezone(timezone: str | None) -> None:
    if timezone is not None:
        problem = timezone_problem(timezone)
        if problem:
            raise ValueError(problem)


@dataclass(frozen=True)
class CronSchedule:
    """Runs at the times a cron expression gives, in `timezone` (default UTC)."""

    cron: str
    timezone: str | None = None
    day_or: bool = True

    def __post_init__(self) -> None:
        problem = cron_problem(self.cron)
        if problem:
            raise ValueError(f"invalid cron expression {self.cron!r} ({problem})")
        _check_timezone(self.timezone)

    def to_json(self) -> dict[str, Any]:
        return {"cron": self.cron, "timezone": self.timezone, "day_or": self.day_or}


@dataclass(frozen=True)
class IntervalSchedule:
    """Runs every `interval` (a timedelta or seconds), counted from `anchor_date`."""

    interval: timedelta
    anchor_date: datetime | None = None
    timezone: str | None = None

    def __post_init__(self) -> None:
        value: object = self.interval
        if isinstance(value, timedelta):
            seconds = check_interval_seconds(value.total_seconds(), value)
        else:
            seconds = parse_interval(value)
        object.__setattr__(self, "interval", timedelta(seconds=seconds))
        anchor: object = self.anchor_date
        if isinstance(anchor, str):
            problem = datetime_problem(anchor)
            if problem:
                raise ValueError(problem)
            object.__setattr__(self, "anchor_date", datetime.fromisoformat(anchor))
        elif anchor is not None and not isinstance(anchor, datetime):
            raise ValueError(f"anchor_date must be a datetime, got {type(anchor).__name__}")
        _check_timezone(self.timezone)

    def to_json(self) -> dict[str, Any]:
        anchor = self.anchor_date.isoformat() if self.anchor_date else None
        seconds = self.interval.total_seconds()
        return {
            "interval": int(seconds) if seconds.is_integer() else seconds,
            "anchor_date": anchor,
            "timezone": self.timezone,
        }


@dataclass(frozen=True)
class RRuleSchedule:
    """Runs at the times an RFC 5545 recurrence rule gives."""

    rrule: str
    timezone: str | None = None

    def __post_init__(self) -> None:
        problem = rrule_problem(self.rrule)
        if problem:
            raise ValueError(problem)
        _check_timezone(self.timezone)

    def to_json(self) -> dict[str, Any]:
        return {"rrule": self.rrule, "timezone": self.timezone}


Schedule = CronSchedule | IntervalSchedule | RRuleSchedule
_KEYS = {
    "cron": ({"cron"}, {"timezone", "day_or"}),
    "interval": ({"interval"}, {"anchor_date", "timezone"}),
    "rrule": ({"rrule"}, {"timezone"}),
}


def schedule_from_json(data: Mapping[str, Any]) -> Schedule:
    """A schedule from its mapping form; ValueError naming the key that is wrong."""
    kinds = [kind for kind in _KEYS if kind in data]
    if len(kinds) != 1:
        found = ", ".join(sorted(map(str, data))) or "nothing"
        raise ValueError(f"a schedule needs exactly one of cron, interval or rrule (got {found})")
    kind = kinds[0]
    required, optional = _KEYS[kind]
    unknown = set(data) - required - optional
    if unknown:
        allowed = ", ".join(sorted(required | optional))
        raise ValueError(f"unknown key(s) for a {kind} schedule: {', '.join(sorted(unknown))} "
                         f"(allowed: {allowed})")  # fmt: skip
    timezone = data.get("timezone")
    if timezone is not None and not isinstance(timezone, str):
        raise ValueError("timezone must be text, such as 'Europe/Berlin'")
    if kind == "cron":
        day_or = data.get("day_or", True)
        if not isinstance(data["cron"], str) or not isinstance(day_or, bool):
            raise ValueError("cron must be text and day_or a boolean")
        return CronSchedule(data["cron"], timezone, day_or)
    if kind == "interval":
        return IntervalSchedule(data["interval"], data.get("anchor_date"), timezone)
    if not isinstance(data["rrule"], str):
        raise ValueError("rrule must be text")
    return RRuleSchedule(data["rrule"], timezone)


def as_schedule(value: Schedule | Mapping[str, Any]) -> Schedule:
    """Accept a schedule object or its mapping form (`{"cron": "0 2 * * *"}`)."""
    if isinstance(value, CronSchedule | IntervalSchedule | RRuleSchedule):
        return value
    if isinstance(value, Mapping):
        return schedule_from_json(value)
    raise ValueError(f"expected a schedule or a mapping such as {{'cron': ...}}, got {value!r}")


DEFAULT_ANCHOR = datetime(2020, 1, 1)  # in the schedule's zone: anchors intervals and rrules
_DEFAULT_DTSTART = "DTSTART:20200101T000000\n"


def anchor_of(schedule: IntervalSchedule) -> datetime:
    """The interval's anchor as an aware time. A naive `anchor_date` is UTC, as Prefect reads
    it (its client and server both parse it so, whatever the schedule's zone); flowplan's
    default anchor, 2020-01-01 00:00, is in the schedule's zone."""
    from zoneinfo import ZoneInfo

    if schedule.anchor_date is None:
        return DEFAULT_ANCHOR.replace(tzinfo=ZoneInfo(schedule.timezone or "UTC"))
    anchor = schedule.anchor_date
    return anchor if anchor.tzinfo else anchor.replace(tzinfo=UTC)


def canonical(schedule: Schedule) -> dict[str, Any]:
    """The JSON form with defaults made explicit, for comparing schedules wherever they were
    stored: no zone is UTC, an interval's anchor is an aware time in UTC (none: the default
    anchor), and an rrule's default DTSTART (which a Prefect server writes in) is left out."""
    data = schedule.to_json()
    data["timezone"] = schedule.timezone or "UTC"
    if isinstance(schedule, IntervalSchedule):
        anchor = anchor_of(schedule)
        default = anchor_of(IntervalSchedule(schedule.interval, None, schedule.timezone))
        data["anchor_date"] = None if anchor == default else anchor.astimezone(UTC).isoformat()
    elif isinstance(schedule, RRuleSchedule) and schedule.rrule.startswith(_DEFAULT_DTSTART):
        data["rrule"] = schedule.rrule[len(_DEFAULT_DTSTART) :]
    return data


def derived_slug(schedule: Schedule, parameters: Mapping[str, Any] | None = None) -> str:
    """A stable slug for a schedule declared without one: its kind plus a content hash."""
    import hashlib  # here: loading OpenSSL is a start-up cost every command would pay

    content = {"schedule": schedule.to_json(), "parameters": dict(parameters or {})}
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:10]
    kind = next(iter(schedule.to_json()))
    return f"{kind}-{digest}"


def describe(schedule: Schedule) -> str:
    """One line for tables: `cron '0 2 * * *' (Europe/Berlin)`, `every 600s`, `rrule ...`."""
    zone = f" ({schedule.timezone})" if schedule.timezone else ""
    if isinstance(schedule, CronSchedule):
        return f"cron '{schedule.cron}'{zone}"
    if isinstance(schedule, IntervalSchedule):
        return f"every {schedule.interval.total_seconds():g}s{zone}"
    return f"rrule '{schedule.rrule}'{zone}"
