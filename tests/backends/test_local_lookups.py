"""What the local store says when a name or id is not found, and what it reads back: the error
names the kind and the name (and the closest known name), so a command can show it as is."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from flowplan import masking
from flowplan.backends.local import LocalBackend
from flowplan.domain.clock import utcnow
from flowplan.domain.objects import LogLine, StateType
from flowplan.domain.schedules import IntervalSchedule
from flowplan.errors import InvalidInput, ObjectAlreadyExists, ObjectNotFound
from tests.runtime.helpers import deployment, store


@pytest.fixture
def backend(tmp_path: Path) -> LocalBackend:
    return store(tmp_path / "home")


def not_found(call: object, *args: object) -> ObjectNotFound:
    with pytest.raises(ObjectNotFound) as caught:
        call(*args)  # type: ignore[operator]
    return caught.value


def test_deleting_an_unknown_variable_or_secret_names_it_and_the_closest(
    backend: LocalBackend,
) -> None:
    backend.set_variable("region", "eu")
    backend.set_secret("token", "s3cret")
    error = not_found(backend.delete_variable, "regon")
    assert str(error) == "variable 'regon' not found (did you mean 'region'?)"
    error = not_found(backend.delete_secret, "tokn")
    assert str(error) == "secret 'tokn' not found (did you mean 'token'?)"
    assert not_found(backend.delete_secret, "zzzzzz").hint is None
    backend.delete_variable("region")
    backend.delete_secret("token")
    assert backend.read_variables() == [] and backend.read_secrets() == []


def test_an_unknown_queue_is_named_with_its_pool(backend: LocalBackend, tmp_path: Path) -> None:
    deployment(backend, tmp_path)
    backend.create_work_queue("pool", "fast")
    error = not_found(backend.delete_work_queue, "pool", "fats")
    assert str(error) == "work queue 'fats' in work pool 'pool' not found (did you mean 'fast'?)"
    error = not_found(backend.update_work_queue, "pool", "fats", {"description": "x"})
    assert str(error) == "work queue 'fats' in work pool 'pool' not found (did you mean 'fast'?)"
    error = not_found(backend.delete_work_queue, "pol", "fast")
    assert str(error) == "work pool 'pol' not found (did you mean 'pool'?)"
    with pytest.raises(ObjectAlreadyExists) as caught:
        backend.create_work_queue("pool", "fast")
    assert str(caught.value) == "work pool 'pool' already has a queue named 'fast'"


def test_queues_get_the_first_free_priority_and_an_explicit_one_makes_room(
    backend: LocalBackend,
) -> None:
    backend.create_work_pool("pool", "process")
    backend.create_work_queue("pool", "b")
    backend.create_work_queue("pool", "c")
    backend.delete_work_queue("pool", "b")
    backend.create_work_queue("pool", "d")  # the gap b left

    def order() -> list[tuple[str, int, bool]]:
        return sorted((q.priority, q.name, q.is_paused) for q in backend.read_work_queues("pool"))  # type: ignore[misc]

    assert order() == [(1, "default", False), (2, "d", False), (3, "c", False)]
    backend.create_work_queue("pool", "urgent", priority=1)
    assert order() == [(1, "urgent", False), (2, "default", False), (3, "d", False),
                       (4, "c", False)]  # fmt: skip
    backend.update_work_queue("pool", "c", {"priority": 2})
    assert order() == [(1, "urgent", False), (2, "c", False), (3, "default", False),
                       (4, "d", False)]  # fmt: skip
    backend.update_work_queue("pool", "c", {"priority": 9})  # free: nothing else moves
    assert order() == [(1, "urgent", False), (3, "default", False), (4, "d", False),
                       (9, "c", False)]  # fmt: skip


def test_an_unknown_run_is_named(backend: LocalBackend) -> None:
    for call in (backend.read_flow_run, backend.delete_flow_run, backend.cancel_flow_run):
        error = not_found(call, "no-such-run")
        assert str(error) == "flow run 'no-such-run' not found ('flowplan flow-run ls' lists runs)"


def test_cancelling_a_run_that_has_not_started_cancels_it_and_a_running_one_asks_its_worker(
    backend: LocalBackend, tmp_path: Path
) -> None:
    deployment(backend, tmp_path)
    waiting = backend.create_flow_run("f/d")
    running = backend.create_flow_run("f/d")
    backend.set_flow_run_state(running.id, StateType.RUNNING)
    cancelled = backend.cancel_flow_run(waiting.id)
    assert (cancelled.state.type, cancelled.state.message) == (StateType.CANCELLED, "Cancelled")
    asked = backend.cancel_flow_run(running.id)
    assert (asked.state.type, asked.state.message) == (StateType.CANCELLING, None)
    assert backend.read_flow_run(running.id).state.type is StateType.CANCELLING


def test_flows_are_read_by_name_with_their_id_and_creation_time(
    backend: LocalBackend, tmp_path: Path
) -> None:
    before = utcnow() - timedelta(seconds=1)
    deployment(backend, tmp_path, flow="zeta", name="z")
    made = deployment(backend, tmp_path, flow="alpha", name="a")
    flows = backend.read_flows()
    assert [f.name for f in flows] == ["alpha", "zeta"]
    assert flows[0].id == made.flow_id and flows[0].id != flows[1].id
    assert all(before <= f.created <= utcnow() for f in flows)


def test_firings_are_read_with_when_and_why(backend: LocalBackend, tmp_path: Path) -> None:
    deployment(backend, tmp_path, triggers=[{"expect": ["tick"]}])
    backend.evaluate_triggers()
    before = utcnow() - timedelta(seconds=1)
    backend.write_event("tick", {"prefect.resource.id": "t"})
    backend.evaluate_triggers()
    (firing,) = backend.read_firings()
    assert before <= firing.fired <= utcnow()
    assert firing.reason and firing.error is None and firing.event_name == "tick"


def test_an_unknown_schedule_or_deployment_is_named(backend: LocalBackend, tmp_path: Path) -> None:
    made = deployment(backend, tmp_path, schedules=(IntervalSchedule(3600),))
    error = not_found(backend.delete_deployment_schedule, made.id, "nope")
    assert "schedule 'nope'" in str(error) and "not found" in str(error)
    error = not_found(backend.update_deployment_schedule, made.id, "nope", {"active": False})
    assert "schedule 'nope'" in str(error)
    error = not_found(backend.delete_deployment_schedule, "no-such-id", "nope")
    assert "deployment 'no-such-id' not found" in str(error)


def test_a_new_queue_takes_priority_1_when_it_is_free(backend: LocalBackend) -> None:
    backend.create_work_pool("pool", "process")
    backend.update_work_queue("pool", "default", {"priority": 5})
    made = backend.create_work_queue("pool", "first")
    assert (made.priority, made.is_paused) == (1, False)


def test_a_secret_read_is_masked_and_one_set_twice_needs_overwrite(backend: LocalBackend) -> None:
    value = f"lookups-{uuid.uuid4().hex}"  # new: masking is the whole process's
    first = backend.set_secret("api-key", value)
    assert masking.mask(value) == value  # stored, not read yet
    assert backend.read_secret_value("api-key") == value
    assert masking.mask(f"key: {value}") == f"key: {masking.MASK}"
    with pytest.raises(ObjectAlreadyExists) as caught:
        backend.set_secret("api-key", "other")
    assert str(caught.value) == "secret 'api-key' already exists (pass --overwrite to replace it)"
    second = backend.set_secret("api-key", f"{value}-2", overwrite=True)
    (listed,) = backend.read_secrets()
    assert listed == second and second.created == first.created
    assert second.updated > first.updated
    with pytest.raises(InvalidInput, match="secret"):
        backend.set_secret("has.dot", "x")
    error = not_found(backend.read_secret_value, "api-kee")
    assert str(error) == "secret 'api-kee' not found (did you mean 'api-key'?)"


def test_a_pool_s_template_is_replaced_and_pausing_it_is_an_event(backend: LocalBackend) -> None:
    backend.create_work_pool("pool", "process")
    template = {"job_configuration": {"command": "{{ command }}"},
                "variables": {"properties": {"command": {"type": "string", "default": "run"}}}}  # fmt: skip
    changed = backend.update_work_pool("pool", {"base_job_template": template})
    assert changed.base_job_template == template
    assert backend.read_work_pool("pool").base_job_template == template
    assert backend.read_events(name="prefect.work-pool.*") == []  # not a status change
    paused = backend.update_work_pool("pool", {"is_paused": True})
    assert paused.is_paused is True
    (event,) = backend.read_events(name="prefect.work-pool.*")
    assert event.event == "prefect.work-pool.paused"
    assert event.resource == {"prefect.resource.id": f"prefect.work-pool.{paused.id}",
                              "prefect.resource.name": "pool", "prefect.work-pool.type": "process"}  # fmt: skip
    backend.update_work_pool("pool", {"is_paused": True})  # paused already: no second event
    assert len(backend.read_events(name="prefect.work-pool.*")) == 1
    backend.update_work_pool("pool", {"is_paused": False})
    assert backend.read_events(name="prefect.work-pool.*")[0].event == "prefect.work-pool.not-ready"


def test_an_unknown_webhook_says_how_to_list_them(backend: LocalBackend) -> None:
    for call, args in (
        (backend.delete_webhook, ()),
        (backend.update_webhook, ({"enabled": True},)),
    ):
        error = not_found(call, "nope", *args)
        assert str(error) == "webhook 'nope' not found ('flowplan webhook ls' lists webhooks)"


def test_a_variable_set_again_keeps_its_creation_and_takes_the_new_value_and_tags(
    backend: LocalBackend,
) -> None:
    first = backend.set_variable("region", "eu", tags=["geo", "prod"])
    assert (first.name, first.value, first.tags) == ("region", "eu", ("geo", "prod"))
    assert first.created == first.updated
    backend.set_variable("area", [1, 2])
    with pytest.raises(ObjectAlreadyExists) as caught:
        backend.set_variable("region", "us")
    assert str(caught.value) == "variable 'region' already exists (pass --overwrite to replace it)"
    second = backend.set_variable("region", {"zone": "us"}, tags=["geo"], overwrite=True)
    assert (second.value, second.tags, second.created) == ({"zone": "us"}, ("geo",), first.created)
    assert second.updated > first.updated
    assert backend.read_variables() == [backend.read_variable("area"), second]
    error = not_found(backend.read_variable, "regio")
    assert str(error) == "variable 'regio' not found (did you mean 'region'?)"


def test_a_lease_runs_for_its_time_from_when_it_was_taken_and_renewing_keeps_that(
    backend: LocalBackend,
) -> None:
    held = backend.acquire_lease("apply", "me", 30)
    assert held is not None and (held.name, held.holder) == ("apply", "me")
    assert held.expires - held.acquired == timedelta(seconds=30)
    assert backend.read_lease("apply") == held
    renewed = backend.acquire_lease("apply", "me", 600)
    assert renewed is not None and renewed.acquired == held.acquired
    assert renewed.expires - held.acquired >= timedelta(seconds=600)
    assert backend.acquire_lease("apply", "you", 30) is None  # held: nothing changes
    assert backend.read_lease("apply") == renewed
    assert backend.release_lease("other") is False and backend.read_lease("other") is None
    lapsed = backend.acquire_lease("lapsed", "dead", -1)
    assert lapsed is not None
    taken = backend.acquire_lease("lapsed", "alive", 30)
    assert taken is not None and taken.holder == "alive"
    assert taken.acquired > lapsed.acquired  # a new holder's lease starts when it takes it
    assert taken.expires - taken.acquired == timedelta(seconds=30)


def test_a_lease_is_free_from_the_moment_it_expires(
    backend: LocalBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flowplan.backends.local import keyvalue

    start = utcnow()
    monkeypatch.setattr(keyvalue, "utcnow", lambda: start)
    assert backend.acquire_lease("apply", "me", 30) is not None
    monkeypatch.setattr(keyvalue, "utcnow", lambda: start + timedelta(seconds=30, microseconds=-1))
    assert backend.acquire_lease("apply", "you", 30) is None  # one microsecond before: held
    monkeypatch.setattr(keyvalue, "utcnow", lambda: start + timedelta(seconds=30))
    taken = backend.acquire_lease("apply", "you", 30)
    assert taken is not None and (taken.holder, taken.acquired) == (
        "you",
        start + timedelta(seconds=30),
    )


def test_log_lines_are_read_by_time_then_as_written_from_an_offset_or_the_last_ones(
    backend: LocalBackend, tmp_path: Path
) -> None:
    run = backend.create_flow_run(deployment(backend, tmp_path).id)
    moment = utcnow()
    backend.write_logs([LogLine(run.id, moment + timedelta(seconds=1), 20, "late")])
    backend.write_logs([LogLine(run.id, moment, 30, f"line {n}") for n in range(3)])
    every = backend.read_logs(run.id)
    assert [(line.message, line.level) for line in every] == [
        ("line 0", 30), ("line 1", 30), ("line 2", 30), ("late", 20)]  # fmt: skip
    assert every[0].timestamp == moment and every[0].flow_run_id == run.id
    assert backend.read_logs(run.id, offset=-5) == every
    assert backend.read_logs(run.id, limit=2) == every[2:]
    assert backend.read_logs(run.id, limit=0) == []


def test_a_bad_variable_or_secret_name_says_which_and_a_secret_lists_its_times(
    backend: LocalBackend,
) -> None:
    with pytest.raises(InvalidInput) as variable:
        backend.set_variable("has.dot", 1)
    assert variable.value.message == "variable name 'has.dot' is not valid"
    with pytest.raises(InvalidInput) as secret:
        backend.set_secret("has.dot", "x")
    assert secret.value.message == "secret name 'has.dot' is not valid"
    before = utcnow()
    made = backend.set_secret("token", "x")
    assert before <= made.created == made.updated <= utcnow()
    assert backend.read_secrets() == [made]
