"""The comparable form of deployments (normalised, field by field), fingerprints of live
objects, the hash a deployment carries from its last apply and the drift it reveals. Pure."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from flowplan.domain.events import Webhook
from flowplan.domain.objects import Deployment, WorkPool, WorkQueue
from flowplan.domain.schedules import canonical
from flowplan.domain.specs import HASH_LABEL, DeploymentSpec
from flowplan.domain.triggers import canonical_triggers

EMPTY_SCHEMA = {"type": "object", "properties": {}}  # what a server stores for no schema


def digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def desired_fields(spec: DeploymentSpec) -> dict[str, Any]:
    """The comparable form of a declared deployment (only the fields it declares)."""
    fields: dict[str, Any] = core_fields(spec)
    if spec.paused is not None:
        fields["paused"] = spec.paused
    if spec.schedules is not None:
        fields["schedules"] = {
            s.effective_slug: {"schedule": canonical(s.schedule), "parameters": s.parameters,
                               **({"active": s.active} if s.active is not None else {})}
            for s in spec.schedules
        }  # fmt: skip
    return fields


def core_fields(item: DeploymentSpec | Deployment) -> dict[str, Any]:
    """Every field except `paused` and schedules, which a project may leave to the target."""
    return {
        "entrypoint": item.entrypoint, "path": item.path,
        "description": item.description or None, "version": item.version,
        "tags": sorted(set(item.tags)),
        "labels": {k: v for k, v in sorted(item.labels.items()) if k != HASH_LABEL},
        "parameters": item.parameters,
        "parameter_openapi_schema": _schema(item.parameter_openapi_schema),
        "enforce_parameter_schema": item.enforce_parameter_schema,
        "job_variables": item.job_variables, "work_pool_name": item.work_pool_name,
        "work_queue_name": item.work_queue_name or ("default" if item.work_pool_name else None),
        "pull_steps": item.pull_steps or [], "concurrency_limit": item.concurrency_limit,
        "triggers": canonical_triggers(item.triggers, item.name),
        "concurrency_options": item.concurrency_options,
    }  # fmt: skip


def _schema(schema: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """A parameter schema without what changes nothing: an empty `required` or `definitions`
    (flowplan writes them; Prefect's `deploy` leaves them out)."""
    if not schema:
        return EMPTY_SCHEMA
    if schema.get("required") == [] or schema.get("definitions") == {}:
        empty: dict[str, Any] = {"required": [], "definitions": {}}
        return {k: v for k, v in schema.items() if not (k in empty and v == empty[k])}
    return schema


def live_fields(
    deployment: Deployment,
    like: Mapping[str, Any],
    renames: Mapping[str, str] | None = None,
    core: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The comparable form of a live deployment, restricted to the keys in `like`; `renames`
    gives stored schedules the slugs that replace theirs (`replaces:`); `core`: its
    `core_fields`, when already known."""
    fields = dict(core) if core is not None else core_fields(deployment)
    if fields["path"] is None:  # none stored (Prefect's `deploy` sets none): nothing to compare
        fields["path"] = like.get("path")
    if "paused" in like:
        fields["paused"] = deployment.paused
    if "schedules" in like:
        declared = like["schedules"]
        slugs = {s.slug: (renames or {}).get(s.slug, s.slug) for s in deployment.schedules}
        fields["schedules"] = {
            slugs[s.slug]: {"schedule": canonical(s.schedule), "parameters": s.parameters,
                            **({"active": s.active}
                               if "active" in declared.get(slugs[s.slug], {}) else {})}
            for s in deployment.schedules
        }  # fmt: skip
    return fields


def fingerprint(item: Deployment | WorkPool | WorkQueue | Webhook) -> str:
    volatile = ("status", "last_polled", "last_heartbeat")
    return digest({k: v for k, v in item.to_json().items() if k not in volatile})


def spec_hash(spec: DeploymentSpec) -> str:
    """Stored as a label at apply: a later plan that finds other core fields, or (when the
    project declares schedules) other schedule slugs, sees drift."""
    core = digest(core_fields(spec))[:16]
    if spec.schedules is None:
        return core
    return f"{core}.{_slugs_hash(s.effective_slug for s in spec.schedules)}"


def _slugs_hash(slugs: Iterable[str]) -> str:
    return digest(sorted(slugs))[:8]


def drifted(live: Deployment, core: Mapping[str, Any] | None = None) -> bool:
    """Whether the live deployment changed outside flowplan since its last apply (a label
    written before schedules were hashed has no `.slugs` part: only its core is compared);
    `core`: its `core_fields`, when already known."""
    stored = live.labels.get(HASH_LABEL)
    if stored is None:
        return False
    hashed, _, slugs = stored.partition(".")
    if hashed != digest(core_fields(live) if core is None else core)[:16]:
        return True
    return bool(slugs) and slugs != _slugs_hash(s.slug for s in live.schedules)
