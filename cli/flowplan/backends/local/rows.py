"""Conversions between SQLite rows and domain objects (timestamps, JSON columns, booleans)."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from flowplan.domain.clock import iso, utcnow
from flowplan.domain.objects import (
    FlowRun,
    State,
    StateType,
    WorkPool,
    WorkQueue,
)
from flowplan.errors import ObjectNotFound


def new_id() -> str:
    return str(uuid.uuid4())


def now_text() -> str:
    return iso(utcnow())


def to_time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def time(text: str) -> datetime:
    return datetime.fromisoformat(text)


# allow_nan=False: the last guard (the domain checks come first); SQLite refuses NaN in JSON
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def update(conn: sqlite3.Connection, table: str, row_id: str, values: Mapping[str, Any]) -> None:
    """`UPDATE table SET <values>, updated = now WHERE id = row_id` (nothing when no values).
    `table` and the keys are this package's own names, never user input."""
    if values:
        assignments = ", ".join(f"{key} = ?" for key in values)
        conn.execute(
            f"UPDATE {table} SET {assignments}, updated = ? WHERE id = ?",
            (*values.values(), now_text(), row_id),
        )


def where(clauses: Sequence[str]) -> str:
    """`WHERE` with the clauses joined by `AND`; nothing when there are none."""
    if not clauses:
        return ""
    return """WHERE """ + """ AND """.join(clauses)


def dumps(value: Any) -> str:
    """Compact JSON for a JSON column (one shared encoder: json.dumps builds one per call)."""
    return _ENCODER.encode(value)


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


def _bool(column: str) -> str:
    return f"json(CASE WHEN {column} THEN 'true' ELSE 'false' END)"


# Each deployment as the JSON document of Deployment.to_json(), built by SQLite: listing 10,000
# deployments then needs no per-field work in Python. `?` is the READY cut-off time.
DEPLOYMENT_JSON = f"""json_object(
    'id', d.id, 'name', d.name, 'flow_id', d.flow_id, 'flow_name', f.name,
    'created', d.created, 'updated', d.updated, 'version', d.version,
    'description', d.description, 'paused', {_bool("d.paused")},
    'schedules', (SELECT json_group_array(json_object(
            'id', s.id, 'schedule', json(s.schedule), 'active', {_bool("s.active")},
            'slug', s.slug, 'parameters', json(s.parameters)))
        FROM (SELECT * FROM deployment_schedules WHERE deployment_id = d.id
              ORDER BY slug) s),
    'concurrency_limit', d.concurrency_limit, 'job_variables', json(d.job_variables),
    'triggers', json(d.triggers), 'concurrency_options', json(d.concurrency_options),
    'parameters', json(d.parameters),
    'parameter_openapi_schema', json(d.parameter_openapi_schema),
    'enforce_parameter_schema', {_bool("d.enforce_parameter_schema")},
    'tags', json(d.tags), 'labels', json(d.labels), 'pull_steps', json(d.pull_steps),
    'entrypoint', d.entrypoint, 'path', d.path, 'work_pool_name', p.name,
    'work_queue_name', q.name, 'last_polled', coalesce(d.last_polled, q.last_polled),
    'status', CASE WHEN coalesce(d.last_polled, q.last_polled) >= ? THEN 'READY'
                   ELSE 'NOT_READY' END)"""
DEPLOYMENT_FROM = (
    "deployments d JOIN flows f ON f.id = d.flow_id "
    "LEFT JOIN work_queues q ON q.id = d.work_queue_id "
    "LEFT JOIN work_pools p ON p.id = q.work_pool_id"
)


def ready_cutoff() -> str:
    """Queues and deployments polled after this time are READY."""
    return iso(utcnow() - timedelta(seconds=60))


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


def state_of(conn: sqlite3.Connection, run_id: str) -> str:
    row = conn.execute("""SELECT state_type FROM flow_runs WHERE id = ?""", (run_id,)).fetchone()
    if row is None:
        raise run_not_found(run_id)
    return str(row[0])


def run_not_found(run_id: str) -> ObjectNotFound:
    return ObjectNotFound(
        f"flow run {run_id!r} not found", hint="'flowplan flow-run ls' lists runs"
    )
