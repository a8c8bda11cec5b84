"""What the local store writes and reads back through its row conversions: JSON text as people
read it, the READY status of an exported deployment, the `updated` time of a changed row."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from flowplan.domain.clock import iso, utcnow
from flowplan.domain.objects import StateType
from tests.runtime.helpers import deployment, store


def test_exported_json_keeps_text_as_written(tmp_path: Path) -> None:
    backend = store(tmp_path / "home")
    deployment(backend, tmp_path, parameters={"city": "Zürich", "note": "café ☕"})
    (document,) = backend.export_deployments()
    assert '"city":"Zürich"' in document  # compact, and not \u-escaped
    assert json.loads(document)["parameters"] == {"city": "Zürich", "note": "café ☕"}
    backend.close()


def test_an_exported_deployment_is_ready_while_its_queue_was_polled_in_the_last_minute(
    tmp_path: Path,
) -> None:
    backend = store(tmp_path / "home")
    deployment(backend, tmp_path)

    def status_polled(ago: timedelta) -> str:
        backend.store.connection.execute(
            "UPDATE work_queues SET last_polled = ?", (iso(utcnow() - ago),)
        )  # written straight into the store: a poll that long ago
        (document,) = backend.export_deployments()
        return str(json.loads(document)["status"])

    assert status_polled(timedelta(seconds=30)) == "READY"
    assert status_polled(timedelta(seconds=60.5)) == "NOT_READY"
    assert status_polled(timedelta(hours=1)) == "NOT_READY"
    backend.close()


def test_a_change_moves_the_updated_time_and_keeps_the_created_one(tmp_path: Path) -> None:
    backend = store(tmp_path / "home")
    made = deployment(backend, tmp_path)
    changed = backend.update_deployment(made.id, {"description": "new"})
    assert changed.description == "new"
    assert changed.created == made.created
    assert changed.updated > made.updated
    backend.close()


def test_pools_queues_and_runs_read_back_every_field(tmp_path: Path) -> None:
    backend = store(tmp_path / "home")
    pool = backend.create_work_pool("pool", "process", description="the pool",
                                    concurrency_limit=3, base_job_template={})  # fmt: skip
    assert (pool.name, pool.type, pool.description, pool.concurrency_limit) == (
        "pool", "process", "the pool", 3)  # fmt: skip
    assert pool.created == pool.updated and pool.base_job_template == {}
    queue = backend.create_work_queue("pool", "q", description="the queue", concurrency_limit=2)
    assert (queue.name, queue.work_pool_id, queue.work_pool_name) == ("q", pool.id, "pool")
    assert (queue.description, queue.concurrency_limit, queue.is_paused) == ("the queue", 2, False)
    assert queue.last_polled is None
    assert backend.read_work_queue("pool", "q") == queue
    assert backend.read_work_pool("pool") == pool
    made = deployment(backend, tmp_path, queue="q")
    run = backend.create_flow_run("f/d", tags=["t"], idempotency_key="key-1",
                                  job_variables={"env": {"A": "1"}}, parameters={"n": 2})  # fmt: skip
    assert (run.flow_id, run.flow_name) == (made.flow_id, "f")
    assert (run.deployment_id, run.deployment_name) == (made.id, "d")
    assert (run.work_pool_name, run.work_queue_name) == ("pool", "q")
    assert run.job_variables == {"env": {"A": "1"}} and run.parameters == {"n": 2}
    assert run.tags == ("t",) and run.idempotency_key == "key-1"
    assert run.created <= run.state.timestamp and run.start_time is None
    backend.start_flow_run(run.id)
    backend.finish_flow_run(run.id, StateType.COMPLETED)
    again = backend.read_flow_run(run.id)
    assert again.start_time is not None and again.end_time is not None
    assert again.start_time <= again.end_time == again.state.timestamp
    assert again.state.type is StateType.COMPLETED
    backend.close()
