"""Flows, deployments and deployment schedules in the local store."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from flowplan.backends.local import rows, unreadable
from flowplan.backends.local.pools import resolve_queue
from flowplan.backends.local.schedules import reconcile_schedules
from flowplan.backends.local.store import Store
from flowplan.domain.objects import (
    Deployment,
    DeploymentSchedule,
    Flow,
    SkippedSchedule,
    schedule_problem,
)
from flowplan.errors import DeploymentNotFound, InvalidInput, UnreadableRow

if TYPE_CHECKING:  # the checks are imported where they are used: `flow-run ls` needs none
    from flowplan.domain.specs import DeploymentSpec

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_JSON_FIELDS = (
    "job_variables",
    "parameters",
    "parameter_openapi_schema",
    "labels",
    "pull_steps",
    "triggers",
    "concurrency_options",
)


class DeploymentsMixin:
    store: Store

    def read_flows(self) -> list[Flow]:
        with self.store.read() as conn:
            found = conn.execute("""SELECT id, name, created FROM flows ORDER BY name""").fetchall()
        return [Flow(row[0], row[1], rows.time(row[2])) for row in found]

    def upsert_deployments(
        self, specs: Sequence[DeploymentSpec], *, new: bool = False
    ) -> list[Deployment]:
        """Create or replace deployments, all in one transaction.

        Every field is written as given, except `paused` and `schedules` when they are None
        (left alone). Schedules are matched by slug: a matched schedule keeps its id, and its
        active flag unless the spec gives one; stored schedules not in the spec are removed.
        """
        from flowplan.domain.specs import check_spec

        seen: set[str] = set()
        for spec in specs:
            check_spec(spec)
            if spec.full_name in seen:
                raise InvalidInput(f"deployment {spec.full_name!r} is given twice")
            seen.add(spec.full_name)
        ids = []
        with self.store.write() as conn:
            flows: dict[str, str] = {}
            for spec in specs:
                if spec.flow_name not in flows:
                    flows[spec.flow_name] = _ensure_flow(conn, spec.flow_name)
                ids.append(_upsert(conn, flows[spec.flow_name], spec))
        return self.read_deployments(ids=ids)

    def read_deployment(self, name: str) -> Deployment:
        """By `flow/deployment`, by id, or by a bare deployment name that only one flow has."""
        with self.store.read() as conn:
            deployment_id = find_deployment(conn, name)
        return self.read_deployments(ids=[deployment_id])[0]

    def read_deployment_leniently(self, name: str) -> tuple[Deployment, list[SkippedSchedule]]:
        """A deployment as `read_deployment` reads it, except that a stored schedule that
        cannot be read (the scheduler skips it) is set apart with the reason instead of
        making the whole deployment unreadable (what `deployment inspect` shows)."""
        with self.store.read() as conn:
            deployment_id = find_deployment(conn, name)
        documents, bad = self._documents(None, None, [deployment_id])
        if bad or not documents:
            raise bad[0] if bad else DeploymentNotFound(f"deployment {name!r} not found")
        data = json.loads(documents[0])
        readable, skipped = [], []
        for item in data["schedules"]:
            try:
                DeploymentSchedule.from_json(item)
            except (ValueError, TypeError, KeyError) as exc:
                skipped.append(SkippedSchedule(
                    str(item.get("id")), str(item.get("slug")), item.get("schedule"),
                    bool(item.get("active")), schedule_problem(exc),
                ))  # fmt: skip
            else:
                readable.append(item)
        try:
            deployment = Deployment.from_json({**data, "schedules": readable})
        except (ValueError, TypeError, KeyError) as exc:
            full_name = f"{data['flow_name']}/{data['name']}"
            raise unreadable.deployment(data["id"], full_name, str(exc)) from None
        return deployment, skipped

    def read_deployments(
        self,
        *,
        flow_name: str | None = None,
        work_pool_name: str | None = None,
        ids: Sequence[str] | None = None,
    ) -> list[Deployment]:
        """Deployments ordered by full name, or in the order of `ids` when given. A row that
        cannot be read is left out with a warning; one asked for by id raises UnreadableRow."""
        documents, bad = self._documents(flow_name, work_pool_name, ids)
        result = []
        for document in documents:
            data = json.loads(document)
            try:
                result.append(Deployment.from_json(data))
            except (ValueError, TypeError, KeyError) as exc:
                name = f"{data['flow_name']}/{data['name']}"
                bad.append(unreadable.deployment(data["id"], name, str(exc)))
        if ids is not None and bad:
            raise bad[0]
        unreadable.warn(bad)
        if ids is not None:
            position = {deployment_id: index for index, deployment_id in enumerate(ids)}
            result.sort(key=lambda deployment: position[deployment.id])
        return result

    def export_deployments(
        self,
        *,
        flow_name: str | None = None,
        work_pool_name: str | None = None,
        ids: Sequence[str] | None = None,
    ) -> list[str]:
        """Deployments as JSON text in the form of `Deployment.to_json()`, by full name."""
        documents, bad = self._documents(flow_name, work_pool_name, ids)
        unreadable.warn(bad)
        return documents

    def _documents(
        self, flow_name: str | None, work_pool_name: str | None, ids: Sequence[str] | None
    ) -> tuple[list[str], list[UnreadableRow]]:
        clauses, params = [], [rows.ready_cutoff()]
        if flow_name is not None:
            clauses.append("""f.name = ?""")
            params.append(flow_name)
        if work_pool_name is not None:
            clauses.append("""p.name = ?""")
            params.append(work_pool_name)
        if ids is not None:
            clauses.append("""d.id IN (SELECT value FROM json_each(?))""")
            params.append(rows.dumps(list(ids)))
        where = rows.where(clauses)
        with self.store.read() as conn:
            try:
                found = conn.execute(
                    f"""SELECT {rows.DEPLOYMENT_JSON} FROM {rows.DEPLOYMENT_FROM} {where}
                        ORDER BY f.name, d.name""",
                    params,
                ).fetchall()
            except sqlite3.OperationalError as exc:
                if not unreadable.is_json_error(exc):
                    raise
                return unreadable.deployment_documents(
                    conn,
                    f"SELECT {rows.DEPLOYMENT_JSON} FROM {rows.DEPLOYMENT_FROM} WHERE d.id = ?",
                    f"""SELECT d.id, f.name || '/' || d.name FROM {rows.DEPLOYMENT_FROM} {where}
                        ORDER BY f.name, d.name""",
                    params,
                )
        return [row[0] for row in found], []

    def update_deployment(self, deployment_id: str, changes: Mapping[str, Any]) -> Deployment:
        """Change some fields of a deployment (see DEPLOYMENT_FIELDS). `schedules` (ScheduleSpecs)
        are reconciled by slug, as in `upsert_deployments`."""
        from flowplan.domain.specs import check_changes, check_job_variables

        check_changes(changes)
        with self.store.write() as conn:
            current = _current(conn, deployment_id)
            values = {
                key: value
                for key, value in changes.items()
                if not key.startswith("work_") and key != "schedules"
            }
            if changes.get("schedules") is not None:
                reconcile_schedules(conn, deployment_id, changes["schedules"], rows.now_text())
            if "work_pool_name" in changes or "work_queue_name" in changes:
                pool = changes.get("work_pool_name", current["pool"])
                same_pool = pool == current["pool"]
                queue = changes.get("work_queue_name", current["queue"] if same_pool else None)
                values["work_queue_id"], template = resolve_queue(conn, pool, queue)
            else:
                template = _template_of(conn, current["queue_id"])
            job_variables = changes.get("job_variables", current["job_variables"])
            check_job_variables(deployment_id, job_variables, template)
            for key in (*_JSON_FIELDS, "tags"):
                if key in values:
                    values[key] = None if values[key] is None else rows.dumps(values[key])
            rows.update(conn, """deployments""", deployment_id, values)
        return self.read_deployments(ids=[deployment_id])[0]

    def delete_deployment(self, deployment_id: str) -> None:
        """Delete a deployment, its schedules and its runs that have not started yet."""
        with self.store.write() as conn:
            _current(conn, deployment_id)
            conn.execute(
                """DELETE FROM flow_runs WHERE deployment_id = ? AND state_type = ?""",
                (deployment_id, "SCHEDULED"),
            )
            conn.execute("""DELETE FROM deployments WHERE id = ?""", (deployment_id,))


def _ensure_flow(conn: sqlite3.Connection, name: str) -> str:
    row = conn.execute("""SELECT id FROM flows WHERE name = ?""", (name,)).fetchone()
    if row:
        return str(row[0])
    flow_id = rows.new_id()
    conn.execute(
        """INSERT INTO flows (id, name, created) VALUES (?, ?, ?)""",
        (flow_id, name, rows.now_text()),
    )
    return flow_id


def _upsert(conn: sqlite3.Connection, flow_id: str, spec: DeploymentSpec) -> str:
    from flowplan.domain.specs import check_job_variables

    queue_id, template = resolve_queue(conn, spec.work_pool_name, spec.work_queue_name)
    check_job_variables(spec.full_name, spec.job_variables, template)
    now = rows.now_text()
    row = conn.execute(
        """SELECT id FROM deployments WHERE flow_id = ? AND name = ?""", (flow_id, spec.name)
    ).fetchone()
    values = {
        "version": spec.version, "description": spec.description,
        "concurrency_limit": spec.concurrency_limit,
        "job_variables": rows.dumps(spec.job_variables),
        "parameters": rows.dumps(spec.parameters),
        "parameter_openapi_schema": rows.dumps(spec.parameter_openapi_schema),
        "enforce_parameter_schema": spec.enforce_parameter_schema is not False,
        "tags": rows.dumps(list(spec.tags)), "labels": rows.dumps(spec.labels),
        "pull_steps": None if spec.pull_steps is None else rows.dumps(spec.pull_steps),
        "triggers": rows.dumps(spec.triggers),
        "concurrency_options": None
        if spec.concurrency_options is None
        else rows.dumps(spec.concurrency_options),
        "entrypoint": spec.entrypoint, "path": spec.path, "work_queue_id": queue_id,
    }  # fmt: skip
    if row is None:
        deployment_id = rows.new_id()
        values.update(id=deployment_id, flow_id=flow_id, name=spec.name, paused=bool(spec.paused),
                      created=now, updated=now)  # fmt: skip
        marks = ", ".join("?" * len(values))
        conn.execute(
            f"INSERT INTO deployments ({', '.join(values)}) VALUES ({marks})",
            tuple(values.values()),
        )
    else:
        deployment_id = row[0]
        if spec.paused is not None:
            values["paused"] = spec.paused
        if spec.enforce_parameter_schema is None:
            del values["enforce_parameter_schema"]  # not declared: the stored flag stays
        rows.update(conn, """deployments""", deployment_id, values)
    if spec.schedules is not None:
        reconcile_schedules(conn, deployment_id, spec.schedules, now)
    return str(deployment_id)


def find_deployment(conn: sqlite3.Connection, name: str) -> str:
    if "/" in name:
        flow, _, deployment = name.partition("/")
        row = conn.execute(
            """SELECT d.id FROM deployments d JOIN flows f ON f.id = d.flow_id
               WHERE f.name = ? AND d.name = ?""",
            (flow, deployment),
        ).fetchone()
    elif _UUID.fullmatch(name):
        row = conn.execute("""SELECT id FROM deployments WHERE id = ?""", (name,)).fetchone()
    else:
        matches = conn.execute(
            """SELECT d.id, f.name || ? || d.name FROM deployments d JOIN flows f
               ON f.id = d.flow_id WHERE d.name = ? ORDER BY 2""",
            ("/", name),
        ).fetchall()
        if len(matches) > 1:
            raise InvalidInput(
                f"deployment name {name!r} matches {len(matches)} flows: "
                + ", ".join(match[1] for match in matches),
                hint="use the full name 'flow-name/deployment-name'",
            )
        row = matches[0] if matches else None
    if row is None:
        known = [
            r[0]
            for r in conn.execute(
                """SELECT f.name || ? || d.name FROM deployments d
                   JOIN flows f ON f.id = d.flow_id""",
                ("/",),
            )
        ]
        raise DeploymentNotFound.named("deployment", name, known)
    return str(row[0])


def _current(conn: sqlite3.Connection, deployment_id: str) -> dict[str, Any]:
    row = conn.execute(
        """SELECT d.work_queue_id, p.name, q.name, d.job_variables FROM deployments d
           LEFT JOIN work_queues q ON q.id = d.work_queue_id
           LEFT JOIN work_pools p ON p.id = q.work_pool_id WHERE d.id = ?""",
        (deployment_id,),
    ).fetchone()
    if row is None:
        raise DeploymentNotFound(f"deployment {deployment_id!r} not found")
    return {"queue_id": row[0], "pool": row[1], "queue": row[2],
            "job_variables": rows.json_loads(row[3])}  # fmt: skip


def _template_of(conn: sqlite3.Connection, queue_id: str | None) -> dict[str, Any] | None:
    if queue_id is None:
        return None
    row = conn.execute(
        """SELECT p.base_job_template FROM work_queues q JOIN work_pools p
           ON p.id = q.work_pool_id WHERE q.id = ?""",
        (queue_id,),
    ).fetchone()
    return rows.json_loads(row[0]) if row else None
