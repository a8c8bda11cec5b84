"""Flow runs and their state history in the local store (their logs: `logs`; deleting the old
ones: `retention`)."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from flowplan.backends.local import rows
from flowplan.backends.local.deployments import find_deployment
from flowplan.backends.local.events import flow_run_event
from flowplan.backends.local.logs import insert_logs
from flowplan.backends.local.pools import resolve_queue
from flowplan.backends.local.store import Store
from flowplan.domain.clock import iso, utcnow
from flowplan.domain.objects import FlowRun, LogLine, StateType
from flowplan.domain.pool_rules import cancel_state, check_run_values
from flowplan.errors import FlowplanError, InvalidInput

CANCELLED_BEFORE_START = "Cancelled before start"

_ADJECTIVES = ("amber", "brisk", "calm", "dapper", "eager", "fluffy", "gentle", "humble", "jolly",
               "keen", "lively", "merry", "nimble", "outgoing", "plucky", "quiet", "rapid",
               "steady", "tidy", "witty")  # fmt: skip
_ANIMALS = ("albatross", "badger", "camel", "dingo", "eagle", "ferret", "gecko", "heron", "ibis",
            "jaguar", "koala", "lemur", "marmot", "newt", "otter", "puffin", "quail", "raven",
            "stoat", "tapir")  # fmt: skip


RUN_ORDERS = frozenset({
    "expected_start_time DESC", "expected_start_time ASC", "id DESC", "start_time DESC",
    "start_time ASC", "end_time DESC", "name ASC", "name DESC", "created DESC",
})  # fmt: skip


def random_run_name() -> str:
    return f"{random.choice(_ADJECTIVES)}-{random.choice(_ANIMALS)}"


def _check_run(
    conn: sqlite3.Connection,
    deployment_id: str,
    parameters: Mapping[str, Any],
    job_variables: Mapping[str, Any] | None,
    parameters_checked: bool,
) -> None:
    """Refuse a run its deployment's schema or its pool's template refuses (as Prefect's
    server does), before it exists. `parameters_checked`: the caller has checked the
    parameters against the schema already (the server's door, in its own words)."""
    from flowplan.domain.run_checks import run_problems

    flow, name, schema, enforce, dep_variables, template = conn.execute(
        """SELECT f.name, d.name, d.parameter_openapi_schema, d.enforce_parameter_schema,
           d.job_variables, p.base_job_template FROM deployments d JOIN flows f ON f.id = d.flow_id
           LEFT JOIN work_queues q ON q.id = d.work_queue_id
           LEFT JOIN work_pools p ON p.id = q.work_pool_id WHERE d.id = ?""",
        (deployment_id,),
    ).fetchone()
    problems = run_problems(
        parameters=parameters, schema=rows.json_loads(schema),
        enforce=bool(enforce) and not parameters_checked,
        template=rows.json_loads(template) if template else None,
        job_variables=(rows.json_loads(dep_variables), job_variables),
    )  # fmt: skip
    if problems:
        raise InvalidInput(
            f"cannot create a run of deployment '{flow}/{name}': " + "; ".join(problems),
            hint=None
            if not enforce or not any(p.startswith("parameters") for p in problems)
            else "the deployment enforces its parameter schema (enforce_parameter_schema: true)",
        )


class RunsMixin:
    store: Store

    def create_flow_run(
        self,
        deployment: str,
        *,
        parameters: Mapping[str, Any] | None = None,
        name: str | None = None,
        scheduled_time: datetime | None = None,
        tags: Iterable[str] = (),
        idempotency_key: str | None = None,
        work_queue_name: str | None = None,
        job_variables: Mapping[str, Any] | None = None,
        parameters_checked: bool = False,
    ) -> FlowRun:
        """A SCHEDULED run of a deployment (by name or id). A repeated idempotency key returns
        the run it created first. `parameters_checked`: the caller has checked the merged
        parameters against the deployment's schema (`run_checks.parameter_issues`) and worded
        what it refused; they are not checked again."""
        with self.store.write() as conn:
            return create_run(conn, deployment, parameters=parameters, name=name,
                              scheduled_time=scheduled_time, tags=tags,
                              idempotency_key=idempotency_key, work_queue_name=work_queue_name,
                              job_variables=job_variables,
                              parameters_checked=parameters_checked)  # fmt: skip

    def read_flow_run(self, run_id: str) -> FlowRun:
        with self.store.read() as conn:
            return read_run(conn, run_id)

    def read_flow_runs(
        self,
        *,
        states: Sequence[StateType] = (),
        deployment: str | None = None,
        limit: int | None = None,
        name: str | None = None,
    ) -> list[FlowRun]:
        """Runs, newest expected start first, optionally of some states, one deployment or
        one name."""
        clauses, params = [], []
        with self.store.read() as conn:
            if name is not None:
                clauses.append("""r.name = ?""")
                params.append(name)
            if states:
                clauses.append(f"r.state_type IN ({','.join('?' * len(states))})")
                params += [state.value for state in states]
            if deployment is not None:
                clauses.append("""r.deployment_id = ?""")
                params.append(find_deployment(conn, deployment))
            where = rows.where(clauses)
            found = conn.execute(
                f"SELECT {rows.RUN_COLUMNS} FROM {rows.RUN_FROM} {where}"
                f" ORDER BY r.expected_start_time DESC, r.created DESC LIMIT ?",
                (*params, -1 if limit is None else limit),
            ).fetchall()
        return [rows.flow_run(row) for row in found]

    def page_flow_runs(
        self,
        *,
        ids: Sequence[str] | None = None,
        states: Sequence[StateType] = (),
        deployment_ids: Sequence[str] | None = None,
        flow_ids: Sequence[str] | None = None,
        order: str = "expected_start_time DESC",
        limit: int = 200,
        offset: int = 0,
    ) -> list[FlowRun]:
        """One page of runs narrowed in SQL (each given list: one of them), in `order`, one of
        RUN_ORDERS (what the server's `POST /flow_runs/filter` needs on a large store)."""
        if order not in RUN_ORDERS:
            raise InvalidInput(f"runs cannot be ordered by {order!r}")
        clauses, params = [], []
        for column, values in (
            ("""r.id""", ids),
            ("""r.deployment_id""", deployment_ids),
            ("""r.flow_id""", flow_ids),
            ("""r.state_type""", [state.value for state in states] or None),
        ):
            if values is not None:
                clauses.append(f"{column} IN (SELECT value FROM json_each(?))")
                params.append(rows.dumps(list(values)))
        where = rows.where(clauses)
        with self.store.read() as conn:
            found = conn.execute(
                f"SELECT {rows.RUN_COLUMNS} FROM {rows.RUN_FROM} {where}"
                f" ORDER BY r.{order}, r.id LIMIT ? OFFSET ?",
                (*params, limit, offset),
            ).fetchall()
        return [rows.flow_run(row) for row in found]

    def count_active_runs(self) -> dict[str, int]:
        """PENDING and RUNNING runs by work queue id and by work pool id (one dict)."""
        with self.store.read() as conn:
            found = conn.execute(
                """SELECT q.id, q.work_pool_id, count(*) FROM flow_runs r
                   JOIN work_queues q ON q.id = r.work_queue_id
                   WHERE r.state_type IN (?, ?) GROUP BY q.id""",
                ("PENDING", "RUNNING"),
            ).fetchall()
        counts: dict[str, int] = {}
        for queue_id, pool_id, count in found:
            counts[queue_id] = count
            counts[pool_id] = counts.get(pool_id, 0) + count
        return counts

    def set_flow_run_state(
        self,
        run_id: str,
        state_type: StateType,
        *,
        name: str | None = None,
        message: str | None = None,
        force: bool = False,
    ) -> FlowRun:
        """Move a run to a new state. A run in a final state stays there unless `force`."""
        with self.store.write() as conn:
            current = rows.state_of(conn, run_id)
            if StateType(current).is_final and not force:
                raise FlowplanError(
                    f"flow run {run_id} is already {current}; its state cannot change"
                )
            write_state(conn, run_id, state_type, name, message)
            return read_run(conn, run_id)

    def start_flow_run(self, run_id: str) -> FlowRun:
        """A run's engine starts it, in one transaction: RUNNING, or CANCELLED when it is being
        cancelled; a run in a final state already is left as it is."""
        with self.store.write() as conn:
            current = StateType(rows.state_of(conn, run_id))
            if current is StateType.CANCELLING:
                write_state(conn, run_id, StateType.CANCELLED, None, CANCELLED_BEFORE_START)
            elif not current.is_final:
                write_state(conn, run_id, StateType.RUNNING)
            return read_run(conn, run_id)

    def finish_flow_run(
        self,
        run_id: str,
        state_type: StateType,
        *,
        name: str | None = None,
        message: str | None = None,
        logs: Sequence[LogLine] = (),
    ) -> None:
        """A run's last logs and its new state in one transaction (its engine's end: one
        commit instead of two). The logs are kept even when the state is refused (the run is
        in a final state already)."""
        with self.store.write() as conn:
            insert_logs(conn, logs)
            current = rows.state_of(conn, run_id)
            final = StateType(current).is_final
            if not final:
                write_state(conn, run_id, state_type, name, message)
        if final:  # raised after the commit: the logs stay
            raise FlowplanError(f"flow run {run_id} is already {current}; its state cannot change")

    def cancel_flow_run(self, run_id: str) -> FlowRun:
        """A run that has not started is CANCELLED at once; a running one becomes CANCELLING
        (its worker stops it)."""
        target = cancel_state(self.read_flow_run(run_id))
        message = "Cancelled" if target is StateType.CANCELLED else None
        return self.set_flow_run_state(run_id, target, message=message)

    def delete_flow_run(self, run_id: str) -> None:
        with self.store.write() as conn:
            rows.state_of(conn, run_id)
            conn.execute("""DELETE FROM flow_runs WHERE id = ?""", (run_id,))


def create_run(
    conn: sqlite3.Connection,
    deployment: str,
    *,
    parameters: Mapping[str, Any] | None = None,
    name: str | None = None,
    scheduled_time: datetime | None = None,
    tags: Iterable[str] = (),
    idempotency_key: str | None = None,
    work_queue_name: str | None = None,
    job_variables: Mapping[str, Any] | None = None,
    parameters_checked: bool = False,
) -> FlowRun:
    """`create_flow_run` inside a write transaction of the caller's."""
    when = iso(scheduled_time or utcnow())
    deployment_id = find_deployment(conn, deployment)
    flow_id, pool, queue, dep_parameters, dep_tags = conn.execute(
        """SELECT d.flow_id, p.name, q.name, d.parameters, d.tags FROM deployments d
           LEFT JOIN work_queues q ON q.id = d.work_queue_id
           LEFT JOIN work_pools p ON p.id = q.work_pool_id WHERE d.id = ?""",
        (deployment_id,),
    ).fetchone()
    if idempotency_key is not None:
        row = conn.execute(
            """SELECT id FROM flow_runs WHERE flow_id = ? AND idempotency_key = ?""",
            (flow_id, idempotency_key),
        ).fetchone()
        if row:
            run_id = row[0]
            return read_run(conn, run_id)
    if work_queue_name is not None and pool is None:
        raise InvalidInput("this deployment has no work pool, so no queue can be chosen")
    queue_id, _ = resolve_queue(conn, pool, work_queue_name or queue)
    run_id, now = rows.new_id(), rows.now_text()
    merged = {**rows.json_loads(dep_parameters), **dict(parameters or {})}
    check_run_values(merged, dict(job_variables or {}))
    _check_run(conn, deployment_id, merged, job_variables, parameters_checked)
    all_tags = list(dict.fromkeys([*rows.json_loads(dep_tags), *tags]))
    conn.execute(
        """INSERT INTO flow_runs (id, name, flow_id, deployment_id, work_queue_id,
           state_type, state_name, state_timestamp, parameters, job_variables, tags,
           idempotency_key, expected_start_time, created)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        (run_id, name or random_run_name(), flow_id, deployment_id, queue_id,
         "SCHEDULED", "Scheduled", now,
         rows.dumps(merged), rows.dumps(dict(job_variables or {})), rows.dumps(all_tags),
         idempotency_key, when, now),
    )  # fmt: skip
    record_state(conn, run_id, "SCHEDULED", "Scheduled", None, now)
    return read_run(conn, run_id)


def read_run(conn: sqlite3.Connection, run_id: str) -> FlowRun:
    row = conn.execute(
        f"SELECT {rows.RUN_COLUMNS} FROM {rows.RUN_FROM} WHERE r.id = ?", (run_id,)
    ).fetchone()
    if row is None:
        raise rows.run_not_found(run_id)
    return rows.flow_run(row)


def write_state(
    conn: sqlite3.Connection,
    run_id: str,
    state_type: StateType,
    name: str | None = None,
    message: str | None = None,
) -> None:
    """Set a run's state (start and end times follow RUNNING and final states) and record it
    in the run's state history."""
    now = rows.now_text()
    state_name = name or state_type.value.capitalize()
    starts = state_type is StateType.RUNNING
    conn.execute(
        """UPDATE flow_runs SET state_type = ?, state_name = ?, state_message = ?,
           state_timestamp = ?, start_time = CASE WHEN ? AND start_time IS NULL THEN ?
           ELSE start_time END, end_time = CASE WHEN ? THEN ? ELSE end_time END
           WHERE id = ?""",
        (state_type.value, state_name, message, now, starts, now, state_type.is_final,
         now, run_id),
    )  # fmt: skip
    record_state(conn, run_id, state_type.value, state_name, message, now)


def record_state(
    conn: sqlite3.Connection,
    run_id: str,
    type_: str,
    name: str,
    message: str | None,
    now: str,
    *,
    event: bool = True,
) -> None:
    """Record a state in the run's history, and its `prefect.flow-run.<name>` event (not for
    the runs the scheduler makes in bulk: Prefect's scheduler inserts those without events)."""
    if event:
        flow_run_event(conn, run_id, type_, name, message, now)
    conn.execute(
        """INSERT INTO flow_run_states (flow_run_id, type, name, message, timestamp)
           VALUES (?, ?, ?, ?, ?)""",
        (run_id, type_, name, message, now),
    )
