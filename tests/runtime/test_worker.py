"""The worker in this process, over a real store: its loop services are isolated from each
other (a stuck scheduler does not hold back heartbeats, a failing service is retried and the
others go on), and a run's whole life is reported."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from flowplan.backends.local import LocalBackend
from flowplan.domain.clock import iso, utcnow
from flowplan.domain.objects import StateType
from flowplan.domain.schedules import CronSchedule, IntervalSchedule
from flowplan.errors import ObjectNotFound, StoreFault, UsageError
from flowplan.runtime import worker as worker_module
from flowplan.runtime.services import backoff
from flowplan.runtime.worker import (
    Worker,
    WorkerOptions,
    _crashed_among,
    _duration,
    _Lookups,
    default_name,
)
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


@pytest.fixture
def signals_kept() -> Iterator[None]:
    """A worker run in the main thread installs its SIGTERM and SIGINT handlers: put back."""
    kept = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    yield
    for signum, handler in kept.items():
        signal.signal(signum, handler)


def workers(backend: LocalBackend) -> list[str]:
    return [row[0] for row in backend.store.connection.execute("SELECT name FROM workers")]


def test_a_worker_refuses_a_pool_of_another_type_before_it_starts(
    tmp_path: Path, home: Path
) -> None:
    backend = store(home)
    deployment(backend, tmp_path)
    said: list[str] = []
    worker = Worker(backend, WorkerOptions(pool="pool", type="docker", name="w"), said.append)
    with pytest.raises(UsageError) as refused:
        worker.run()
    assert str(refused.value) == (
        "work pool 'pool' is of type 'process': a 'docker' worker cannot run its flows (start"
        " one with --type process, or leave --type out)"
    )
    assert said == [] and workers(backend) == []  # nothing said, no heartbeat sent
    with pytest.raises(ObjectNotFound):
        Worker(backend, WorkerOptions(pool="missing", name="w"), said.append).run()


def test_a_worker_run_once_runs_what_is_due_and_stops(
    tmp_path: Path, home: Path, signals_kept: None
) -> None:
    """In the main thread, as `flowplan worker start --run-once` runs it."""
    backend = store(home)
    deployment(backend, tmp_path)
    run = backend.create_flow_run("f/d")
    said: list[str] = []
    options = WorkerOptions(pool="pool", name="once", poll_interval=0.05, run_once=True)
    worker = Worker(store(home), options, said.append, connect=lambda: store(home))
    assert worker.run() == 0
    assert signal.getsignal(signal.SIGTERM) == worker._on_signal
    assert signal.getsignal(signal.SIGINT) == worker._on_signal
    assert backend.read_flow_run(run.id).state.type is StateType.COMPLETED
    assert said[0] == (
        "Worker 'once' started on work pool 'pool' (process); polling every 0.05 s. Ctrl-C"
        " stops it."
    )
    assert f"Flow run {run.name!r} finished: Completed." in said
    assert said[-1] == "Worker 'once' stopped."
    assert workers(backend) == ["once"]
    assert not Path(worker.channel.path).exists()  # the channel closed
    assert all(not service.thread.is_alive() for service in worker._service_list)


WAITS = """
import time
from pathlib import Path
from flowplan import flow

@flow
def f(n: int = 1):
    print("started", flush=True)
    while not Path("go").exists():
        time.sleep(0.05)
"""


def has_started(backend: LocalBackend, run_id: str) -> bool:
    return any(line.message == "started" for line in backend.read_logs(run_id))


def claim_passes_after(worker: Worker, passes: int = 3) -> None:
    """Wait until the claim service has run `passes` more times, past its poll interval."""
    assert worker.claims is not None
    seen, since = worker.claims.passes, time.monotonic()
    wait_for("claim passes", lambda: worker.claims is not None
             and worker.claims.passes >= seen + passes
             and time.monotonic() > since + 2 * worker.options.poll_interval)  # fmt: skip


def test_a_signal_stops_claiming_and_waits_for_the_running_run(
    tmp_path: Path, home: Path, signals_kept: None
) -> None:
    backend = store(home)
    deployment(backend, tmp_path, source=WAITS)
    run = backend.create_flow_run("f/d")
    said: list[str] = []
    options = WorkerOptions(pool="pool", name="w", poll_interval=0.05)
    worker = Worker(store(home), options, said.append, connect=lambda: store(home))
    later: list[str] = []

    def operator() -> None:
        wait_for("the run to start", lambda: has_started(backend, run.id))
        os.kill(os.getpid(), signal.SIGTERM)  # handled in the main thread, by the worker
        wait_for("the worker to stop claiming", lambda: any(s.startswith("Stopping") for s in said))
        later.append(backend.create_flow_run("f/d").id)
        claim_passes_after(worker)
        (tmp_path / "go").touch()

    helper = threading.Thread(target=operator)
    helper.start()
    assert worker.run() == 0
    helper.join()
    assert backend.read_flow_run(run.id).state.type is StateType.COMPLETED
    assert backend.read_flow_run(later[0]).state.type is StateType.SCHEDULED  # not claimed
    assert [s for s in said if s.startswith("Stopping")] == [
        "Stopping: no new runs are claimed; waiting for running runs to finish (signal again"
        " to stop them now)."
    ]
    assert said[-1] == "Worker 'w' stopped."


def test_a_second_signal_stops_the_running_runs_now(
    tmp_path: Path, home: Path, signals_kept: None
) -> None:
    backend = store(home)
    deployment(backend, tmp_path, source=WAITS)
    run = backend.create_flow_run("f/d")
    said: list[str] = []
    options = WorkerOptions(pool="pool", name="w", poll_interval=0.05)
    worker = Worker(store(home), options, said.append, connect=lambda: store(home))

    def operator() -> None:
        wait_for("the run to start", lambda: has_started(backend, run.id))
        os.kill(os.getpid(), signal.SIGINT)
        wait_for("the worker to stop claiming", lambda: any(s.startswith("Stopping") for s in said))
        os.kill(os.getpid(), signal.SIGINT)

    helper = threading.Thread(target=operator)
    helper.start()
    assert worker.run() == 130
    helper.join()
    state = backend.read_flow_run(run.id).state
    assert state.type is StateType.CRASHED
    assert (state.message or "").startswith("Worker 'w' was stopped while the run was in progress")
    assert len([s for s in said if s.startswith("Stopping")]) == 1
    assert not (tmp_path / "go").exists()


def test_a_worker_with_a_limit_runs_that_many_at_a_time(tmp_path: Path, home: Path) -> None:
    backend = store(home)
    deployment(backend, tmp_path, source=WAITS)
    deployment(backend, tmp_path, name="quick")
    quick = backend.create_flow_run("f/quick")
    said: list[str] = []
    options = WorkerOptions(pool="pool", name="w", poll_interval=0.05, limit=1)
    worker = Worker(store(home), options, said.append, connect=lambda: store(home))
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        # a run that came and went gives its slot back, once
        wait_for("the first run to end", lambda: f"Flow run {quick.name!r} finished: Completed."
                 in said and not worker._busy())  # fmt: skip
        first, second = backend.create_flow_run("f/d"), backend.create_flow_run("f/d")
        one = wait_for("one run to start", lambda: [r for r in (first, second)
                                                    if has_started(backend, r.id)])  # fmt: skip
        claim_passes_after(worker)
        assert len(one) == 1
        other = second if one[0].id == first.id else first
        assert backend.read_flow_run(other.id).state.type is StateType.SCHEDULED
        (tmp_path / "go").touch()
        wait_for("both runs to complete", lambda: all(
            backend.read_flow_run(r.id).state.type is StateType.COMPLETED for r in (first, second)))  # fmt: skip
    finally:
        (tmp_path / "go").touch()
        worker.stop()
        thread.join(timeout=120)
    assert not thread.is_alive()


def test_the_run_of_a_worker_that_is_gone_is_crashed_and_said(tmp_path: Path, home: Path) -> None:
    backend = store(home)
    deployment(backend, tmp_path)
    deployment(backend, tmp_path, name="elsewhere", pool="other")  # not this worker's pool
    run = backend.create_flow_run("f/elsewhere")
    [orphan] = backend.claim_flow_runs("other", "ghost", limit=1)  # no heartbeat: gone
    assert orphan.id == run.id
    with running(home, heartbeat_interval=0.05) as said:
        wait_for("the run to be crashed", lambda: backend.read_flow_run(run.id).state.type
                 is StateType.CRASHED)  # fmt: skip
        message = backend.read_flow_run(run.id).state.message
        wait_for("the worker to say so", lambda: f"Flow run {run.name!r} ({run.id}) crashed:"
                 f" {message}" in said)  # fmt: skip


def test_a_stored_schedule_that_cannot_be_read_is_said_once(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker_module, "SCHEDULER_SECONDS", 0.05)
    backend = store(home)
    bad = deployment(backend, tmp_path, name="bad", schedules=(CronSchedule("0 * * * *"),))
    backend.store.connection.execute(
        "UPDATE deployment_schedules SET schedule = ? WHERE deployment_id = ?",
        (json.dumps({"cron": "0 * * * *", "timezone": "Mars/Olympus"}), bad.id),
    )  # written straight into the store, past every check
    options = WorkerOptions(pool="pool", name="w", poll_interval=0.05)
    said: list[str] = []
    worker = Worker(store(home), options, said.append, connect=lambda: store(home))
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        wait_for("the scheduler's service", lambda: worker._service_list)
        [scheduling] = [s for s in worker._service_list if s.name == "scheduler"]
        wait_for("three scheduler passes", lambda: scheduling.passes >= 3)
    finally:
        worker.stop()
        thread.join(timeout=120)
    skipped = [line for line in said if line.startswith("Schedule ")]
    assert len(skipped) == 1
    assert skipped[0].startswith(f"Schedule {bad.schedules[0].id} of deployment {bad.id} skipped:")
    assert skipped[0].endswith("unknown time zone 'Mars/Olympus'")


def test_runs_late_past_their_time_are_marked_late(tmp_path: Path, home: Path) -> None:
    backend = store(home)
    deployment(backend, tmp_path)
    deployment(backend, tmp_path, name="elsewhere", pool="other")  # nobody claims it
    run = backend.create_flow_run("f/elsewhere", scheduled_time=utcnow() - timedelta(minutes=5))
    with running(home):
        wait_for("the run to be late", lambda: backend.read_flow_run(run.id).state.name == "Late")
    assert backend.read_flow_run(run.id).state.type is StateType.SCHEDULED


def test_a_store_fault_stops_the_worker_and_its_runs(tmp_path: Path, home: Path) -> None:
    backend = store(home)
    deployment(backend, tmp_path, source=WAITS)
    run = backend.create_flow_run("f/d")
    failing = threading.Event()

    class Faulty:
        def __init__(self) -> None:
            self._backend = store(home)

        def __getattr__(self, name: str) -> Any:
            return getattr(self._backend, name)

        def worker_heartbeat(self, *args: Any, **kwargs: Any) -> None:
            if failing.is_set():
                raise StoreFault("the disk is full")
            self._backend.worker_heartbeat(*args, **kwargs)

    said: list[str] = []
    options = WorkerOptions(pool="pool", name="w", poll_interval=0.05, heartbeat_interval=0.05)
    worker = Worker(store(home), options, said.append, connect=Faulty)  # type: ignore[arg-type]
    raised: list[BaseException] = []

    def work() -> None:
        try:
            worker.run()
        except StoreFault as fault:
            raised.append(fault)

    thread = threading.Thread(target=work)
    thread.start()
    wait_for("the run to start", lambda: has_started(backend, run.id))
    server = worker.infrastructure._server  # type: ignore[union-attr]
    assert server is not None and server.process.poll() is None
    failing.set()
    thread.join(timeout=120)
    assert not thread.is_alive()
    assert [str(fault) for fault in raised] == ["the disk is full"]
    assert "Stopping: the store failed: the disk is full" in said
    state = backend.read_flow_run(run.id).state
    assert state.type is StateType.CRASHED  # nothing left running
    # its supervisor marked it when it ended (the worker waited for that), with its output
    assert (state.message or "").startswith("Worker 'w' was stopped while the run was in progress")
    assert server.process.poll() is not None  # the fork server stopped too
    assert all(not service.thread.is_alive() for service in worker._service_list)
    assert not Path(worker.channel.path).exists()


def test_durations_are_said_in_their_largest_whole_unit() -> None:
    assert [_duration(timedelta(**{unit: n})) for unit, n in (
        ("days", 2), ("hours", 5), ("minutes", 90), ("seconds", 61), ("hours", 48))] == [
        "2d", "5h", "90m", "61s", "2d"]  # fmt: skip


def test_default_worker_names_say_their_type() -> None:
    assert default_name().startswith("ProcessWorker ")
    assert default_name("docker").startswith("DockerWorker ")
    assert default_name() != default_name()


def test_only_runs_this_store_knows_ended_crashed_are_found_crashed(
    tmp_path: Path, home: Path
) -> None:
    backend = store(home)
    deployment(backend, tmp_path)
    crashed, done = backend.create_flow_run("f/d"), backend.create_flow_run("f/d")
    for run, end in ((crashed, StateType.CRASHED), (done, StateType.COMPLETED)):
        backend.set_flow_run_state(run.id, StateType.RUNNING)
        backend.set_flow_run_state(run.id, end)
    found = _crashed_among(backend)([done.id, "not-this-stores", crashed.id])
    assert found == [crashed.id]


class Counting:
    """A store connection counting its reads, failing the ones named."""

    def __init__(self, backend: LocalBackend, fail: dict[str, Exception]) -> None:
        self._backend, self._fail, self.reads = backend, fail, []

    def read_work_pool(self, name: str) -> Any:
        self.reads.append(("pool", name))
        if name in self._fail:
            raise self._fail[name]
        return self._backend.read_work_pool(name)

    def read_deployment(self, name: str) -> Any:
        self.reads.append(("deployment", name))
        if name in self._fail:
            raise self._fail[name]
        return self._backend.read_deployment(name)


def test_runs_claimed_together_read_their_pool_and_deployments_once(
    tmp_path: Path, home: Path
) -> None:
    backend = store(home)
    first = deployment(backend, tmp_path)
    counting = Counting(backend, {"broken": RuntimeError("unreadable")})
    lookups = _Lookups(counting, "pool")  # type: ignore[arg-type]
    found = lookups.found(first.id)
    assert found is not None and found[0].name == "pool" and found[1] is not None
    assert found[1].id == first.id
    assert lookups.found(first.id) == found
    assert lookups.found("gone") == (found[0], None)  # not found: the run's supervisor says so
    assert lookups.found("broken") is None  # cannot be read: left to the supervisor
    assert lookups.found("broken") is None
    assert counting.reads == [("pool", "pool"), ("deployment", first.id), ("deployment", "gone"),
                              ("deployment", "broken")]  # fmt: skip
    unreadable = Counting(backend, {"pool": RuntimeError("unreadable")})
    assert _Lookups(unreadable, "pool").found(first.id) is None  # type: ignore[arg-type]
    assert unreadable.reads == [("pool", "pool")]


def test_the_retention_deletes_chunk_after_chunk_and_counts_them_all(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker_module, "RETENTION_CHUNK", 2)
    backend = store(home)
    deployment(backend, tmp_path)
    old = [backend.create_flow_run("f/d") for _ in range(5)]
    for run in old:
        backend.set_flow_run_state(run.id, StateType.RUNNING)
        backend.set_flow_run_state(run.id, StateType.COMPLETED)
        backend.store.connection.execute(
            "UPDATE flow_runs SET end_time = ? WHERE id = ?",
            (iso(utcnow() - timedelta(hours=3)), run.id),
        )
    with running(home, retention=timedelta(hours=1, minutes=30)) as said:
        wait_for("the retention's pass", lambda: any(line.startswith("Deleted") for line in said))
    assert backend.read_flow_runs(deployment="f/d") == []
    assert [line for line in said if line.startswith("Deleted")] == [
        "Deleted 5 finished flow run(s) older than the retention (90m) with their logs."]  # fmt: skip
