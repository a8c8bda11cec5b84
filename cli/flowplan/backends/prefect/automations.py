"""A deployment's `triggers:` as Prefect automations (what `prefect deploy` creates): one per
trigger, with a run-deployment action for the deployment, tagged as flowplan's so that only
those are compared, replaced and deleted with their deployment."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from flowplan.backends.prefect.http import Api
from flowplan.domain.triggers import DEPLOYMENT_KEYS, canonical_triggers

OWNED_TAG = "flowplan.dev/managed-by=flowplan"


def _by_deployment(automations: Iterable[Mapping[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for automation in automations:
        if OWNED_TAG not in (automation.get("tags") or []):
            continue
        for action in automation.get("actions") or []:
            if action.get("type") == "run-deployment" and action.get("deployment_id"):
                found.setdefault(str(action["deployment_id"]), []).append(dict(automation))
    return found


def owned(api: Api) -> dict[str, list[dict[str, Any]]]:
    """flowplan's automations by the deployment they run (one paginated read of them all)."""
    return _by_deployment(api.filter("automations/filter"))


def owned_by(api: Api, deployment_id: str) -> list[dict[str, Any]]:
    """flowplan's automations of one deployment (one small read: those related to it)."""
    related = api.get(f"automations/related-to/prefect.deployment.{deployment_id}")
    return _by_deployment(related).get(deployment_id, [])


def as_trigger(automation: Mapping[str, Any]) -> dict[str, Any]:
    """The automation in the form a `triggers:` item is written in."""
    action = next(a for a in automation["actions"] if a.get("type") == "run-deployment")
    trigger = {k: v for k, v in (automation.get("trigger") or {}).items() if k != "id"}
    return {
        "name": automation.get("name"), "description": automation.get("description") or "",
        "enabled": automation.get("enabled", True), "parameters": action.get("parameters"),
        "job_variables": action.get("job_variables"),
        "schedule_after": action.get("schedule_after", 0), **trigger,
    }  # fmt: skip


def sync(
    api: Api,
    deployment_id: str,
    deployment: str,
    wanted: Sequence[Mapping[str, Any]],
    current: Sequence[Mapping[str, Any]],
) -> None:
    """Make the deployment's automations match `wanted` (nothing is sent when they do)."""
    have = canonical_triggers([as_trigger(a) for a in current], deployment)
    want = canonical_triggers(wanted, deployment)
    if have == want:
        return
    for automation in current:
        api.delete(f"automations/{automation['id']}")
    for item in want:
        settings = {key: item[key] for key in DEPLOYMENT_KEYS}
        body = {
            "name": settings["name"], "description": settings["description"],
            "enabled": settings["enabled"], "tags": [OWNED_TAG], "trigger": item["trigger"],
            "actions": [{"type": "run-deployment", "source": "selected",
                         "deployment_id": deployment_id, "parameters": settings["parameters"],
                         "job_variables": settings["job_variables"],
                         "schedule_after": settings["schedule_after"]}],
            "owner_resource": f"prefect.deployment.{deployment_id}",
        }  # fmt: skip
        api.post("automations/", body)
