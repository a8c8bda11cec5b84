"""Deployment schedules in the local store: matched by slug, their future runs kept in step."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from flowplan.backends.local import rows
from flowplan.backends.local.store import Store
from flowplan.domain.objects import Deployment, DeploymentSchedule
from flowplan.domain.pool_rules import check_schedule_changes, check_schedule_parameters
from flowplan.errors import DeploymentNotFound, InvalidInput, ObjectNotFound

if TYPE_CHECKING:
    from flowplan.domain.specs import ScheduleSpec


class SchedulesMixin:
    store: Store

    read_deployments: Callable[..., list[Deployment]]  # from DeploymentsMixin

    def create_deployment_schedules(
        self, deployment_id: str, specs: Sequence[ScheduleSpec]
    ) -> list[DeploymentSchedule]:
        check_schedule_parameters(specs)
        with self.store.write() as conn:
            _require_deployment(conn, deployment_id)
            existing = {
                row[0]
                for row in conn.execute(
                    """SELECT slug FROM deployment_schedules WHERE deployment_id = ?""",
                    (deployment_id,),
                )
            }
            for spec in specs:
                if spec.effective_slug in existing:
                    raise InvalidInput(
                        f"the deployment already has a schedule {spec.effective_slug!r}"
                    )
                existing.add(spec.effective_slug)
                _insert_schedule(conn, deployment_id, spec, rows.now_text())
            _touch(conn, deployment_id)
        slugs = {spec.effective_slug for spec in specs}
        return [
            s for s in self.read_deployments(ids=[deployment_id])[0].schedules if s.slug in slugs
        ]

    def update_deployment_schedule(
        self, deployment_id: str, schedule_id: str, changes: Mapping[str, Any]
    ) -> DeploymentSchedule:
        """Change a schedule's `schedule` (a Schedule), `active` or `parameters`."""
        check_schedule_changes(changes)
        values = dict(changes)
        if "schedule" in values:
            values["schedule"] = rows.dumps(values["schedule"].to_json())
        if "parameters" in values:
            values["parameters"] = rows.dumps(values["parameters"])
        with self.store.write() as conn:
            _require_schedule(conn, deployment_id, schedule_id)
            rows.update(conn, """deployment_schedules""", schedule_id, values)
            if values:
                if "schedule" in values or values.get("active") is False:
                    _drop_future_runs(conn, [schedule_id])
                _touch(conn, deployment_id)
        deployment = self.read_deployments(ids=[deployment_id])[0]
        return next(s for s in deployment.schedules if s.id == schedule_id)

    def delete_deployment_schedule(self, deployment_id: str, schedule_id: str) -> None:
        with self.store.write() as conn:
            _require_schedule(conn, deployment_id, schedule_id)
            _drop_future_runs(conn, [schedule_id])
            conn.execute("""DELETE FROM deployment_schedules WHERE id = ?""", (schedule_id,))
            _touch(conn, deployment_id)


def reconcile_schedules(
    conn: sqlite3.Connection, deployment_id: str, specs: Sequence[ScheduleSpec], now: str
) -> None:
    existing = {
        row[0]: (row[1], row[2], row[3])
        for row in conn.execute(
            """SELECT slug, id, schedule, parameters FROM deployment_schedules
               WHERE deployment_id = ?""",
            (deployment_id,),
        )
    }
    wanted = set()
    for spec in specs:
        slug = spec.effective_slug
        wanted.add(slug)
        if slug not in existing and spec.replaces in existing:
            # a renamed schedule keeps its id, its active flag and its runs
            existing[slug] = existing.pop(spec.replaces)
            conn.execute(
                """UPDATE deployment_schedules SET slug = ?, updated = ? WHERE id = ?""",
                (slug, now, existing[slug][0]),
            )
        if slug not in existing:
            _insert_schedule(conn, deployment_id, spec, now)
            continue
        schedule_id, stored_schedule, stored_parameters = existing[slug]
        schedule, parameters = rows.dumps(spec.schedule.to_json()), rows.dumps(spec.parameters)
        changed = (schedule, parameters) != (stored_schedule, stored_parameters)
        if changed:
            _drop_future_runs(conn, [schedule_id])
            conn.execute(
                """UPDATE deployment_schedules SET schedule = ?, parameters = ?, updated = ?
                   WHERE id = ?""",
                (schedule, parameters, now, schedule_id),
            )
        if spec.active is not None:
            conn.execute(
                """UPDATE deployment_schedules SET active = ? WHERE id = ? AND active IS NOT ?""",
                (spec.active, schedule_id, spec.active),
            )
    removed = [existing[slug][0] for slug in existing if slug not in wanted]
    if removed:
        _drop_future_runs(conn, removed)
        conn.executemany(
            """DELETE FROM deployment_schedules WHERE id = ?""", [(i,) for i in removed]
        )


def _insert_schedule(
    conn: sqlite3.Connection, deployment_id: str, spec: ScheduleSpec, now: str
) -> None:
    conn.execute(
        """INSERT INTO deployment_schedules (id, deployment_id, slug, schedule, active, parameters,
           created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
        (rows.new_id(), deployment_id, spec.effective_slug, rows.dumps(spec.schedule.to_json()),
         spec.active is not False, rows.dumps(spec.parameters), now, now),
    )  # fmt: skip


def _drop_future_runs(conn: sqlite3.Connection, schedule_ids: Sequence[str]) -> None:
    """Auto-scheduled runs of these schedules that have not started no longer apply."""
    conn.executemany(
        """DELETE FROM flow_runs WHERE schedule_id = ? AND auto_scheduled = 1
           AND state_type = ?""",
        [(schedule_id, "SCHEDULED") for schedule_id in schedule_ids],
    )


def _touch(conn: sqlite3.Connection, deployment_id: str) -> None:
    conn.execute(
        """UPDATE deployments SET updated = ? WHERE id = ?""", (rows.now_text(), deployment_id)
    )


def _require_deployment(conn: sqlite3.Connection, deployment_id: str) -> None:
    row = conn.execute("""SELECT 1 FROM deployments WHERE id = ?""", (deployment_id,)).fetchone()
    if row is None:
        raise DeploymentNotFound(f"deployment {deployment_id!r} not found")


def _require_schedule(conn: sqlite3.Connection, deployment_id: str, schedule_id: str) -> None:
    _require_deployment(conn, deployment_id)
    row = conn.execute(
        """SELECT 1 FROM deployment_schedules WHERE id = ? AND deployment_id = ?""",
        (schedule_id, deployment_id),
    ).fetchone()
    if row is None:
        raise ObjectNotFound(f"schedule {schedule_id!r} not found on this deployment")
