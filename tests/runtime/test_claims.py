"""Claiming runs for workers: atomic, in priority order, within concurrency limits and pauses;
runs of a dead worker become CRASHED."""

from __future__ import annotations

import os
import random
from datetime import timedelta
from pathlib import Path

import pytest

from flowplan.backends.local import LocalBackend, work
from flowplan.domain.clock import iso, utcnow
from flowplan.domain.objects import StateType
from tests.runtime.helpers import deployment, store


def test_four_processes_claiming_500_runs_claim_each_exactly_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    backend = store(home)
    deployment(backend, tmp_path)
    for _ in range(500):
        backend.create_flow_run("f/d")
    backend.close()
    read_end, write_end = os.pipe()
    children = []
    for index in range(4):
        pid = os.fork()
        if pid == 0:
            os.close(write_end)
            os.read(read_end, 1)
            claimer = LocalBackend(home / "flowplan.db")
            claimed = []
            while runs := claimer.claim_flow_runs("pool", f"w{index}", limit=7):
                claimed += [run.id for run in runs]
            (tmp_path / f"claimed-{index}").write_text("\n".join(claimed))
            os._exit(0)
        children.append(pid)
    os.close(read_end)
    os.close(write_end)
    for pid in children:
        assert os.waitpid(pid, 0)[1] == 0
    claimed = [line for i in range(4) for line in (tmp_path / f"claimed-{i}").read_text().split()]
    assert len(claimed) == 500 and len(set(claimed)) == 500
    runs = LocalBackend(home / "flowplan.db").read_flow_runs()
    assert {run.state.type for run in runs} == {StateType.PENDING}


def test_priority_then_start_time_and_only_due_runs(tmp_path: Path) -> None:
    backend = store(tmp_path / "home")
    deployment(backend, tmp_path, name="low")
    backend.create_work_queue("pool", "urgent", priority=1)
    deployment(backend, tmp_path, name="high", queue="urgent")
    now = utcnow()
    low = backend.create_flow_run("f/low", scheduled_time=now - timedelta(minutes=5))
    high = backend.create_flow_run("f/high", scheduled_time=now - timedelta(minutes=1))
    later = backend.create_flow_run("f/high", scheduled_time=now + timedelta(minutes=1))
    claimed = backend.claim_flow_runs("pool", "w", limit=10)
    assert [run.id for run in claimed] == [high.id, low.id]
    assert backend.read_flow_run(later.id).state.type is StateType.SCHEDULED
    assert backend.claim_flow_runs("pool", "w", queues=["urgent"]) == []


def test_a_claim_for_some_queues_takes_only_their_runs(tmp_path: Path) -> None:
    backend = store(tmp_path / "home")
    deployment(backend, tmp_path, name="plain")
    backend.create_work_queue("pool", "urgent", priority=1)
    deployment(backend, tmp_path, name="urgent", queue="urgent")
    earlier = utcnow() - timedelta(minutes=5)
    backend.create_flow_run("f/plain", scheduled_time=earlier)  # due first, in another queue
    urgent = backend.create_flow_run("f/urgent")
    claimed = backend.claim_flow_runs("pool", "w", queues=["urgent"], limit=10)
    assert [run.id for run in claimed] == [urgent.id]


def test_concurrency_limits_of_pool_queue_and_deployment(tmp_path: Path) -> None:
    backend = store(tmp_path / "home")
    deployment(backend, tmp_path, name="a", concurrency_limit=1)
    deployment(backend, tmp_path, name="b")
    for name in ("f/a", "f/a", "f/b", "f/b", "f/b"):
        backend.create_flow_run(name)
    # the deployment limit: one run of a at a time
    first = backend.claim_flow_runs("pool", "w", limit=10)
    assert sorted(run.deployment_name or "" for run in first) == ["a", "b", "b", "b"]
    for run in first:
        backend.set_flow_run_state(run.id, StateType.COMPLETED)
    backend.update_work_queue("pool", "default", {"concurrency_limit": 1})
    for _ in range(3):
        backend.create_flow_run("f/b")
    assert len(backend.claim_flow_runs("pool", "w", limit=10)) == 1  # the queue limit (and a's 2nd)
    backend.update_work_queue("pool", "default", {"concurrency_limit": None})
    backend.update_work_pool("pool", {"concurrency_limit": 2})
    assert len(backend.claim_flow_runs("pool", "w", limit=10)) == 1  # 2 in the pool at most


def test_paused_pools_queues_and_scheduled_runs_of_paused_deployments(tmp_path: Path) -> None:
    backend = store(tmp_path / "home")
    made = deployment(backend, tmp_path)
    run = backend.create_flow_run("f/d")
    backend.update_work_pool("pool", {"is_paused": True})
    assert backend.claim_flow_runs("pool", "w") == []
    backend.update_work_pool("pool", {"is_paused": False})
    backend.update_work_queue("pool", "default", {"is_paused": True})
    assert backend.claim_flow_runs("pool", "w") == []
    backend.update_work_queue("pool", "default", {"is_paused": False})
    backend.update_deployment(made.id, {"paused": True})
    # a run asked for by hand still runs on a paused deployment (as in Prefect)
    assert [r.id for r in backend.claim_flow_runs("pool", "w")] == [run.id]


def test_runs_of_a_worker_that_stopped_heartbeating_crash(tmp_path: Path) -> None:
    backend = store(tmp_path / "home")
    deployment(backend, tmp_path)
    backend.worker_heartbeat("pool", "alive", 10)
    backend.worker_heartbeat("pool", "dead", 10)
    mine, theirs = backend.create_flow_run("f/d"), backend.create_flow_run("f/d")
    backend.claim_flow_runs("pool", "alive", limit=1)
    backend.claim_flow_runs("pool", "dead", limit=1)
    assert backend.crash_orphaned_runs(now=utcnow() + timedelta(seconds=29)) == []
    crashed = backend.crash_orphaned_runs(now=utcnow() + timedelta(seconds=31))
    assert len(crashed) == 2  # both missed 3 heartbeats of 10 s by then
    assert {run.id for run in crashed} == {mine.id, theirs.id}
    assert crashed[0].state.type is StateType.CRASHED
    assert "stopped sending heartbeats" in (crashed[0].state.message or "")
    assert backend.crash_orphaned_runs(now=utcnow() + timedelta(seconds=60)) == []


@pytest.mark.parametrize("strategy", ["ENQUEUE", "CANCEL_NEW"])
def test_a_deployments_collision_strategy(tmp_path: Path, strategy: str) -> None:
    """PREFECT-COMPAT item 56: `concurrency_limit: {limit, collision_strategy}` stored whole
    and honoured."""
    backend = store(tmp_path / "home")
    deployment(backend, tmp_path, concurrency_limit=1,
               concurrency_options={"collision_strategy": strategy, "grace_period_seconds": 120})  # fmt: skip
    stored = backend.read_deployment("f/d")
    assert stored.concurrency_options == {
        "collision_strategy": strategy, "grace_period_seconds": 120}  # fmt: skip
    first, second = backend.create_flow_run("f/d"), backend.create_flow_run("f/d")
    assert [r.id for r in backend.claim_flow_runs("pool", "w")] == [first.id]
    held = backend.read_flow_run(second.id).state
    if strategy == "CANCEL_NEW":
        assert held.type is StateType.CANCELLED
        assert held.message == (
            "the deployment's concurrency limit is reached and its collision strategy is CANCEL_NEW"
        )
        return
    assert (held.type, held.name) == (StateType.SCHEDULED, "AwaitingConcurrencySlot")
    backend.set_flow_run_state(first.id, StateType.COMPLETED)
    assert [r.id for r in backend.claim_flow_runs("pool", "w")] == [second.id]


def state_events(backend: LocalBackend, run_id: str) -> list[str]:
    """The run's state changes, oldest first, as their events name them."""
    found = backend.read_events(resource=f"prefect.flow-run.{run_id}", newest_first=False)
    return [event.event for event in found]


def test_a_claimed_run_is_pending_for_its_worker_with_the_old_message_cleared(
    tmp_path: Path,
) -> None:
    backend = store(tmp_path / "home")
    deployment(backend, tmp_path, concurrency_limit=1)
    first, second = backend.create_flow_run("f/d"), backend.create_flow_run("f/d")
    assert [r.id for r in backend.claim_flow_runs("pool", "w")] == [first.id]
    assert backend.claim_flow_runs("pool", "w") == []  # still held: written once, not again
    assert backend.read_flow_run(second.id).state.message == (
        "waiting for a slot under the deployment's concurrency limit"
    )
    assert state_events(backend, second.id) == [
        "prefect.flow-run.Scheduled", "prefect.flow-run.AwaitingConcurrencySlot"]  # fmt: skip
    backend.set_flow_run_state(first.id, StateType.COMPLETED)
    (claimed,) = backend.claim_flow_runs("pool", "w")
    assert (claimed.state.type, claimed.state.name, claimed.state.message) == (
        StateType.PENDING, "Pending", None)  # fmt: skip
    assert backend.read_flow_run(second.id).state == claimed.state
    assert state_events(backend, second.id)[-1] == "prefect.flow-run.Pending"
    history = backend.store.connection.execute(
        "SELECT type, name, message FROM flow_run_states WHERE flow_run_id = ?", (second.id,)
    ).fetchall()
    assert history[-1] == ("PENDING", "Pending", None)


def test_a_limit_of_zero_claims_nothing_and_a_later_now_claims_future_runs(
    tmp_path: Path,
) -> None:
    backend = store(tmp_path / "home")
    deployment(backend, tmp_path)
    run = backend.create_flow_run("f/d", scheduled_time=utcnow() + timedelta(hours=1))
    assert backend.claim_flow_runs("pool", "w", limit=0, now=utcnow() + timedelta(hours=2)) == []
    assert backend.claim_flow_runs("pool", "w") == []
    claimed = backend.claim_flow_runs("pool", "w", now=utcnow() + timedelta(hours=2))
    assert [r.id for r in claimed] == [run.id]


def test_claims_can_be_narrowed_to_queues_and_deployments(tmp_path: Path) -> None:
    backend = store(tmp_path / "home")
    deployment(backend, tmp_path, name="a")
    for queue in ("q1", "q2", "q3"):
        backend.create_work_queue("pool", queue)
    runs = {}
    for name, queue in (("b", "q1"), ("c", "q2"), ("e", "q3")):
        deployment(backend, tmp_path, name=name, queue=queue)
        runs[name] = backend.create_flow_run(f"f/{name}").id
    runs["a"] = backend.create_flow_run("f/a").id
    claimed = backend.claim_flow_runs("pool", "w", queues=["q1", "q2"])
    assert sorted(r.id for r in claimed) == sorted([runs["b"], runs["c"]])
    assert backend.claim_flow_runs("pool", "w", queues=["q3", "default"],
                                   deployment_ids=[backend.read_deployment("f/e").id]) == [
        backend.read_flow_run(runs["e"])]  # fmt: skip
    backend.set_flow_run_state(runs["e"], StateType.SCHEDULED)
    ids = [backend.read_deployment(f"f/{name}").id for name in ("a", "e")]
    claimed = backend.claim_flow_runs("pool", "w", deployment_ids=ids)
    assert sorted(r.id for r in claimed) == sorted([runs["a"], runs["e"]])


def test_a_run_whose_worker_never_sent_a_heartbeat_crashes_at_once(tmp_path: Path) -> None:
    backend = store(tmp_path / "home")
    deployment(backend, tmp_path)
    backend.worker_heartbeat("pool", "alive", 10)
    ghost, kept = backend.create_flow_run("f/d"), backend.create_flow_run("f/d")
    backend.claim_flow_runs("pool", "ghost", limit=1)
    backend.claim_flow_runs("pool", "alive", limit=1)
    (crashed,) = backend.crash_orphaned_runs()
    assert crashed.id == ghost.id
    assert crashed.state.type is StateType.CRASHED
    assert crashed.state.message == (
        "Worker 'ghost' stopped sending heartbeats; the run was marked crashed"
    )
    assert backend.read_flow_run(kept.id).state.type is StateType.PENDING
    later = backend.crash_orphaned_runs(now=utcnow() + timedelta(seconds=31))
    assert [r.id for r in later] == [kept.id]
    assert (later[0].state.message or "").startswith(
        "Worker 'alive' stopped sending heartbeats since 20"
    )


def test_the_change_marker_moves_when_another_connection_commits(tmp_path: Path) -> None:
    backend = store(tmp_path / "home")
    deployment(backend, tmp_path)
    marker = backend.change_marker()
    assert backend.change_marker() == marker  # nothing changed
    other = LocalBackend(tmp_path / "home" / "flowplan.db")
    other.create_flow_run("f/d")
    assert backend.change_marker() != marker
    other.close()
    backend.close()


def test_a_run_crashes_only_after_three_heartbeat_intervals_have_passed(tmp_path: Path) -> None:
    backend = store(tmp_path / "home")
    deployment(backend, tmp_path)
    backend.worker_heartbeat("pool", "w", 10)
    run = backend.create_flow_run("f/d")
    backend.claim_flow_runs("pool", "w")
    last = backend.read_work_pool("pool").last_heartbeat
    assert last is not None
    assert backend.crash_orphaned_runs(now=last + timedelta(seconds=30)) == []
    crashed = backend.crash_orphaned_runs(now=last + timedelta(seconds=30, microseconds=1))
    assert [r.id for r in crashed] == [run.id]


def test_a_queue_at_its_limit_counts_its_running_runs_and_other_queues_still_claim(
    tmp_path: Path,
) -> None:
    backend = store(tmp_path / "home")
    deployment(backend, tmp_path, name="a")
    backend.create_work_queue("pool", "other", priority=5)
    deployment(backend, tmp_path, name="b", queue="other")
    backend.update_work_queue("pool", "default", {"concurrency_limit": 1})
    first = backend.create_flow_run("f/a")
    assert [r.id for r in backend.claim_flow_runs("pool", "w", limit=1)] == [first.id]
    waiting, elsewhere = backend.create_flow_run("f/a"), backend.create_flow_run("f/b")
    # the default queue comes first (priority 1) but its one slot is taken: the next queue's run
    assert [r.id for r in backend.claim_flow_runs("pool", "w")] == [elsewhere.id]
    assert backend.read_flow_run(waiting.id).state.type is StateType.SCHEDULED


def test_ten_runs_are_claimed_at_a_time_unless_a_limit_is_given(tmp_path: Path) -> None:
    backend = store(tmp_path / "home")
    deployment(backend, tmp_path)
    for _ in range(11):
        backend.create_flow_run("f/d")
    assert len(backend.claim_flow_runs("pool", "w")) == 10
    assert len(backend.claim_flow_runs("pool", "w")) == 1


@pytest.mark.parametrize("seed", range(12))
def test_claims_come_in_the_order_of_one_query_sorting_every_due_run(
    tmp_path: Path, seed: int
) -> None:
    """The claim's candidates are read one queue priority at a time (each query stops at the
    count it needs): on generated pools, queues, priorities, start times and states, they are
    the runs, in the order, that one query sorting every due run by priority, expected start
    and creation gives."""
    rng = random.Random(seed)
    backend = store(tmp_path / "home")
    made = [deployment(backend, tmp_path, name="d0")]  # in the pool's default queue
    for index in range(1, 4):
        backend.create_work_queue("pool", f"q{index}", priority=rng.choice([1, 2, 3]))
        made.append(deployment(backend, tmp_path, name=f"d{index}", queue=f"q{index}"))
    deployment(backend, tmp_path, name="elsewhere", pool="other")
    now = utcnow()
    runs = []
    for _ in range(60):
        offset = timedelta(minutes=rng.choice([-30, -5, -5, -1, 0, 3]))
        name = f"f/{rng.choice(made).name}"
        runs.append(backend.create_flow_run(name, scheduled_time=now + offset))
        backend.create_flow_run("f/elsewhere", scheduled_time=now - timedelta(minutes=40))
    conn = backend.store.connection
    stamps = rng.sample(range(10_000), len(runs))  # creation times in another order than made
    for run, stamp in zip(runs, stamps, strict=True):
        conn.execute("UPDATE flow_runs SET created = ? WHERE id = ?",
                     (f"2026-01-01T00:00:00.{stamp:06d}+00:00", run.id))  # fmt: skip
        fate = rng.random()
        if fate < 0.15:
            backend.set_flow_run_state(run.id, StateType.COMPLETED)
        elif fate < 0.25:
            backend.set_flow_run_state(run.id, StateType.SCHEDULED, name="Late")
        elif fate < 0.3:
            backend.set_flow_run_state(run.id, StateType.SCHEDULED, name="AwaitingRetry")
    due, compared = iso(utcnow()), 0
    for queues in ((), ("q1", "q2"), ("q3",), ("default", "q3")):
        query, params = work._candidates_query("pool", queues, (), due)
        for count in (1, 3, 20, 100):
            sorted_all = conn.execute(
                f"{query} ORDER BY q.priority, r.expected_start_time, r.created LIMIT ?",
                (*params, count),
            ).fetchall()
            assert work._candidates(conn, query, params, "pool", queues, count) == sorted_all
            compared += len(sorted_all)
    assert compared > 100  # the instance has due runs enough to order
