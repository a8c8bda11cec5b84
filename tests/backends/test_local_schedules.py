"""Changing a deployment's schedule in the local store: what is stored, which future runs go,
and that the deployment counts as changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowplan.backends.local import LocalBackend
from flowplan.domain.clock import utcnow
from flowplan.domain.objects import FlowRun, StateType
from flowplan.domain.schedules import IntervalSchedule
from flowplan.domain.specs import ScheduleSpec
from flowplan.errors import InvalidInput
from flowplan.runtime import scheduler
from tests.runtime.helpers import deployment, store


def scheduled(backend: LocalBackend) -> list[FlowRun]:
    return [r for r in backend.read_flow_runs(deployment="f/d")
            if r.state.type is StateType.SCHEDULED]  # fmt: skip


def test_a_new_schedule_or_deactivating_drops_its_future_runs_parameters_do_not(
    tmp_path: Path,
) -> None:
    backend = store(tmp_path / "home")
    deployment(backend, tmp_path, name="a")  # read first, were all deployments read
    made = deployment(backend, tmp_path, schedules=(IntervalSchedule(3600),))
    (schedule,) = made.schedules
    scheduler.tick(backend, utcnow())
    assert len(scheduled(backend)) == 3
    updated = backend.read_deployment("f/d").updated

    kept = backend.update_deployment_schedule(made.id, schedule.id, {"parameters": {"n": 2}})
    assert (kept.id, kept.parameters, kept.schedule) == (schedule.id, {"n": 2}, schedule.schedule)
    assert len(scheduled(backend)) == 3  # the same times: the runs stay
    assert backend.read_deployment("f/d").updated > updated
    updated = backend.read_deployment("f/d").updated
    backend.update_deployment_schedule(made.id, schedule.id, {})
    assert backend.read_deployment("f/d").updated == updated  # nothing changed

    changed = backend.update_deployment_schedule(
        made.id, schedule.id, {"schedule": IntervalSchedule(600)}
    )
    assert changed.schedule == IntervalSchedule(600) and changed.parameters == {"n": 2}
    assert backend.read_deployment("f/d").schedules == (changed,)
    assert scheduled(backend) == []  # the old times are gone
    scheduler.tick(backend, utcnow())
    assert len(scheduled(backend)) >= 6  # every 10 minutes, an hour ahead

    backend.update_deployment_schedule(made.id, schedule.id, {"active": True})
    assert len(scheduled(backend)) >= 6
    off = backend.update_deployment_schedule(made.id, schedule.id, {"active": False})
    assert off.active is False and scheduled(backend) == []


def test_added_schedules_are_returned_and_stored(tmp_path: Path) -> None:
    backend = store(tmp_path / "home")
    deployment(backend, tmp_path, name="a", schedules=(IntervalSchedule(60),))  # read first
    made = deployment(backend, tmp_path, schedules=(IntervalSchedule(3600),))
    updated = backend.read_deployment("f/d").updated

    added = backend.create_deployment_schedules(
        made.id, [ScheduleSpec(IntervalSchedule(60), slug="minutely"),
                  ScheduleSpec(IntervalSchedule(120), slug="two")])  # fmt: skip
    assert sorted(s.slug for s in added) == ["minutely", "two"]
    stored = backend.read_deployment("f/d")
    assert {s.slug for s in stored.schedules} >= {"minutely", "two"}
    assert len(stored.schedules) == 3
    assert stored.updated > updated
    twice = [
        ScheduleSpec(IntervalSchedule(60), slug="x"),
        ScheduleSpec(IntervalSchedule(90), slug="x"),
    ]
    with pytest.raises(InvalidInput, match=r"^the deployment already has a schedule 'x'$"):
        backend.create_deployment_schedules(made.id, twice)
    assert len(backend.read_deployment("f/d").schedules) == 3  # nothing half-added


def test_a_schedule_applied_again_keeps_its_runs_and_a_renamed_one_its_id_and_runs(
    tmp_path: Path,
) -> None:
    backend = store(tmp_path / "home")
    hourly = ScheduleSpec(IntervalSchedule(3600), parameters={"n": 1}, slug="hourly")
    made = deployment(backend, tmp_path)
    backend.update_deployment(made.id, {"schedules": (hourly,)})
    (first,) = backend.read_deployment("f/d").schedules
    scheduler.tick(backend, utcnow())
    runs = {r.id for r in scheduled(backend)}
    assert len(runs) == 3

    backend.update_deployment(made.id, {"schedules": (hourly,)})  # the same: nothing changes
    assert backend.read_deployment("f/d").schedules == (first,)
    assert {r.id for r in scheduled(backend)} == runs

    renamed = ScheduleSpec(IntervalSchedule(3600), parameters={"n": 1}, slug="every-hour",
                           replaces="hourly")  # fmt: skip
    backend.update_deployment(made.id, {"schedules": (renamed,)})
    (now,) = backend.read_deployment("f/d").schedules
    assert (now.id, now.slug, now.active, now.parameters) == (
        first.id,
        "every-hour",
        True,
        {"n": 1},
    )
    assert {r.id for r in scheduled(backend)} == runs  # the same schedule: its runs stay


def test_a_new_schedule_is_stored_active_or_not_as_asked_and_deleting_one_counts_as_a_change(
    tmp_path: Path,
) -> None:
    backend = store(tmp_path / "home")
    made = deployment(backend, tmp_path)
    added = backend.create_deployment_schedules(
        made.id, [ScheduleSpec(IntervalSchedule(60), active=True, slug="on"),
                  ScheduleSpec(IntervalSchedule(90), active=False, slug="off")])  # fmt: skip
    assert {s.slug: s.active for s in added} == {"on": True, "off": False}
    on, off = sorted(added, key=lambda s: not s.active)
    updated = backend.read_deployment("f/d").updated
    backend.delete_deployment_schedule(made.id, off.id)
    after = backend.read_deployment("f/d")
    assert after.schedules == (on,) and after.updated > updated
