"""Deployments in the local store: found by full name, id or bare name; read leniently past a bad
schedule; moved between pools and queues; deleted with the runs that have not started."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowplan.backends.local import LocalBackend
from flowplan.domain.objects import StateType
from flowplan.domain.schedules import CronSchedule
from flowplan.domain.specs import DeploymentSpec, ScheduleSpec
from flowplan.errors import DeploymentNotFound, InvalidInput, UnreadableRow, UnreadableRowWarning
from tests.runtime.helpers import deployment, store


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[LocalBackend]:
    made = store(tmp_path / "home")
    yield made
    made.close()


def test_a_deployment_is_found_by_full_name_id_or_a_bare_name_one_flow_has(
    backend: LocalBackend, tmp_path: Path
) -> None:
    made = deployment(backend, tmp_path, name="etl")
    deployment(backend, tmp_path, name="both", flow="f")
    deployment(backend, tmp_path, name="both", flow="g")
    assert backend.read_deployment("f/etl").id == made.id
    assert backend.read_deployment(made.id).name == "etl"
    assert backend.read_deployment("etl").id == made.id
    with pytest.raises(InvalidInput) as raised:
        backend.read_deployment("both")
    assert raised.value.message == "deployment name 'both' matches 2 flows: f/both, g/both"
    assert raised.value.hint == "use the full name 'flow-name/deployment-name'"
    with pytest.raises(DeploymentNotFound) as missing:
        backend.read_deployment("f/etk")
    assert missing.value.message == "deployment 'f/etk' not found"
    assert missing.value.hint == "did you mean 'f/etl'?"
    with pytest.raises(DeploymentNotFound, match="deployment 'nothing' not found"):
        backend.read_deployment("nothing")
    with pytest.raises(DeploymentNotFound) as by_id:
        backend.update_deployment("0" * 8 + "-0000-0000-0000-" + "0" * 12, {"description": "x"})
    assert by_id.value.message == "deployment '00000000-0000-0000-0000-000000000000' not found"


def test_a_bad_stored_schedule_is_set_apart_with_the_reason(
    backend: LocalBackend, tmp_path: Path
) -> None:
    made = deployment(
        backend, tmp_path, schedules=(CronSchedule("0 * * * *"), CronSchedule("5 * * * *"))
    )
    bad, good = sorted(made.schedules, key=lambda s: s.slug or "")
    stored = {"cron": "0 * * * *", "timezone": "Mars/Olympus"}
    backend.store.connection.execute(
        "UPDATE deployment_schedules SET schedule = ?, active = 1 WHERE id = ?",
        (json.dumps(stored), bad.id),
    )  # written straight into the store, past every check
    read, skipped = backend.read_deployment_leniently("f/d")
    assert [s.id for s in read.schedules] == [good.id]
    (set_apart,) = skipped
    assert (set_apart.id, set_apart.slug, set_apart.schedule, set_apart.active) == (
        bad.id, bad.slug, stored, True)  # fmt: skip
    assert set_apart.problem.endswith("unknown time zone 'Mars/Olympus'")
    with pytest.raises(UnreadableRow):
        backend.read_deployment("f/d")  # the strict read refuses the whole deployment


def test_a_deployment_unreadable_past_its_schedules_is_named(
    backend: LocalBackend, tmp_path: Path
) -> None:
    made = deployment(backend, tmp_path)
    backend.store.connection.execute(
        "UPDATE deployments SET parameters = ? WHERE id = ?", ('{"v":Infinity}', made.id)
    )  # a value an older flowplan let in
    with pytest.raises(UnreadableRow) as raised:
        backend.read_deployment_leniently("f/d")
    assert raised.value.object_id == made.id
    assert "deployment 'f/d' in the store cannot be read" in raised.value.message


def test_a_deployment_sqlite_reads_but_flowplan_cannot_is_named_with_the_reason(
    backend: LocalBackend, tmp_path: Path
) -> None:
    """A row whose JSON is valid but whose values the domain refuses (here its creation time)
    is named by its id and full name, with the reason, by the lenient read as by the strict."""
    made = deployment(backend, tmp_path, name="etl")
    backend.store.connection.execute(
        "UPDATE deployments SET created = 'not a time' WHERE id = ?", (made.id,)
    )  # written straight into the store, past every check
    for read in (backend.read_deployment_leniently, backend.read_deployment):
        with pytest.raises(UnreadableRow) as raised:
            read("f/etl")
        assert raised.value.object_id == made.id
        assert raised.value.message == (
            "deployment 'f/etl' in the store cannot be read: Invalid isoformat string: 'not a time'"
        )


def test_a_row_sqlite_cannot_read_names_each_bad_value_and_is_warned_once_per_command(
    backend: LocalBackend, tmp_path: Path
) -> None:
    made = deployment(backend, tmp_path, schedules=(CronSchedule("0 * * * *"),))
    (schedule,) = made.schedules
    deployment(backend, tmp_path, name="good")
    conn = backend.store.connection
    conn.execute(
        "UPDATE deployments SET parameters = '{\"v\":Infinity}', tags = '[NaN]' WHERE id = ?",
        (made.id,),
    )  # values an older flowplan let in
    conn.execute("UPDATE deployment_schedules SET parameters = '{\"n\":NaN}' WHERE id = ?",
                 (schedule.id,))  # fmt: skip
    with pytest.raises(UnreadableRow) as raised:
        backend.read_deployments(ids=[made.id])
    assert raised.value.message == (
        f"deployment 'f/d' in the store cannot be read: parameters, tags, schedule"
        f" {schedule.slug!r} is not valid JSON (NaN or Infinity, stored by an older flowplan)"
    )
    assert raised.value.object_id == made.id
    # as the CLI shows them (flowplan.main): a message once, whichever reader met the row
    with warnings.catch_warnings(record=True) as shown:
        warnings.filterwarnings("default", category=UnreadableRowWarning)
        assert [d.name for d in backend.read_deployments()] == ["good"]
        assert len(backend.export_deployments()) == 1
        assert [d.name for d in backend.read_deployments()] == ["good"]
    assert [str(w.message) for w in shown] == [raised.value.warning().args[0]]


def test_moving_a_deployment_to_another_pool_takes_its_default_queue_unless_one_is_named(
    backend: LocalBackend, tmp_path: Path
) -> None:
    made = deployment(backend, tmp_path, pool="a")
    backend.create_work_pool("b", "process")
    backend.create_work_queue("a", "fast")
    backend.create_work_queue("b", "slow")
    moved = backend.update_deployment(made.id, {"work_pool_name": "b"})
    assert (moved.work_pool_name, moved.work_queue_name) == ("b", "default")
    moved = backend.update_deployment(made.id, {"work_queue_name": "slow"})
    assert (moved.work_pool_name, moved.work_queue_name) == ("b", "slow")
    moved = backend.update_deployment(made.id, {"work_pool_name": "a", "work_queue_name": "fast"})
    assert (moved.work_pool_name, moved.work_queue_name) == ("a", "fast")
    moved = backend.update_deployment(made.id, {"work_pool_name": "a"})  # the same pool
    assert (moved.work_pool_name, moved.work_queue_name) == ("a", "fast")
    moved = backend.update_deployment(made.id, {"work_pool_name": "b"})  # b has no "fast"
    assert (moved.work_pool_name, moved.work_queue_name) == ("b", "default")
    moved = backend.update_deployment(made.id, {"work_pool_name": "a", "work_queue_name": "fast"})
    deployment(backend, tmp_path, name="a-first", pool="a")  # listed before it
    moved = backend.update_deployment(made.id, {"tags": ["x"], "pull_steps": None})
    assert moved.id == made.id
    assert (moved.work_pool_name, moved.work_queue_name) == ("a", "fast")
    assert moved.tags == ("x",) and moved.pull_steps is None


def test_a_job_variable_the_new_pool_does_not_know_is_refused(
    backend: LocalBackend, tmp_path: Path
) -> None:
    template = {
        "job_configuration": {"command": "{{ command }}"},
        "variables": {"properties": {"command": {"type": "string"}}},
    }
    made = deployment(backend, tmp_path, pool="a")
    backend.create_work_pool("strict", "process", base_job_template=template)
    with pytest.raises(InvalidInput, match=f"^deployment {made.id}: job variables do not fit"):
        backend.update_deployment(
            made.id, {"work_pool_name": "strict", "job_variables": {"command": 5}}
        )
    backend.update_work_pool("a", {"base_job_template": template})
    with pytest.raises(InvalidInput, match="command"):
        backend.update_deployment(made.id, {"job_variables": {"command": 5}})
    assert backend.read_deployment(made.id).work_pool_name == "a"


def test_upserting_again_keeps_what_the_spec_leaves_open(
    backend: LocalBackend, tmp_path: Path
) -> None:
    options = {"collision_strategy": "CANCEL_NEW"}
    made = deployment(backend, tmp_path, paused=True, enforce_parameter_schema=False,
                      concurrency_limit=1, concurrency_options=options)  # fmt: skip
    assert made.paused is True and made.enforce_parameter_schema is False
    assert made.concurrency_options == options
    spec = DeploymentSpec(
        "f", "d", entrypoint="flows/d.py:f", work_pool_name="pool", enforce_parameter_schema=None
    )
    (again,) = backend.upsert_deployments([spec])
    assert again.id == made.id
    assert again.paused is True and again.enforce_parameter_schema is False
    assert again.created == made.created
    fresh = DeploymentSpec(
        "f", "new", entrypoint="flows/d.py:f", work_pool_name="pool", enforce_parameter_schema=None
    )
    (new,) = backend.upsert_deployments([fresh])
    assert new.paused is False and new.enforce_parameter_schema is True
    assert [f.name for f in backend.read_flows()] == ["f"]  # one flow for both
    unpause = DeploymentSpec("f", "d", entrypoint="flows/d.py:f", work_pool_name="pool",
                             paused=False)  # fmt: skip
    assert backend.upsert_deployments([unpause])[0].paused is False


def test_job_variables_that_do_not_fit_the_pool_name_the_deployment(
    backend: LocalBackend, tmp_path: Path
) -> None:
    backend.create_work_pool("strict", "process", base_job_template={
        "job_configuration": {"command": "{{ command }}"},
        "variables": {"properties": {"command": {"type": "string"}}},
    })  # fmt: skip
    spec = DeploymentSpec("f", "d", entrypoint="flows/d.py:f", work_pool_name="strict",
                          job_variables={"command": 5})  # fmt: skip
    with pytest.raises(InvalidInput, match=r"^deployment f/d: job variables do not fit"):
        backend.upsert_deployments([spec])
    assert backend.read_deployments() == []


def test_deleting_a_deployment_deletes_its_runs_not_started_and_keeps_the_others(
    backend: LocalBackend, tmp_path: Path
) -> None:
    made = deployment(backend, tmp_path)
    _waiting, done = backend.create_flow_run("f/d"), backend.create_flow_run("f/d")
    backend.set_flow_run_state(done.id, StateType.COMPLETED)
    backend.delete_deployment(made.id)
    assert [run.id for run in backend.read_flow_runs()] == [done.id]
    assert backend.read_deployments() == []


def test_the_job_variables_a_deployment_has_are_checked_against_the_pool_it_moves_to(
    backend: LocalBackend, tmp_path: Path
) -> None:
    backend.create_work_pool("free", "process", base_job_template={})
    made = deployment(backend, tmp_path, pool="free", job_variables={"command": 5})
    backend.create_work_pool("strict", "process", base_job_template={
        "job_configuration": {"command": "{{ command }}"},
        "variables": {"properties": {"command": {"type": "string"}}},
    })  # fmt: skip
    with pytest.raises(InvalidInput, match="command"):
        backend.update_deployment(made.id, {"work_pool_name": "strict"})
    assert backend.read_deployment(made.id).work_pool_name == "free"


def test_updating_schedules_reconciles_them_by_slug(backend: LocalBackend, tmp_path: Path) -> None:
    made = deployment(backend, tmp_path, schedules=(CronSchedule("0 * * * *"),))
    (kept,) = made.schedules
    changed = backend.update_deployment(made.id, {"schedules": [
        ScheduleSpec(CronSchedule("0 * * * *"), slug=kept.slug, active=False),
        ScheduleSpec(CronSchedule("30 * * * *"), slug="half"),
    ]})  # fmt: skip
    by_slug = {s.slug: s for s in changed.schedules}
    assert by_slug[kept.slug].id == kept.id and by_slug[kept.slug].active is False
    assert by_slug["half"].schedule == CronSchedule("30 * * * *")
    assert backend.read_deployment(made.id).schedules == changed.schedules


def test_exports_are_narrowed_by_flow_pool_or_ids(backend: LocalBackend, tmp_path: Path) -> None:
    one = deployment(backend, tmp_path, name="one", flow="f", pool="a")
    two = deployment(backend, tmp_path, name="two", flow="g", pool="b")

    def names(
        flow: str | None = None, pool: str | None = None, ids: list[str] | None = None
    ) -> list[str]:
        found = backend.export_deployments(flow_name=flow, work_pool_name=pool, ids=ids)
        return [json.loads(document)["name"] for document in found]

    assert names() == ["one", "two"]
    assert names(flow="g") == ["two"]
    assert names(pool="a") == ["one"]
    assert names(ids=[two.id]) == ["two"]
    assert names(ids=[one.id], flow="g") == []
    assert [d.name for d in backend.read_deployments(flow_name="g")] == ["two"]
    assert [d.name for d in backend.read_deployments(work_pool_name="a")] == ["one"]
