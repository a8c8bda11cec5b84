"""compute_plan's changes as whole values (plan/compute.py): every field of each change, the
comparable forms, the guards and the warnings, with the exact words."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, replace
from datetime import UTC, date, datetime
from typing import Any

import pytest

from flowplan.domain.job_templates import default_template
from flowplan.domain.objects import Deployment, DeploymentSchedule, WorkPool, WorkQueue
from flowplan.domain.schedules import IntervalSchedule
from flowplan.domain.specs import HASH_LABEL, DeploymentSpec, ScheduleSpec
from flowplan.errors import InvalidInput
from flowplan.plan.comparable import EMPTY_SCHEMA, core_fields, digest, fingerprint, spec_hash
from flowplan.plan.compute import Actual, PlanOptions, compute_plan, settle
from flowplan.plan.model import Change, FieldChange
from flowplan.plan.specs import (
    BUILD_LABEL,
    OWNER_LABEL,
    PROJECT_LABEL,
    Desired,
    PoolSpec,
    QueueSpec,
    deployment_to_json,
)
from flowplan.steps.predict import KNOWN_AFTER_BUILD

NOW = datetime(2030, 1, 1, tzinfo=UTC)
LATER = datetime(2030, 1, 2, tzinfo=UTC)
OWNED = {OWNER_LABEL: "flowplan", PROJECT_LABEL: "proj"}
TEMPLATE = default_template("process")
POOL = WorkPool("p-id", "pool", "process", NOW, NOW, description="old", concurrency_limit=2,
                base_job_template=TEMPLATE)  # fmt: skip
QUEUE = WorkQueue("q-id", "q", "p-id", "pool", 1, NOW, description="d")


def actual(*deployments: Deployment, pools: tuple[WorkPool, ...] = (POOL,),
           queues: tuple[WorkQueue, ...] = ()) -> Actual:  # fmt: skip
    return Actual({p.name: p for p in pools}, {f"{q.work_pool_name}/{q.name}": q for q in queues},
                  {d.full_name: d for d in deployments})  # fmt: skip


def spec(name: str = "d", **fields: Any) -> DeploymentSpec:
    return DeploymentSpec("etl", name, **{"entrypoint": "f.py:etl", "work_pool_name": "pool",
                                          "labels": OWNED, **fields})  # fmt: skip


def stored(declared: DeploymentSpec, **fields: Any) -> Deployment:
    """What a target holds after applying `declared`, then `fields` changed on it."""
    values = {key: getattr(declared, key) for key in (
        "entrypoint", "path", "description", "version", "tags", "parameters",
        "parameter_openapi_schema", "enforce_parameter_schema", "job_variables",
        "work_pool_name", "concurrency_limit", "pull_steps", "triggers",
        "concurrency_options")}  # fmt: skip
    values["work_queue_name"] = declared.work_queue_name or "default"
    values["labels"] = {**declared.labels, HASH_LABEL: spec_hash(declared)}
    values.update(fields)
    return Deployment(f"id-{declared.name}", declared.name, "flow-1", "etl", NOW, NOW, **values)


def changes(desired: Desired, target: Actual, **options: Any) -> tuple[Change, ...]:
    return compute_plan(desired, target, PlanOptions(**options)).changes


# -- comparable forms ---------------------------------------------------------------------------


def test_digest_is_the_sha256_of_sorted_json_with_values_as_text() -> None:
    value = {"b": 1, "a": [date(2030, 1, 2)]}
    text = '{"a": ["2030-01-02"], "b": 1}'
    assert digest(value) == hashlib.sha256(text.encode()).hexdigest()


def test_core_fields_of_a_spec() -> None:
    declared = spec(description="", tags=("b", "a", "b"), labels={**OWNED, HASH_LABEL: "x"},
                    parameters={"n": 1}, job_variables={"k": "v"}, path="/p", version="1",
                    enforce_parameter_schema=True, concurrency_limit=3,
                    concurrency_options={"collision_strategy": "ENQUEUE"},
                    triggers=[{"enabled": False, "expect": ["e"]}])  # fmt: skip
    fields = core_fields(declared)
    assert fields == {
        "entrypoint": "f.py:etl", "path": "/p", "description": None, "version": "1",
        "tags": ["a", "b"], "labels": OWNED, "parameters": {"n": 1},
        "parameter_openapi_schema": EMPTY_SCHEMA, "enforce_parameter_schema": True,
        "job_variables": {"k": "v"}, "work_pool_name": "pool", "work_queue_name": "default",
        "pull_steps": [], "concurrency_limit": 3, "triggers": fields["triggers"],
        "concurrency_options": {"collision_strategy": "ENQUEUE"},
    }  # fmt: skip
    assert [t["name"] for t in fields["triggers"]] == ["d__automation_1"]
    assert fields["triggers"][0]["enabled"] is False
    assert list(fields["labels"]) == sorted(OWNED)
    schema = {"type": "object", "properties": {"x": {}}}
    steps = [{"s": {}}]
    given = core_fields(
        spec(parameter_openapi_schema=schema, pull_steps=steps, work_queue_name="q")
    )
    assert (given["parameter_openapi_schema"], given["pull_steps"]) == (schema, steps)
    assert given["work_queue_name"] == "q"
    assert core_fields(spec(work_pool_name=None))["work_queue_name"] is None


def test_a_fingerprint_ignores_only_what_changes_by_itself() -> None:
    polled = replace(QUEUE, last_polled=LATER)
    assert fingerprint(polled) == fingerprint(QUEUE)
    assert fingerprint(replace(QUEUE, description="x")) != fingerprint(QUEUE)
    assert fingerprint(replace(POOL, last_heartbeat=LATER)) == fingerprint(POOL)
    assert fingerprint(replace(POOL, is_paused=True)) != fingerprint(POOL)
    volatile = {"status", "last_polled", "last_heartbeat"}
    body = {k: v for k, v in POOL.to_json().items() if k not in volatile}
    assert fingerprint(POOL) == digest(body)


# -- pools and queues ---------------------------------------------------------------------------


def test_a_pool_to_create_lists_its_type_and_each_declared_field() -> None:
    declared = PoolSpec("gpu", "docker", "big", True, 4, {"variables": {}})
    [change] = changes(Desired("proj", pools=(declared,)), actual())
    assert change == Change("create", "work_pool", "gpu", (
        FieldChange("type", None, "docker"), FieldChange("description", None, "big"),
        FieldChange("is_paused", None, True), FieldChange("concurrency_limit", None, 4),
        FieldChange("base_job_template", None, {"variables": {}}),
    ), asdict(declared))  # fmt: skip
    bare = PoolSpec("bare", "process")
    assert changes(Desired("proj", pools=(bare,)), actual()) == (
        Change("create", "work_pool", "bare", (FieldChange("type", None, "process"),), asdict(bare)),
    )  # fmt: skip


def test_a_pool_to_update_lists_only_declared_fields_that_differ() -> None:
    template = {**TEMPLATE, "variables": {"properties": {}}}
    declared = PoolSpec("pool", "process", description="new", paused=False, concurrency_limit=2,
                        base_job_template=template)  # fmt: skip
    [change] = changes(Desired("proj", pools=(declared,)), actual())
    assert change == Change("update", "work_pool", "pool", (
        FieldChange("description", "old", "new"),
        FieldChange("base_job_template", TEMPLATE, template),
    ), asdict(declared), "p-id", fingerprint(POOL))  # fmt: skip
    paused = PoolSpec("pool", "process", paused=True)
    [change] = changes(Desired("proj", pools=(paused,)), actual())
    assert change.fields == (FieldChange("is_paused", False, True),)
    same = PoolSpec("pool", "process", description="old", concurrency_limit=2)
    assert changes(Desired("proj", pools=(same,)), actual()) == (
        Change("noop", "work_pool", "pool", (), asdict(same), "p-id", fingerprint(POOL)),)  # fmt: skip


def test_a_pools_type_cannot_change() -> None:
    with pytest.raises(InvalidInput) as caught:
        changes(Desired("proj", pools=(PoolSpec("pool", "docker"),)), actual())
    assert caught.value.message == (
        "work pool 'pool' is of type 'process' on the target; the project says 'docker' (a pool's"
        " type cannot change: delete it or use another name)"
    )


def test_queue_changes_as_values() -> None:
    new = QueueSpec("pool", "fast", "quick", 2, 3, True)
    assert changes(Desired("proj", queues=(new,)), actual()) == (
        Change("create", "work_queue", "pool/fast", (
            FieldChange("description", None, "quick"), FieldChange("priority", None, 2),
            FieldChange("concurrency_limit", None, 3), FieldChange("is_paused", None, True),
        ), asdict(new)),
    )  # fmt: skip
    edited = QueueSpec("pool", "q", description="d", priority=5, concurrency_limit=1, paused=False)
    assert changes(Desired("proj", queues=(edited,)), actual(queues=(QUEUE,))) == (
        Change("update", "work_queue", "pool/q", (
            FieldChange("priority", 1, 5), FieldChange("concurrency_limit", None, 1),
        ), asdict(edited), "q-id", fingerprint(QUEUE)),
    )  # fmt: skip
    paused = QueueSpec("pool", "q", paused=True)
    [change] = changes(Desired("proj", queues=(paused,)), actual(queues=(QUEUE,)))
    assert change.fields == (FieldChange("is_paused", False, True),)
    same = QueueSpec("pool", "q", description="d")
    assert changes(Desired("proj", queues=(same,)), actual(queues=(QUEUE,))) == (
        Change("noop", "work_queue", "pool/q", (), asdict(same), "q-id", fingerprint(QUEUE)),
    )  # fmt: skip


# -- deployments ---------------------------------------------------------------------------------


def test_a_deployment_update_as_a_value() -> None:
    declared = spec(description="new", schedules=(
        ScheduleSpec(IntervalSchedule(60), None, {}, "fresh", "old"),))  # fmt: skip
    live = stored(spec(), schedules=(
        DeploymentSchedule("s1", IntervalSchedule(60), True, "old"),))  # fmt: skip
    [change] = changes(Desired("proj", deployments=(declared,)), actual(live))
    after = deployment_to_json(replace(declared, enforce_parameter_schema=True))
    assert change == Change("update", "deployment", "etl/d", (
        FieldChange("description", None, "new"), FieldChange("schedules[fresh].slug", "old", "fresh"),
    ), after, "id-d", fingerprint(live), False)  # fmt: skip


def test_an_undeclared_flag_keeps_the_targets_and_a_new_deployment_enforces() -> None:
    live = stored(spec(enforce_parameter_schema=False))
    undeclared = spec(enforce_parameter_schema=None)
    [change] = changes(Desired("proj", deployments=(undeclared,)), actual(live))
    assert (change.action, change.after["enforce_parameter_schema"]) == ("noop", False)
    [change] = changes(Desired("proj", deployments=(undeclared,)), actual())
    assert change.after["enforce_parameter_schema"] is True


def test_a_rename_is_not_taken_when_the_new_slug_exists_or_the_old_does_not() -> None:
    schedules = (DeploymentSchedule("s1", IntervalSchedule(60), True, "old"),
                 DeploymentSchedule("s2", IntervalSchedule(60), True, "fresh"))  # fmt: skip
    both = stored(spec(), schedules=schedules)
    renamed = spec(schedules=(ScheduleSpec(IntervalSchedule(60), None, {}, "fresh", "old"),))
    [change] = changes(Desired("proj", deployments=(renamed,)), actual(both))
    assert change.fields == (FieldChange("schedules[old]", {"schedule": {
        "interval": 60.0, "anchor_date": change.fields[0].before["schedule"]["anchor_date"],
        "timezone": "UTC"}, "parameters": {}}, None),)  # fmt: skip
    gone = spec(schedules=(ScheduleSpec(IntervalSchedule(60), None, {}, "fresh", "absent"),))
    only_fresh = stored(spec(), schedules=schedules[1:])
    [change] = changes(Desired("proj", deployments=(gone,)), actual(only_fresh))
    assert change.action == "noop"


def test_a_schedule_field_only_the_target_has_is_not_a_change() -> None:
    live = stored(spec(), schedules=(
        DeploymentSchedule("s1", IntervalSchedule(60), False, "a"),))  # fmt: skip
    declared = spec(schedules=(ScheduleSpec(IntervalSchedule(60), None, {}, "a"),))
    [change] = changes(Desired("proj", deployments=(declared,)), actual(live))
    assert change.action == "noop"
    activate = spec(schedules=(ScheduleSpec(IntervalSchedule(60), True, {"x": 1}, "a"),))
    [change] = changes(Desired("proj", deployments=(activate,)), actual(live))
    assert change.fields == (FieldChange("schedules[a].active", False, True),
                             FieldChange("schedules[a].parameters", {}, {"x": 1}))  # fmt: skip


def test_values_a_build_knows_are_the_live_ones_when_the_same_build_made_them() -> None:
    built = {**OWNED, BUILD_LABEL: "b1"}
    declared = spec(labels=built, version=KNOWN_AFTER_BUILD, tags=("t", KNOWN_AFTER_BUILD),
                    job_variables={"image": f"repo:{KNOWN_AFTER_BUILD}", "n": 1},
                    description="d")  # fmt: skip
    live = stored(spec(labels=built, version="v1", tags=("t", "x"),
                       job_variables={"image": "repo:abc", "n": 0}, description="d"))  # fmt: skip
    assert settle(declared, live) == replace(declared, version="v1", tags=("t", "x"),
                                             job_variables={"image": "repo:abc", "n": 1})  # fmt: skip
    other = stored(spec(labels={**OWNED, BUILD_LABEL: "b2"}, version="v1"))
    assert settle(declared, other) == declared
    assert settle(declared, None) == declared
    unbuilt = spec(version=KNOWN_AFTER_BUILD)
    assert settle(unbuilt, stored(spec(version="v1"))) == unbuilt
    plain = spec(labels=built, version="2")
    assert settle(plain, live) is plain
    reshaped = spec(labels=built, parameters={"x": [KNOWN_AFTER_BUILD]})
    from_map = stored(spec(labels=built, parameters={"x": {"k": 1}}))
    assert settle(reshaped, from_map).parameters == {"x": [KNOWN_AFTER_BUILD]}  # no such item
    shorter = spec(labels=built, tags=(KNOWN_AFTER_BUILD,))
    assert settle(shorter, live).tags == (KNOWN_AFTER_BUILD,)  # no item to take it from
    [change] = changes(Desired("proj", deployments=(declared,)), actual(live))
    assert [f.name for f in change.fields] == ["job_variables"]


# -- guards and warnings -------------------------------------------------------------------------


def test_a_missing_pool_suggests_the_closest_name_or_how_to_make_it() -> None:
    pools = (POOL, replace(POOL, name="pool-gpu"))
    with pytest.raises(InvalidInput) as caught:
        changes(Desired("proj", deployments=(spec(work_pool_name="poo"),)), actual(pools=pools))
    assert caught.value.message == ("deployment 'etl/d': work pool 'poo' does not exist on the"
                                    " target and is not declared under work_pools:")  # fmt: skip
    assert caught.value.hint == "did you mean 'pool'?"
    declared = Desired("proj", pools=(PoolSpec("batch", "process"),),
                       deployments=(spec(work_pool_name="batc"),))  # fmt: skip
    with pytest.raises(InvalidInput) as caught:
        changes(declared, actual(pools=()))
    assert caught.value.hint == "did you mean 'batch'?"
    with pytest.raises(InvalidInput) as caught:
        changes(Desired("proj", deployments=(spec(work_pool_name="zzz"),)), actual())
    assert caught.value.hint == (
        "create it (flowplan work-pool create zzz --type process) or declare it"
    )


def test_job_variables_are_checked_against_each_pools_template_once() -> None:
    bad = {"working_dir": 5, "env": "not a mapping"}
    with pytest.raises(InvalidInput) as caught:
        changes(Desired("proj", deployments=(spec(), spec("e", job_variables=bad))), actual())
    message = caught.value.message
    prefix = "deployment 'etl/e': job variables do not fit the work pool: "
    assert message.startswith(prefix) and message.count("; ") == 1
    declared = Desired("proj", pools=(PoolSpec("own", "process"),),
                       deployments=(spec(work_pool_name="own", job_variables=bad),))  # fmt: skip
    with pytest.raises(InvalidInput, match="job variables do not fit"):
        changes(declared, actual(pools=()))
    unpooled = spec(work_pool_name=None)
    assert [c.action for c in changes(Desired("proj", deployments=(unpooled,)), actual())] == [
        "create"]  # fmt: skip


def test_deployments_made_by_others_are_reported() -> None:
    foreign = stored(spec("a"), labels={OWNER_LABEL: "flowplan", PROJECT_LABEL: "other"})
    by_hand = stored(spec("b"), labels={})
    other_tool = stored(spec("c"), labels={OWNER_LABEL: "someone", PROJECT_LABEL: "proj"})
    mine = stored(spec("d"))
    desired = Desired("proj", deployments=tuple(spec(n) for n in "abcde"),
                      warnings=("from the file",))  # fmt: skip
    plan = compute_plan(desired, actual(foreign, by_hand, other_tool, mine))
    take = " apply will take it over for project 'proj'"
    assert plan.warnings == (
        "from the file",
        "deployment 'etl/a' on the target was made by project 'other';" + take,
        "deployment 'etl/b' on the target was made by something other than flowplan;" + take,
        "deployment 'etl/c' on the target was made by something other than flowplan;" + take,
    )


@pytest.mark.parametrize(
    ("owned", "doomed", "allowed"),
    [(20, 10, True), (30, 11, False), (4, 2, True), (5, 3, False), (3, 2, False), (1, 0, True)],
)
def test_the_prune_guard(owned: int, doomed: int, allowed: bool) -> None:
    lives = [stored(spec(f"d{i:02}")) for i in range(owned)]
    kept = tuple(spec(f"d{i:02}") for i in range(owned - doomed))
    desired = Desired("proj", deployments=kept)
    if allowed:
        deletes = [c for c in changes(desired, actual(*lives), prune=True) if c.action == "delete"]
        assert len(deletes) == doomed
        return
    with pytest.raises(InvalidInput) as caught:
        changes(desired, actual(*lives), prune=True)
    assert caught.value.message == (
        f"--prune would delete {doomed} of the {owned} deployments this project owns;"
        " refusing without an explicit --max-delete"
    )
    assert caught.value.hint == f"check the plan, then pass --max-delete {doomed}"
    assert len(changes(desired, actual(*lives), prune=True, max_delete=doomed)) == owned


def test_prune_deletes_as_values_in_reverse_order_within_the_limit() -> None:
    lives = [stored(spec(n)) for n in ("a", "b", "c", "d")]
    foreign = stored(spec("x"), labels={OWNER_LABEL: "flowplan", PROJECT_LABEL: "other"})
    plan = changes(Desired("proj", deployments=(spec("a"), spec("b"))), actual(*lives, foreign),
                   prune=True, max_delete=2)  # fmt: skip
    assert plan[2:] == (
        Change("delete", "deployment", "etl/d", (), None, "id-d", fingerprint(lives[3])),
        Change("delete", "deployment", "etl/c", (), None, "id-c", fingerprint(lives[2])),
    )
    with pytest.raises(InvalidInput) as caught:
        changes(Desired("proj", deployments=(spec("a"),)), actual(*lives), prune=True, max_delete=2)
    assert caught.value.message == "--prune would delete 3 deployments, more than --max-delete 2"
    assert caught.value.hint is None


def test_two_deployments_of_the_same_name() -> None:
    with pytest.raises(InvalidInput) as caught:
        changes(Desired("proj", deployments=(spec("b"), spec("a"), spec("b"), spec("a"))), actual())
    assert caught.value.message == "two deployments in the project have the same name: etl/a"


def test_the_drift_mark_compares_the_stored_hash_with_the_stored_fields() -> None:
    live = stored(spec(), description="by hand")
    [change] = changes(Desired("proj", deployments=(spec(),)), actual(live))
    assert change.drift and change.fields == (FieldChange("description", "by hand", None),)
    unhashed = stored(spec(), labels=OWNED)
    [change] = changes(Desired("proj", deployments=(spec(description="x"),)), actual(unhashed))
    assert not change.drift
    assert json.dumps(change.to_json())  # a plan file can hold it


def test_schedules_added_removed_and_changed_are_each_reported() -> None:
    live = stored(spec(), schedules=(
        DeploymentSchedule("s1", IntervalSchedule(60), True, "a"),
        DeploymentSchedule("s2", IntervalSchedule(60), True, "b"),
    ))  # fmt: skip
    declared = spec(schedules=(ScheduleSpec(IntervalSchedule(120), None, {}, "b"),
                               ScheduleSpec(IntervalSchedule(30), None, {}, "c")))  # fmt: skip
    [change] = changes(Desired("proj", deployments=(declared,)), actual(live))
    names = [f.name for f in change.fields]
    assert names == ["schedules[a]", "schedules[b].schedule", "schedules[c]"]
    added = change.fields[2]
    assert added.before is None and added.after is not None
    assert added.after["schedule"]["interval"] == 30.0
    assert change.fields[0].after is None and change.fields[0].before is not None


def test_a_queue_limit_on_the_target_is_compared() -> None:
    limited = replace(QUEUE, concurrency_limit=2)
    same = QueueSpec("pool", "q", concurrency_limit=2)
    [change] = changes(Desired("proj", queues=(same,)), actual(queues=(limited,)))
    assert change.action == "noop"


def test_every_deployment_is_checked_and_compared_whatever_comes_first() -> None:
    unpooled, missing = spec("a", work_pool_name=None), spec("b", work_pool_name="nope")
    with pytest.raises(InvalidInput, match="work pool 'nope' does not exist"):
        changes(Desired("proj", deployments=(unpooled, missing)), actual())
    foreign = stored(spec("b"), labels={OWNER_LABEL: "flowplan", PROJECT_LABEL: "other"})
    plan = compute_plan(Desired("proj", deployments=(spec("a"), spec("b"))), actual(foreign))
    assert [w.split(" on the target")[0] for w in plan.warnings] == ["deployment 'etl/b'"]


def test_a_deployment_nobody_owns_that_differs_only_in_its_labels_is_taken_over() -> None:
    unowned = {"made by hand": {}, "by the Python API": {OWNER_LABEL: "flowplan"}}
    for labels in unowned.values():
        plan = compute_plan(Desired("proj", deployments=(spec("a"),)),
                            actual(stored(spec("a"), labels=labels)))  # fmt: skip
        (change,) = plan.changes
        assert (change.action, change.adopt, plan.has_changes, plan.has_writes) == (
            "noop", True, False, True)  # fmt: skip
        assert change.fields == (FieldChange("labels", labels, OWNED),)
        assert plan.summary() == "Plan: 0 to add, 0 to change, 0 to destroy, 1 to take over."
        assert Change.from_json(json.loads(json.dumps(change.to_json()))) == change
    # another project's deployment, another tool's, labels of its own, or any other field:
    # a real change
    other_project = {OWNER_LABEL: "flowplan", PROJECT_LABEL: "other"}
    for live in (stored(spec("a"), labels=other_project),
                 stored(spec("a"), labels={OWNER_LABEL: "someone"}),
                 stored(spec("a"), labels={"team": "data"}),
                 stored(spec("a"), labels={}, description="by hand")):  # fmt: skip
        plan = compute_plan(Desired("proj", deployments=(spec("a"),)), actual(live))
        assert [(c.action, c.adopt) for c in plan.changes] == [("update", False)]
        assert plan.adoptions == 0
    owned = compute_plan(Desired("proj", deployments=(spec("a"),)), actual(stored(spec("a"))))
    assert [(c.action, c.adopt) for c in owned.changes] == [("noop", False)]
    assert not owned.has_writes and "adopt" not in owned.changes[0].to_json()


def test_what_prefects_deploy_leaves_out_is_no_change() -> None:
    """Prefect's `deploy` stores no path (its pull steps say where the code is) and a schema
    without an empty `required` or `definitions`, which flowplan's has."""
    schema = {"title": "Parameters", "type": "object", "required": [], "definitions": {},
              "properties": {"n": {"type": "integer", "title": "n", "position": 0}}}  # fmt: skip
    prefects = {k: v for k, v in schema.items() if k not in ("required", "definitions")}
    declared = spec("a", path="/srv/repo", parameter_openapi_schema=schema)
    live = stored(declared, path=None, parameter_openapi_schema=prefects)
    assert changes(Desired("proj", deployments=(declared,)), actual(live))[0].action == "noop"
    # a required parameter, a definition or another path is a change all the same
    for other in ({**prefects, "required": ["n"]}, {**prefects, "definitions": {"E": {}}}):
        live = stored(declared, path=None, parameter_openapi_schema=other)
        (change,) = changes(Desired("proj", deployments=(declared,)), actual(live))
        assert [f.name for f in change.fields] == ["parameter_openapi_schema"]
    (change,) = changes(Desired("proj", deployments=(declared,)),
                        actual(stored(declared, path="/elsewhere")))  # fmt: skip
    assert [(f.name, f.before, f.after) for f in change.fields] == [
        ("path", "/elsewhere", "/srv/repo")]  # fmt: skip
