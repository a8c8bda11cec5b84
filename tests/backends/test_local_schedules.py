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
