"""The scheduler service against the local store: runs ahead, idempotent, removes what no
schedule wants, marks late runs."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from flowplan.domain.objects import DeploymentSchedule, ScheduleDue, StateType
from flowplan.domain.schedules import CronSchedule, IntervalSchedule
from flowplan.domain.specs import ScheduleSpec
from flowplan.errors import UnreadableRowWarning
from flowplan.runtime import scheduler
from tests.runtime.helpers import deployment, store

NOW = datetime(2026, 6, 1, 12, 0, 7, tzinfo=UTC)


def future_runs(backend, name: str = "f/d"):  # type: ignore[no-untyped-def]
    return sorted(
        (r for r in backend.read_flow_runs(deployment=name) if r.state.type is StateType.SCHEDULED),
        key=lambda r: r.expected_start_time,
    )


def test_runs_are_inserted_ahead_and_a_second_tick_adds_nothing(tmp_path: Path) -> None:
    backend = store(tmp_path / "home")
    deployment(backend, tmp_path, schedules=(CronSchedule("0 * * * *"),), parameters={"n": 1},
               schedule_parameters={"n": 5}, tags=("etl",))  # fmt: skip
    first = scheduler.tick(backend, NOW)
    runs = future_runs(backend)
    # at least 3 runs and at least 1 hour ahead: 13:00, 14:00, 15:00
    assert [r.expected_start_time.hour for r in runs] == [13, 14, 15]
    assert first.inserted == 3
    assert all(r.auto_scheduled and r.parameters == {"n": 5} for r in runs)
    assert all(r.tags == ("auto-scheduled", "etl") for r in runs)
    assert all(r.state.name == "Scheduled" and r.work_queue_name == "default" for r in runs)
    assert scheduler.tick(backend, NOW).inserted == 0
    assert len(future_runs(backend)) == 3


def test_frequent_schedules_stop_at_100_runs(tmp_path: Path) -> None:
    backend = store(tmp_path / "home")
    deployment(backend, tmp_path, schedules=(IntervalSchedule(10),))
    scheduler.tick(backend, NOW)
    runs = future_runs(backend)
    assert len(runs) == 100
    assert runs[0].expected_start_time == datetime(2026, 6, 1, 12, 0, 10, tzinfo=UTC)


def test_two_schedulers_at_once_make_each_run_once(tmp_path: Path) -> None:
    backend = store(tmp_path / "home")
    deployment(backend, tmp_path, schedules=(IntervalSchedule(60),))
    others = [store(tmp_path / "home") for _ in range(4)]
    threads = [threading.Thread(target=scheduler.tick, args=(b, NOW)) for b in others]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    runs = future_runs(backend)
    assert len(runs) == 61  # 60 minutes plus the one at the hour
    assert len({r.expected_start_time for r in runs}) == len(runs)


def test_a_schedule_change_replaces_the_future_runs(tmp_path: Path) -> None:
    backend = store(tmp_path / "home")
    made = deployment(backend, tmp_path, schedules=(CronSchedule("0 * * * *"),))
    scheduler.tick(backend, NOW)
    manual = backend.create_flow_run("f/d", scheduled_time=NOW + timedelta(hours=5))
    backend.update_deployment(made.id, {"schedules": (ScheduleSpec(CronSchedule("30 * * * *")),)})
    scheduler.tick(backend, NOW)
    runs = future_runs(backend)
    auto = [r for r in runs if r.auto_scheduled]
    assert [r.expected_start_time.minute for r in auto] == [30, 30, 30]
    assert manual.id in {r.id for r in runs}  # a run made by hand is never touched


def test_paused_deployments_and_inactive_schedules_lose_their_future_runs(tmp_path: Path) -> None:
    backend = store(tmp_path / "home")
    made = deployment(backend, tmp_path, schedules=(CronSchedule("0 * * * *"),))
    scheduler.tick(backend, NOW)
    backend.update_deployment(made.id, {"paused": True})
    result = scheduler.tick(backend, NOW)
    assert (result.dropped, result.inserted, future_runs(backend)) == (3, 0, [])
    backend.update_deployment(made.id, {"paused": False})
    scheduler.tick(backend, NOW)
    assert len(future_runs(backend)) == 3
    (schedule,) = backend.read_deployment("f/d").schedules
    backend.update_deployment_schedule(made.id, schedule.id, {"active": False})
    scheduler.tick(backend, NOW)
    assert future_runs(backend) == []


def test_overdue_runs_become_late(tmp_path: Path) -> None:
    backend = store(tmp_path / "home")
    deployment(backend, tmp_path)
    old = backend.create_flow_run("f/d", scheduled_time=NOW - timedelta(seconds=20))
    recent = backend.create_flow_run("f/d", scheduled_time=NOW - timedelta(seconds=5))
    assert scheduler.tick(backend, NOW).late == 1
    assert backend.read_flow_run(old.id).state.name == "Late"
    assert backend.read_flow_run(old.id).state.type is StateType.SCHEDULED
    assert backend.read_flow_run(recent.id).state.name == "Scheduled"


def test_a_bad_stored_schedule_is_skipped_with_the_reason_and_the_others_filled(
    tmp_path: Path,
) -> None:
    backend = store(tmp_path / "home")
    deployment(backend, tmp_path, name="bad", schedules=(CronSchedule("0 * * * *"),))
    deployment(backend, tmp_path, name="d", schedules=(CronSchedule("0 * * * *"),))
    bad = backend.read_deployment("f/bad")
    backend.store.connection.execute(
        "UPDATE deployment_schedules SET schedule = ? WHERE deployment_id = ?",
        (json.dumps({"cron": "0 * * * *", "timezone": "Mars/Olympus"}), bad.id),
    )  # written straight into the store, past every check
    result = scheduler.tick(backend, NOW)
    (skipped,) = result.skipped
    assert skipped.deployment_id == bad.id
    assert skipped.problem.startswith("ValueError: schedule ")
    assert skipped.problem.endswith("unknown time zone 'Mars/Olympus'")
    assert result.inserted == 3 and len(future_runs(backend)) == 3
    assert future_runs(backend, "f/bad") == []


def test_the_scheduler_makes_runs_without_events_and_a_late_run_gets_one(tmp_path: Path) -> None:
    """Prefect's scheduler inserts its runs in bulk without events; renaming one Late is a
    state change with its event."""
    backend = store(tmp_path / "home")
    deployment(backend, tmp_path, schedules=(IntervalSchedule(3600),))
    scheduler.tick(backend, NOW)
    runs = future_runs(backend)
    assert len(runs) >= 3
    assert backend.read_events(name="prefect.flow-run.*") == []
    assert scheduler.tick(backend, runs[0].expected_start_time + timedelta(minutes=1)).late == 1
    (late,) = backend.read_events(name="prefect.flow-run.*")
    assert late.event == "prefect.flow-run.Late"
    assert late.resource["prefect.resource.id"] == f"prefect.flow-run.{runs[0].id}"
    history = backend.store.connection.execute(
        "SELECT type, name FROM flow_run_states WHERE flow_run_id = ?", (runs[0].id,)
    ).fetchall()
    assert history == [("SCHEDULED", "Scheduled"), ("SCHEDULED", "Late")]


def test_runs_are_scheduled_with_prefects_message_in_their_state_and_history(
    tmp_path: Path,
) -> None:
    backend = store(tmp_path / "home")
    deployment(backend, tmp_path, schedules=(CronSchedule("0 * * * *"),))
    scheduler.tick(backend, NOW)
    runs = future_runs(backend)
    assert {(r.state.name, r.state.message) for r in runs} == {("Scheduled", "Flow run scheduled")}
    history = backend.store.connection.execute(
        "SELECT type, name, message FROM flow_run_states WHERE flow_run_id = ?", (runs[0].id,)
    ).fetchall()
    assert history == [("SCHEDULED", "Scheduled", "Flow run scheduled")]


def test_a_deployment_with_parameters_it_cannot_read_gets_no_runs_and_a_warning(
    tmp_path: Path,
) -> None:
    backend = store(tmp_path / "home")
    made = deployment(backend, tmp_path, schedules=(CronSchedule("0 * * * *"),))
    backend.store.connection.execute(
        "UPDATE deployments SET parameters = ? WHERE id = ?", ('{"n":Infinity}', made.id)
    )  # stored by an older flowplan
    with pytest.warns(UnreadableRowWarning) as caught:
        result = scheduler.tick(backend, NOW)
    assert result.inserted == 0 and future_runs(backend) == []
    assert str(caught[0].message).startswith(
        "deployment 'f/d' in the store cannot be read: n: Infinity is not a finite number"
    )


def test_the_schedules_to_fill_name_their_deployment_and_schedule(tmp_path: Path) -> None:
    backend = store(tmp_path / "home")
    made = deployment(backend, tmp_path, schedules=(CronSchedule("0 * * * *"),))
    bad = deployment(backend, tmp_path, name="bad", schedules=(CronSchedule("0 * * * *"),))
    backend.store.connection.execute(
        "UPDATE deployment_schedules SET schedule = ? WHERE deployment_id = ?",
        (json.dumps({"cron": "0 * * * *", "timezone": "Mars/Olympus"}), bad.id),
    )  # written straight into the store, past every check
    found = backend.read_schedules_to_fill(now=NOW, min_runs=3, min_until=NOW)
    by_deployment = {due.deployment_id: due for due in found}
    good = by_deployment[made.id]
    assert good.schedule == made.schedules[0] and good.schedule.active is True
    assert good.schedule_id == made.schedules[0].id and good.problem is None
    broken = by_deployment[bad.id]
    assert broken.schedule is None and broken.schedule_id == bad.schedules[0].id
    assert (broken.problem or "").endswith("unknown time zone 'Mars/Olympus'")


def test_a_filled_schedule_is_no_longer_to_fill_until_its_runs_run_short(tmp_path: Path) -> None:
    backend = store(tmp_path / "home")
    made = deployment(backend, tmp_path, schedules=(CronSchedule("0 * * * *"),))
    scheduler.tick(backend, NOW)  # 13:00, 14:00, 15:00
    assert backend.read_schedules_to_fill(now=NOW, min_runs=3, min_until=NOW) == []
    assert backend.read_schedules_to_fill(now=NOW, min_runs=4, min_until=NOW) != []
    later = NOW + timedelta(hours=5)
    assert [due.deployment_id for due in backend.read_schedules_to_fill(
        now=NOW, min_runs=3, min_until=later)] == [made.id]  # fmt: skip


def test_runs_ahead_stop_at_the_third_run_an_hour_ahead_or_later() -> None:
    hour = timedelta(hours=1)
    times = [NOW + hour / 4, NOW + hour / 2, NOW + hour, NOW + 2 * hour]
    assert scheduler.runs_ahead(times, NOW) == times[:3]  # the third is exactly an hour ahead
    early = [NOW + hour / 4, NOW + hour / 2, NOW + hour / 2 * 3 / 2, NOW + hour, NOW + 2 * hour]
    assert scheduler.runs_ahead(early, NOW) == early[:4]  # the third is not an hour ahead yet
    assert scheduler.runs_ahead(times[:2], NOW) == times[:2]  # all there are


class Recorded:
    """A backend that hands the scheduler given schedules and records what it is asked."""

    def __init__(self, due: list[ScheduleDue]) -> None:
        self.due = due
        self.asked: list[dict[str, object]] = []
        self.inserted: list[tuple[str, str, list[datetime]]] = []

    def drop_unscheduled_runs(self, *, now: datetime) -> int:
        return 2

    def read_schedules_to_fill(self, **asked: object) -> list[ScheduleDue]:
        self.asked.append(asked)
        return self.due

    def insert_scheduled_runs(
        self, deployment_id: str, schedule: DeploymentSchedule, times: list[datetime]
    ) -> int:
        self.inserted.append((deployment_id, schedule.id, times))
        return len(times)

    def mark_late_runs(self, *, before: datetime) -> int:
        return 7


def _due(deployment_id: str, schedule_id: str, schedule: object) -> ScheduleDue:
    return ScheduleDue(
        deployment_id,
        DeploymentSchedule(schedule_id, schedule, True, "s"),
        schedule_id,  # type: ignore[arg-type]
    )


def test_a_schedule_whose_times_fail_is_skipped_and_the_schedules_after_it_filled() -> None:
    broken = CronSchedule("0 * * * *")
    object.__setattr__(broken, "timezone", "Mars/Olympus")  # stored past every check
    backend = Recorded([
        _due("dep-1", "sch-1", broken),
        ScheduleDue("dep-2", None, "sch-2"),  # unreadable, no reason known
        ScheduleDue("dep-3", None, "sch-3", "ValueError: bad row"),
        _due("dep-4", "sch-4", CronSchedule("0 * * * *")),
        _due("dep-5", "sch-5", IntervalSchedule(1800)),
    ])  # fmt: skip
    result = scheduler.fill(backend, NOW)  # type: ignore[arg-type]
    assert backend.asked == [
        {"now": NOW, "min_runs": 3, "min_until": NOW + timedelta(hours=1)}
    ]  # fmt: skip
    assert result.skipped == (
        scheduler.Skipped(
            "dep-1", "sch-1", "ZoneInfoNotFoundError: 'No time zone found with key Mars/Olympus'"
        ),
        scheduler.Skipped("dep-2", "sch-2", "unreadable"),
        scheduler.Skipped("dep-3", "sch-3", "ValueError: bad row"),
    )
    hourly = [NOW.replace(minute=0, second=0) + timedelta(hours=n) for n in (1, 2, 3)]
    half_hourly = [NOW.replace(minute=0, second=0) + timedelta(minutes=n) for n in (30, 60, 90)]
    assert backend.inserted == [("dep-4", "sch-4", hourly), ("dep-5", "sch-5", half_hourly)]
    assert (result.inserted, result.dropped, result.late) == (6, 2, 0)  # fill marks none late
    ticked = scheduler.tick(backend, NOW)  # type: ignore[arg-type]
    assert (ticked.inserted, ticked.dropped, ticked.late) == (6, 2, 7)
    assert ticked.skipped == result.skipped
