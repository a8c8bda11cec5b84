"""What the web UI's pages read that the backend's methods do not give in one query: runs by
state over a period, each deployment's next scheduled run, workers with their heartbeats.
Read-only SQL on the store, each one indexed query (pages stay fast on a large store)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from flowplan.domain.clock import utcnow

if TYPE_CHECKING:
    from flowplan.backends.local import LocalBackend


@dataclass(frozen=True)
class Worker:
    pool: str
    name: str
    last_heartbeat: datetime
    heartbeat_interval: float

    @property
    def online(self) -> bool:
        return utcnow() - self.last_heartbeat <= timedelta(seconds=3 * self.heartbeat_interval)


def runs_by_state(backend: LocalBackend, since: datetime) -> dict[str, int]:
    """How many runs were expected to start between `since` and now, by state type (LATE
    apart from SCHEDULED: Late is a SCHEDULED state's name). One count per state type on the
    state index, so a large store is not read row by row."""
    from flowplan.domain.objects import StateType

    window = (since.isoformat(), utcnow().isoformat())
    counts = {}
    with backend.store.read() as conn:
        for state in StateType:
            counts[state.value] = int(conn.execute(
                "SELECT count(*) FROM flow_runs INDEXED BY flow_runs_by_state"
                " WHERE state_type = ? AND expected_start_time BETWEEN ? AND ?",
                (state.value, *window),
            ).fetchone()[0])  # fmt: skip
        counts["LATE"] = int(conn.execute(
            "SELECT count(*) FROM flow_runs INDEXED BY flow_runs_by_state WHERE state_type ="
            " 'SCHEDULED' AND expected_start_time BETWEEN ? AND ? AND state_name = 'Late'",
            window,
        ).fetchone()[0])  # fmt: skip
    counts["SCHEDULED"] -= counts["LATE"]
    return {state: count for state, count in counts.items() if count}


def late_run_ids(backend: LocalBackend, limit: int) -> list[str]:
    """The runs that are late, longest late first."""
    with backend.store.read() as conn:
        found = conn.execute(
            "SELECT id FROM flow_runs WHERE state_type = 'SCHEDULED' AND state_name = 'Late'"
            " ORDER BY expected_start_time LIMIT ?",
            (limit,),
        ).fetchall()
    return [str(row[0]) for row in found]


def next_runs(backend: LocalBackend, deployment_ids: list[str]) -> dict[str, datetime]:
    """The earliest SCHEDULED run of each of these deployments."""
    from flowplan.backends.local import rows

    if not deployment_ids:
        return {}
    with backend.store.read() as conn:
        found = conn.execute(
            "SELECT d.value, (SELECT min(expected_start_time) FROM flow_runs r"
            " WHERE r.deployment_id = d.value AND r.state_type = 'SCHEDULED')"
            " FROM json_each(?) d",
            (rows.dumps(deployment_ids),),
        ).fetchall()
    return {str(dep): datetime.fromisoformat(when) for dep, when in found if when}


def workers(backend: LocalBackend) -> list[Worker]:
    with backend.store.read() as conn:
        found = conn.execute(
            "SELECT p.name, w.name, w.last_heartbeat, w.heartbeat_interval FROM workers w"
            " JOIN work_pools p ON p.id = w.work_pool_id ORDER BY p.name, w.name"
        ).fetchall()
    return [Worker(pool, name, datetime.fromisoformat(beat), float(interval))
            for pool, name, beat, interval in found]  # fmt: skip


def deployment_page(
    backend: LocalBackend, name_filter: str, offset: int, size: int, *, tag: str = "",
    pool: str = "",
) -> list[str]:  # fmt: skip
    """One page of deployment ids, by full name, whose full name contains `name_filter`, with
    the tag `tag` and in the work pool `pool` when given."""
    clauses, args = ["instr(lower(f.name || '/' || d.name), lower(?)) > 0"], [name_filter]
    if tag:
        clauses.append("EXISTS (SELECT 1 FROM json_each(d.tags) t WHERE t.value = ?)")
        args.append(tag)
    if pool:
        clauses.append("d.work_queue_id IN (SELECT q.id FROM work_queues q JOIN work_pools p"
                       " ON p.id = q.work_pool_id WHERE p.name = ?)")  # fmt: skip
        args.append(pool)
    with backend.store.read() as conn:
        found = conn.execute(
            "SELECT d.id FROM deployments d JOIN flows f ON f.id = d.flow_id"
            f" WHERE {' AND '.join(clauses)} ORDER BY f.name, d.name LIMIT ? OFFSET ?",
            (*args, size, offset),
        ).fetchall()
    return [str(row[0]) for row in found]


def state_history(backend: LocalBackend, run_id: str) -> list[tuple[str, str, datetime, str]]:
    """A run's states, oldest first: (type, name, timestamp, message)."""
    with backend.store.read() as conn:
        found = conn.execute(
            "SELECT type, name, timestamp, message FROM flow_run_states WHERE flow_run_id = ?"
            " ORDER BY timestamp, rowid",
            (run_id,),
        ).fetchall()
    return [(str(kind), str(name), datetime.fromisoformat(at), message or "")
            for kind, name, at, message in found]  # fmt: skip


def run_page(
    backend: LocalBackend, kinds: list[str], before: tuple[str, str] | None, size: int
) -> list[str]:
    """The ids of the `size` runs of these state types (all when empty) expected to start
    last, before the `(expected_start_time, id)` cursor: one index range per state type (no
    sort of the whole table, at any depth), merged here."""
    from flowplan.domain.objects import StateType

    found: list[tuple[str, str]] = []
    with backend.store.read() as conn:
        for kind in kinds or [state.value for state in StateType]:
            args: tuple[str, ...] = ()
            sql = ""
            if before is not None:
                sql = " AND (expected_start_time < ? OR (expected_start_time = ? AND id < ?))"
                args = (before[0], before[0], before[1])
            found += conn.execute(
                "SELECT expected_start_time, id FROM flow_runs INDEXED BY flow_runs_by_state"
                f" WHERE state_type = ?{sql} ORDER BY expected_start_time DESC, id DESC LIMIT ?",
                (kind, *args, size),
            ).fetchall()
    found.sort(reverse=True)
    return [str(run_id) for _, run_id in found[:size]]
