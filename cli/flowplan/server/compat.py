"""flowplan's objects as the JSON Prefect 3.9's server answers with. Pure functions.

Prefect's objects carry fields flowplan has no use for (block documents, versioning, task runs):
they are given with Prefect's empty values, so that Prefect's client parses every answer.
Objects that have no id in the store (variables, log lines, states) get a stable one (uuid5).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flowplan.domain.clock import iso
from flowplan.domain.objects import (
    Deployment,
    DeploymentSchedule,
    Flow,
    FlowRun,
    LogLine,
    Variable,
    WorkPool,
    WorkQueue,
)
from flowplan.domain.schedules import IntervalSchedule, anchor_of

# The Prefect version this API answers as (`/api/admin/version`): Prefect's client refuses
# another major version and warns when the server is older than itself.
PREFECT_VERSION = "3.9.1"
SERVER_API_VERSION = "0.8.4"  # `/api/version`, as Prefect 3.9's server answers
MINIMUM_API_VERSION = "0.8.0"  # older clients (by X-PREFECT-API-VERSION) are refused
_NAMESPACE = uuid.UUID("5c1b3c0e-4f4d-4c55-9c53-666c6f77706c")


def stable_id(*parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "\x00".join(parts)))


def _t(moment: datetime | None) -> str | None:
    return iso(moment) if moment else None


def api_version_problem(header: str | None) -> str | None:
    """Why a request's `X-PREFECT-API-VERSION` is refused (400), as Prefect's server says it;
    None when it is absent (taken as the latest) or recent enough."""
    if not header:
        return None
    try:
        major, minor, patch = (int(part) for part in header.split("."))
    except ValueError:
        return ("Invalid X-PREFECT-API-VERSION header format."
                f"Expected header in format 'x.y.z' but received {header}")  # fmt: skip
    minimum = tuple(int(part) for part in MINIMUM_API_VERSION.split("."))
    if (major, minor, patch) < minimum:
        return (f"The request specified API version {header} but this server requires version"
                f" {MINIMUM_API_VERSION} or higher.")  # fmt: skip
    return None


def schedule(item: DeploymentSchedule, deployment: Deployment) -> dict[str, Any]:
    body = item.schedule.to_json()
    if isinstance(item.schedule, IntervalSchedule):
        body["anchor_date"] = anchor_of(item.schedule).isoformat()
        body["timezone"] = item.schedule.timezone or "UTC"
    return {
        "id": item.id, "created": _t(deployment.created), "updated": _t(deployment.updated),
        "deployment_id": deployment.id, "schedule": body, "active": item.active,
        "max_scheduled_runs": None, "parameters": item.parameters, "slug": item.slug,
    }  # fmt: skip


def deployment(item: Deployment, queue_ids: Mapping[tuple[str, str], str]) -> dict[str, Any]:
    queue_id = queue_ids.get((item.work_pool_name or "", item.work_queue_name or ""))
    return {
        "id": item.id, "created": _t(item.created), "updated": _t(item.updated),
        "name": item.name, "version": item.version, "description": item.description,
        "flow_id": item.flow_id, "concurrency_limit": item.concurrency_limit,
        "global_concurrency_limit": None, "concurrency_options": item.concurrency_options,
        "paused": item.paused, "schedules": [schedule(s, item) for s in item.schedules],
        "job_variables": item.job_variables, "parameters": item.parameters,
        "pull_steps": item.pull_steps, "tags": list(item.tags),
        "labels": {**item.labels, "prefect.flow.id": item.flow_id},
        "work_queue_name": item.work_queue_name, "last_polled": _t(item.last_polled),
        "parameter_openapi_schema": item.parameter_openapi_schema, "path": item.path,
        "entrypoint": item.entrypoint, "storage_document_id": None,
        "infrastructure_document_id": None, "created_by": None, "updated_by": None,
        "work_queue_id": queue_id, "enforce_parameter_schema": item.enforce_parameter_schema,
        "work_pool_name": item.work_pool_name, "status": item.status,
    }  # fmt: skip


def flow(item: Flow) -> dict[str, Any]:
    created = _t(item.created)
    return {"id": item.id, "created": created, "updated": created, "name": item.name,
            "tags": [], "labels": {}}  # fmt: skip


def state(run: FlowRun) -> dict[str, Any]:
    current = run.state
    scheduled = current.type.value == "SCHEDULED"
    return {
        "id": stable_id(run.id, "state", iso(current.timestamp), current.name),
        "type": current.type.value, "name": current.name,
        "timestamp": iso(current.timestamp), "message": current.message, "data": None,
        "state_details": {
            "flow_run_id": run.id, "task_run_id": None, "child_flow_run_id": None,
            "scheduled_time": iso(run.expected_start_time) if scheduled else None,
            "cache_key": None, "cache_expiration": None, "deferred": False,
            "untrackable_result": False, "pause_timeout": None, "pause_reschedule": False,
            "pause_key": None, "run_input_keyset": None, "refresh_cache": None,
            "retriable": None, "transition_id": None, "task_parameters_id": None,
            "traceparent": None, "deployment_concurrency_lease_id": None,
        },
    }  # fmt: skip


def flow_run(
    item: FlowRun, queue_ids: Mapping[tuple[str, str], str], pool_ids: Mapping[str, str]
) -> dict[str, Any]:
    now_state = state(item)
    total = (
        (item.end_time - item.start_time).total_seconds()
        if item.start_time and item.end_time else 0.0
    )  # fmt: skip
    return {
        "id": item.id, "created": _t(item.created), "updated": _t(item.state.timestamp),
        "name": item.name, "flow_id": item.flow_id, "state_id": now_state["id"],
        "deployment_id": item.deployment_id, "deployment_version": None,
        "work_queue_name": item.work_queue_name, "flow_version": None,
        "parameters": item.parameters, "idempotency_key": item.idempotency_key,
        "context": {}, "empirical_policy": {"max_retries": 0, "retry_delay_seconds": 0.0,
                                            "retries": None, "retry_delay": None,
                                            "pause_keys": [], "resuming": False,
                                            "retry_type": None},
        "tags": list(item.tags), "labels": _run_labels(item), "parent_task_run_id": None,
        "run_count": 1 if item.start_time else 0,
        "expected_start_time": _t(item.expected_start_time),
        "next_scheduled_start_time": (_t(item.expected_start_time)
                                      if item.state.type.value == "SCHEDULED" else None),
        "start_time": _t(item.start_time), "end_time": _t(item.end_time),
        "total_run_time": total, "estimated_run_time": total,
        "estimated_start_time_delta": 0.0, "auto_scheduled": item.auto_scheduled,
        "infrastructure_document_id": None, "infrastructure_pid": None, "created_by": None,
        "work_queue_id": queue_ids.get((item.work_pool_name or "", item.work_queue_name or "")),
        "work_pool_id": pool_ids.get(item.work_pool_name or ""),
        "work_pool_name": item.work_pool_name, "state": now_state,
        "job_variables": item.job_variables, "state_type": item.state.type.value,
        "state_name": item.state.name,
    }  # fmt: skip


def _run_labels(item: FlowRun) -> dict[str, str]:
    """The labels Prefect's server gives a run: its flow's id, and its deployment's."""
    labels = {"prefect.flow.id": item.flow_id}
    if item.deployment_id:
        labels["prefect.deployment.id"] = item.deployment_id
    return labels


def work_pool(item: WorkPool, active: Mapping[str, int]) -> dict[str, Any]:
    """`active`: PENDING and RUNNING runs by pool and queue id, counted (as `active_slots`)
    where a concurrency limit applies, as Prefect's server does."""
    return {
        "id": item.id, "created": _t(item.created), "updated": _t(item.updated),
        "name": item.name, "description": item.description, "type": item.type,
        "base_job_template": item.base_job_template, "is_paused": item.is_paused,
        "concurrency_limit": item.concurrency_limit, "status": item.status,
        "active_slots": _slots(item.id, item.concurrency_limit, active),
        "default_queue_id": item.default_queue_id,
        "storage_configuration": {"default_result_storage_block_id": None,
                                  "bundle_upload_step": None, "bundle_execution_step": None},
    }  # fmt: skip


def _slots(key: str, limit: int | None, active: Mapping[str, int]) -> int | None:
    return None if limit is None else active.get(key, 0)


def work_queue(item: WorkQueue, active: Mapping[str, int]) -> dict[str, Any]:
    return {
        "id": item.id, "created": _t(item.created), "updated": _t(item.created),
        "name": item.name, "description": item.description, "is_paused": item.is_paused,
        "concurrency_limit": item.concurrency_limit, "priority": item.priority,
        "work_pool_id": item.work_pool_id, "work_pool_name": item.work_pool_name,
        "filter": None, "last_polled": _t(item.last_polled), "status": item.status,
        "active_slots": _slots(item.id, item.concurrency_limit, active),
    }  # fmt: skip


def work_queue_status(item: WorkQueue) -> dict[str, Any]:
    """`GET /work_queues/{id}/status`."""
    return {"healthy": item.status == "READY", "late_runs_count": 0,
            "last_polled": _t(item.last_polled), "health_check_policy": {
                "maximum_late_runs": 0, "maximum_seconds_since_last_polled": 60}}  # fmt: skip


def variable(item: Variable) -> dict[str, Any]:
    return {"id": variable_id(item.name), "created": _t(item.created),
            "updated": _t(item.updated), "name": item.name, "value": item.value,
            "tags": list(item.tags)}  # fmt: skip


def variable_id(name: str) -> str:
    return stable_id("variable", name)


def log(line: LogLine, index: int) -> dict[str, Any]:
    stamp = iso(line.timestamp)
    return {"id": stable_id(line.flow_run_id, "log", str(index)), "created": stamp,
            "updated": stamp, "name": "flowplan", "level": line.level,
            "message": line.message, "timestamp": stamp, "flow_run_id": line.flow_run_id,
            "task_run_id": None}  # fmt: skip
