"""A deployment's `triggers:` (Prefect's deployment triggers) in one canonical form, so that the
declared mappings and what a server stores (as automations, with every default filled in)
compare equal when they mean the same."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# what the automation gets besides its trigger (the run-deployment action's settings)
DEPLOYMENT_KEYS = ("name", "description", "enabled", "parameters", "job_variables",
                   "schedule_after")  # fmt: skip
EVENT_DEFAULTS: dict[str, Any] = {
    "match": {}, "match_related": {}, "after": [], "expect": [], "for_each": [],
    "posture": "Reactive", "threshold": 1, "within": 0.0,
}  # fmt: skip


def _seconds(value: Any) -> Any:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def canonical_trigger(trigger: Mapping[str, Any], index: int, deployment: str) -> dict[str, Any]:
    """`{name, description, enabled, parameters, job_variables, schedule_after, trigger}`; the
    name defaults as Prefect names it (`<deployment>__automation_<n>`)."""
    rest = dict(trigger)
    item: dict[str, Any] = {
        "name": rest.pop("name", None) or f"{deployment}__automation_{index}",
        "description": rest.pop("description", None) or "",
        "enabled": rest.pop("enabled", True),
        "parameters": rest.pop("parameters", None),
        "job_variables": rest.pop("job_variables", None),
        "schedule_after": _seconds(rest.pop("schedule_after", 0)),
    }
    rest.pop("id", None)
    if rest.setdefault("type", "event") == "event":
        rest = {**EVENT_DEFAULTS, **rest}
    for key in ("after", "expect", "for_each"):
        if isinstance(rest.get(key), list):
            rest[key] = sorted(rest[key])
    if "within" in rest:
        rest["within"] = _seconds(rest["within"])
    item["trigger"] = rest
    return item


def canonical_triggers(triggers: Sequence[Mapping[str, Any]], deployment: str) -> list[Any]:
    items = [canonical_trigger(t, i, deployment) for i, t in enumerate(triggers, start=1)]
    return sorted(items, key=lambda item: str(item["name"]))
