"""Parsing the command-line options that give parameters, job variables and start times."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from flowplan.commands.common import parse_value
from flowplan.domain.clock import utcnow
from flowplan.domain.objects import Deployment
from flowplan.domain.values import MAX_WAIT, check_seconds
from flowplan.errors import InvalidInput, UsageError

_UNITS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600,
          "hour": 3600, "d": 86400, "day": 86400}  # fmt: skip
_DELAY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]+?)s?\s*$")


def parse_job_variables(items: list[str], *, json_values: bool = False) -> dict[str, Any]:
    """`-jv k=v` (the value as text, or parsed as JSON with `json_values`) or JSON objects."""
    merged: dict[str, Any] = {}
    for item in items:
        if "=" in item and not item.lstrip().startswith("{"):
            key, _, value = item.partition("=")
            merged[key.strip()] = parse_value(value) if json_values else value
            continue
        try:
            parsed = json.loads(item)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise InvalidInput(
                f'could not parse job variable "{item}": use key=value or a JSON object'
            )
        merged.update(parsed)
    return merged


def parse_parameters(param: list[str], params: str | None) -> dict[str, Any]:
    """`--param k=v` (JSON values) or `--params JSON`, not both."""
    if param and params is not None:
        raise UsageError("use either --param or --params, not both")
    if params is not None:
        parsed = parse_value(params)
        if not isinstance(parsed, dict):
            raise InvalidInput("--params must be a JSON object, such as '{\"n\": 1}'")
        return parsed
    result = {}
    for item in param:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInput(f"--param {item!r}: use key=value")
        result[key] = parse_value(value)
    return result


def parameters(param: list[str], params: str | None, deployment: Deployment) -> dict[str, Any]:
    """The run's parameters; names the deployment's flow does not take are refused."""
    values = parse_parameters(param, params)
    known = (deployment.parameter_openapi_schema or {}).get("properties")
    unknown = [name for name in values if known is not None and name not in known]
    if unknown:
        raise InvalidInput(
            f"the following parameters were specified but not found on the deployment:"
            f" {', '.join(unknown)}",
            hint=f"it takes: {', '.join(known) or 'none'}" if known is not None else None,
        )
    return values


def start_time(start_in: str | None, start_at: str | None) -> datetime | None:
    if start_in is not None and start_at is not None:
        raise UsageError("use either --start-in or --start-at, not both")
    if start_in is not None:
        match = _DELAY.match(start_in.lower())
        if not match or match.group(2) not in _UNITS:
            raise InvalidInput(
                f"unable to parse --start-in {start_in!r}", hint="write e.g. '30s', '5 minutes'"
            )
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
        check_seconds("--start-in", seconds, minimum=0, maximum=MAX_WAIT)
        return utcnow() + timedelta(seconds=seconds)
    if start_at is not None:
        try:
            moment = datetime.fromisoformat(start_at)
        except ValueError:
            raise InvalidInput(
                f"unable to parse --start-at {start_at!r}", hint="write e.g. '2030-01-01 10:00'"
            ) from None
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    return None


def run_name(template: str | None, values: Mapping[str, Any]) -> str | None:
    """`--flow-run-name` as a `str.format` template over the parameters."""
    if template is None:
        return None
    try:
        return template.format(**values)
    except KeyError as exc:
        raise InvalidInput(
            f"missing parameter for flow run name: {exc.args[0]!r} is undefined"
        ) from None
    except (ValueError, IndexError) as exc:
        raise InvalidInput(f"--flow-run-name {template!r}: {exc}") from None


def when_text(moment: datetime) -> str:
    delta = (moment - utcnow()).total_seconds()
    relative = (
        "now" if abs(delta) < 1 else f"in {delta:.0f} s" if delta > 0 else f"{-delta:.0f} s ago"
    )
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC ({relative})"
