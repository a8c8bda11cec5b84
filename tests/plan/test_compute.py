"""compute_plan is pure: table tests on data, no store."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from flowplan.domain.job_templates import default_template
from flowplan.domain.objects import Deployment, DeploymentSchedule, WorkPool, WorkQueue
from flowplan.domain.schedules import CronSchedule
from flowplan.domain.specs import HASH_LABEL, DeploymentSpec, ScheduleSpec
from flowplan.errors import InvalidInput
from flowplan.plan.comparable import core_fields, digest
from flowplan.plan.compute import Actual, PlanOptions, compute_plan
from flowplan.plan.model import FieldChange
from flowplan.plan.specs import OWNER_LABEL, PROJECT_LABEL, Desired, PoolSpec, QueueSpec

NOW = datetime(2030, 1, 1, tzinfo=UTC)
OWNED = {OWNER_LABEL: "flowplan", PROJECT_LABEL: "proj"}
POOL = WorkPool("p1", "pool", "process", NOW, NOW, base_job_template=default_template("process"))


def spec(name: str = "nightly", **fields: Any) -> DeploymentSpec:
    base: dict[str, Any] = {"work_pool_name": "pool", "entrypoint": "f.py:etl", "labels": OWNED}
    base.update(fields)
    return DeploymentSpec("etl", name, **base)


def live(name: str = "nightly", **fields: Any) -> Deployment:
    """The deployment a target holds after applying `spec(name, **fields)`."""
    declared = spec(name, **{k: v for k, v in fields.items() if k not in ("paused", "schedules")})
    values = {key: getattr(declared, key) for key in (
        "entrypoint", "path", "description", "version", "tags", "labels", "parameters",
        "parameter_openapi_schema", "enforce_parameter_schema", "job_variables",
        "work_pool_name", "concurrency_limit", "pull_steps")}  # fmt: skip
    values["work_queue_name"] = declared.work_queue_name or "default"
    values["labels"] = {**declared.labels, HASH_LABEL: digest(core_fields(declared))[:16]}
    values["paused"] = fields.get("paused", False)
    values["schedules"] = fields.get("schedules", ())
    return Deployment(f"id-{name}", name, "flow-1", "etl", NOW, NOW, **values)


def actual(*deployments: Deployment, pools: tuple[WorkPool, ...] = (POOL,)) -> Actual:
    return Actual({p.name: p for p in pools}, {}, {d.full_name: d for d in deployments})


def plan_of(*specs: DeploymentSpec, target: Actual, **options: Any) -> list[tuple[str, str]]:
    result = compute_plan(Desired("proj", deployments=specs), target, PlanOptions(**options))
    return [(c.action, c.key) for c in result.changes]


def test_new_deployment_is_a_create_and_a_matching_one_a_noop() -> None:
    assert plan_of(spec(), target=actual()) == [("create", "etl/nightly")]
    assert plan_of(spec(), target=actual(live())) == [("noop", "etl/nightly")]


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        ({"description": "new"}, [FieldChange("description", None, "new")]),
        ({"tags": ("b", "a")}, [FieldChange("tags", [], ["a", "b"])]),
        ({"parameters": {"n": 1}}, [FieldChange("parameters", {}, {"n": 1})]),
        ({"work_queue_name": "default"}, []),  # the default queue, named or not
        ({"tags": ()}, []),
        ({"paused": True}, [FieldChange("paused", False, True)]),
        ({"paused": None}, []),  # absent: left alone
        ({"schedules": None}, []),  # absent: left alone
        ({"concurrency_limit": 3}, [FieldChange("concurrency_limit", None, 3)]),
    ],
)
def test_field_level_updates(declared: dict[str, Any], expected: list[FieldChange]) -> None:
    result = compute_plan(Desired("proj", deployments=(spec(**declared),)), actual(live()))
    (change,) = result.changes
    assert list(change.fields) == expected
    assert change.action == ("update" if expected else "noop")


def test_tag_order_and_empty_description_are_normalised() -> None:
    stored = live(tags=("b", "a"), description="")
    result = compute_plan(Desired("proj", deployments=(spec(tags=("a", "b")),)), actual(stored))
    assert result.changes[0].action == "noop"


SLUGGED = DeploymentSchedule("s1", CronSchedule("0 2 * * *"), False, "nightly")


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        # same schedule, no `active` declared: the paused flag on the target is kept
        ((ScheduleSpec(CronSchedule("0 2 * * *"), slug="nightly"),), []),
        ((ScheduleSpec(CronSchedule("0 2 * * *"), active=True, slug="nightly"),),
         [FieldChange("schedules[nightly].active", False, True)]),
        ((ScheduleSpec(CronSchedule("0 3 * * *"), slug="nightly"),),
         [FieldChange("schedules[nightly].schedule",  # compared with the zone made explicit
                      {"cron": "0 2 * * *", "timezone": "UTC", "day_or": True},
                      {"cron": "0 3 * * *", "timezone": "UTC", "day_or": True})]),
        ((), [FieldChange("schedules[nightly]", {"schedule": {"cron": "0 2 * * *",
          "timezone": "UTC", "day_or": True}, "parameters": {}}, None)]),  # [] clears
    ],
)  # fmt: skip
def test_schedules_are_matched_by_slug(
    declared: tuple[ScheduleSpec, ...], expected: list[FieldChange]
) -> None:
    stored = live(schedules=(SLUGGED,))
    result = compute_plan(Desired("proj", deployments=(spec(schedules=declared),)), actual(stored))
    assert list(result.changes[0].fields) == expected


def test_prune_deletes_only_what_this_project_owns() -> None:
    mine = [live(f"d{i}") for i in range(4)]
    theirs = replace(live("other"), labels={OWNER_LABEL: "flowplan", PROJECT_LABEL: "elsewhere"})
    manual = replace(live("manual"), labels={})
    target = actual(*mine, theirs, manual)
    keep = [spec(f"d{i}") for i in range(3)]
    assert plan_of(*keep, target=target)[-1] == ("noop", "etl/d2")  # no prune: no deletes
    assert plan_of(*keep, target=target, prune=True)[-1] == ("delete", "etl/d3")
    assert len(plan_of(*keep, target=target, prune=True)) == 4


def test_prune_guard_refuses_large_deletes_without_max_delete() -> None:
    target = actual(*(live(f"d{i}") for i in range(4)))
    with pytest.raises(InvalidInput, match="would delete 3 of the 4 deployments"):
        plan_of(spec("d0"), target=target, prune=True)
    assert len(plan_of(spec("d0"), target=target, prune=True, max_delete=3)) == 4
    with pytest.raises(InvalidInput, match="more than --max-delete 2"):
        plan_of(spec("d0"), target=target, prune=True, max_delete=2)


def test_drift_is_flagged_when_the_target_changed_outside_flowplan() -> None:
    edited = replace(live(), description="edited by hand")
    (change,) = compute_plan(Desired("proj", deployments=(spec(),)), actual(edited)).changes
    assert change.drift and change.fields == (FieldChange("description", "edited by hand", None),)
    (clean,) = compute_plan(Desired("proj", deployments=(spec(),)), actual(live())).changes
    assert not clean.drift


def test_errors_that_stop_a_plan() -> None:
    with pytest.raises(InvalidInput, match="does not exist on the target and is not declared"):
        plan_of(spec(work_pool_name="ghost"), target=actual())
    with pytest.raises(InvalidInput, match="same name: etl/nightly"):
        plan_of(spec(), spec(), target=actual())
    with pytest.raises(InvalidInput, match=r"job_variables\.env: expected a mapping"):
        plan_of(spec(job_variables={"env": "x"}), target=actual())


def test_pools_and_queues_come_first_and_compare_declared_fields() -> None:
    desired = Desired(
        "proj",
        pools=(PoolSpec("new", "docker"), PoolSpec("pool", "process", concurrency_limit=4)),
        queues=(QueueSpec("pool", "default"), QueueSpec("pool", "urgent", priority=1)),
        deployments=(spec(work_pool_name="new"),),
    )
    queue = WorkQueue("q1", "default", "p1", "pool", 1, NOW)
    target = Actual({"pool": POOL}, {"pool/default": queue}, {})
    changes = compute_plan(desired, target).changes
    assert [(c.action, c.kind, c.key) for c in changes] == [
        ("create", "work_pool", "new"), ("update", "work_pool", "pool"),
        ("noop", "work_queue", "pool/default"), ("create", "work_queue", "pool/urgent"),
        ("create", "deployment", "etl/nightly"),
    ]  # fmt: skip
    assert changes[1].fields == (FieldChange("concurrency_limit", None, 4),)
    with pytest.raises(InvalidInput, match="type cannot change"):
        compute_plan(Desired("proj", pools=(PoolSpec("pool", "docker"),)), target)


def test_summary_line() -> None:
    result = compute_plan(Desired("proj", deployments=(spec("a"), spec("b"))), actual(live("a")))
    assert result.summary() == "Plan: 1 to add, 0 to change, 0 to destroy."
