"""Checks on schedule items: exactly one kind, valid values, consistent keys."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

from flowplan.domain.schedule_rules import (
    cron_problem,
    datetime_problem,
    parse_interval,
    rrule_problem,
    timezone_problem,
)
from flowplan.findings import Finding, Path_, error, warning
from flowplan.project.model import DeploymentConfig, Project
from flowplan.templating import has_placeholder

KINDS = ("cron", "interval", "rrule")
_BOOLEAN_TEXT = frozenset({"true", "false", "yes", "no", "on", "off", "1", "0"})


def check(project: Project) -> Iterator[Finding]:
    for deployment in project.deployments:
        yield from _legacy_and_list(deployment)
        slugs: dict[str, Path_] = {}
        for path, item in deployment.schedules():
            yield from check_item(path, item)
            slug = item.get("slug")
            if isinstance(slug, str):
                if slug in slugs:
                    yield error(
                        "duplicate-slug", f"schedule slug {slug!r} is used twice", (*path, "slug")
                    )
                slugs[slug] = path


def _legacy_and_list(deployment: DeploymentConfig) -> Iterator[Finding]:
    legacy = deployment.data.get("schedule")
    if isinstance(legacy, dict) and legacy and "schedules" in deployment.data:
        yield error(
            "schedule-and-schedules",
            "both 'schedule' and 'schedules' are given",
            (*deployment.path, "schedule"),
            "move this schedule into the 'schedules' list",
        )


def check_item(path: Path_, item: Mapping[str, Any]) -> Iterator[Finding]:
    kinds = [kind for kind in KINDS if kind in item]
    if not kinds:
        yield error("schedule-kind", "a schedule needs one of cron, interval or rrule", path)
        return
    if len(kinds) > 1:
        yield error(
            "schedule-kind",
            f"a schedule has exactly one of cron, interval or rrule; got {' and '.join(kinds)}",
            path,
        )
        return
    kind = kinds[0]
    value = item[kind]
    if not has_placeholder(value):
        problem = _value_problem(kind, value)
        if problem:
            shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:40] + "..."
            message = f"invalid {kind} {'expression ' if kind == 'cron' else ''}{shown}"
            yield error(f"invalid-{kind}", message, (*path, kind), problem)
    if "day_or" in item and kind != "cron":
        yield warning("schedule-key", "day_or applies to cron schedules only", (*path, "day_or"))
    if "anchor_date" in item and kind != "interval":
        yield warning(
            "schedule-key", "anchor_date applies to interval schedules only", (*path, "anchor_date")
        )
    anchor = item.get("anchor_date")
    if isinstance(anchor, str) and not has_placeholder(anchor):
        problem = datetime_problem(anchor)
        if problem:
            yield error("invalid-anchor-date", problem, (*path, "anchor_date"))
    zone = item.get("timezone")
    if isinstance(zone, str) and not has_placeholder(zone):
        problem = timezone_problem(zone)
        if problem:
            yield error("invalid-timezone", problem, (*path, "timezone"))
    for key in ("active", "day_or"):
        flag = item.get(key)
        if (
            isinstance(flag, str)
            and not has_placeholder(flag)
            and flag.strip().lower() not in _BOOLEAN_TEXT
        ):
            yield error(
                "invalid-boolean", f"{key} must be true or false, got {flag!r}", (*path, key)
            )


def _value_problem(kind: str, value: Any) -> str | None:
    if kind == "cron":
        return cron_problem(value) if isinstance(value, str) else None
    if kind == "rrule":
        return rrule_problem(value) if isinstance(value, str) else None
    if isinstance(value, float) and not math.isfinite(value):
        return None  # checks/values.py reports it
    try:
        parse_interval(value)
    except ValueError as exc:
        return str(exc)
    return None
