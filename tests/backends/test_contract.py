"""The Backend contract: what every backend must do, checked through the protocol only."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from flowplan.backends.protocol import Backend
from flowplan.domain.job_templates import default_template
from flowplan.domain.objects import LogLine, StateType
from flowplan.domain.schedules import CronSchedule, IntervalSchedule
from flowplan.domain.specs import DeploymentSpec, ScheduleSpec
from flowplan.errors import (
    DeploymentNotFound,
    FlowplanError,
    InvalidInput,
    ObjectAlreadyExists,
    ObjectNotFound,
)
from tests.servers import wait_for


def spec(name: str = "nightly", flow: str = "etl", **fields: object) -> DeploymentSpec:
    fields.setdefault("work_pool_name", "pool")
    return DeploymentSpec(flow_name=flow, name=name, **fields)  # type: ignore[arg-type]


@pytest.fixture
def pool(backend: Backend) -> Backend:
    backend.create_work_pool("pool", "process")
    return backend


# -- work pools ----------------------------------------------------------------------------------


def test_a_new_pool_has_the_type_template_and_a_default_queue(backend: Backend) -> None:
    created = backend.create_work_pool("my-pool", "docker", concurrency_limit=3)
    assert (created.name, created.type, created.concurrency_limit) == ("my-pool", "docker", 3)
    assert created.base_job_template == default_template("docker")
    assert created.status == "NOT_READY"
    queues = backend.read_work_queues("my-pool")
    assert [(q.name, q.priority, q.id) for q in queues] == [
        ("default", 1, created.default_queue_id)
    ]


def test_pool_names_are_unique_and_checked(backend: Backend) -> None:
    backend.create_work_pool("p", "process")
    with pytest.raises(ObjectAlreadyExists, match="already exists"):
        backend.create_work_pool("p", "process")
    for bad in ("a/b", "x%y", "", " padded", "prefect-pool"):
        with pytest.raises(InvalidInput):
            backend.create_work_pool(bad, "process")
    with pytest.raises(InvalidInput, match="did you mean 'process'"):
        backend.create_work_pool("q", "proces")
    assert [p.name for p in backend.read_work_pools()] == ["p"]


@pytest.mark.parametrize("limit", [0, -1, True, 2.5])
def test_limits_must_be_positive_whole_numbers(backend: Backend, limit: object) -> None:
    with pytest.raises(InvalidInput, match="concurrency limit"):
        backend.create_work_pool("p", "process", concurrency_limit=limit)  # type: ignore[arg-type]
    backend.create_work_pool("ok", "process")
    with pytest.raises(InvalidInput, match="concurrency limit"):
        backend.update_work_pool("ok", {"concurrency_limit": limit})
    with pytest.raises(InvalidInput):
        backend.create_work_queue("ok", "q", concurrency_limit=limit)  # type: ignore[arg-type]


def test_unknown_pool_suggests_the_closest_name(backend: Backend) -> None:
    backend.create_work_pool("my-pool", "process")
    with pytest.raises(ObjectNotFound) as caught:
        backend.read_work_pool("my-pol")
    assert str(caught.value) == "work pool 'my-pol' not found (did you mean 'my-pool'?)"


def test_update_pause_and_limits(pool: Backend) -> None:
    pool.update_work_pool("pool", {"is_paused": True, "concurrency_limit": 2})
    read = pool.read_work_pool("pool")
    assert (read.is_paused, read.concurrency_limit, read.status) == (True, 2, "PAUSED")
    pool.update_work_pool("pool", {"concurrency_limit": None, "is_paused": False})
    assert pool.read_work_pool("pool").concurrency_limit is None
    with pytest.raises(InvalidInput, match="cannot change type"):
        pool.update_work_pool("pool", {"type": "docker"})


def test_a_template_with_undeclared_variables_is_refused(pool: Backend) -> None:
    bad = {"job_configuration": {"command": "{{ cmd }}"}, "variables": {"properties": {}}}
    with pytest.raises(InvalidInput, match="undeclared variable"):
        pool.update_work_pool("pool", {"base_job_template": bad})
    with pytest.raises(InvalidInput, match="undeclared variable"):
        pool.create_work_pool("other", "process", base_job_template=bad)


def test_heartbeat_makes_a_pool_ready(pool: Backend) -> None:
    pool.worker_heartbeat("pool", "worker-1")
    assert pool.read_work_pool("pool").status == "READY"


def test_delete_pool_refuses_while_deployments_use_it(pool: Backend) -> None:
    pool.upsert_deployments([spec()])
    with pytest.raises(FlowplanError, match=r"used by 1 deployment: etl/nightly"):
        pool.delete_work_pool("pool")
    pool.delete_work_pool("pool", force=True)
    assert pool.read_deployment("etl/nightly").work_pool_name is None
    with pytest.raises(ObjectNotFound):
        pool.read_work_pool("pool")


# -- work queues ---------------------------------------------------------------------------------


def test_queue_priorities_fill_gaps_and_make_room(pool: Backend) -> None:
    pool.create_work_queue("pool", "b")  # priority 2 after default
    pool.create_work_queue("pool", "urgent", priority=1)  # moves default and b down
    pool.create_work_queue("pool", "c")
    assert [(q.name, q.priority) for q in pool.read_work_queues("pool")] == [
        ("urgent", 1), ("default", 2), ("b", 3), ("c", 4),
    ]  # fmt: skip
    pool.update_work_queue("pool", "c", {"priority": 2})
    assert [q.name for q in pool.read_work_queues("pool")] == ["urgent", "c", "default", "b"]


def test_queue_errors(pool: Backend) -> None:
    pool.create_work_queue("pool", "high")
    with pytest.raises(ObjectAlreadyExists):
        pool.create_work_queue("pool", "high")
    with pytest.raises(ObjectNotFound, match="did you mean 'high'"):
        pool.read_work_queue("pool", "hihg")
    with pytest.raises(ObjectNotFound, match="work pool 'poll' not found"):
        pool.create_work_queue("poll", "x")
    with pytest.raises(InvalidInput, match="default queue"):
        pool.delete_work_queue("pool", "default")
    with pytest.raises(InvalidInput, match="priority"):
        pool.create_work_queue("pool", "zero", priority=0)


def test_queue_status_follows_pause_and_polls(pool: Backend) -> None:
    pool.create_work_queue("pool", "q")
    assert pool.read_work_queue("pool", "q").status == "NOT_READY"
    pool.mark_polled("pool", ["q"])
    assert pool.read_work_queue("pool", "q").status == "READY"
    assert pool.read_work_queue("pool", "default").status == "NOT_READY"
    pool.update_work_queue("pool", "q", {"is_paused": True})
    assert pool.read_work_queue("pool", "q").status == "PAUSED"


def test_deleting_a_queue_moves_its_deployments_to_the_default(pool: Backend) -> None:
    pool.upsert_deployments([spec(work_queue_name="side")])
    assert pool.read_deployment("etl/nightly").work_queue_name == "side"
    pool.delete_work_queue("pool", "side")
    assert pool.read_deployment("etl/nightly").work_queue_name == "default"


# -- deployments ---------------------------------------------------------------------------------


def test_upsert_creates_then_updates_in_place(pool: Backend) -> None:
    first = pool.upsert_deployments([spec(tags=("a",), parameters={"n": 1})])[0]
    assert (first.full_name, first.tags, first.parameters) == ("etl/nightly", ("a",), {"n": 1})
    assert (first.work_pool_name, first.work_queue_name, first.paused) == ("pool", "default", False)
    second = pool.upsert_deployments([spec(tags=("b",), description="d")])[0]
    assert second.id == first.id and second.created == first.created
    assert (second.tags, second.parameters, second.description) == (("b",), {}, "d")
    assert len(pool.read_deployments()) == 1


def test_concurrency_options_read_back_as_given(pool: Backend) -> None:
    # Prefect 3.9 answers grace_period_seconds: null when it was not given
    options = {"collision_strategy": "CANCEL_NEW"}
    made = pool.upsert_deployments([spec(concurrency_limit=1, concurrency_options=options)])[0]
    assert made.concurrency_options == options
    assert pool.read_deployment("etl/nightly").concurrency_options == options
    assert [d.concurrency_options for d in pool.read_deployments()] == [options]
    graced = {"collision_strategy": "ENQUEUE", "grace_period_seconds": 120}
    pool.upsert_deployments([spec(concurrency_limit=2, concurrency_options=graced)])
    assert pool.read_deployment("etl/nightly").concurrency_options == graced


def test_absent_paused_and_schedules_are_left_alone(pool: Backend) -> None:
    cron = ScheduleSpec(CronSchedule("0 2 * * *"), slug="nightly")
    pool.upsert_deployments([spec(paused=True, schedules=(cron,))])
    again = pool.upsert_deployments([spec()])[0]
    assert again.paused is True
    assert [s.slug for s in again.schedules] == ["nightly"]
    cleared = pool.upsert_deployments([spec(schedules=())])[0]
    assert cleared.schedules == ()


def test_schedules_are_matched_by_slug(pool: Backend) -> None:
    daily = ScheduleSpec(CronSchedule("0 2 * * *"), slug="daily")
    hourly = ScheduleSpec(IntervalSchedule(3600), slug="hourly")  # type: ignore[arg-type]
    created = pool.upsert_deployments([spec(schedules=(daily, hourly))])[0]
    ids = {s.slug: s.id for s in created.schedules}
    pool.update_deployment_schedule(created.id, ids["daily"], {"active": False})
    changed = ScheduleSpec(CronSchedule("0 3 * * *"), slug="daily")
    updated = pool.upsert_deployments([spec(schedules=(changed,))])[0]
    assert [(s.slug, s.id, s.active, s.schedule) for s in updated.schedules] == [
        ("daily", ids["daily"], False, CronSchedule("0 3 * * *"))
    ]
    reactivated = pool.upsert_deployments([spec(schedules=(ScheduleSpec(
        CronSchedule("0 3 * * *"), active=True, slug="daily"),))])[0]  # fmt: skip
    assert reactivated.schedules[0].active is True


def test_schedules_without_slug_get_a_stable_derived_one(pool: Backend) -> None:
    plain = ScheduleSpec(CronSchedule("*/5 * * * *"))
    first = pool.upsert_deployments([spec(schedules=(plain,))])[0]
    second = pool.upsert_deployments(
        [spec(schedules=(ScheduleSpec(CronSchedule("*/5 * * * *")),))]
    )[0]
    assert first.schedules[0].slug == second.schedules[0].slug
    assert first.schedules[0].id == second.schedules[0].id
    with pytest.raises(InvalidInput, match="two schedules with slug"):
        pool.upsert_deployments([spec(schedules=(plain, plain))])


def test_upsert_is_all_or_nothing(pool: Backend) -> None:
    with pytest.raises(ObjectNotFound, match="did you mean 'pool'"):
        pool.upsert_deployments([spec("a"), spec("b", work_pool_name="pol")])
    assert pool.read_deployments() == []
    assert pool.read_flows() == []
    with pytest.raises(InvalidInput, match="given twice"):
        pool.upsert_deployments([spec("a"), spec("a")])


def test_job_variables_are_checked_against_the_pool(pool: Backend) -> None:
    with pytest.raises(InvalidInput, match=r"job_variables\.env: expected a mapping"):
        pool.upsert_deployments([spec(job_variables={"env": "A=1"})])
    stored = pool.upsert_deployments([spec(job_variables={"env": {"A": "1"}, "custom": 1})])[0]
    assert stored.job_variables == {"env": {"A": "1"}, "custom": 1}


def test_reading_by_full_name_id_or_unique_name(pool: Backend) -> None:
    pool.upsert_deployments([spec("prod", flow="a"), spec("prod", flow="b"), spec("solo")])
    solo = pool.read_deployment("solo")
    assert pool.read_deployment(solo.id).full_name == "etl/solo"
    assert pool.read_deployment("b/prod").flow_name == "b"
    with pytest.raises(InvalidInput, match="matches 2 flows: a/prod, b/prod"):
        pool.read_deployment("prod")
    with pytest.raises(DeploymentNotFound, match="did you mean 'etl/solo'"):
        pool.read_deployment("etl/sol")


def test_export_matches_to_json(pool: Backend) -> None:
    import json

    pool.upsert_deployments([spec(schedules=(ScheduleSpec(CronSchedule("0 1 * * *")),),
                                  pull_steps=[{"x": {"y": 1}}], labels={"k": "v"})])  # fmt: skip
    pool.mark_polled("pool")
    # a Prefect server marks the pool's deployments READY in a task that runs after it answered
    # the poll (and bumps `updated`): compare once that has happened
    wait_for(lambda: pool.read_deployments()[0].status == "READY", "the deployment to be READY")
    exported = [json.loads(text) for text in pool.export_deployments()]
    assert exported == [d.to_json() for d in pool.read_deployments()]
    assert exported[0]["status"] == "READY"


def test_update_deployment_fields_and_pool(pool: Backend) -> None:
    pool.create_work_pool("other", "process")
    created = pool.upsert_deployments([spec()])[0]
    updated = pool.update_deployment(created.id, {"paused": True, "tags": ["x"],
                                                  "work_pool_name": "other"})  # fmt: skip
    assert (updated.paused, updated.tags, updated.work_pool_name) == (True, ("x",), "other")
    with pytest.raises(InvalidInput, match="cannot change name"):
        pool.update_deployment(created.id, {"name": "x"})


def test_delete_deployment_removes_its_unstarted_runs(pool: Backend) -> None:
    created = pool.upsert_deployments([spec()])[0]
    waiting = pool.create_flow_run("etl/nightly")
    done = pool.create_flow_run("etl/nightly")
    pool.set_flow_run_state(done.id, StateType.COMPLETED)
    pool.delete_deployment(created.id)
    assert [run.id for run in pool.read_flow_runs()] == [done.id]
    assert pool.read_flow_run(done.id).deployment_id is None
    with pytest.raises(ObjectNotFound):
        pool.read_flow_run(waiting.id)


def test_schedule_methods(pool: Backend) -> None:
    created = pool.upsert_deployments([spec()])[0]
    [added] = pool.create_deployment_schedules(
        created.id, [ScheduleSpec(CronSchedule("0 5 * * *"), slug="five")]
    )
    assert (added.slug, added.active) == ("five", True)
    with pytest.raises(InvalidInput, match="already has a schedule 'five'"):
        pool.create_deployment_schedules(created.id, [ScheduleSpec(CronSchedule("0 6 * * *"),
                                                                   slug="five")])  # fmt: skip
    changed = pool.update_deployment_schedule(created.id, added.id, {"active": False})
    assert changed.active is False
    pool.delete_deployment_schedule(created.id, added.id)
    assert pool.read_deployment("etl/nightly").schedules == ()


# -- flow runs -----------------------------------------------------------------------------------


def test_runs_merge_parameters_and_tags_and_honour_idempotency(pool: Backend) -> None:
    pool.upsert_deployments([spec(parameters={"a": 1, "b": 2}, tags=("t1",))])
    when = datetime(2030, 1, 1, tzinfo=UTC)
    run = pool.create_flow_run("etl/nightly", parameters={"b": 3}, tags=["t2"],
                               scheduled_time=when, idempotency_key="k")  # fmt: skip
    # tags are a set (a Prefect server unions them in no fixed order)
    assert (run.parameters, sorted(run.tags)) == ({"a": 1, "b": 3}, ["t1", "t2"])
    assert (run.state.type, run.state.name, run.expected_start_time) == (
        StateType.SCHEDULED, "Scheduled", when,
    )  # fmt: skip
    assert pool.create_flow_run("etl/nightly", idempotency_key="k").id == run.id
    assert pool.create_flow_run("etl/nightly").id != run.id


def test_run_states_cancel_and_filters(pool: Backend) -> None:
    pool.upsert_deployments([spec()])
    waiting = pool.create_flow_run("etl/nightly")
    running = pool.create_flow_run("etl/nightly")
    pool.set_flow_run_state(running.id, StateType.RUNNING)
    assert pool.cancel_flow_run(waiting.id).state.type is StateType.CANCELLED
    assert pool.cancel_flow_run(running.id).state.type is StateType.CANCELLING
    with pytest.raises(FlowplanError, match="nothing to cancel"):
        pool.cancel_flow_run(waiting.id)
    with pytest.raises(FlowplanError, match="already CANCELLED"):
        pool.set_flow_run_state(waiting.id, StateType.RUNNING)
    assert [r.id for r in pool.read_flow_runs(states=[StateType.CANCELLING])] == [running.id]
    assert len(pool.read_flow_runs(deployment="etl/nightly", limit=1)) == 1
    assert [r.id for r in pool.read_flow_runs(name=running.name)] == [running.id]
    assert pool.read_flow_runs(name="no-such-run") == []
    started = pool.read_flow_run(running.id)
    assert started.start_time is not None and started.end_time is None


def test_logs_are_kept_in_order_and_tail(pool: Backend) -> None:
    pool.upsert_deployments([spec()])
    run = pool.create_flow_run("etl/nightly")
    moment = datetime(2030, 1, 1, tzinfo=UTC)
    pool.write_logs([LogLine(run.id, moment, 20, f"line {i}") for i in range(5)])
    assert [line.message for line in pool.read_logs(run.id)] == [f"line {i}" for i in range(5)]
    assert [line.message for line in pool.read_logs(run.id, limit=2)] == ["line 3", "line 4"]
    # watchers read only what is new: from an offset
    later = [LogLine(run.id, moment.replace(minute=i + 1), 20, f"later {i}") for i in range(3)]
    pool.write_logs(later)
    assert [line.message for line in pool.read_logs(run.id, offset=5)] == [
        "later 0", "later 1", "later 2"]  # fmt: skip
    assert [line.message for line in pool.read_logs(run.id, offset=7)] == ["later 2"]
    assert pool.read_logs(run.id, offset=8) == []
    pool.delete_flow_run(run.id)
    with pytest.raises(ObjectNotFound):
        pool.read_logs(run.id)


# -- variables, secrets, leases ------------------------------------------------------------------


def test_variables(backend: Backend) -> None:
    backend.set_variable("answer", {"n": 42}, tags=["t"])
    assert backend.read_variable("answer").value == {"n": 42}
    with pytest.raises(ObjectAlreadyExists, match="--overwrite"):
        backend.set_variable("answer", 1)
    backend.set_variable("answer", 1, overwrite=True)
    assert [(v.name, v.value) for v in backend.read_variables()] == [("answer", 1)]
    with pytest.raises(ObjectNotFound, match="did you mean 'answer'"):
        backend.read_variable("answr")
    with pytest.raises(InvalidInput):
        backend.set_variable("has.dot", 1)
    with pytest.raises(InvalidInput, match="bytes"):
        backend.set_variable("big", "x" * 6000)
    backend.delete_variable("answer")
    assert backend.read_variables() == []


def test_secrets_are_listed_without_values(backend: Backend) -> None:
    backend.set_secret("token", "s3cr3t-value")
    listed = backend.read_secrets()
    assert [s.name for s in listed] == ["token"]
    assert "s3cr3t" not in repr(listed) and "s3cr3t" not in str(listed[0].to_json())
    assert backend.read_secret_value("token") == "s3cr3t-value"
    with pytest.raises(ObjectAlreadyExists, match="--overwrite"):
        backend.set_secret("token", "new")
    backend.set_secret("token", "new", overwrite=True)
    assert backend.read_secret_value("token") == "new"
    backend.delete_secret("token")
    with pytest.raises(ObjectNotFound):
        backend.read_secret_value("token")


def test_leases_exclude_other_holders_until_released(backend: Backend) -> None:
    held = backend.acquire_lease("apply", "me", 30)
    assert held is not None and held.holder == "me"
    assert backend.acquire_lease("apply", "you", 30) is None
    renewed = backend.acquire_lease("apply", "me", 60)
    assert renewed is not None and renewed.acquired == held.acquired
    assert backend.release_lease("apply", "you") is False
    assert backend.release_lease("apply", "me") is True
    assert backend.acquire_lease("apply", "you", 30) is not None
    assert backend.release_lease("apply") is True  # force-unlock


def test_expired_lease_can_be_taken(backend: Backend) -> None:
    assert backend.acquire_lease("apply", "dead", -1) is not None
    assert backend.acquire_lease("apply", "alive", 30) is not None
