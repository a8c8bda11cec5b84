"""Work pools, their queues and workers, in the local store."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from typing import Any

from flowplan.backends.local import events, rows
from flowplan.backends.local.store import Store
from flowplan.domain.names import check_name
from flowplan.domain.objects import WorkPool, WorkQueue
from flowplan.domain.pool_rules import (
    check_new_queue,
    check_queue_changes,
    new_pool_template,
    pool_changes,
    pool_in_use,
)
from flowplan.errors import InvalidInput, ObjectAlreadyExists, ObjectNotFound


class PoolsMixin:
    store: Store

    # -- pools -----------------------------------------------------------------------------------

    def create_work_pool(
        self,
        name: str,
        type: str,
        *,
        description: str | None = None,
        base_job_template: Mapping[str, Any] | None = None,
        concurrency_limit: int | None = None,
        is_paused: bool = False,
    ) -> WorkPool:
        """Create a pool with a `default` queue; the template defaults to the type's."""
        template = new_pool_template(name, type, base_job_template, concurrency_limit)
        pool_id, queue_id, now = rows.new_id(), rows.new_id(), rows.now_text()
        with self.store.write() as conn:
            if _pool_id(conn, name) is not None:
                raise ObjectAlreadyExists(
                    f"a work pool named {name!r} already exists",
                    hint="use 'work-pool update' or 'work-pool create --overwrite'",
                )
            conn.execute(
                "INSERT INTO work_pools (id, name, type, description, is_paused, concurrency_limit,"
                " base_job_template, default_queue_id, created, updated)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (pool_id, name, type, description, is_paused, concurrency_limit,
                 rows.dumps(template), queue_id, now, now),
            )  # fmt: skip
            conn.execute(
                "INSERT INTO work_queues (id, work_pool_id, name, description, priority, created,"
                " updated) VALUES (?, ?, 'default', 'The work pool''s default queue.', 1, ?, ?)",
                (queue_id, pool_id, now, now),
            )
        return self.read_work_pool(name)

    def read_work_pool(self, name: str) -> WorkPool:
        with self.store.read() as conn:
            row = conn.execute(
                f"SELECT {rows.POOL_COLUMNS} FROM work_pools p WHERE p.name = ?", (name,)
            ).fetchone()
            if row is None:
                raise _pool_not_found(conn, name)
        return rows.pool(row)

    def read_work_pools(self) -> list[WorkPool]:
        with self.store.read() as conn:
            found = conn.execute(
                f"SELECT {rows.POOL_COLUMNS} FROM work_pools p ORDER BY p.name"
            ).fetchall()
        return [rows.pool(row) for row in found]

    def update_work_pool(self, name: str, changes: Mapping[str, Any]) -> WorkPool:
        """Change some of: description, is_paused, concurrency_limit, base_job_template."""
        values = pool_changes(changes)
        if "base_job_template" in values:
            values["base_job_template"] = rows.dumps(values["base_job_template"])
        with self.store.write() as conn:
            pool_id = _require_pool(conn, name)
            before = events.pool_status(conn, pool_id)
            rows.update(conn, "work_pools", pool_id, values)
            events.pool_status_event(conn, pool_id, before)
        return self.read_work_pool(name)

    def delete_work_pool(self, name: str, *, force: bool = False) -> None:
        """Delete a pool and its queues; refused while deployments use it, unless `force`
        (those deployments are then left without a pool)."""
        with self.store.write() as conn:
            pool_id = _require_pool(conn, name)
            users = _deployments_of(conn, "q.work_pool_id = ?", pool_id)
            if users and not force:
                raise pool_in_use(name, users)
            conn.execute("DELETE FROM work_pools WHERE id = ?", (pool_id,))

    def worker_heartbeat(self, pool: str, worker: str, heartbeat_interval: float = 30) -> None:
        check_name("worker", worker)
        with self.store.write() as conn:
            pool_id = _require_pool(conn, pool)
            before = events.pool_status(conn, pool_id)
            conn.execute(
                "INSERT INTO workers (work_pool_id, name, heartbeat_interval, last_heartbeat)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (work_pool_id, name) DO UPDATE SET"
                " heartbeat_interval = excluded.heartbeat_interval,"
                " last_heartbeat = excluded.last_heartbeat",
                (pool_id, worker, heartbeat_interval, rows.now_text()),
            )
            events.pool_status_event(conn, pool_id, before)  # READY at a first heartbeat

    # -- queues ----------------------------------------------------------------------------------

    def create_work_queue(
        self,
        pool: str,
        name: str,
        *,
        description: str | None = None,
        is_paused: bool = False,
        concurrency_limit: int | None = None,
        priority: int | None = None,
    ) -> WorkQueue:
        """Create a queue; without a priority it takes the lowest free one (1 is highest)."""
        check_new_queue(name, concurrency_limit, priority)
        with self.store.write() as conn:
            pool_id = _require_pool(conn, pool)
            if _queue_id(conn, pool_id, name) is not None:
                raise ObjectAlreadyExists(f"work pool {pool!r} already has a queue named {name!r}")
            insert_queue(conn, pool_id, name, description, is_paused, concurrency_limit, priority)
        return self.read_work_queue(pool, name)

    def read_work_queue(self, pool: str, name: str) -> WorkQueue:
        with self.store.read() as conn:
            pool_id = _require_pool(conn, pool)
            row = conn.execute(
                f"SELECT {rows.QUEUE_COLUMNS} FROM work_queues q JOIN work_pools p"
                " ON p.id = q.work_pool_id WHERE q.work_pool_id = ? AND q.name = ?",
                (pool_id, name),
            ).fetchone()
            if row is None:
                raise _queue_not_found(conn, pool_id, pool, name)
        return rows.queue(row)

    def read_work_queues(self, pool: str | None = None) -> list[WorkQueue]:
        """Queues of one pool (by priority), or of every pool."""
        with self.store.read() as conn:
            where, params = "", []
            if pool is not None:
                where, params = "WHERE q.work_pool_id = ?", [_require_pool(conn, pool)]
            found = conn.execute(
                f"SELECT {rows.QUEUE_COLUMNS} FROM work_queues q JOIN work_pools p"
                f" ON p.id = q.work_pool_id {where} ORDER BY p.name, q.priority, q.name",
                params,
            ).fetchall()
        return [rows.queue(row) for row in found]

    def update_work_queue(self, pool: str, name: str, changes: Mapping[str, Any]) -> WorkQueue:
        """Change some of: description, is_paused, concurrency_limit, priority."""
        check_queue_changes(changes)
        with self.store.write() as conn:
            pool_id = _require_pool(conn, pool)
            queue_id = _queue_id(conn, pool_id, name)
            if queue_id is None:
                raise _queue_not_found(conn, pool_id, pool, name)
            if "priority" in changes:
                _make_room(conn, pool_id, changes["priority"], queue_id)
            rows.update(conn, "work_queues", queue_id, changes)
        return self.read_work_queue(pool, name)

    def delete_work_queue(self, pool: str, name: str) -> None:
        """Delete a queue (not a pool's default queue); its deployments move to the default."""
        with self.store.write() as conn:
            pool_id = _require_pool(conn, pool)
            queue_id = _queue_id(conn, pool_id, name)
            if queue_id is None:
                raise _queue_not_found(conn, pool_id, pool, name)
            default = conn.execute(
                "SELECT default_queue_id FROM work_pools WHERE id = ?", (pool_id,)
            ).fetchone()[0]
            if queue_id == default:
                raise InvalidInput(
                    f"{name!r} is the default queue of {pool!r} and cannot be deleted"
                )
            conn.execute(
                "UPDATE deployments SET work_queue_id = ? WHERE work_queue_id = ?",
                (default, queue_id),
            )
            conn.execute("DELETE FROM work_queues WHERE id = ?", (queue_id,))

    def mark_polled(self, pool: str, queues: Iterable[str] = ()) -> None:
        """Record a worker's poll of some queues (all of the pool's when none are named)."""
        names = list(queues)
        with self.store.write() as conn:
            pool_id = _require_pool(conn, pool)
            where = f" AND name IN ({','.join('?' * len(names))})" if names else ""
            events.deployments_ready_events(conn, pool_id, names, rows.ready_cutoff())
            conn.execute(
                f"UPDATE work_queues SET last_polled = ? WHERE work_pool_id = ?{where}",
                (rows.now_text(), pool_id, *names),
            )


def insert_queue(
    conn: sqlite3.Connection,
    pool_id: str,
    name: str,
    description: str | None = None,
    is_paused: bool = False,
    concurrency_limit: int | None = None,
    priority: int | None = None,
) -> str:
    """Insert a queue inside the caller's transaction; returns its id."""
    if priority is None:
        taken = {row[0] for row in conn.execute(
            "SELECT priority FROM work_queues WHERE work_pool_id = ?", (pool_id,))}  # fmt: skip
        priority = next(p for p in range(1, len(taken) + 2) if p not in taken)
    else:
        _make_room(conn, pool_id, priority, None)
    queue_id, now = rows.new_id(), rows.now_text()
    conn.execute(
        "INSERT INTO work_queues (id, work_pool_id, name, description, is_paused,"
        " concurrency_limit, priority, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (queue_id, pool_id, name, description, is_paused, concurrency_limit, priority, now, now),
    )
    return queue_id


def _make_room(conn: sqlite3.Connection, pool_id: str, priority: int, queue_id: str | None) -> None:
    """An explicit priority that is taken moves that queue and the ones after it down by one."""
    clash = conn.execute(
        "SELECT 1 FROM work_queues WHERE work_pool_id = ? AND priority = ? AND id IS NOT ?",
        (pool_id, priority, queue_id),
    ).fetchone()
    if clash:
        conn.execute(
            "UPDATE work_queues SET priority = priority + 1"
            " WHERE work_pool_id = ? AND priority >= ? AND id IS NOT ?",
            (pool_id, priority, queue_id),
        )


def _pool_id(conn: sqlite3.Connection, name: str) -> str | None:
    row = conn.execute("SELECT id FROM work_pools WHERE name = ?", (name,)).fetchone()
    return row[0] if row else None


def _require_pool(conn: sqlite3.Connection, name: str) -> str:
    pool_id = _pool_id(conn, name)
    if pool_id is None:
        raise _pool_not_found(conn, name)
    return pool_id


def _pool_not_found(conn: sqlite3.Connection, name: str) -> ObjectNotFound:
    known = [row[0] for row in conn.execute("SELECT name FROM work_pools")]
    return ObjectNotFound.named("work pool", name, known)


def _queue_id(conn: sqlite3.Connection, pool_id: str, name: str) -> str | None:
    row = conn.execute(
        "SELECT id FROM work_queues WHERE work_pool_id = ? AND name = ?", (pool_id, name)
    ).fetchone()
    return row[0] if row else None


def _queue_not_found(
    conn: sqlite3.Connection, pool_id: str, pool: str, name: str
) -> ObjectNotFound:
    known = [row[0] for row in conn.execute(
        "SELECT name FROM work_queues WHERE work_pool_id = ?", (pool_id,))]  # fmt: skip
    return ObjectNotFound.named("work queue", name, known, f" in work pool {pool!r}")


def _deployments_of(conn: sqlite3.Connection, where: str, value: str) -> list[str]:
    return [
        row[0]
        for row in conn.execute(
            "SELECT f.name || '/' || d.name FROM deployments d JOIN flows f ON f.id = d.flow_id"
            f" JOIN work_queues q ON q.id = d.work_queue_id WHERE {where} ORDER BY 1",
            (value,),
        )
    ]


def resolve_queue(
    conn: sqlite3.Connection, pool: str | None, queue: str | None
) -> tuple[str | None, dict[str, Any] | None]:
    """The queue id a deployment or run goes to, and the pool's template (for job variables).

    Pool and queue: that queue, created if missing (as Prefect does); pool only: its default
    queue; neither: no queue. A queue without a pool is refused: every queue belongs to a pool.
    """
    if pool is None:
        if queue is not None:
            raise InvalidInput(f"work queue {queue!r} given without a work pool")
        return None, None
    row = conn.execute(
        "SELECT id, default_queue_id, base_job_template FROM work_pools WHERE name = ?", (pool,)
    ).fetchone()
    if row is None:
        raise _pool_not_found(conn, pool)
    pool_id, default_queue, template = row
    if queue is None:
        return default_queue, rows.json_loads(template)
    check_name("work queue", queue)
    queue_id = _queue_id(conn, pool_id, queue) or insert_queue(conn, pool_id, queue)
    return queue_id, rows.json_loads(template)
