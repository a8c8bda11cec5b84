"""Events, webhooks and deployment triggers in the local store, called in this process (the
server tests reach the same code through a server process)."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from flowplan.backends.local import LocalBackend
from flowplan.backends.local import store as store_module
from flowplan.domain.clock import iso, utcnow
from flowplan.domain.objects import StateType
from flowplan.errors import InvalidInput, ObjectNotFound
from tests.runtime.helpers import deployment, store

TEMPLATE = '{"event": "order.{{ body.status }}", "resource": {"prefect.resource.id": "shop"}}'


@pytest.fixture
def backend(tmp_path: Path) -> LocalBackend:
    return store(tmp_path / "home")


def test_events_are_read_newest_first_filtered_by_name_resource_and_seq(
    backend: LocalBackend,
) -> None:
    first = backend.write_event("order.paid", {"prefect.resource.id": "shop.order.1"},
                                payload={"n": 1})  # fmt: skip
    second = backend.write_event(
        "order_x.paid", {"prefect.resource.id": "shop.order.2"},
        related=[{"prefect.resource.id": "shop.customer.7", "prefect.resource.role": "buyer"}],
    )  # fmt: skip
    third = backend.write_event("orderAx.paid", {"prefect.resource.id": "shop.order.3"})
    assert [e.id for e in backend.read_events()] == [third, second, first]
    assert [e.id for e in backend.read_events(limit=2)] == [third, second]
    assert [e.id for e in backend.read_events(newest_first=False)] == [first, second, third]
    assert [e.id for e in backend.read_events(name="order.paid")] == [first]
    assert [e.id for e in backend.read_events(name="order.*")] == [first]
    # `_` and `%` in a prefix are the characters themselves, not LIKE's wildcards
    assert [e.id for e in backend.read_events(name="order_x*")] == [second]
    assert backend.read_events(name="order%*") == []
    assert [e.id for e in backend.read_events(resource="shop.customer.7")] == [second]
    assert [e.id for e in backend.read_events(resource="shop.order.3")] == [third]
    seqs = [e.seq for e in backend.read_events(newest_first=False)]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    assert [e.id for e in backend.read_events(after_seq=seqs[0])] == [third, second]
    assert [e.id for e in backend.read_events(before_seq=seqs[2])] == [second, first]
    event = backend.read_events(name="order_x.paid")[0]
    assert event.event == "order_x.paid"
    assert event.resource == {"prefect.resource.id": "shop.order.2"}
    assert event.related == [{"prefect.resource.id": "shop.customer.7",
                              "prefect.resource.role": "buyer"}]  # fmt: skip
    assert backend.read_events(name="order.paid")[0].payload == {"n": 1}
    assert event.received is not None and event.occurred == event.received


def test_a_run_state_event_names_the_run_and_its_related_objects(
    backend: LocalBackend, tmp_path: Path
) -> None:
    made = deployment(backend, tmp_path, tags=("team",))
    run = backend.create_flow_run(made.id, tags=["extra"])
    (event,) = backend.read_events(name="prefect.flow-run.*")
    assert event.event == "prefect.flow-run.Scheduled"
    assert event.resource["prefect.resource.id"] == f"prefect.flow-run.{run.id}"
    assert event.resource["prefect.resource.name"] == run.name
    assert event.resource["prefect.state-type"] == "SCHEDULED"
    assert event.resource["prefect.state-name"] == "Scheduled"
    roles = {item["prefect.resource.role"]: item for item in event.related}
    assert set(roles) == {"flow", "deployment", "work-queue", "work-pool", "tag"}
    assert roles["deployment"]["prefect.resource.id"] == f"prefect.deployment.{made.id}"
    assert roles["deployment"]["prefect.resource.name"] == "d"
    assert roles["flow"]["prefect.resource.name"] == "f"
    assert roles["work-queue"]["prefect.resource.name"] == "default"
    assert roles["work-pool"]["prefect.resource.name"] == "pool"
    assert roles["work-pool"]["prefect.work-pool.type"] == "process"
    tags = sorted(
        i["prefect.resource.id"] for i in event.related if i["prefect.resource.role"] == "tag"
    )
    assert tags == ["prefect.tag.extra", "prefect.tag.team"]
    assert all("prefect.resource.name" not in i for i in event.related
               if i["prefect.resource.role"] == "tag")  # fmt: skip
    assert event.payload["intended"] == {"from": None, "to": "SCHEDULED"}
    assert event.payload["initial_state"] is None
    backend.cancel_flow_run(run.id)
    cancelled = backend.read_events(name="prefect.flow-run.Cancel*")[0]
    assert cancelled.payload["intended"] == {"from": "SCHEDULED", "to": "CANCELLED"}
    assert cancelled.payload["initial_state"]["type"] == "SCHEDULED"
    assert cancelled.payload["initial_state"]["name"] == "Scheduled"


def test_a_webhook_is_created_read_updated_and_deleted(backend: LocalBackend) -> None:
    made = backend.create_webhook("orders", TEMPLATE, description="shop", slug="my-hook_1")
    assert (made.name, made.slug, made.template, made.description, made.enabled) == (
        "orders", "my-hook_1", TEMPLATE, "shop", True)  # fmt: skip
    generated = backend.create_webhook("another", TEMPLATE, enabled=False)
    assert len(generated.slug) >= 20 and generated.slug != made.slug
    assert generated.enabled is False and generated.description == ""
    assert [w.name for w in backend.read_webhooks()] == ["another", "orders"]
    assert backend.webhook_by_slug("my-hook_1") == made
    assert backend.webhook_by_slug("nope") is None
    other = TEMPLATE.replace("order.", "shop.")
    backend.update_webhook("orders", {"template": other, "enabled": False, "slug": "changed",
                                      "description": "new"})  # fmt: skip
    updated = backend.webhook_by_slug("my-hook_1")
    assert updated is not None
    assert (updated.template, updated.enabled, updated.description) == (other, False, "new")
    backend.delete_webhook("orders")
    assert [w.name for w in backend.read_webhooks()] == ["another"]
    with pytest.raises(ObjectNotFound, match="webhook 'orders' not found"):
        backend.delete_webhook("orders")
    with pytest.raises(ObjectNotFound, match="webhook 'orders' not found"):
        backend.update_webhook("orders", {"description": "x"})


def test_a_webhook_is_refused_with_the_reason(backend: LocalBackend) -> None:
    backend.create_webhook("orders", TEMPLATE, slug="s1")
    with pytest.raises(InvalidInput, match=r"^a webhook named 'orders' already exists$"):
        backend.create_webhook("orders", TEMPLATE, slug="s2")
    with pytest.raises(InvalidInput, match=r"^a webhook named 'orders' already exists with that"):
        backend.create_webhook("other", TEMPLATE, slug="s1")
    with pytest.raises(InvalidInput, match=r"^a webhook needs a name$"):
        backend.create_webhook("  ", TEMPLATE)
    with pytest.raises(InvalidInput, match=r"^webhook 'bad': "):
        backend.create_webhook("bad", '{"event": "{{ body.x ')
    with pytest.raises(InvalidInput, match=r"^webhook 'orders': "):
        backend.update_webhook("orders", {"template": '{"event": "{{ body.x '})
    with pytest.raises(InvalidInput, match=r"^webhook slug 'a/b': use letters, digits"):
        backend.create_webhook("slash", TEMPLATE, slug="a/b")
    with pytest.raises(InvalidInput, match="at most 128"):
        backend.create_webhook("long", TEMPLATE, slug="a" * 129)
    assert backend.create_webhook("longest", TEMPLATE, slug="a" * 128).slug == "a" * 128
    assert [w.name for w in backend.read_webhooks()] == ["longest", "orders"]


def test_an_event_trigger_runs_its_deployment_with_the_event_in_its_parameters(
    backend: LocalBackend, tmp_path: Path
) -> None:
    made = deployment(backend, tmp_path, triggers=[{
        "expect": ["order.paid"], "parameters": {"n": "{{ event.payload.n }}"},
        "job_variables": {"env": {"ORDER": "{{ event.resource['prefect.resource.id'] }}"}},
    }])  # fmt: skip
    (automation,) = backend.read_automations()
    assert (automation.name, automation.deployment, automation.deployment_id) == (
        "d__automation_1", "f/d", made.id)  # fmt: skip
    assert automation.key == f"{made.id}/d__automation_1"
    early = backend.write_event("order.paid", {"prefect.resource.id": "o0"}, payload={"n": 0})
    assert backend.evaluate_triggers() == 0  # the first pass starts from now: not `early`
    assert backend.evaluate_triggers() == 0
    backend.write_event("order.shipped", {"prefect.resource.id": "o1"}, payload={"n": 1})
    paid = backend.write_event("order.paid", {"prefect.resource.id": "o2"}, payload={"n": 2})
    assert backend.evaluate_triggers() == 2
    assert backend.evaluate_triggers() == 1  # the new run's own Scheduled event: no firing
    assert backend.evaluate_triggers() == 0
    (run,) = backend.read_flow_runs(deployment="f/d")
    assert run.parameters == {"n": 2}
    assert run.job_variables == {"env": {"ORDER": "o2"}}
    (firing,) = backend.read_firings()
    assert (firing.automation, firing.deployment, firing.event_id, firing.event_name) == (
        "d__automation_1", "f/d", paid, "order.paid")  # fmt: skip
    assert (firing.flow_run_id, firing.error) == (run.id, None)
    assert backend.read_firings(flow_run_id=run.id) == [firing]
    assert backend.read_firings(automation=automation.key) == [firing]
    assert backend.read_firings(automation="other") == []
    assert backend.read_firings(flow_run_id="nope") == []
    count, last = backend.firing_counts([automation.key, "other"])[automation.key]
    assert count == 1 and last is not None
    assert backend.firing_counts(["other"]) == {}
    assert early not in {f.event_id for f in backend.read_firings()}


def test_a_pass_reads_at_most_a_batch_and_the_next_pass_goes_on(
    backend: LocalBackend, tmp_path: Path
) -> None:
    deployment(backend, tmp_path, triggers=[{"expect": ["tick"]}])
    backend.evaluate_triggers()
    for n in range(5):
        backend.write_event("tick", {"prefect.resource.id": f"t{n}"})
    assert backend.evaluate_triggers(batch=3) == 3
    assert len(backend.read_flow_runs(deployment="f/d")) == 3
    passes = 1
    while backend.evaluate_triggers(batch=3) == 3:  # the rest, and the runs' own events
        passes += 1
    assert passes >= 3  # 5 ticks and 5 runs' events: at least 10 events in passes of 3
    assert len(backend.read_flow_runs(deployment="f/d")) == 5
    assert len(backend.read_firings()) == 5


def test_without_triggers_the_cursor_still_moves(backend: LocalBackend, tmp_path: Path) -> None:
    backend.evaluate_triggers()
    backend.write_event("tick", {"prefect.resource.id": "t"})
    assert backend.evaluate_triggers() == 1
    assert backend.evaluate_triggers() == 0
    deployment(backend, tmp_path, triggers=[{"expect": ["tick"]}])
    assert backend.evaluate_triggers() == 0
    assert backend.read_firings() == []  # the event before the trigger existed is passed


def test_a_disabled_trigger_does_not_fire(backend: LocalBackend, tmp_path: Path) -> None:
    deployment(backend, tmp_path, name="off", triggers=[{"expect": ["tick"], "enabled": False}])
    deployment(backend, tmp_path, name="on", triggers=[{"expect": ["tick"]}])
    assert [a.deployment for a in backend.read_automations()] == ["f/off", "f/on"]
    backend.evaluate_triggers()
    backend.write_event("tick", {"prefect.resource.id": "t"})
    backend.evaluate_triggers()
    assert backend.read_flow_runs(deployment="f/off") == []
    assert len(backend.read_flow_runs(deployment="f/on")) == 1


def test_a_trigger_on_a_run_s_event_sees_the_run(backend: LocalBackend, tmp_path: Path) -> None:
    first = deployment(backend, tmp_path, name="a")
    deployment(backend, tmp_path, name="b", triggers=[{
        "expect": ["prefect.flow-run.Scheduled"],
        "match_related": {"prefect.resource.id": f"prefect.deployment.{first.id}"},
        "parameters": {"n": "{{ flow_run.parameters.n }}",
                       "label": "{{ flow_run.name }} {{ flow_run.state.type }}"},
        "schedule_after": 3600,
    }])  # fmt: skip
    backend.evaluate_triggers()
    started = backend.create_flow_run(first.id, parameters={"n": 17})
    backend.evaluate_triggers()
    (run,) = backend.read_flow_runs(deployment="f/b")
    assert run.parameters == {"n": 17, "label": f"{started.name} SCHEDULED"}
    assert run.expected_start_time > utcnow() + timedelta(minutes=50)
    (firing,) = backend.read_firings(flow_run_id=run.id)
    assert firing.event_name == "prefect.flow-run.Scheduled"


def test_active_runs_are_counted_by_queue_and_by_pool(
    backend: LocalBackend, tmp_path: Path
) -> None:
    deployment(backend, tmp_path, name="a")
    backend.create_work_queue("pool", "fast")
    deployment(backend, tmp_path, name="b", queue="fast")
    deployment(backend, tmp_path, name="c", pool="other")
    states = {"a": [StateType.PENDING, StateType.RUNNING, StateType.COMPLETED],
              "b": [StateType.RUNNING, StateType.SCHEDULED], "c": [StateType.RUNNING]}  # fmt: skip
    for name, wanted in states.items():
        for state in wanted:
            run = backend.create_flow_run(f"f/{name}")
            if state is not StateType.SCHEDULED:
                backend.set_flow_run_state(run.id, state)
    pool, other = backend.read_work_pool("pool"), backend.read_work_pool("other")
    default, fast = (
        backend.read_work_queue("pool", "default"),
        backend.read_work_queue("pool", "fast"),
    )
    elsewhere = backend.read_work_queue("other", "default")
    assert backend.count_active_runs() == {
        default.id: 2, fast.id: 1, pool.id: 3, elsewhere.id: 1, other.id: 1}  # fmt: skip


def test_event_compound_and_sequence_triggers_are_automations_other_kinds_are_not(
    backend: LocalBackend, tmp_path: Path
) -> None:
    deployment(backend, tmp_path, name="a-metric", triggers=[
        {"type": "metric", "name": "cpu", "metric": {"name": "lateness", "threshold": 1}},
    ])  # fmt: skip
    deployment(backend, tmp_path, name="b", triggers=[
        {"type": "metric", "name": "slow", "metric": {"name": "duration", "threshold": 9}},
        {"type": "sequence", "name": "steps", "triggers": [{"expect": ["x"]}]},
        {"type": "compound", "name": "both", "require": "all", "triggers": [{"expect": ["y"]}]},
        {"name": "plain", "expect": ["z"]},
    ])  # fmt: skip
    assert [(a.deployment, a.name) for a in backend.read_automations()] == [
        ("f/b", "steps"), ("f/b", "both"), ("f/b", "plain")]  # fmt: skip


def test_a_sequence_trigger_fires_once_its_steps_came_in_order_across_passes(
    backend: LocalBackend, tmp_path: Path
) -> None:
    deployment(backend, tmp_path, triggers=[{
        "type": "sequence", "name": "a/then/b", "within": 3600,
        "triggers": [{"expect": ["step.a"]}, {"expect": ["step.b"]}, {"expect": ["step.c"]}],
    }])  # fmt: skip
    backend.evaluate_triggers()
    for step in ("a", "b", "c"):  # one step per pass: what a pass learnt is kept for the next
        assert backend.read_flow_runs(deployment="f/d") == []
        backend.write_event(f"step.{step}", {"prefect.resource.id": "job"})
        assert backend.evaluate_triggers() == 1
    (run,) = backend.read_flow_runs(deployment="f/d")
    (firing,) = backend.read_firings()
    assert firing.automation == "a/then/b"  # a name with '/' read back whole
    assert firing.flow_run_id == run.id


def test_a_proactive_trigger_fires_when_its_window_closes_without_the_event(
    backend: LocalBackend, tmp_path: Path
) -> None:
    deployment(backend, tmp_path, triggers=[
        {"posture": "Proactive", "expect": ["heartbeat"], "within": 60},
    ])  # fmt: skip
    start = utcnow()
    backend.evaluate_triggers(now=start)  # the first pass places the cursor
    backend.evaluate_triggers(now=start)  # opens the window
    backend.evaluate_triggers(now=start + timedelta(seconds=59))
    assert backend.read_firings() == []
    backend.evaluate_triggers(now=start + timedelta(seconds=61))  # no new event, the clock only
    (firing,) = backend.read_firings()
    assert firing.reason == "Proactive: 0 of 1 heartbeat within 60 s"
    assert (firing.event_id, firing.error) == (f"window {start.isoformat()}", None)
    (run,) = backend.read_flow_runs(deployment="f/d")
    assert firing.flow_run_id == run.id


def test_an_idle_pass_does_not_wait_for_a_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_MS", 200)
    backend = store(tmp_path / "home")
    deployment(backend, tmp_path, triggers=[{"expect": ["tick"]}])
    backend.evaluate_triggers()
    backend.write_event("tick", {"prefect.resource.id": "t"})
    assert backend.evaluate_triggers() == 1
    assert backend.evaluate_triggers() == 1  # the run's own Scheduled event
    writer = sqlite3.connect(backend.store.path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another process in a write transaction
    try:
        assert backend.evaluate_triggers() == 0  # nothing new: it only read
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    backend.close()


def test_a_triggered_run_is_keyed_by_its_automation_and_event_and_sees_the_run_it_is_about(
    backend: LocalBackend, tmp_path: Path
) -> None:
    watched = deployment(backend, tmp_path, name="a", tags=("nightly",))
    deployment(backend, tmp_path, name="b", triggers=[{
        "expect": ["prefect.flow-run.Cancelled"],
        "parameters": {"about": {"id": "{{ flow_run.id }}", "tags": "{{ flow_run.tags }}",
                                 "deployment": "{{ flow_run.deployment_id }}",
                                 "state": "{{ flow_run.state.name }}"}},
    }])  # fmt: skip
    (automation,) = backend.read_automations()
    backend.evaluate_triggers()
    cancelled = backend.create_flow_run(watched.id)
    backend.cancel_flow_run(cancelled.id)
    backend.evaluate_triggers()
    after = utcnow()
    (run,) = backend.read_flow_runs(deployment="f/b")
    assert run.parameters == {"about": {"id": cancelled.id, "tags": ["nightly"],
                                        "deployment": watched.id, "state": "Cancelled"}}  # fmt: skip
    assert run.expected_start_time <= after  # no schedule_after: due at once
    (firing,) = backend.read_firings(flow_run_id=run.id)
    assert run.idempotency_key == f"trigger {automation.key} {firing.event_id}"


def test_an_event_without_a_resource_id_still_fires_its_trigger(
    backend: LocalBackend, tmp_path: Path
) -> None:
    deployment(backend, tmp_path, triggers=[
        {"expect": ["bare"], "match": {}, "parameters": {"n": "{{ event.payload.n }}"}},
    ])  # fmt: skip
    backend.evaluate_triggers()
    backend.write_event("bare", {"source": "somewhere"}, payload={"n": 3})
    backend.evaluate_triggers()
    (run,) = backend.read_flow_runs(deployment="f/d")
    assert run.parameters == {"n": 3}


def test_firings_are_read_newest_first_fifty_unless_asked_and_filtered_together(
    backend: LocalBackend, tmp_path: Path
) -> None:
    deployment(backend, tmp_path, triggers=[{"expect": ["tick"]}])
    (automation,) = backend.read_automations()
    backend.evaluate_triggers()
    for n in range(51):
        backend.write_event("tick", {"prefect.resource.id": f"t{n}"})
    backend.evaluate_triggers(batch=100)
    assert len(backend.read_firings()) == 50
    every = backend.read_firings(limit=100)
    assert len(every) == 51
    newest = every[0]
    assert newest.flow_run_id is not None
    both = backend.read_firings(flow_run_id=newest.flow_run_id, automation=automation.key)
    assert both == [newest]
    assert backend.read_firings(flow_run_id=newest.flow_run_id, automation="other") == []


def test_a_poll_makes_the_deployments_of_the_polled_queues_ready_once(
    backend: LocalBackend, tmp_path: Path
) -> None:
    a = deployment(backend, tmp_path, name="a")
    backend.create_work_queue("pool", "fast")
    b = deployment(backend, tmp_path, name="b", queue="fast")
    c = deployment(backend, tmp_path, name="c", pool="other")

    def ready() -> list[str]:
        found = backend.read_events(name="prefect.deployment.ready", newest_first=False)
        return [e.resource["prefect.resource.name"] for e in found]

    backend.mark_polled("pool", ["fast"])
    assert ready() == ["b"]
    backend.mark_polled("pool", ["fast"])  # READY already: no second event
    backend.mark_polled("pool")  # every queue of the pool: only 'a' was not READY
    assert ready() == ["b", "a"]
    backend.mark_polled("other", ["default"])
    assert ready() == ["b", "a", "c"]
    (event,) = backend.read_events(
        name="prefect.deployment.ready", resource=f"prefect.deployment.{b.id}"
    )
    queue, pool = backend.read_work_queue("pool", "fast"), backend.read_work_pool("pool")
    assert event.resource == {"prefect.resource.id": f"prefect.deployment.{b.id}",
                              "prefect.resource.name": "b"}  # fmt: skip
    assert event.related == [
        {"prefect.resource.id": f"prefect.flow.{b.flow_id}", "prefect.resource.role": "flow",
         "prefect.resource.name": "f"},
        {"prefect.resource.id": f"prefect.work-queue.{queue.id}",
         "prefect.resource.role": "work-queue", "prefect.resource.name": "fast"},
        {"prefect.resource.id": f"prefect.work-pool.{pool.id}",
         "prefect.resource.role": "work-pool", "prefect.resource.name": "pool",
         "prefect.work-pool.type": "process"},
    ]  # fmt: skip
    assert {a.id, c.id} == {
        e.resource["prefect.resource.id"].removeprefix("prefect.deployment.")
        for e in backend.read_events(name="prefect.deployment.ready")
        if e.id != event.id
    }


def test_a_state_event_carries_the_state_its_ids_and_the_state_before(
    backend: LocalBackend, tmp_path: Path
) -> None:
    made = deployment(backend, tmp_path)
    run = backend.create_flow_run(made.id)
    failed = backend.set_flow_run_state(run.id, StateType.FAILED, message="boom")
    (event,) = backend.read_events(name="prefect.flow-run.Failed")
    assert event.occurred == failed.state.timestamp
    assert event.resource["prefect.state-timestamp"] == failed.state.timestamp.isoformat()
    assert event.resource["prefect.state-message"] == "boom"
    assert event.payload["validated_state"] == {"type": "FAILED", "name": "Failed",
                                                "message": "boom"}  # fmt: skip
    assert event.payload["initial_state"] == {"type": "SCHEDULED", "name": "Scheduled",
                                              "message": ""}  # fmt: skip
    queue, pool = backend.read_work_queue("pool", "default"), backend.read_work_pool("pool")
    ids = {i["prefect.resource.role"]: i["prefect.resource.id"] for i in event.related}
    assert ids == {"flow": f"prefect.flow.{made.flow_id}",
                   "deployment": f"prefect.deployment.{made.id}",
                   "work-queue": f"prefect.work-queue.{queue.id}",
                   "work-pool": f"prefect.work-pool.{pool.id}"}  # fmt: skip
    backend.set_flow_run_state(run.id, StateType.SCHEDULED, name="AwaitingRetry", force=True)
    (again,) = backend.read_events(name="prefect.flow-run.AwaitingRetry")
    assert again.resource["prefect.state-message"] == ""
    assert again.payload["validated_state"]["message"] == ""
    assert again.payload["initial_state"] == {"type": "FAILED", "name": "Failed",
                                              "message": "boom"}  # fmt: skip


def test_events_are_read_fifty_unless_asked_and_a_name_prefix_is_taken_literally(
    backend: LocalBackend,
) -> None:
    for n in range(49):
        backend.write_event("tick", {"prefect.resource.id": f"t{n}"})
    percent = backend.write_event("50%.off", {"prefect.resource.id": "sale"})
    slash = backend.write_event("a\\b.c", {"prefect.resource.id": "odd"})
    backend.write_event("50x.off", {"prefect.resource.id": "sale"})
    backend.write_event("ab.c", {"prefect.resource.id": "odd"})
    assert len(backend.read_events()) == 50
    assert len(backend.read_events(limit=60)) == 53
    assert [e.id for e in backend.read_events(name="50%*")] == [percent]
    assert [e.id for e in backend.read_events(name="a\\b*")] == [slash]


def test_pruning_keeps_the_events_triggers_have_not_read_and_the_newest(
    backend: LocalBackend,
) -> None:
    later = utcnow() + timedelta(hours=1)

    def names() -> list[str]:
        return [e.event for e in backend.read_events(newest_first=False)]

    for name in ("one", "two", "three"):
        backend.write_event(name, {"prefect.resource.id": name})
    assert backend.prune_events(before=utcnow() - timedelta(hours=1)) == 0  # all too recent
    assert backend.prune_events(before=later) == 2  # no trigger pass yet: all but the newest
    assert names() == ["three"]
    backend.evaluate_triggers()  # the first pass: the cursor at 'three'
    for name in ("four", "five", "six"):
        backend.write_event(name, {"prefect.resource.id": name})
    assert backend.evaluate_triggers(batch=1) == 1  # read 'four' only
    assert backend.prune_events(before=later) == 2  # 'three' and 'four'
    assert names() == ["five", "six"]
    while backend.evaluate_triggers():
        pass
    assert backend.prune_events(before=later) == 1  # all read: all but the newest
    assert names() == ["six"]


def test_a_heartbeat_makes_a_pool_ready_and_pausing_it_says_so_once(
    backend: LocalBackend,
) -> None:
    pool = backend.create_work_pool("p", "process")

    def statuses() -> list[str]:
        found = backend.read_events(name="prefect.work-pool.*", newest_first=False)
        assert all(e.resource["prefect.resource.id"] == f"prefect.work-pool.{pool.id}"
                   for e in found)  # fmt: skip
        return [e.event.removeprefix("prefect.work-pool.") for e in found]

    backend.worker_heartbeat("p", "w1")
    backend.worker_heartbeat("p", "w2")  # READY already
    assert statuses() == ["ready"]
    backend.update_work_pool("p", {"is_paused": True})
    backend.update_work_pool("p", {"is_paused": True})
    backend.update_work_pool("p", {"is_paused": False})  # a worker beat a moment ago
    assert statuses() == ["ready", "paused", "ready"]
    backend.store.connection.execute(
        "UPDATE workers SET last_heartbeat = ?", (iso(utcnow() - timedelta(seconds=91)),)
    )  # no heartbeat for longer than a pool stays READY
    backend.update_work_pool("p", {"is_paused": True})
    backend.update_work_pool("p", {"is_paused": False})
    assert statuses() == ["ready", "paused", "ready", "paused", "not-ready"]


def test_a_webhook_has_an_id_a_creation_time_and_a_slug_of_sixteen_random_bytes(
    backend: LocalBackend,
) -> None:
    before = utcnow()
    made = backend.create_webhook("orders", TEMPLATE)
    assert len(made.slug) == 22  # secrets.token_urlsafe(16): 128 random bits
    assert before <= made.created <= utcnow()
    (read,) = backend.read_webhooks()
    assert read == made and made.id not in ("orders", made.slug) and len(made.id) == 36
    two = r"^webhook 'x': the template gives no 'event' \(the event's name\); the template gives"
    with pytest.raises(InvalidInput, match=two):
        backend.create_webhook("x", '{"x": 1}')
    with pytest.raises(InvalidInput, match=two.replace("'x'", "'orders'")):
        backend.update_webhook("orders", {"template": '{"x": 1}'})
    with pytest.raises(InvalidInput) as long:
        backend.create_webhook("long", TEMPLATE, slug="a" * 129)
    assert long.value.message == (
        f"webhook slug {'a' * 129!r}: use letters, digits, '-' and '_' (at most 128)"
    )
