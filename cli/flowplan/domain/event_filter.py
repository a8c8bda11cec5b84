"""Prefect's `EventFilter` (the JSON its client sends to `/api/events/out` and
`/api/events/filter`) applied to one stored event: `occurred` (since, until), `event` (prefix,
exclude_prefix, name, exclude_name), `resource`, `any_resource` and `related` (id, id_prefix,
role, labels), `id`. A part that is null or empty does not filter, as on Prefect's server."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from flowplan.domain.events import Event, resource_matches

_KNOWN = {"occurred", "event", "resource", "related", "any_resource", "id", "text", "order"}


def filter_problems(value: Any) -> list[str]:
    """What in a filter flowplan cannot apply (an empty list: it can)."""
    if value is None:
        return []
    if not isinstance(value, Mapping):
        return ["the filter must be a JSON object"]
    problems = [f"unknown filter field {key!r}" for key in value if key not in _KNOWN]
    if (value.get("text") or None) is not None:
        problems.append("flowplan does not filter events by text")
    if value.get("resource") and (value["resource"] or {}).get("distinct"):
        problems.append("flowplan does not filter distinct resources")
    return problems


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # naive: UTC


def since(value: Mapping[str, Any] | None) -> datetime | None:
    """The filter's `occurred.since`."""
    return parse_time(((value or {}).get("occurred") or {}).get("since"))


def _names(filt: Mapping[str, Any] | None, name: str) -> bool:
    if not filt:
        return True
    if filt.get("prefix") and not any(name.startswith(p) for p in filt["prefix"]):
        return False
    if filt.get("exclude_prefix") and any(name.startswith(p) for p in filt["exclude_prefix"]):
        return False
    if filt.get("name") and name not in filt["name"]:
        return False
    return not (filt.get("exclude_name") and name in filt["exclude_name"])


def _one_resource(filt: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    resource_id = labels.get("prefect.resource.id", "")
    if filt.get("id") and resource_id not in filt["id"]:
        return False
    if filt.get("id_prefix") and not any(resource_id.startswith(p) for p in filt["id_prefix"]):
        return False
    if filt.get("role") and labels.get("prefect.resource.role") not in filt["role"]:
        return False
    if filt.get("resources_in_roles") and not any(
        resource_id == pair[0] and labels.get("prefect.resource.role") == pair[1]
        for pair in filt["resources_in_roles"]
    ):
        return False
    return not filt.get("labels") or resource_matches(filt["labels"], labels)


def _related(filt: Any, related: Sequence[Mapping[str, str]]) -> bool:
    filters = filt if isinstance(filt, list) else [filt]
    return all(any(_one_resource(one, item) for item in related) for one in filters if one)


def _occurred(filt: Mapping[str, Any] | None, when: datetime) -> bool:
    start, end = parse_time((filt or {}).get("since")), parse_time((filt or {}).get("until"))
    return (start is None or when >= start) and (end is None or when <= end)


def matches(value: Mapping[str, Any] | None, event: Event) -> bool:
    """Whether the event passes every part of the filter."""
    filt = value or {}
    ids = (filt.get("id") or {}).get("id")
    if ids and event.id not in [str(item) for item in ids]:
        return False
    if not _occurred(filt.get("occurred"), event.occurred) or not _names(
        filt.get("event"), event.event
    ):
        return False  # fmt: skip
    if filt.get("resource") and not _one_resource(filt["resource"], event.resource):
        return False
    anyone = filt.get("any_resource")
    every = [event.resource, *event.related]
    if anyone and not all(
        any(_one_resource(one, labels) for labels in every)
        for one in (anyone if isinstance(anyone, list) else [anyone])
        if one
    ):
        return False  # fmt: skip
    return not filt.get("related") or _related(filt["related"], event.related)
