"""Prefect's JSON and flowplan's objects, both ways. Pure functions: no HTTP here."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from flowplan.domain.objects import (
    Deployment,
    DeploymentSchedule,
    FlowRun,
    LogLine,
    State,
    StateType,
    Variable,
    WorkPool,
    WorkQueue,
)
from flowplan.domain.schedules import IntervalSchedule, Schedule, anchor_of, schedule_from_json
from flowplan.domain.specs import HASH_LABEL, DeploymentSpec, ScheduleSpec

SERVER_LABELS = "prefect."  # labels the server adds itself (`prefect.flow.id`)
# Prefect 3.9 sets labels only when a deployment is created (PATCH refuses them), so the spec
# hash, which changes with every update, travels as a tag `flowplan.dev/spec-hash=<hash>`
HASH_TAG = HASH_LABEL + "="


def when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def time_of(text: str | None) -> datetime:
    return when(text) or datetime.now(UTC)


# -- to the server ------------------------------------------------------------------------------


def schedule_body(schedule: Schedule) -> dict[str, Any]:
    """What the server should store: an interval always gets an explicit anchor (the server
    would otherwise anchor it at "now", and it reads a naive anchor as UTC)."""
    data = schedule.to_json()
    if isinstance(schedule, IntervalSchedule):
        data["anchor_date"] = anchor_of(schedule).isoformat()
        data["timezone"] = schedule.timezone or "UTC"
    return data


def schedule_create(spec: ScheduleSpec) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schedule": schedule_body(spec.schedule),
        "parameters": spec.parameters,
        "slug": spec.effective_slug,
    }
    if spec.active is not None:
        body["active"] = spec.active
    return body


def deployment_fields(spec: DeploymentSpec) -> dict[str, Any]:
    """The fields of `POST /deployments/` and `PATCH /deployments/{id}` a spec sets (not the
    schedules, which go through their own endpoints, nor `paused` when left alone)."""
    labels = {key: value for key, value in spec.labels.items() if key != HASH_LABEL}
    tags = list(spec.tags)
    if HASH_LABEL in spec.labels:
        tags.append(HASH_TAG + spec.labels[HASH_LABEL])
    body: dict[str, Any] = {
        "entrypoint": spec.entrypoint, "path": spec.path, "description": spec.description,
        "version": spec.version, "tags": tags, "labels": labels,
        "parameters": spec.parameters,
        "parameter_openapi_schema": spec.parameter_openapi_schema,
        "job_variables": spec.job_variables, "work_pool_name": spec.work_pool_name,
        "work_queue_name": spec.work_queue_name, "pull_steps": spec.pull_steps,
        "concurrency_limit": spec.concurrency_limit,
        "concurrency_options": spec.concurrency_options,
    }  # fmt: skip
    if spec.enforce_parameter_schema is not None:
        body["enforce_parameter_schema"] = spec.enforce_parameter_schema
    if spec.paused is not None:
        body["paused"] = spec.paused
    return body


def changed_fields(spec: DeploymentSpec, live: Deployment) -> dict[str, Any]:
    """Only what differs from the live deployment: the server wipes future runs on every PATCH,
    so an unchanged deployment is never patched, and a changed one gets its changes only."""
    wanted = deployment_fields(spec)
    current = deployment_fields(_as_spec(live))
    changed = {key: value for key, value in wanted.items() if current.get(key) != value}
    if "work_queue_name" in changed and (spec.work_queue_name or "default") == (
        live.work_queue_name or "default"
    ):
        del changed["work_queue_name"]
    if changed.get("description") == "" and not live.description:
        del changed["description"]
    return changed


def _as_spec(live: Deployment) -> DeploymentSpec:
    return DeploymentSpec(
        flow_name=live.flow_name, name=live.name, entrypoint=live.entrypoint, path=live.path,
        description=live.description, version=live.version, tags=live.tags, labels=live.labels,
        parameters=live.parameters, parameter_openapi_schema=live.parameter_openapi_schema,
        enforce_parameter_schema=live.enforce_parameter_schema,
        job_variables=live.job_variables, work_pool_name=live.work_pool_name,
        work_queue_name=live.work_queue_name, pull_steps=live.pull_steps,
        concurrency_limit=live.concurrency_limit,
        concurrency_options=live.concurrency_options, paused=live.paused,
    )  # fmt: skip


# -- from the server ----------------------------------------------------------------------------


def schedule(data: Mapping[str, Any]) -> DeploymentSchedule:
    return DeploymentSchedule(
        id=data["id"],
        schedule=schedule_from_json(data["schedule"]),
        active=bool(data["active"]),
        slug=data.get("slug") or data["id"],
        parameters=data.get("parameters") or {},
    )


def deployment(data: Mapping[str, Any], flow_name: str) -> Deployment:
    limit = (data.get("global_concurrency_limit") or {}).get("limit")
    labels = {key: value for key, value in (data.get("labels") or {}).items()
              if not key.startswith(SERVER_LABELS)}  # fmt: skip
    tags = []
    for tag in data.get("tags") or ():
        if tag.startswith(HASH_TAG):
            labels[HASH_LABEL] = tag[len(HASH_TAG) :]
        else:
            tags.append(tag)
    return Deployment(
        id=data["id"], name=data["name"], flow_id=data["flow_id"], flow_name=flow_name,
        created=time_of(data.get("created")), updated=time_of(data.get("updated")),
        version=data.get("version"), description=data.get("description"),
        paused=bool(data.get("paused")),
        schedules=tuple(schedule(item) for item in data.get("schedules") or []),
        concurrency_limit=limit if limit is not None else data.get("concurrency_limit"),
        job_variables=data.get("job_variables") or {}, parameters=data.get("parameters") or {},
        parameter_openapi_schema=data.get("parameter_openapi_schema") or {},
        enforce_parameter_schema=bool(data.get("enforce_parameter_schema", True)),
        tags=tuple(tags), labels=labels,
        pull_steps=data.get("pull_steps") or None, entrypoint=data.get("entrypoint"),
        path=data.get("path"), work_pool_name=data.get("work_pool_name"),
        work_queue_name=data.get("work_queue_name"), last_polled=when(data.get("last_polled")),
        concurrency_options=_options(data.get("concurrency_options")),
    )  # fmt: skip


def _options(data: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A deployment's concurrency options as set: Prefect 3.9 answers every option it knows,
    null where unset (`grace_period_seconds`: null = the server's setting), which a project
    file says by leaving the key out."""
    found = {key: value for key, value in (data or {}).items() if value is not None}
    return found or None


def work_pool(data: Mapping[str, Any]) -> WorkPool:
    return WorkPool(
        id=data["id"], name=data["name"], type=data["type"],
        created=time_of(data.get("created")), updated=time_of(data.get("updated")),
        description=data.get("description"), is_paused=bool(data.get("is_paused")),
        concurrency_limit=data.get("concurrency_limit"),
        default_queue_id=data.get("default_queue_id"),
        base_job_template=data.get("base_job_template") or {},
        # the server tells READY itself: a recent heartbeat stands for it
        last_heartbeat=datetime.now(UTC) if data.get("status") == "READY" else None,
    )  # fmt: skip


def work_queue(data: Mapping[str, Any], pool_name: str | None = None) -> WorkQueue:
    return WorkQueue(
        id=data["id"], name=data["name"], work_pool_id=data.get("work_pool_id") or "",
        work_pool_name=data.get("work_pool_name") or pool_name or "",
        priority=int(data.get("priority") or 1), created=time_of(data.get("created")),
        description=data.get("description"), is_paused=bool(data.get("is_paused")),
        concurrency_limit=data.get("concurrency_limit"),
        last_polled=when(data.get("last_polled")),
    )  # fmt: skip


def state(data: Mapping[str, Any] | None) -> State:
    if not data:
        return State(StateType.PENDING, "Pending", datetime.now(UTC))
    return State(
        StateType(data["type"]), data.get("name") or data["type"].capitalize(),
        time_of(data.get("timestamp")), data.get("message"),
    )  # fmt: skip


def flow_run(
    data: Mapping[str, Any], flow_name: str, deployment_name: str | None = None
) -> FlowRun:
    expected = data.get("expected_start_time") or data.get("next_scheduled_start_time")
    return FlowRun(
        id=data["id"], name=data["name"], flow_id=data["flow_id"], flow_name=flow_name,
        state=state(data.get("state")), created=time_of(data.get("created")),
        expected_start_time=time_of(expected), deployment_id=data.get("deployment_id"),
        deployment_name=deployment_name, work_pool_name=data.get("work_pool_name"),
        work_queue_name=data.get("work_queue_name"),
        parameters=data.get("parameters") or {}, job_variables=data.get("job_variables") or {},
        tags=tuple(data.get("tags") or ()), idempotency_key=data.get("idempotency_key"),
        auto_scheduled=bool(data.get("auto_scheduled")),
        start_time=when(data.get("start_time")), end_time=when(data.get("end_time")),
    )  # fmt: skip


def log_line(data: Mapping[str, Any]) -> LogLine:
    return LogLine(data.get("flow_run_id") or "", time_of(data.get("timestamp")),
                   int(data.get("level") or 20), data.get("message") or "")  # fmt: skip


def variable(data: Mapping[str, Any]) -> Variable:
    return Variable(data["name"], data.get("value"), tuple(data.get("tags") or ()),
                    time_of(data.get("created")), time_of(data.get("updated")))  # fmt: skip
