"""The worker in this process, over a real store: its loop services are isolated from each
other (a stuck scheduler does not hold back heartbeats, a failing service is retried and the
others go on), and a run's whole life is reported."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from flowplan.backends.local import LocalBackend
from flowplan.domain.clock import iso, utcnow
from flowplan.domain.objects import StateType
from flowplan.domain.schedules import IntervalSchedule
from flowplan.runtime.services import backoff
from flowplan.runtime.worker import Worker, WorkerOptions
from tests.integration.workers import wait_for
from tests.runtime.helpers import deployment, store


class Watched:
    """A store connection that counts heartbeats, can hold the scheduler's read until released,
    and can fail crash detection a number of times."""

    def __init__(self, home: Path, shared: dict[str, Any]) -> None:
        self._backend = LocalBackend(home / "flowplan.db")
        self._shared = shared

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)

    def worker_heartbeat(self, *args: Any, **kwargs: Any) -> None:
        self._shared["heartbeats"] += 1
        self._backend.worker_heartbeat(*args, **kwargs)

    def read_schedules_to_fill(self, **kwargs: Any) -> Any:
        self._shared["scheduler entered"].set()
        self._shared["release scheduler"].wait()
        return self._backend.read_schedules_to_fill(**kwargs)

    def crash_orphaned_runs(self, **kwargs: Any) -> Any:
        if self._shared["failures left"] > 0:
            self._shared["failures left"] -= 1
            raise RuntimeError("the disk is on fire")
        self._shared["crash checks"] += 1
        return self._backend.crash_orphaned_runs(**kwargs)


@pytest.fixture
def shared(request: pytest.FixtureRequest) -> dict[str, Any]:
    """What the test and its worker's store share; a test's indirect parameter sets some of it
    before the worker starts."""
    return {"heartbeats": 0, "scheduler entered": threading.Event(),
            "release scheduler": threading.Event(), "failures left": 0, "crash checks": 0,
            **getattr(request, "param", {})}  # fmt: skip


@pytest.fixture
def started(
    tmp_path: Path, shared: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Worker, list[str]]]:
    home = tmp_path / "home"
    monkeypatch.setenv("FLOWPLAN_HOME", str(home))  # where the runs' engines find the store
    backend = store(home)
    deployment(backend, tmp_path, schedules=(IntervalSchedule(3600),))
    said: list[str] = []
    options = WorkerOptions(pool="pool", heartbeat_interval=0.05, poll_interval=0.05)
    worker = Worker(
        Watched(home, shared), options, say=said.append,  # type: ignore[arg-type]
        connect=lambda: Watched(home, shared),  # type: ignore[arg-type,return-value]
    )  # fmt: skip
    thread = threading.Thread(target=worker.run)
    thread.start()
    yield worker, said
    shared["release scheduler"].set()
    worker.stop()
    thread.join(timeout=120)
    assert not thread.is_alive()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The store's directory, where the runs' engines find it too."""
    monkeypatch.setenv("FLOWPLAN_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@contextmanager
def running(home: Path, **options: Any) -> Iterator[list[str]]:
    """A worker on `pool` in this process until the block ends; what it said."""
    said: list[str] = []
    settings = WorkerOptions(**{"pool": "pool", "poll_interval": 0.05, **options})
    worker = Worker(store(home), settings, say=said.append, connect=lambda: store(home))
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        yield said
    finally:
        worker.stop()
        thread.join(timeout=120)
    assert not thread.is_alive()


def test_heartbeats_go_on_while_the_scheduler_is_stuck(
    started: tuple[Worker, list[str]], shared: dict[str, Any]
) -> None:
    assert shared["scheduler entered"].wait(60)
    seen = shared["heartbeats"]
    wait_for("three more heartbeats", lambda: shared["heartbeats"] >= seen + 3)
    assert not shared["release scheduler"].is_set()  # the scheduler was stuck all along


@pytest.mark.parametrize("shared", [{"failures left": 2}], indirect=True)
def test_a_failing_service_is_logged_retried_and_the_others_go_on(
    tmp_path: Path, started: tuple[Worker, list[str]], shared: dict[str, Any]
) -> None:
    """Crash detection fails its first two times (set before the worker starts: set later, a
    first check could pass before the failures and the test would see no failure)."""
    shared["release scheduler"].set()
    _, said = started
    run = store(tmp_path / "home").create_flow_run("f/d")

    def completed() -> bool:
        return store(tmp_path / "home").read_flow_run(run.id).state.type is StateType.COMPLETED

    wait_for("the run to complete", completed)
    wait_for("crash detection to work again", lambda: shared["crash checks"] > 0)
    failures = [line for line in said if "failed" in line]
    assert failures[0].startswith(
        "Worker service 'crash detection' failed (RuntimeError: the disk is on fire); retrying in"
    )
    assert "Worker service 'crash detection' works again." in said


def test_backoff_doubles_from_half_a_second_up_to_a_minute() -> None:
    assert [backoff(n, 30) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]
    assert backoff(1, 0.05) == 0.05
    assert backoff(20, 30) == 60


def test_a_worker_with_a_retention_deletes_the_finished_runs_older_than_it(
    tmp_path: Path, home: Path
) -> None:
    backend = store(home)
    deployment(backend, tmp_path)
    old, recent = (backend.create_flow_run("f/d") for _ in range(2))
    for run in (old, recent):
        backend.set_flow_run_state(run.id, StateType.RUNNING)
        backend.set_flow_run_state(run.id, StateType.COMPLETED)
    backend.store.connection.execute(
        "UPDATE flow_runs SET end_time = ? WHERE id = ?",
        (iso(utcnow() - timedelta(days=3)), old.id),
    )  # backdated straight in the store: nothing else makes a run 3 days old
    with running(home, retention=timedelta(days=2)) as said:
        wait_for("the retention's pass", lambda: any(line.startswith("Deleted") for line in said))
    left = {run.id for run in backend.read_flow_runs(deployment="f/d")}
    assert old.id not in left and recent.id in left
    assert [line for line in said if line.startswith("Deleted")] == [
        "Deleted 1 finished flow run(s) older than the retention (2d) with their logs."]  # fmt: skip


CRASHING = """
import os
from flowplan import flow

@flow
def f(n: int = 1):
    print("about to exit")
    os._exit(3)
"""


def test_a_run_that_ends_without_a_final_state_is_crashed_with_its_last_output(
    tmp_path: Path, home: Path
) -> None:
    backend = store(home)
    deployment(backend, tmp_path, name="crash", source=CRASHING)
    deployment(backend, tmp_path, name="fine")
    crashing, fine = backend.create_flow_run("f/crash"), backend.create_flow_run("f/fine")

    def final(run_id: str) -> bool:
        return backend.read_flow_run(run_id).state.type.is_final

    with running(home) as said:
        wait_for("both runs to end", lambda: final(crashing.id) and final(fine.id))
        wait_for("the worker to say so", lambda: len([s for s in said if "Flow run" in s]) >= 2)
    state = backend.read_flow_run(crashing.id).state
    assert state.type is StateType.CRASHED
    assert state.message is not None
    assert state.message.startswith(
        "Process exited with status code 3 before reporting a final state; last output:\n"
    )
    assert state.message.endswith("\nabout to exit")
    assert (
        f"Flow run {crashing.name!r} crashed: Process exited with status code 3 before"
        " reporting a final state; last output:" in said
    )
    assert backend.read_flow_run(fine.id).state.type is StateType.COMPLETED
    assert f"Flow run {fine.name!r} finished: Completed." in said


SLOW = """
import time
from flowplan import flow

@flow
def f(n: int = 1):
    print("started", flush=True)
    for _ in range(1200):
        time.sleep(0.1)
"""


def test_a_cancelled_run_is_stopped_and_recorded_cancelled(tmp_path: Path, home: Path) -> None:
    backend = store(home)
    deployment(backend, tmp_path, name="slow", source=SLOW)
    run = backend.create_flow_run("f/slow")
    with running(home) as said:
        wait_for("the run to start", lambda: any(
            line.message == "started" for line in backend.read_logs(run.id)))  # fmt: skip
        backend.cancel_flow_run(run.id)
        wait_for("the run to be cancelled",
                 lambda: backend.read_flow_run(run.id).state.type is StateType.CANCELLED)  # fmt: skip
        wait_for("the worker to say so", lambda: f"Flow run {run.name!r} cancelled." in said)
    assert backend.read_flow_run(run.id).state.message == "Cancelled: the run's process was stopped"
