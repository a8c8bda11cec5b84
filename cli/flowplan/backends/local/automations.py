"""Deployment triggers acting on the store's events. One pass (`evaluate_triggers`) is one write
transaction: it reads the events after the shared cursor, counts them into each trigger's
buckets, creates the runs of the firings, records the firings, and moves the cursor, all
committed together. So a process killed mid-pass leaves no half-done firing, and a restart
neither loses nor repeats one; several processes evaluating the same store take turns (the
cursor is one row). A run's idempotency key is its automation and triggering event, too."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flowplan.backends.local import rows
from flowplan.backends.local.events import _EVENT_COLUMNS, event_row
from flowplan.backends.local.runs import create_run, read_run
from flowplan.backends.local.store import Store
from flowplan.domain.clock import utcnow
from flowplan.domain.events import Event
from flowplan.domain.trigger_eval import Firing, on_clock, on_event, on_event_composite
from flowplan.domain.triggers import canonical_trigger
from flowplan.errors import FlowplanError, StoreError

CURSOR = "triggers"
BATCH = 500  # events per pass


@dataclass(frozen=True)
class Automation:
    key: str  # <deployment id>/<automation name>
    name: str
    deployment_id: str
    deployment: str  # flow/deployment
    item: dict[str, Any]  # the canonical trigger (domain.triggers)


@dataclass(frozen=True)
class FiringRecord:
    automation: str
    deployment: str | None
    event_id: str | None
    event_name: str | None
    flow_run_id: str | None
    fired: datetime
    reason: str
    error: str | None


def _automations(conn: sqlite3.Connection) -> list[Automation]:
    found = conn.execute(
        """SELECT d.id, f.name || ? || d.name, d.name, d.triggers FROM deployments d
           JOIN flows f ON f.id = d.flow_id WHERE d.triggers != ? ORDER BY 2""",
        ("/", "[]"),
    ).fetchall()
    automations = []
    for deployment_id, full, name, triggers in found:
        for index, trigger in enumerate(rows.json_loads(triggers), start=1):
            item = canonical_trigger(trigger, index, name)
            if item["trigger"]["type"] not in ("event", "compound", "sequence"):
                continue
            automations.append(Automation(f"{deployment_id}/{item['name']}", item["name"],
                                          deployment_id, full, item))  # fmt: skip
    return automations


def _context(conn: sqlite3.Connection, event: Event | None) -> dict[str, Any]:
    """What `{{ }}` in a trigger's parameters sees: `event`, and `flow_run` when the event is
    about a flow run (its parameters, name, state, tags)."""
    if event is None:
        return {}
    context: dict[str, Any] = {"event": event.as_json()}
    resource = event.resource.get("prefect.resource.id", "")
    if resource.startswith("prefect.flow-run."):
        try:
            run = read_run(conn, resource[len("prefect.flow-run.") :])
        except FlowplanError:
            return context
        context["flow_run"] = {
            "id": run.id, "name": run.name, "parameters": dict(run.parameters),
            "tags": list(run.tags), "deployment_id": run.deployment_id,
            "state": {"type": run.state.type.value, "name": run.state.name},
        }  # fmt: skip
    return context


def _fire(conn: sqlite3.Connection, automation: Automation, firing: Firing, now: str) -> None:
    """Create the firing's run (once: its key is unique) and record the firing, or its error."""
    from flowplan.domain.event_template import TemplateError, render_value  # only when firing

    if conn.execute(
        """SELECT 1 FROM firings WHERE automation = ? AND event_id = ?""",
        (automation.key, firing.key),
    ).fetchone():
        return
    item, run_id, error = automation.item, None, None
    conn.execute("""SAVEPOINT firing""")
    try:
        context = _context(conn, firing.event)
        parameters = render_value(item.get("parameters") or {}, context)
        job_variables = render_value(item.get("job_variables") or {}, context)
        after = float(item.get("schedule_after") or 0)
        run = create_run(
            conn, automation.deployment_id, parameters=parameters, job_variables=job_variables,
            idempotency_key=f"trigger {automation.key} {firing.key}",
            scheduled_time=utcnow() + timedelta(seconds=after) if after else None,
        )  # fmt: skip
        run_id = run.id
        conn.execute("""RELEASE firing""")
    except StoreError:
        raise  # the store itself: the whole pass fails and is tried again
    except (FlowplanError, TemplateError, ValueError, TypeError) as exc:
        conn.execute("""ROLLBACK TO firing""")
        conn.execute("""RELEASE firing""")
        error = str(exc)
    conn.execute(
        """INSERT INTO firings (id, automation, deployment_id, event_id, flow_run_id, fired,
           reason, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
        (rows.new_id(), automation.key, automation.deployment_id, firing.key, run_id, now,
         firing.reason, error),
    )  # fmt: skip


class AutomationsMixin:
    store: Store

    def evaluate_triggers(self, *, now: datetime | None = None, batch: int = BATCH) -> int:
        """One pass over the events not yet evaluated (at most `batch`) and the clock; the
        number of events read (a full batch: call again)."""
        moment = now or utcnow()
        stamp = rows.now_text()
        with self.store.read() as conn:  # idle: no write transaction, nothing to wait for
            cursor_now = conn.execute(
                """SELECT seq FROM automation_cursor WHERE name = ?""", (CURSOR,)
            ).fetchone()
            newest = conn.execute("""SELECT coalesce(max(seq), 0) FROM events""").fetchone()[0]
            clock = conn.execute(
                "SELECT 1 FROM deployments WHERE triggers LIKE '%Proactive%' LIMIT 1"
            ).fetchone()
        if cursor_now is not None and cursor_now[0] >= newest and clock is None:
            return 0
        with self.store.write() as conn:
            cursor_row = conn.execute(
                """SELECT seq FROM automation_cursor WHERE name = ?""", (CURSOR,)
            ).fetchone()
            if cursor_row is None:  # first evaluation ever: from now on, not the past
                start = conn.execute("""SELECT coalesce(max(seq), 0) FROM events""").fetchone()[0]
                conn.execute("""INSERT INTO automation_cursor (name, seq) VALUES (?, ?)""",
                             (CURSOR, start))  # fmt: skip
                return 0
            automations = _automations(conn)
            events = [event_row(row) for row in conn.execute(
                f"SELECT {_EVENT_COLUMNS} FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                (cursor_row[0], batch),
            ).fetchall()]  # fmt: skip
            if not automations:
                if events:
                    conn.execute("""UPDATE automation_cursor SET seq = ? WHERE name = ?""",
                                 (events[-1].seq, CURSOR))  # fmt: skip
                return len(events)
            states = dict(conn.execute(
                """SELECT automation, buckets FROM automation_state"""
            ).fetchall())  # fmt: skip
            changed = set()
            for automation in automations:
                if not automation.item["enabled"]:  # canonical_trigger sets it, and "type"
                    continue
                trigger = automation.item["trigger"]
                buckets = rows.json_loads(states.get(automation.key) or "{}")
                before = rows.dumps(buckets)
                fired: list[Firing] = []
                step = on_event if trigger["type"] == "event" else on_event_composite
                for event in events:
                    fired += step(trigger, buckets, event)
                fired += on_clock(trigger, buckets, moment)
                for firing in fired:
                    _fire(conn, automation, firing, stamp)
                if rows.dumps(buckets) != before or automation.key not in states:
                    changed.add(automation.key)
                    states[automation.key] = rows.dumps(buckets)
            for automation in automations:
                if automation.key in changed:
                    conn.execute(
                        """INSERT INTO automation_state (automation, deployment_id, trigger,
                           buckets, updated) VALUES (?, ?, ?, ?, ?) ON CONFLICT (automation) DO
                           UPDATE SET buckets = excluded.buckets, updated = excluded.updated""",
                        (automation.key, automation.deployment_id,
                         rows.dumps(automation.item["trigger"]), states[automation.key], stamp),
                    )  # fmt: skip
            if events:
                conn.execute("""UPDATE automation_cursor SET seq = ? WHERE name = ?""",
                             (events[-1].seq, CURSOR))  # fmt: skip
            return len(events)

    def read_automations(self) -> list[Automation]:
        with self.store.read() as conn:
            return _automations(conn)

    def read_firings(self, *, limit: int = 50, flow_run_id: str | None = None,
                     automation: str | None = None) -> list[FiringRecord]:  # fmt: skip
        clauses, params = [], []
        if flow_run_id:
            clauses.append("""x.flow_run_id = ?""")
            params.append(flow_run_id)
        if automation:
            clauses.append("""x.automation = ?""")
            params.append(automation)
        where = rows.where(clauses)
        with self.store.read() as conn:
            found = conn.execute(
                f"""SELECT x.automation, f.name || ? || d.name, x.event_id, e.event,
                    x.flow_run_id, x.fired, x.reason, x.error FROM firings x
                    LEFT JOIN deployments d ON d.id = x.deployment_id
                    LEFT JOIN flows f ON f.id = d.flow_id
                    LEFT JOIN events e ON e.id = x.event_id {where}
                    ORDER BY x.fired DESC, x.rowid DESC LIMIT ?""",
                ("/", *params, limit),
            ).fetchall()
        return [FiringRecord(row[0].split("/", 1)[-1], row[1], row[2], row[3], row[4],
                             rows.time(row[5]), row[6], row[7]) for row in found]  # fmt: skip

    def firing_counts(self, keys: Sequence[str]) -> dict[str, tuple[int, str | None]]:
        """Per automation key: how many firings, and when the last was."""
        with self.store.read() as conn:
            found = conn.execute(
                """SELECT automation, count(*), max(fired) FROM firings WHERE automation IN
                   (SELECT value FROM json_each(?)) GROUP BY automation""",
                (rows.dumps(list(keys)),),
            ).fetchall()
        return {row[0]: (row[1], row[2]) for row in found}
