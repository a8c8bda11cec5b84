"""Executing plans against the real store: what each change writes, the order, failures that
skip what depends on them, batches, and the reports (plan/apply.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pytest

from flowplan.backends.local import LocalBackend
from flowplan.domain.schedules import IntervalSchedule
from flowplan.domain.specs import HASH_LABEL, DeploymentSpec, ScheduleSpec
from flowplan.errors import FlowplanError
from flowplan.plan.apply import (
    Result,
    _batches,
    _pool_of,
    _waves,
    apply_plan,
    execute,
    stale_objects,
)
from flowplan.plan.comparable import spec_hash
from flowplan.plan.compute import PlanOptions, compute_plan
from flowplan.plan.model import Change, Plan
from flowplan.plan.specs import OWNER_LABEL, PROJECT_LABEL, Desired, PoolSpec, QueueSpec
from flowplan.plan.target import read_actual

OWNED = {OWNER_LABEL: "flowplan", PROJECT_LABEL: "proj"}


def spec(name: str, pool: str = "pool", **fields: Any) -> DeploymentSpec:
    return DeploymentSpec("etl", name, entrypoint="f.py:etl", work_pool_name=pool, labels=OWNED,
                          **fields)  # fmt: skip


def plan(store: LocalBackend, *items: Any, prune: bool = False) -> Plan:
    desired = Desired(
        "proj",
        pools=tuple(i for i in items if isinstance(i, PoolSpec)),
        queues=tuple(i for i in items if isinstance(i, QueueSpec)),
        deployments=tuple(i for i in items if isinstance(i, DeploymentSpec)),
    )
    options = PlanOptions(prune=prune, max_delete=100 if prune else None)
    return compute_plan(desired, read_actual(store), options)


def outcome(results: list[Result]) -> list[tuple[str, str, bool, str]]:
    return [(r.change.action, r.change.key, r.ok, r.message) for r in results]


class Recording:
    """The real store, with each write it was asked for written down."""

    def __init__(self, backend: LocalBackend, fail: Mapping[str, str] = {}) -> None:
        self.backend, self.fail, self.calls = backend, fail, []  # type: list[tuple[Any, ...]]
        self.atomic_batches = backend.atomic_batches

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.backend, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, args, kwargs))
            if name in self.fail:
                raise FlowplanError(self.fail[name])
            return method(*args, **kwargs)

        return call


def test_a_new_pool_is_created_with_every_declared_field(store: LocalBackend) -> None:
    template = {"job_configuration": {"command": "{{ command }}"},
                "variables": {"properties": {"command": {"type": "string"}}}}  # fmt: skip
    declared = PoolSpec("gpu", "process", description="big", paused=True, concurrency_limit=4,
                        base_job_template=template)  # fmt: skip
    results = apply_plan(plan(store, declared), store)
    assert outcome(results) == [("create", "gpu", True, "")]
    pool = store.read_work_pool("gpu")
    assert (pool.type, pool.description, pool.is_paused, pool.concurrency_limit) == (
        "process", "big", True, 4)  # fmt: skip
    assert pool.base_job_template == template


def test_a_new_pool_without_a_template_gets_its_types_default(store: LocalBackend) -> None:
    apply_plan(plan(store, PoolSpec("plain", "process")), store)
    pool = store.read_work_pool("plain")
    assert pool.base_job_template == store.read_work_pool("pool").base_job_template
    assert (pool.description, pool.is_paused, pool.concurrency_limit) == (None, False, None)


def test_a_pool_update_writes_only_the_changed_fields(store: LocalBackend) -> None:
    store.update_work_pool("pool", {"description": "old", "concurrency_limit": 2})
    recording = Recording(store)
    results = apply_plan(plan(store, PoolSpec("pool", "process", description="new")), recording)
    assert outcome(results) == [("update", "pool", True, "")]
    assert recording.calls == [("update_work_pool", ("pool", {"description": "new"}), {})]
    pool = store.read_work_pool("pool")
    assert (pool.description, pool.concurrency_limit) == ("new", 2)


def test_a_new_queue_is_created_with_every_declared_field(store: LocalBackend) -> None:
    declared = QueueSpec("pool", "fast", description="d", priority=3, concurrency_limit=5,
                         paused=True)  # fmt: skip
    assert outcome(apply_plan(plan(store, declared), store)) == [
        ("create", "pool/fast", True, "")]  # fmt: skip
    queue = store.read_work_queue("pool", "fast")
    assert (queue.description, queue.priority, queue.concurrency_limit, queue.is_paused) == (
        "d", 3, 5, True)  # fmt: skip


def test_a_queue_update_writes_only_the_changed_fields(store: LocalBackend) -> None:
    store.create_work_queue("pool", "fast", description="d", priority=3)
    recording = Recording(store)
    apply_plan(plan(store, QueueSpec("pool", "fast", priority=7, paused=False)), recording)
    assert recording.calls == [("update_work_queue", ("pool", "fast", {"priority": 7}), {})]
    queue = store.read_work_queue("pool", "fast")
    assert (queue.description, queue.priority) == ("d", 7)


def test_a_deployment_is_created_with_the_hash_of_its_fields(store: LocalBackend) -> None:
    declared = spec("a", description="x", tags=("t",), schedules=(
        ScheduleSpec(IntervalSchedule(60), True, {}, "every-minute"),))  # fmt: skip
    recording = Recording(store)
    assert outcome(apply_plan(plan(store, declared), recording)) == [
        ("create", "etl/a", True, "")]  # fmt: skip
    [(name, (written,), kwargs)] = recording.calls
    assert (name, kwargs, [s.name for s in written]) == ("upsert_deployments", {"new": True}, ["a"])
    stored = store.read_deployment("etl/a")
    assert stored.labels == {**OWNED, HASH_LABEL: spec_hash(declared)}
    assert (stored.description, stored.tags, [s.slug for s in stored.schedules]) == (
        "x", ("t",), ["every-minute"])  # fmt: skip


def test_an_update_is_not_sent_as_new_and_a_noop_is_not_sent(store: LocalBackend) -> None:
    apply_plan(plan(store, spec("a"), spec("b")), store)
    recording = Recording(store)
    results = apply_plan(plan(store, spec("a", description="changed"), spec("b")), recording)
    assert outcome(results) == [("update", "etl/a", True, "")]
    assert [(c[0], c[2]) for c in recording.calls] == [("upsert_deployments", {"new": False})]
    assert store.read_deployment("etl/a").description == "changed"


def test_a_delete_removes_the_deployment_by_id(store: LocalBackend) -> None:
    apply_plan(plan(store, spec("a"), spec("b")), store)
    gone = store.read_deployment("etl/b")
    recording = Recording(store)
    results = apply_plan(plan(store, spec("a"), prune=True), recording)
    assert outcome(results) == [("delete", "etl/b", True, "")]
    assert recording.calls == [("delete_deployment", (gone.id,), {})]
    assert [d.full_name for d in store.read_deployments()] == ["etl/a"]


def test_a_failed_pool_skips_its_queues_and_deployments_and_nothing_else(
    store: LocalBackend,
) -> None:
    recording = Recording(store, fail={"create_work_pool": "the pool broke"})
    items = (PoolSpec("new", "process"), QueueSpec("new", "q"), QueueSpec("pool", "fine"),
             spec("a", pool="new"), spec("b"))  # fmt: skip
    reported: list[Result] = []
    results = apply_plan(plan(store, *items), recording, reported.append)
    skipped = "skipped: work pool 'new' failed"
    assert outcome(results) == [
        ("create", "new", False, "the pool broke"),
        ("create", "new/q", False, skipped),
        ("create", "pool/fine", True, ""),
        ("create", "etl/a", False, skipped),
        ("create", "etl/b", True, ""),
    ]
    assert sorted(outcome(reported)) == sorted(outcome(results))
    assert [d.full_name for d in store.read_deployments()] == ["etl/b"]
    assert [q.name for q in store.read_work_queues("pool")] == ["default", "fine"]


def test_a_failed_queue_does_not_skip_the_pools_deployments(store: LocalBackend) -> None:
    recording = Recording(store, fail={"create_work_queue": "no queue"})
    results = apply_plan(plan(store, QueueSpec("pool", "q"), spec("a")), recording)
    assert outcome(results) == [("create", "pool/q", False, "no queue"),
                                ("create", "etl/a", True, "")]  # fmt: skip


def test_a_batch_that_fails_is_retried_one_by_one_to_tell_which(store: LocalBackend) -> None:
    """Two deployments in one batch, the second in a pool the store does not have: the
    batch writes nothing, then one by one writes the first and reports the second."""
    first, second = plan(store, spec("a"), spec("b")).changes
    broken = replace(second, after={**(second.after or {}), "work_pool_name": "nope"})
    reported: list[Result] = []
    results = apply_plan(Plan((first, broken)), store, reported.append)
    assert [(r.change.key, r.ok) for r in results] == [("etl/a", True), ("etl/b", False)]
    assert "nope" in results[1].message
    assert [(r.change.key, r.ok) for r in reported] == [("etl/a", True), ("etl/b", False)]
    assert [d.full_name for d in store.read_deployments()] == ["etl/a"]


def test_batches_are_written_in_order_around_deletes(store: LocalBackend) -> None:
    apply_plan(plan(store, spec("c"), spec("f")), store)
    recording = Recording(store)
    wanted = plan(store, spec("a"), spec("b"), spec("d"), spec("e"), prune=True)
    ordered = Plan(
        tuple(sorted(wanted.changes, key=lambda c: c.key))
    )  # a b c(delete) d e f(delete)
    results = apply_plan(ordered, recording)
    assert all(r.ok for r in results)
    calls = [(name, [getattr(s, "name", s) for s in args[0]] if name == "upsert_deployments"
              else None) for name, args, _ in recording.calls]  # fmt: skip
    assert calls == [("upsert_deployments", ["a", "b"]), ("delete_deployment", None),
                     ("upsert_deployments", ["d", "e"]), ("delete_deployment", None)]  # fmt: skip


def test_two_deployments_are_one_batch(store: LocalBackend) -> None:
    recording = Recording(store)
    apply_plan(plan(store, spec("a"), spec("b")), recording)
    assert [c[0] for c in recording.calls] == ["upsert_deployments"]


def test_a_batch_that_succeeds_is_one_write_and_reports_each(store: LocalBackend) -> None:
    recording = Recording(store)
    reported: list[Result] = []
    results = apply_plan(plan(store, spec("a"), spec("b"), spec("c")), recording,
                         reported.append)  # fmt: skip
    assert [c[0] for c in recording.calls] == ["upsert_deployments"]
    assert [s.name for s in recording.calls[0][1][0]] == ["a", "b", "c"]
    assert all(s.labels[HASH_LABEL] == spec_hash(s) for s in recording.calls[0][1][0])
    assert outcome(results) == outcome(reported) == [
        ("create", f"etl/{n}", True, "") for n in "abc"]  # fmt: skip


class Server(Recording):
    """A backend that takes deployment writes one at a time, several in flight (as a server
    does): no batches."""

    atomic_batches = False

    def __init__(self, backend: LocalBackend, width: int) -> None:
        super().__init__(backend)
        self.atomic_batches = False
        self.write_concurrency = width


@pytest.mark.parametrize("width", [1, 3])
def test_without_batches_each_deployment_is_its_own_write_in_plan_order(
    store: LocalBackend, width: int
) -> None:
    server = Server(store, width)
    apply_plan(plan(store, spec("z")), store)
    results = apply_plan(plan(store, *(spec(n) for n in "abcd"), spec("z", version="2")), server)
    assert outcome(results) == [*(("create", f"etl/{n}", True, "") for n in "abcd"),
                                ("update", "etl/z", True, "")]  # fmt: skip
    writes = sorted((c[1][0][0].name, c[2]["new"]) for c in server.calls)
    assert writes == [("a", True), ("b", True), ("c", True), ("d", True), ("z", False)]


class Concurrent(Server):
    """A server whose deployment writes take a moment, counting how many are in flight; the
    first `meet` writes wait for each other (they only get through if sent at once)."""

    def __init__(self, backend: LocalBackend, width: int, meet: int) -> None:
        super().__init__(backend, width)
        self.lock, self.calls_made, self.in_flight, self.most = threading.Lock(), 0, 0, 0
        self.meeting = threading.Barrier(meet, timeout=10)

    def upsert_deployments(self, specs: Any, new: bool = False) -> Any:
        with self.lock:
            self.calls_made += 1
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
            meets = self.calls_made <= self.meeting.parties
        if meets:
            self.meeting.wait()
        time.sleep(0.02)
        with self.lock:
            self.in_flight -= 1
        return self.backend.upsert_deployments(specs, new=new)


@pytest.mark.parametrize(("width", "meet"), [(1, 1), (3, 3)])
def test_deployment_writes_go_out_as_many_at_once_as_the_backend_takes(
    store: LocalBackend, width: int, meet: int
) -> None:
    server = Concurrent(store, width, meet)
    results = apply_plan(plan(store, *(spec(n) for n in "abcdef")), server)
    assert [r.ok for r in results] == [True] * 6
    assert server.most == width


def test_batches_split_at_deletes_and_at_their_size() -> None:
    def change(action: str, key: str) -> Change:
        return Change(action, "deployment", key)  # type: ignore[arg-type]

    changes = [change("create", "a"), change("update", "b"), change("delete", "c"),
               change("delete", "d"), change("create", "e"), change("create", "f"),
               change("create", "g")]  # fmt: skip
    assert [[c.key for c in b] for b in _batches(changes, size=2)] == [
        ["a", "b"], ["c"], ["d"], ["e", "f"], ["g"]]  # fmt: skip
    assert [[c.key for c in b] for b in _batches(changes)] == [
        ["a", "b"], ["c"], ["d"], ["e", "f", "g"]]  # fmt: skip
    assert len(_batches([change("create", str(i)) for i in range(1001)])) == 3


def test_the_first_deployment_naming_each_queue_goes_before_the_rest() -> None:
    def change(key: str, pool: str, queue: str | None, action: str = "create") -> Change:
        after = {"work_pool_name": pool, "work_queue_name": queue}
        return Change(action, "deployment", key, after=after)  # type: ignore[arg-type]

    changes = [change("a", "p", "helm"), change("b", "p", "helm"), change("c", "p", None),
               change("d", "p", "default"), change("e", "q", "helm"), change("f", "p", "fast"),
               change("g", "p", "fast"), change("h", "p", "slow", "delete")]  # fmt: skip
    assert [[c.key for c in wave] for wave in _waves(changes)] == [
        ["a", "e", "f"], ["b", "c", "d", "g", "h"]]  # fmt: skip
    assert [[c.key for c in wave] for wave in _waves(changes[2:4])] == [["c", "d"]]
    assert _waves([]) == []


def test_the_pool_of_each_kind_of_change() -> None:
    assert _pool_of(Change("create", "work_queue", "p/q")) == "p"
    assert _pool_of(Change("create", "work_pool", "p")) is None
    assert _pool_of(Change("create", "deployment", "f/d", after={"work_pool_name": "w"})) == "w"
    assert _pool_of(Change("create", "deployment", "f/d", after={"work_pool_name": None})) is None
    assert _pool_of(Change("delete", "deployment", "f/d")) is None


def test_execute_raises_what_the_backend_refuses(store: LocalBackend) -> None:
    change = Change("update", "work_queue", "pool/missing",
                    after={"pool": "pool", "name": "missing"})  # fmt: skip
    with pytest.raises(FlowplanError, match="missing"):
        execute(change, store)


def test_objects_changed_since_the_plan_are_stale(store: LocalBackend) -> None:
    store.create_work_queue("pool", "q")
    apply_plan(plan(store, spec("a"), spec("b")), store)
    made = plan(store, PoolSpec("pool", "process", description="x"), QueueSpec("pool", "q",
                priority=9), spec("a", version="2"), spec("b", version="2"), spec("c"))  # fmt: skip
    assert stale_objects(made, read_actual(store)) == []
    store.update_work_pool("pool", {"concurrency_limit": 1})
    store.update_work_queue("pool", "q", {"description": "by hand"})
    store.update_deployment(store.read_deployment("etl/b").id, {"description": "by hand"})
    apply_plan(plan(store, spec("c")), store)  # appeared since: the plan said absent
    assert stale_objects(made, read_actual(store)) == ["pool", "pool/q", "etl/b", "etl/c"]


def test_a_deleted_object_is_stale(store: LocalBackend) -> None:
    apply_plan(plan(store, spec("a")), store)
    made = plan(store, spec("a", version="2"))
    store.delete_deployment(store.read_deployment("etl/a").id)
    assert stale_objects(made, read_actual(store)) == ["etl/a"]


def test_a_takeover_writes_the_labels_and_keeps_ids_and_schedules(store: LocalBackend) -> None:
    every_hour = ScheduleSpec(IntervalSchedule(3600), slug="hourly", active=False)
    declared = spec("a", schedules=(every_hour,))
    (made,) = store.upsert_deployments([replace(declared, labels={})])  # by hand: no labels
    before = plan(store, declared)
    assert [(c.action, c.adopt) for c in before.changes] == [("noop", True)]
    results = apply_plan(before, store)
    assert outcome(results) == [("update", "etl/a", True, "")]
    (now,) = store.read_deployments()
    assert (now.id, [(s.id, s.slug, s.active) for s in now.schedules]) == (
        made.id, [(s.id, "hourly", False) for s in made.schedules])  # fmt: skip
    assert now.labels == {**OWNED, HASH_LABEL: spec_hash(declared)}
    after = plan(store, declared)
    assert [(c.action, c.adopt) for c in after.changes] == [("noop", False)]
    assert apply_plan(after, store) == []
