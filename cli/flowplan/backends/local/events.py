"""Events and webhooks in the local store. A run's state change writes its
`prefect.flow-run.<State>` event in the same transaction as the state (one seam:
`flow_run_event`, called by `runs.record_state`), so no state goes without its event."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from flowplan.backends.local import rows
from flowplan.backends.local.store import Store
from flowplan.domain.clock import iso, utcnow
from flowplan.domain.events import Event, Webhook, webhook_problems
from flowplan.errors import InvalidInput, ObjectNotFound

_EVENT_COLUMNS = "seq, id, occurred, event, resource, related, payload, received"


def insert_event(
    conn: sqlite3.Connection,
    name: str,
    resource: Mapping[str, str],
    related: Sequence[Mapping[str, str]] = (),
    payload: Mapping[str, Any] | None = None,
    occurred: str | None = None,
) -> str:
    event_id, now = rows.new_id(), rows.now_text()
    conn.execute(
        f"INSERT INTO events ({_EVENT_COLUMNS[5:]}) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (event_id, occurred or now, name, rows.dumps(dict(resource)),
         rows.dumps([dict(item) for item in related]), rows.dumps(dict(payload or {})), now),
    )  # fmt: skip
    return event_id


def event_row(row: Sequence[Any]) -> Event:
    seq, event_id, occurred, name, resource, related, payload, received = row
    return Event(event_id, rows.time(occurred), name, rows.json_loads(resource),
                 rows.json_loads(related), rows.json_loads(payload), rows.time(received),
                 seq)  # fmt: skip


# a run's names and related objects, and its state before this one (None: a new run)
_RUN_RELATED = (
    "SELECT r.name, r.tags, f.id, f.name, d.id, d.name, q.id, q.name, p.id, p.name, p.type,"
    " s.type, s.name, s.message FROM flow_runs r JOIN flows f ON f.id = r.flow_id"
    " LEFT JOIN deployments d ON d.id = r.deployment_id"
    " LEFT JOIN work_queues q ON q.id = r.work_queue_id"
    " LEFT JOIN work_pools p ON p.id = q.work_pool_id"
    " LEFT JOIN flow_run_states s ON s.rowid = (SELECT max(rowid) FROM flow_run_states"
    " WHERE flow_run_id = r.id) WHERE r.id = ?"
)


def flow_run_event(
    conn: sqlite3.Connection, run_id: str, type_: str, name: str, message: str | None, now: str
) -> None:
    """`prefect.flow-run.<state name>` for the run, with its flow, deployment, work queue,
    work pool and tags as related resources (roles as Prefect gives them)."""
    found = conn.execute(_RUN_RELATED, (run_id,)).fetchone()
    if found is None:
        return
    run_name, tags, flow_id, flow, dep_id, dep, queue_id, queue, pool_id, pool, kind = found[:11]
    previous = found[11:] if found[11] is not None else None
    related = [_related(f"prefect.flow.{flow_id}", "flow", flow)]
    if dep_id:
        related.append(_related(f"prefect.deployment.{dep_id}", "deployment", dep))
    if queue_id:
        related.append(_related(f"prefect.work-queue.{queue_id}", "work-queue", queue))
    if pool_id:
        related.append({**_related(f"prefect.work-pool.{pool_id}", "work-pool", pool),
                        "prefect.work-pool.type": kind})  # fmt: skip
    related += [_related(f"prefect.tag.{tag}", "tag", None) for tag in rows.json_loads(tags)]
    resource = {
        "prefect.resource.id": f"prefect.flow-run.{run_id}",
        "prefect.resource.name": run_name,
        "prefect.state-message": message or "",
        "prefect.state-name": name,
        "prefect.state-timestamp": now,
        "prefect.state-type": type_,
    }
    validated = {"type": type_, "name": name, "message": message or ""}
    payload: dict[str, Any] = {
        "intended": {"from": previous[0] if previous else None, "to": type_},
        "initial_state": {"type": previous[0], "name": previous[1], "message": previous[2] or ""}
        if previous else None,
        "validated_state": validated,
    }  # fmt: skip
    insert_event(conn, f"prefect.flow-run.{name}", resource, related, payload, now)


def _related(resource_id: str, role: str, name: str | None) -> dict[str, str]:
    item = {"prefect.resource.id": resource_id, "prefect.resource.role": role}
    if name is not None:
        item["prefect.resource.name"] = name
    return item


def _webhook(row: Sequence[Any]) -> Webhook:
    return Webhook(row[0], row[1], row[2], row[3], row[4], bool(row[5]), rows.time(row[6]))


_WEBHOOK_COLUMNS = "id, name, slug, template, description, enabled, created"


class EventsMixin:
    store: Store

    def write_event(
        self,
        name: str,
        resource: Mapping[str, str],
        related: Sequence[Mapping[str, str]] = (),
        payload: Mapping[str, Any] | None = None,
    ) -> str:
        """Store one event (committed when this returns); its id."""
        with self.store.write() as conn:
            return insert_event(conn, name, resource, related, payload)

    def read_events(
        self,
        *,
        limit: int = 50,
        name: str | None = None,
        resource: str | None = None,
        after_seq: int = 0,
        before_seq: int | None = None,
        newest_first: bool = True,
    ) -> list[Event]:
        """Events, newest first (or oldest first from `after_seq`; or only those stored before
        `before_seq`); `name` may end in `*`; `resource` is a resource id, of the event's
        resource or a related one."""
        clauses: list[str] = ["seq > ?"]
        params: list[Any] = [after_seq]
        if before_seq is not None:
            clauses.append("seq < ?")
            params.append(before_seq)
        if name:
            if name.endswith("*"):
                clauses.append("event LIKE ? ESCAPE '\\'")
                params.append(_like(name[:-1]) + "%")
            else:
                clauses.append("event = ?")
                params.append(name)
        if resource:
            clauses.append("(json_extract(resource, '$.\"prefect.resource.id\"') = ? OR EXISTS"
                           " (SELECT 1 FROM json_each(related) WHERE json_extract(value,"
                           " '$.\"prefect.resource.id\"') = ?))")  # fmt: skip
            params += [resource, resource]
        order = "DESC" if newest_first else "ASC"
        with self.store.read() as conn:
            found = conn.execute(
                f"SELECT {_EVENT_COLUMNS} FROM events WHERE {' AND '.join(clauses)}"
                f" ORDER BY seq {order} LIMIT ?",
                (*params, limit),
            ).fetchall()
        return [event_row(row) for row in found]

    def prune_events(self, *, before: datetime) -> int:
        """Delete events received before `before` that trigger evaluation has passed (never
        the newest one: its `seq` keeps new events numbered after the cursor)."""
        with self.store.write() as conn:
            cursor = conn.execute(
                "SELECT seq FROM automation_cursor WHERE name = 'triggers'"
            ).fetchone()
            newest = conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
            limit = min(newest - 1, cursor[0] if cursor else newest - 1)
            return conn.execute(
                "DELETE FROM events WHERE seq <= ? AND received < ?", (limit, iso(before))
            ).rowcount

    # -- webhooks ------------------------------------------------------------------------------

    def create_webhook(
        self,
        name: str,
        template: str,
        *,
        description: str = "",
        slug: str | None = None,
        enabled: bool = True,
    ) -> Webhook:
        """A webhook with an unguessable slug (unless one is given); a bad template is refused."""
        problems = webhook_problems(template)
        if problems:
            raise InvalidInput(f"webhook {name!r}: " + "; ".join(problems))
        if not name.strip():
            raise InvalidInput("a webhook needs a name")
        import secrets  # here: not needed by a command that only reads

        chosen = slug or secrets.token_urlsafe(16)
        if not chosen.replace("-", "").replace("_", "").isalnum() or len(chosen) > 128:
            raise InvalidInput(f"webhook slug {chosen!r}: use letters, digits, '-' and '_'"
                               " (at most 128)")  # fmt: skip
        now = rows.now_text()
        with self.store.write() as conn:
            taken = conn.execute(
                "SELECT name FROM webhooks WHERE name = ? OR slug = ?", (name, chosen)
            ).fetchone()
            if taken:
                raise InvalidInput(f"a webhook named {taken[0]!r} already exists"
                                   + (" with that slug" if taken[0] != name else ""))  # fmt: skip
            webhook_id = rows.new_id()
            conn.execute(
                f"INSERT INTO webhooks ({_WEBHOOK_COLUMNS}, updated) VALUES (?, ?, ?, ?, ?, ?, ?,"
                " ?)",
                (webhook_id, name, chosen, template, description, int(enabled), now, now),
            )
            return _webhook(conn.execute(
                f"SELECT {_WEBHOOK_COLUMNS} FROM webhooks WHERE id = ?", (webhook_id,)
            ).fetchone())  # fmt: skip

    def read_webhooks(self) -> list[Webhook]:
        with self.store.read() as conn:
            found = conn.execute(f"SELECT {_WEBHOOK_COLUMNS} FROM webhooks ORDER BY name")
            return [_webhook(row) for row in found.fetchall()]

    def webhook_by_slug(self, slug: str) -> Webhook | None:
        with self.store.read() as conn:
            row = conn.execute(
                f"SELECT {_WEBHOOK_COLUMNS} FROM webhooks WHERE slug = ?", (slug,)
            ).fetchone()
        return _webhook(row) if row else None

    def update_webhook(self, name: str, values: Mapping[str, Any]) -> None:
        """Change a webhook's template, description or enabled (its slug stays)."""
        template = values.get("template")
        problems = webhook_problems(template) if isinstance(template, str) else []
        if problems:
            raise InvalidInput(f"webhook {name!r}: " + "; ".join(problems))
        allowed = {key: (int(value) if key == "enabled" else value)
                   for key, value in values.items()
                   if key in ("template", "description", "enabled")}  # fmt: skip
        with self.store.write() as conn:
            row = conn.execute("SELECT id FROM webhooks WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise ObjectNotFound(f"webhook {name!r} not found",
                                     hint="'flowplan webhook ls' lists webhooks")  # fmt: skip
            rows.update(conn, "webhooks", row[0], allowed)

    def delete_webhook(self, name: str) -> None:
        with self.store.write() as conn:
            if not conn.execute("DELETE FROM webhooks WHERE name = ?", (name,)).rowcount:
                raise ObjectNotFound(f"webhook {name!r} not found",
                                     hint="'flowplan webhook ls' lists webhooks")  # fmt: skip


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# -- status events: the changes flowplan makes happen at a seam ---------------------------------
# A pool's status is derived (PAUSED, READY while a worker's heartbeat is recent, NOT_READY),
# as is a deployment's (READY while a worker polls its queue). So the changes to READY (a
# heartbeat, a poll) and to and from PAUSED (an update) have a seam and get Prefect's events;
# a status that lapses with time (NOT_READY) has none and gets no event.

POOL_READY_SECONDS = 90  # as WorkPool.status
_POOL_STATUS = (
    "SELECT p.name, p.type, p.is_paused, (SELECT max(last_heartbeat) FROM workers w"
    " WHERE w.work_pool_id = p.id) FROM work_pools p WHERE p.id = ?"
)


def pool_status(conn: sqlite3.Connection, pool_id: str) -> str:
    """The status of a pool its caller has found in this transaction."""
    row = conn.execute(_POOL_STATUS, (pool_id,)).fetchone()
    if row[2]:
        return "PAUSED"
    cutoff = utcnow() - timedelta(seconds=POOL_READY_SECONDS)
    return "READY" if row[3] is not None and rows.time(row[3]) >= cutoff else "NOT_READY"


def pool_status_event(conn: sqlite3.Connection, pool_id: str, before: str) -> None:
    """`prefect.work-pool.<status>` when the pool's status is no longer `before`."""
    after = pool_status(conn, pool_id)
    if after == before:
        return
    name, kind = conn.execute("SELECT name, type FROM work_pools WHERE id = ?",
                              (pool_id,)).fetchone()  # fmt: skip
    insert_event(conn, f"prefect.work-pool.{after.lower().replace('_', '-')}",
                 {"prefect.resource.id": f"prefect.work-pool.{pool_id}",
                  "prefect.resource.name": name, "prefect.work-pool.type": kind})  # fmt: skip


def deployments_ready_events(
    conn: sqlite3.Connection, pool_id: str, queues: Sequence[str], cutoff: str
) -> None:
    """`prefect.deployment.ready` for each deployment on the polled queues that was not READY
    (not polled since `cutoff`); call before recording the poll."""
    where = f" AND q.name IN ({','.join('?' * len(queues))})" if queues else ""
    found = conn.execute(
        "SELECT d.id, d.name, f.id, f.name, q.id, q.name, p.name, p.type FROM deployments d"
        " JOIN flows f ON f.id = d.flow_id JOIN work_queues q ON q.id = d.work_queue_id"
        " JOIN work_pools p ON p.id = q.work_pool_id WHERE q.work_pool_id = ?"
        f" AND coalesce(coalesce(d.last_polled, q.last_polled) < ?, 1){where}",
        (pool_id, cutoff, *queues),
    ).fetchall()
    for dep_id, dep, flow_id, flow, queue_id, queue, pool, kind in found:
        related = [
            _related(f"prefect.flow.{flow_id}", "flow", flow),
            _related(f"prefect.work-queue.{queue_id}", "work-queue", queue),
            {**_related(f"prefect.work-pool.{pool_id}", "work-pool", pool),
             "prefect.work-pool.type": kind},
        ]  # fmt: skip
        insert_event(conn, "prefect.deployment.ready",
                     {"prefect.resource.id": f"prefect.deployment.{dep_id}",
                      "prefect.resource.name": dep}, related)  # fmt: skip
