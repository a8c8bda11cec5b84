"""A worker started with FLOWPLAN_RUN_RETENTION deletes finished runs older than that, with
their logs, while it runs; runs that have not finished stay; a bad value stops it at start."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from flowplan.domain.clock import iso, utcnow
from flowplan.domain.objects import LogLine, StateType
from tests.integration.workers import Workers, wait_for
from tests.runtime.helpers import deployment, store


def test_a_running_worker_deletes_finished_runs_past_the_retention(
    tmp_path: Path, workers: Workers, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = store(workers.home)
    deployment(backend, tmp_path)
    old, recent = backend.create_flow_run("f/d"), backend.create_flow_run("f/d")
    for run in (old, recent):
        backend.set_flow_run_state(run.id, StateType.RUNNING)
        backend.set_flow_run_state(run.id, StateType.COMPLETED)
        backend.write_logs([LogLine(run.id, utcnow(), 20, "done")])
    waiting = backend.create_flow_run("f/d", scheduled_time=utcnow() + timedelta(days=1))
    stamp = iso(utcnow() - timedelta(days=3))
    backend.store.connection.execute(
        "UPDATE flow_runs SET created = ?, end_time = ? WHERE id IN (?, ?)",
        (stamp, stamp, old.id, waiting.id),
    )  # backdated straight in the store
    monkeypatch.setenv("FLOWPLAN_RUN_RETENTION", "2d")
    worker = workers.start()

    def left() -> set[str] | None:
        ids = {run.id for run in backend.read_flow_runs()}
        return ids if old.id not in ids else None

    assert wait_for("the old run to be deleted", left) == {recent.id, waiting.id}
    logs = backend.store.connection.execute("SELECT DISTINCT flow_run_id FROM logs").fetchall()
    assert logs == [(recent.id,)]
    output = wait_for("the report", lambda: "Deleted" in workers.output(worker)
                      and workers.output(worker))  # fmt: skip
    assert "Deleted 1 finished flow run(s) older than the retention (2d) with their logs." in (
        output
    )
    assert worker.poll() is None


def test_a_bad_retention_stops_the_worker_at_start(tmp_path: Path, workers: Workers) -> None:
    deployment(store(workers.home), tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "flowplan", "worker", "start", "--pool", "pool"],
        cwd=tmp_path, env={**workers.env, "FLOWPLAN_RUN_RETENTION": "30 days"},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert "Error: FLOWPLAN_RUN_RETENTION: '30 days' is not a duration" in done.stderr
    assert "started" not in done.stdout
