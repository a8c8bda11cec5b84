"""Conversions between SQLite rows and domain objects (timestamps, JSON columns, booleans)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from flowplan.domain.clock import utcnow
from flowplan.domain.objects import (
    Deployment,
    DeploymentSchedule,
    FlowRun,
    State,
    StateType,
    WorkPool,
    WorkQueue,
)
from flowplan.domain.schedules import schedule_from_json


def new_id() -> str:
    return str(uuid.uuid4())


def now_text() -> str:
    return utcnow().isoformat()


def to_time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


POOL_COLUMNS = (
    "p.id, p.name, p.type, p.created, p.updated, p.description, p.is_paused, "
    "p.concurrency_limit, p.default_queue_id, p.base_job_template, "
    "(SELECT max(last_heartbeat) FROM workers w WHERE w.work_pool_id = p.id)"
)


def pool(row: tuple[Any, ...]) -> WorkPool:
    return WorkPool(
        id=row[0], name=row[1], type=row[2], created=time(row[3]), updated=time(row[4]),
        description=row[5], is_paused=bool(row[6]), concurrency_limit=row[7],
        default_queue_id=row[8], base_job_template=json.loads(row[9]),
        last_heartbeat=to_time(row[10]),
    )  # fmt: skip


QUEUE_COLUMNS = (
    "q.id, q.name, q.work_pool_id, p.name, q.priority, q.created, q.description, q.is_paused, "
    "q.concurrency_limit, q.last_polled"
)


def queue(row: tuple[Any, ...]) -> WorkQueue:
    return WorkQueue(
        id=row[0], name=row[1], work_pool_id=row[2], work_pool_name=row[3], priority=row[4],
        created=time(row[5]), description=row[6], is_paused=bool(row[7]),
        concurrency_limit=row[8], last_polled=to_time(row[9]),
    )  # fmt: skip


DEPLOYMENT_COLUMNS = (
    "d.id, d.name, d.flow_id, f.name, d.created, d.updated, d.version, d.description, d.paused, "
    "d.concurrency_limit, d.job_variables, d.parameters, d.parameter_openapi_schema, "
    "d.enforce_parameter_schema, d.tags, d.labels, d.pull_steps, d.entrypoint, d.path, "
    "p.name, q.name, coalesce(d.last_polled, q.last_polled)"
)
DEPLOYMENT_FROM = (
    "deployments d JOIN flows f ON f.id = d.flow_id "
    "LEFT JOIN work_queues q ON q.id = d.work_queue_id "
    "LEFT JOIN work_pools p ON p.id = q.work_pool_id"
)


def deployment(row: tuple[Any, ...], schedules: tuple[DeploymentSchedule, ...]) -> Deployment:
    loads = json.loads
    return Deployment(
        id=row[0], name=row[1], flow_id=row[2], flow_name=row[3], created=time(row[4]),
        updated=time(row[5]), version=row[6], description=row[7], paused=bool(row[8]),
        schedules=schedules, concurrency_limit=row[9], job_variables=loads(row[10]),
        parameters=loads(row[11]), parameter_openapi_schema=loads(row[12]),
        enforce_parameter_schema=bool(row[13]), tags=tuple(loads(row[14])),
        labels=loads(row[15]), pull_steps=loads(row[16]) if row[16] is not None else None,
        entrypoint=row[17], path=row[18], work_pool_name=row[19], work_queue_name=row[20],
        last_polled=to_time(row[21]),
    )  # fmt: skip


SCHEDULE_COLUMNS = "deployment_id, id, schedule, active, slug, parameters"


def schedule(row: tuple[Any, ...]) -> DeploymentSchedule:
    return DeploymentSchedule(
        id=row[1],
        schedule=schedule_from_json(json.loads(row[2])),
        active=bool(row[3]),
        slug=row[4],
        parameters=json.loads(row[5]),
    )


RUN_COLUMNS = (
    "r.id, r.name, r.flow_id, f.name, r.state_type, r.state_name, r.state_timestamp, "
    "r.state_message, r.created, r.expected_start_time, r.deployment_id, d.name, p.name, q.name, "
    "r.parameters, r.job_variables, r.tags, r.idempotency_key, r.auto_scheduled, r.start_time, "
    "r.end_time"
)
RUN_FROM = (
    "flow_runs r JOIN flows f ON f.id = r.flow_id "
    "LEFT JOIN deployments d ON d.id = r.deployment_id "
    "LEFT JOIN work_queues q ON q.id = r.work_queue_id "
    "LEFT JOIN work_pools p ON p.id = q.work_pool_id"
)


def flow_run(row: tuple[Any, ...]) -> FlowRun:
    state = State(StateType(row[4]), row[5], time(row[6]), row[7])
    return FlowRun(
        id=row[0], name=row[1], flow_id=row[2], flow_name=row[3], state=state,
        created=time(row[8]), expected_start_time=time(row[9]), deployment_id=row[10],
        deployment_name=row[11], work_pool_name=row[12], work_queue_name=row[13],
        parameters=json.loads(row[14]), job_variables=json.loads(row[15]),
        tags=tuple(json.loads(row[16])), idempotency_key=row[17], auto_scheduled=bool(row[18]),
        start_time=to_time(row[19]), end_time=to_time(row[20]),
    )  # fmt: skip


def json_loads(text: str) -> Any:
    return json.loads(text)
