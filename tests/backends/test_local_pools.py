"""Work pools and queues in the local store, called in this process: what a new pool and its
default queue hold, how queues are listed, moved and refused, and which queue a run goes to."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flowplan.backends.local import LocalBackend
from flowplan.domain.specs import DeploymentSpec
from flowplan.errors import InvalidInput, ObjectAlreadyExists
from tests.runtime.helpers import deployment, store


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[LocalBackend]:
    made = store(tmp_path / "home")
    yield made
    made.close()


def test_a_new_pool_keeps_what_it_was_given_and_its_default_queue_says_what_it_is(
    backend: LocalBackend,
) -> None:
    made = backend.create_work_pool(
        "p", "process", description="nightly jobs", concurrency_limit=4, is_paused=True
    )
    assert (made.name, made.type, made.description, made.concurrency_limit, made.is_paused) == (
        "p", "process", "nightly jobs", 4, True)  # fmt: skip
    assert made.created == made.updated and made.last_heartbeat is None
    (queue,) = backend.read_work_queues("p")
    assert (queue.id, queue.name, queue.priority, queue.work_pool_id, queue.work_pool_name) == (
        made.default_queue_id, "default", 1, made.id, "p")  # fmt: skip
    assert queue.description == "The work pool's default queue."
    assert (queue.is_paused, queue.concurrency_limit, queue.last_polled) == (False, None, None)
    with pytest.raises(ObjectAlreadyExists) as caught:
        backend.create_work_pool("p", "process")
    assert caught.value.message == "a work pool named 'p' already exists"
    assert caught.value.hint == "use 'work-pool update' or 'work-pool create --overwrite'"


def test_queues_of_every_pool_are_listed_by_pool_then_priority_then_name(
    backend: LocalBackend,
) -> None:
    backend.create_work_pool("b", "process")
    backend.create_work_pool("a", "process")
    backend.create_work_queue("b", "zeta", priority=1, description="first", is_paused=True,
                              concurrency_limit=2)  # fmt: skip
    backend.create_work_queue("a", "later")
    assert [(q.work_pool_name, q.name, q.priority) for q in backend.read_work_queues()] == [
        ("a", "default", 1), ("a", "later", 2), ("b", "zeta", 1), ("b", "default", 2),
    ]  # fmt: skip
    zeta = backend.read_work_queue("b", "zeta")
    assert (zeta.description, zeta.is_paused, zeta.concurrency_limit) == ("first", True, 2)


def test_a_queue_keeping_its_priority_moves_no_other(backend: LocalBackend) -> None:
    backend.create_work_pool("p", "process")
    backend.create_work_queue("p", "second")
    backend.create_work_queue("p", "third")
    backend.update_work_queue("p", "second", {"priority": 2, "description": "same place"})
    assert [(q.name, q.priority) for q in backend.read_work_queues("p")] == [
        ("default", 1), ("second", 2), ("third", 3)]  # fmt: skip
    assert backend.read_work_queue("p", "second").description == "same place"


def test_the_default_queue_cannot_be_deleted(backend: LocalBackend) -> None:
    backend.create_work_pool("p", "process")
    with pytest.raises(InvalidInput) as caught:
        backend.delete_work_queue("p", "default")
    assert caught.value.message == "'default' is the default queue of 'p' and cannot be deleted"
    assert [q.name for q in backend.read_work_queues("p")] == ["default"]


def test_a_poll_of_some_queues_marks_only_those(backend: LocalBackend) -> None:
    backend.create_work_pool("p", "process")
    backend.create_work_pool("other", "process")
    backend.create_work_queue("p", "a")
    backend.create_work_queue("p", "b")
    backend.mark_polled("p", ["a", "b"])
    polled = {q.name for q in backend.read_work_queues() if q.last_polled is not None}
    assert polled == {"a", "b"}
    backend.mark_polled("p")
    polled = {(q.work_pool_name, q.name) for q in backend.read_work_queues() if q.last_polled}
    assert polled == {("p", "a"), ("p", "b"), ("p", "default")}


def test_a_run_goes_to_the_queue_it_names_made_if_missing_and_needs_a_pool_for_it(
    backend: LocalBackend, tmp_path: Path
) -> None:
    made = deployment(backend, tmp_path)
    run = backend.create_flow_run(made.id, work_queue_name="urgent")
    assert (run.work_pool_name, run.work_queue_name) == ("pool", "urgent")
    assert [q.name for q in backend.read_work_queues("pool")] == ["default", "urgent"]
    made_queue = backend.read_work_queue("pool", "urgent")
    assert (made_queue.priority, made_queue.is_paused) == (2, False)
    with pytest.raises(InvalidInput) as bad:
        backend.create_flow_run(made.id, work_queue_name="bad/name")
    assert bad.value.message == "work queue name 'bad/name' contains '/'"
    with pytest.raises(InvalidInput) as without:
        backend.upsert_deployments([DeploymentSpec("f", "x", work_queue_name="q")])
    assert without.value.message == "work queue 'q' given without a work pool"
    backend.delete_work_pool("pool", force=True)  # the deployment is left without a pool
    with pytest.raises(InvalidInput) as caught:
        backend.create_flow_run(made.id, work_queue_name="urgent")
    assert caught.value.message == "this deployment has no work pool, so no queue can be chosen"
    assert backend.create_flow_run(made.id).work_queue_name is None


def test_a_worker_with_a_bad_name_is_refused_as_a_worker(backend: LocalBackend) -> None:
    backend.create_work_pool("p", "process")
    with pytest.raises(InvalidInput) as caught:
        backend.worker_heartbeat("p", "bad/name")
    assert caught.value.message == "worker name 'bad/name' contains '/'"
    assert backend.read_work_pool("p").last_heartbeat is None


def test_a_worker_s_heartbeat_keeps_its_interval_30_seconds_unless_given(
    backend: LocalBackend,
) -> None:
    from flowplan.server import ui_data  # what reads the interval: the UI's online check

    backend.create_work_pool("p", "process")
    backend.worker_heartbeat("p", "plain")
    backend.worker_heartbeat("p", "quick", heartbeat_interval=5)
    backend.worker_heartbeat("p", "quick", heartbeat_interval=7)  # beats again, with another
    found = [(w.pool, w.name, w.heartbeat_interval) for w in ui_data.workers(backend)]
    assert found == [("p", "plain", 30.0), ("p", "quick", 7.0)]
