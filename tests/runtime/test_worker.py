"""The worker in this process, over a real store: its loop services are isolated from each
other (a stuck scheduler does not hold back heartbeats, a failing service is retried and the
others go on), and a run's whole life is reported."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar

import pytest

from flowplan.backends.local import LocalBackend
from flowplan.domain.clock import iso, utcnow
from flowplan.domain.objects import StateType
from flowplan.domain.schedules import CronSchedule, IntervalSchedule
from flowplan.errors import ObjectNotFound, StoreFault, UsageError
from flowplan.runtime import housekeeping, scheduler
from flowplan.runtime import worker as worker_module
from flowplan.runtime.housekeeping import crash_detection, crashed_among, duration
from flowplan.runtime.infrastructure import infrastructure
from flowplan.runtime.services import backoff
from flowplan.runtime.worker import Worker, WorkerOptions, _Lookups, default_name
from tests.integration.workers import wait_for
from tests.runtime.helpers import deployment, store

T = TypeVar("T")

# Bounds on what a test waits for (a worker that does not stop, a run that never comes): a
# mutant that breaks the worker fails the test in seconds instead of hanging it. Each is many
# times what it takes on a loaded machine.
WAIT = 10.0  # a condition: a run started or ended, something said
STOP = 5.0  # a worker told to stop, to return


def until(what: str, check: Callable[[], T | None]) -> T:
    return wait_for(what, check, timeout=WAIT)


class Through:
    """A connection to the store in `home` that passes every call on: a test's subclass
    changes the one it is about."""

    def __init__(self, home: Path) -> None:
        self._backend = store(home)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)


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
    thread.join(timeout=STOP)
    assert not thread.is_alive(), "the worker did not stop"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The store's directory, where the runs' engines find it too."""
    monkeypatch.setenv("FLOWPLAN_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def a_worker(
    home: Path, connect: Callable[[], Any] | None = None, **options: Any
) -> tuple[Worker, list[str]]:
    """A worker named `w` on `pool`, each service with its own connection (`connect`, default
    a new `store(home)`); what it says."""
    said: list[str] = []
    settings = WorkerOptions(**{"pool": "pool", "name": "w", "poll_interval": 0.05, **options})
    connect = connect or (lambda: store(home))
    return Worker(store(home), settings, said.append, connect=connect), said


@contextmanager
def running(
    home: Path, connect: Callable[[], Any] | None = None, **options: Any
) -> Iterator[tuple[Worker, list[str]]]:
    """A worker (`a_worker`) running in a thread of this process until the block ends."""
    worker, said = a_worker(home, connect, **options)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        yield worker, said
    finally:
        worker.stop()
        thread.join(timeout=STOP)
    assert not thread.is_alive(), "the worker did not stop"


def run_in_main_thread(worker: Worker, bound: float = WAIT + STOP) -> int:
    """`worker.run()` in the main thread, as `flowplan worker start` runs it, failed by an
    alarm if it has not returned within `bound` seconds."""

    def overdue(signum: int, frame: object) -> None:
        raise AssertionError(f"the worker did not stop within {bound:g} s")

    kept = signal.signal(signal.SIGALRM, overdue)
    signal.setitimer(signal.ITIMER_REAL, bound)
    try:
        return worker.run()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, kept)


def test_heartbeats_go_on_while_the_scheduler_is_stuck(
    started: tuple[Worker, list[str]], shared: dict[str, Any]
) -> None:
    assert shared["scheduler entered"].wait(WAIT)
    seen = shared["heartbeats"]
    until("three more heartbeats", lambda: shared["heartbeats"] >= seen + 3)
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

    until("the run to complete", completed)
    # said once the step returned, which is after the check counted: wait for the words
    until("crash detection to work again",
          lambda: "Worker service 'crash detection' works again." in said)  # fmt: skip
    assert shared["crash checks"] > 0
    failures = [line for line in said if "failed" in line]
    assert failures[0].startswith(
        "Worker service 'crash detection' failed (RuntimeError: the disk is on fire); retrying in"
    )


def test_backoff_doubles_from_half_a_second_up_to_a_minute() -> None:
    assert [backoff(n, 30) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]
    assert backoff(1, 0.05) == 0.05
    assert backoff(20, 30) == 60


def finished(backend: LocalBackend, count: int, ago: timedelta | None = None) -> list[str]:
    """`count` completed runs of `f/d` (ended `ago`, else now): their ids."""
    runs = [backend.create_flow_run("f/d").id for _ in range(count)]
    for run_id in runs:
        backend.set_flow_run_state(run_id, StateType.RUNNING)
        backend.set_flow_run_state(run_id, StateType.COMPLETED)
        if ago is not None:  # backdated straight in the store: nothing else makes a run old
            backend.store.connection.execute(
                "UPDATE flow_runs SET end_time = ? WHERE id = ?", (iso(utcnow() - ago), run_id)
            )
    return runs


def test_a_worker_with_a_retention_deletes_the_finished_runs_older_than_it(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At its start, and again each time its interval (here 50 ms) passed."""
    monkeypatch.setattr(worker_module, "RETENTION_SECONDS", 0.05)
    backend = store(home)
    deployment(backend, tmp_path)
    [old], [recent] = finished(backend, 1, ago=timedelta(days=3)), finished(backend, 1)

    def deleted() -> list[str]:
        return [line for line in said if line.startswith("Deleted")]

    with running(home, retention=timedelta(days=2)) as (worker, said):
        until("the retention's first pass", deleted)
        [older] = finished(backend, 1, ago=timedelta(days=4))
        until("a later pass", lambda: len(deleted()) > 1)
        assert worker._service_list[-1].thread.name == "flowplan-retention"
    left = {run.id for run in backend.read_flow_runs(deployment="f/d")}
    assert old not in left and older not in left and recent in left
    assert deleted() == [
        "Deleted 1 finished flow run(s) older than the retention (2d) with their logs."] * 2  # fmt: skip


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

    with running(home) as (_, said):
        until("both runs to end", lambda: final(crashing.id) and final(fine.id))
        until("the worker to say so", lambda: len([s for s in said if "Flow run" in s]) >= 2)
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


def for_this_test(source: str) -> str:
    """A flow that waits (below) also ends when this test process is gone (a test failed by
    mutmut's time limit leaves no run behind)."""
    return source.replace("TEST_PID", str(os.getpid()))


SLOW = """
import os, time
from flowplan import flow

@flow
def f(n: int = 1):
    print("started", flush=True)
    while os.path.exists("/proc/TEST_PID"):  # until stopped (or this test process is gone)
        time.sleep(0.1)
"""


def test_a_cancelled_run_is_stopped_and_recorded_cancelled(tmp_path: Path, home: Path) -> None:
    backend = store(home)
    deployment(backend, tmp_path, name="slow", source=for_this_test(SLOW))
    run = backend.create_flow_run("f/slow")
    with running(home) as (_, said):
        until("the run to start", lambda: any(
            line.message == "started" for line in backend.read_logs(run.id)))  # fmt: skip
        backend.cancel_flow_run(run.id)
        until("the run to be cancelled",
                 lambda: backend.read_flow_run(run.id).state.type is StateType.CANCELLED)  # fmt: skip
        until("the worker to say so", lambda: f"Flow run {run.name!r} cancelled." in said)
    assert backend.read_flow_run(run.id).state.message == "Cancelled: the run's process was stopped"


@pytest.fixture
def signals_kept() -> Iterator[None]:
    """A worker run in the main thread installs its SIGTERM and SIGINT handlers: put back."""
    kept = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    yield
    for signum, handler in kept.items():
        signal.signal(signum, handler)


def workers(backend: LocalBackend) -> list[tuple[str, float]]:
    """The workers the store heard from, with the heartbeat interval each announced."""
    query = "SELECT name, heartbeat_interval FROM workers"
    return [tuple(row) for row in backend.store.connection.execute(query)]


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
    worker, said = a_worker(home, name="once", run_once=True, heartbeat_interval=7.0)
    assert run_in_main_thread(worker) == 0
    assert signal.getsignal(signal.SIGTERM) == worker._on_signal
    assert signal.getsignal(signal.SIGINT) == worker._on_signal
    assert backend.read_flow_run(run.id).state.type is StateType.COMPLETED
    assert said[0] == (
        "Worker 'once' started on work pool 'pool' (process); polling every 0.05 s. Ctrl-C"
        " stops it."
    )
    assert f"Flow run {run.name!r} finished: Completed." in said
    assert said[-1] == "Worker 'once' stopped."
    assert workers(backend) == [("once", 7.0)]  # its interval: when it counts as gone
    assert not Path(worker.channel.path).exists()  # the channel closed
    assert all(not service.thread.is_alive() for service in worker._service_list)
    # each service by its name, in what it says when it fails and in its thread's name
    assert [service.thread.name for service in worker._service_list] == [
        "flowplan-heartbeat", "flowplan-crash detection", "flowplan-scheduler",
        "flowplan-late runs", "flowplan-claims", "flowplan-cancellations"]  # fmt: skip


def test_a_worker_marks_only_its_own_queues_polled_and_holds_the_schedulers_lease(
    tmp_path: Path, home: Path, signals_kept: None
) -> None:
    """Its queues are the ones seen polled (a deployment's status reads them); the
    scheduler's lease lasts five scheduler intervals (10 s): another worker takes over
    only after this one missed them."""
    backend = store(home)
    deployment(backend, tmp_path, queue="mine")
    deployment(backend, tmp_path, name="other", queue="other")
    not_mine = backend.create_flow_run("f/other")
    worker, _ = a_worker(home, run_once=True, queues=("mine",))
    assert run_in_main_thread(worker) == 0
    assert backend.read_flow_run(not_mine.id).state.type is StateType.SCHEDULED
    polled = {queue.name: queue.last_polled for queue in backend.read_work_queues("pool")}
    assert polled["mine"] is not None and polled["other"] is None
    [(holder, acquired, expires)] = backend.store.connection.execute(
        "SELECT holder, acquired, expires FROM leases WHERE name = 'scheduler'"
    ).fetchall()
    assert holder == "w"
    assert datetime.fromisoformat(expires) - datetime.fromisoformat(acquired) >= timedelta(
        seconds=10
    )


def a_crashed_and_a_running_run(tmp_path: Path, home: Path) -> tuple[str, str]:
    backend = store(home)
    deployment(backend, tmp_path)
    crashed, running_now = backend.create_flow_run("f/d"), backend.create_flow_run("f/d")
    for run in (crashed, running_now):
        backend.set_flow_run_state(run.id, StateType.RUNNING)
    backend.set_flow_run_state(crashed.id, StateType.CRASHED)
    return crashed.id, running_now.id


class Played:
    """An infrastructure type the test plays: it says it is ready, and asks which of the runs
    it holds crashed."""

    pool_type = "process"

    def __init__(self, holds: list[str]) -> None:
        self.holds, self.crashed_found = holds, list[list[str]]()

    def prepare(self, say: Callable[[str], None]) -> None:
        say("infrastructure ready")

    def reap(self, crashed: Callable[[list[str]], list[str]]) -> None:
        self.crashed_found.append(crashed(self.holds))

    def close(self) -> None:
        pass


def test_crash_detection_tells_the_infrastructure_which_of_its_runs_crashed(
    tmp_path: Path, home: Path
) -> None:
    crashed, running_now = a_crashed_and_a_running_run(tmp_path, home)
    played = Played([running_now, crashed])
    worker, _ = a_worker(home)
    step = crash_detection(store(home), worker.say, lambda: worker.infrastructure)
    step()  # before the worker has an infrastructure: nothing to tell
    worker.infrastructure = played  # type: ignore[assignment]
    step()
    assert played.crashed_found == [[crashed]]


def test_a_worker_run_once_claims_in_one_pass_only(
    tmp_path: Path, home: Path, signals_kept: None
) -> None:
    """A run that comes due after the worker's one look is left for the next worker."""
    backend = store(home)
    deployment(backend, tmp_path)
    first = backend.create_flow_run("f/d")
    later: list[str] = []

    class Claims(Through):
        """The services' connection: a new run is due right after the first claim."""

        def claim_flow_runs(self, *args: Any, **kwargs: Any) -> Any:
            claimed = self._backend.claim_flow_runs(*args, **kwargs)
            if not later:
                later.append(self._backend.create_flow_run("f/d").id)
            return claimed

    worker, _ = a_worker(home, lambda: Claims(home), run_once=True)
    assert run_in_main_thread(worker) == 0
    assert backend.read_flow_run(first.id).state.type is StateType.COMPLETED
    assert backend.read_flow_run(later[0]).state.type is StateType.SCHEDULED


WAITS = """
import os, time
from pathlib import Path
from flowplan import flow

@flow
def f(n: int = 1):
    print("started", flush=True)
    while not Path("go").exists() and os.path.exists("/proc/TEST_PID"):
        time.sleep(0.05)
"""


def has_started(backend: LocalBackend, run_id: str) -> bool:
    return any(line.message == "started" for line in backend.read_logs(run_id))


def claim_passes_after(worker: Worker, passes: int = 3) -> None:
    """Wait until the claim service has run `passes` more times, past its poll interval."""
    assert worker.claims is not None
    seen, since = worker.claims.passes, time.monotonic()
    until("claim passes", lambda: worker.claims is not None
             and worker.claims.passes >= seen + passes
             and time.monotonic() > since + 2 * worker.options.poll_interval)  # fmt: skip


def signalled(
    tmp_path: Path, home: Path, signum: int, then: Callable[[Worker], None]
) -> tuple[int, str, list[str]]:
    """A worker in the main thread with a run that waits, sent `signum` once the run started;
    `then(worker)` once it said it stops claiming. Its exit code, the run, what it said."""
    backend = store(home)
    deployment(backend, tmp_path, source=for_this_test(WAITS))
    run = backend.create_flow_run("f/d")
    worker, said = a_worker(home)

    def operator() -> None:
        until("the run to start", lambda: has_started(backend, run.id))
        os.kill(os.getpid(), signum)  # handled in the main thread, by the worker
        until("the worker to stop claiming", lambda: any(s.startswith("Stopping") for s in said))
        then(worker)

    helper = threading.Thread(target=operator)
    helper.start()
    try:
        return run_in_main_thread(worker), run.id, said
    finally:
        helper.join(WAIT)


def test_a_signal_stops_claiming_and_waits_for_the_running_run(
    tmp_path: Path, home: Path, signals_kept: None
) -> None:
    later: list[str] = []

    def then(worker: Worker) -> None:
        later.append(store(home).create_flow_run("f/d").id)
        claim_passes_after(worker)
        (tmp_path / "go").touch()

    code, run_id, said = signalled(tmp_path, home, signal.SIGTERM, then)
    assert code == 0
    backend = store(home)
    assert backend.read_flow_run(run_id).state.type is StateType.COMPLETED
    assert backend.read_flow_run(later[0]).state.type is StateType.SCHEDULED  # not claimed
    assert [s for s in said if s.startswith("Stopping")] == [
        "Stopping: no new runs are claimed; waiting for running runs to finish (signal again"
        " to stop them now)."
    ]
    assert said[-1] == "Worker 'w' stopped."


def test_a_second_signal_stops_the_running_runs_now(
    tmp_path: Path, home: Path, signals_kept: None
) -> None:
    def then(worker: Worker) -> None:
        os.kill(os.getpid(), signal.SIGINT)

    code, run_id, said = signalled(tmp_path, home, signal.SIGINT, then)
    assert code == 130
    state = store(home).read_flow_run(run_id).state
    assert state.type is StateType.CRASHED
    assert (state.message or "").startswith("Worker 'w' was stopped while the run was in progress")
    assert len([s for s in said if s.startswith("Stopping")]) == 1
    assert not (tmp_path / "go").exists()


def test_a_worker_with_a_limit_runs_that_many_at_a_time(tmp_path: Path, home: Path) -> None:
    backend = store(home)
    deployment(backend, tmp_path, source=for_this_test(WAITS))
    deployment(backend, tmp_path, name="quick")
    quick = backend.create_flow_run("f/quick")
    with running(home, limit=1) as (worker, said):
        # a run that came and went gives its slot back, once
        until("the first run to end", lambda: f"Flow run {quick.name!r} finished: Completed."
                 in said and not worker._busy())  # fmt: skip
        first, second = backend.create_flow_run("f/d"), backend.create_flow_run("f/d")
        one = until("one run to start", lambda: [r for r in (first, second)
                                                    if has_started(backend, r.id)])  # fmt: skip
        try:
            claim_passes_after(worker)
            assert len(one) == 1
            other = second if one[0].id == first.id else first
            assert backend.read_flow_run(other.id).state.type is StateType.SCHEDULED
        finally:
            (tmp_path / "go").touch()  # the worker waits for its runs
        until("both runs to complete", lambda: all(
            backend.read_flow_run(r.id).state.type is StateType.COMPLETED for r in (first, second)))  # fmt: skip


def test_the_run_of_a_worker_that_is_gone_is_crashed_and_said(tmp_path: Path, home: Path) -> None:
    backend = store(home)
    deployment(backend, tmp_path)
    deployment(backend, tmp_path, name="elsewhere", pool="other")  # not this worker's pool
    run = backend.create_flow_run("f/elsewhere")
    [orphan] = backend.claim_flow_runs("other", "ghost", limit=1)  # no heartbeat: gone
    assert orphan.id == run.id
    with running(home, heartbeat_interval=0.05) as (_, said):
        until("the run to be crashed", lambda: backend.read_flow_run(run.id).state.type
                 is StateType.CRASHED)  # fmt: skip
        message = backend.read_flow_run(run.id).state.message
        until("the worker to say so", lambda: f"Flow run {run.name!r} ({run.id}) crashed:"
                 f" {message}" in said)  # fmt: skip


def test_a_stored_schedule_that_cannot_be_read_is_said_once(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each such schedule once (two here), however many passes the scheduler makes."""
    monkeypatch.setattr(worker_module, "SCHEDULER_SECONDS", 0.05)
    backend = store(home)
    bad = [
        deployment(backend, tmp_path, name=name, schedules=(CronSchedule("0 * * * *"),))
        for name in ("bad", "worse")
    ]
    for one, zone in zip(bad, ("Mars/Olympus", "Venus/Maxwell"), strict=True):
        backend.store.connection.execute(
            "UPDATE deployment_schedules SET schedule = ? WHERE deployment_id = ?",
            (json.dumps({"cron": "0 * * * *", "timezone": zone}), one.id),
        )  # written straight into the store, past every check
    with running(home) as (worker, said):
        until("the scheduler's service", lambda: worker._service_list)
        [scheduling] = [s for s in worker._service_list if s.name == "scheduler"]
        until("three scheduler passes", lambda: scheduling.passes >= 3)
    skipped = sorted(line for line in said if line.startswith("Schedule "))
    expected = sorted(
        f"Schedule {one.schedules[0].id} of deployment {one.id} skipped:" for one in bad
    )
    assert len(skipped) == 2
    for line, start in zip(skipped, expected, strict=True):
        assert line.startswith(start)
    assert sorted(line.rsplit(" ", 1)[-1] for line in skipped) == [
        "'Mars/Olympus'", "'Venus/Maxwell'"]  # fmt: skip


def test_runs_late_past_their_time_are_marked_late(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run already late when the worker starts, and one late after its first look."""
    monkeypatch.setattr(worker_module, "SCHEDULER_SECONDS", 0.05)
    backend = store(home)
    deployment(backend, tmp_path)
    deployment(backend, tmp_path, name="elsewhere", pool="other")  # nobody claims it
    five_minutes_ago = utcnow() - timedelta(minutes=5)
    run = backend.create_flow_run("f/elsewhere", scheduled_time=five_minutes_ago)
    with running(home) as (worker, _):
        until("the run to be late", lambda: backend.read_flow_run(run.id).state.name == "Late")
        until("the late runs' service", lambda: worker._service_list)
        [late_runs] = [s for s in worker._service_list if s.name == "late runs"]
        until("the service's first pass", lambda: late_runs.passes)
        later = backend.create_flow_run("f/elsewhere", scheduled_time=five_minutes_ago)
        until("the later run to be late",
              lambda: backend.read_flow_run(later.id).state.name == "Late")  # fmt: skip
    assert backend.read_flow_run(run.id).state.type is StateType.SCHEDULED


class Faulty(Through):
    """A store connection whose heartbeats meet a store fault once `failing` is set."""

    def __init__(self, home: Path, failing: threading.Event) -> None:
        super().__init__(home)
        self._failing = failing

    def worker_heartbeat(self, *args: Any, **kwargs: Any) -> None:
        if self._failing.is_set():
            raise StoreFault("the disk is full")
        self._backend.worker_heartbeat(*args, **kwargs)


class SupervisorsCannotWrite(Through):
    """The worker's own connection, on which a run's supervisor (on its `flowplan-run` thread)
    meets the store fault when it writes the run's final state, while the worker does not;
    `meanwhile(worker)` is called before that write fails (the worker is stopping then)."""

    def __init__(self, home: Path, meanwhile: Callable[[Worker], None] | None = None) -> None:
        super().__init__(home)
        self.refused: list[StateType] = []
        self.meanwhile = meanwhile
        self.worker: Worker | None = None

    def set_flow_run_state(self, run_id: str, state: StateType, **kwargs: Any) -> Any:
        if threading.current_thread().name.startswith("flowplan-run"):
            self.refused.append(state)
            if self.meanwhile is not None and self.worker is not None:
                self.meanwhile(self.worker)
            raise StoreFault("the disk is full")
        return self._backend.set_flow_run_state(run_id, state, **kwargs)


def stopped_by_a_store_fault(
    tmp_path: Path, home: Path, own: Any, patience: float = 3600.0
) -> tuple[Worker, str, Any]:
    """A worker (its own connection `own`) running a run that waits, until its heartbeats
    meet a store fault: the worker, the run, and its fork server. The worker waits
    `patience` seconds for its runs to end (an hour: it stops as soon as they did)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(worker_module, "STORE_FAULT_WAIT", patience)
        backend = store(home)
        deployment(backend, tmp_path, source=for_this_test(WAITS))
        run = backend.create_flow_run("f/d")
        failing = threading.Event()
        said: list[str] = []
        options = WorkerOptions(pool="pool", name="w", poll_interval=0.05, heartbeat_interval=0.05)
        worker = Worker(own, options, said.append, connect=lambda: Faulty(home, failing))  # type: ignore[arg-type,return-value]
        if isinstance(own, SupervisorsCannotWrite):
            own.worker = worker
        raised: list[BaseException] = []

        def work() -> None:
            try:
                worker.run()
            except StoreFault as fault:
                raised.append(fault)

        thread = threading.Thread(target=work)
        thread.start()
        until("the run to start", lambda: has_started(backend, run.id))
        server = worker.infrastructure._server  # type: ignore[union-attr]
        assert server is not None and server.process.poll() is None
        failing.set()
        thread.join(timeout=WAIT)
        assert not thread.is_alive(), "the worker did not stop"
        assert [str(fault) for fault in raised] == ["the disk is full"]
        assert "Stopping: the store failed: the disk is full" in said
    return worker, run.id, server


def test_a_store_fault_stops_the_worker_and_its_runs(tmp_path: Path, home: Path) -> None:
    worker, run_id, server = stopped_by_a_store_fault(tmp_path, home, store(home))
    state = store(home).read_flow_run(run_id).state
    assert state.type is StateType.CRASHED  # nothing left running
    # its supervisor marked it when it ended (the worker waited for that), with its output
    assert (state.message or "").startswith("Worker 'w' was stopped while the run was in progress")
    assert server.process.poll() is not None  # the fork server stopped too
    assert all(not service.thread.is_alive() for service in worker._service_list)
    assert not Path(worker.channel.path).exists()


def test_a_run_its_supervisor_could_not_mark_is_crashed_by_the_stopping_worker(
    tmp_path: Path, home: Path
) -> None:
    own = SupervisorsCannotWrite(home)
    _, run_id, _ = stopped_by_a_store_fault(tmp_path, home, own)
    assert own.refused == [StateType.CRASHED]  # the supervisor tried first
    state = store(home).read_flow_run(run_id).state
    assert state.type is StateType.CRASHED
    assert state.message == "The worker stopped: the store failed: the disk is full"


def test_a_worker_stopping_for_its_store_waits_for_its_runs_supervisors(
    tmp_path: Path, home: Path
) -> None:
    """Each supervisor ends its run first (here it takes a second): the worker returns
    after, with none left."""
    own = SupervisorsCannotWrite(home, lambda worker: time.sleep(1.0))
    worker, run_id, _ = stopped_by_a_store_fault(tmp_path, home, own)
    assert worker.supervisors == {}
    assert own.refused == [StateType.CRASHED]
    assert store(home).read_flow_run(run_id).state.type is StateType.CRASHED


def test_a_worker_stopping_for_its_store_waits_for_its_runs_no_longer_than_its_patience(
    tmp_path: Path, home: Path
) -> None:
    """A supervisor that never ends (its write hangs) does not hold the stopping worker: it
    crashes the run itself after STORE_FAULT_WAIT."""
    hung = threading.Event()
    own = SupervisorsCannotWrite(home, lambda worker: hung.wait(WAIT + STOP))
    try:
        worker, run_id, _ = stopped_by_a_store_fault(tmp_path, home, own, patience=0.3)
        assert list(worker.supervisors) == [run_id]  # still hung
        # crashed by the worker (or, its heartbeats failing 20 times a second here, already
        # by its own crash detection)
        assert store(home).read_flow_run(run_id).state.type is StateType.CRASHED
    finally:
        hung.set()


def test_each_service_of_a_worker_has_its_step_interval_and_rest(
    tmp_path: Path, home: Path
) -> None:
    backend = store(home)
    deployment(backend, tmp_path)
    leases: list[tuple[str, str, float]] = []

    class Leasing(Through):
        def acquire_lease(self, name: str, holder: str, seconds: float) -> Any:
            leases.append((name, holder, seconds))
            return self._backend.acquire_lease(name, holder, seconds)

    worker, _ = a_worker(home, lambda: Leasing(home), heartbeat_interval=7.0)
    worker.infrastructure = infrastructure("process")
    watch = Told()
    worker._watch = watch  # type: ignore[assignment]
    services = {service.name: service for service in worker._services(store(home))}
    assert {name: service.interval for name, service in services.items()} == {
        "heartbeat": 7.0, "crash detection": 7.0, "scheduler": 2.0, "late runs": 2.0,
        "claims": 0.01, "cancellations": 0.05,
    }  # fmt: skip
    worker._watch = None  # with no watch, the claims look at the store every tick
    assert {s.name: s.interval for s in worker._services(store(home))}["claims"] == 0.05
    worker._watch = watch  # type: ignore[assignment]
    # the claims wait for the worker's watch of the store
    services["claims"].step()
    services["claims"].step()
    assert len(watch.asked) == 1
    # only the cancellations rest, while the worker has no run of its own
    assert [name for name, service in services.items() if service.rests] == ["cancellations"]
    cancellations = services["cancellations"].rests
    assert cancellations is not None and cancellations() is True
    worker.supervisors["r1"] = SimpleNamespace(run=SimpleNamespace(id="r1"))  # type: ignore[assignment]
    assert cancellations() is False
    # crash detection tells the infrastructure the worker has at each pass
    told: list[object] = []
    worker.infrastructure = SimpleNamespace(reap=told.append)  # type: ignore[assignment]
    services["crash detection"].step()
    assert len(told) == 1
    # the scheduler's lease lasts five of its passes
    services["scheduler"].step()
    assert leases == [(scheduler.LEASE, "w", 10.0)]


def test_a_worker_stopping_for_its_store_claims_nothing_more(tmp_path: Path, home: Path) -> None:
    later: list[str] = []

    def meanwhile(worker: Worker) -> None:  # the worker waits for its run's supervisor
        later.append(store(home).create_flow_run("f/d").id)
        claim_passes_after(worker)

    stopped_by_a_store_fault(tmp_path, home, SupervisorsCannotWrite(home, meanwhile))
    assert len(later) == 1
    assert store(home).read_flow_run(later[0]).state.type is StateType.SCHEDULED


def test_durations_are_said_in_their_largest_whole_unit() -> None:
    assert [duration(timedelta(**{unit: n})) for unit, n in (
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
    found = crashed_among(backend)([done.id, "not-this-stores", crashed.id])
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
    monkeypatch.setattr(housekeeping, "RETENTION_CHUNK", 2)
    backend = store(home)
    deployment(backend, tmp_path)
    finished(backend, 5, ago=timedelta(hours=3))
    with running(home, retention=timedelta(hours=1, minutes=30)) as (_, said):
        until("the retention's pass", lambda: any(line.startswith("Deleted") for line in said))
    assert backend.read_flow_runs(deployment="f/d") == []
    assert [line for line in said if line.startswith("Deleted")] == [
        "Deleted 5 finished flow run(s) older than the retention (90m) with their logs."]  # fmt: skip


LEAVES_A_CHILD = """
import signal, subprocess, sys
from flowplan import flow

CHILD = '''
import os, time
from pathlib import Path
print("child holds the output", flush=True)
while not Path("go").exists() and os.path.exists("/proc/TEST_PID"):
    time.sleep(0.05)
'''

@flow
def f(n: int = 1):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the child is born deaf to SIGTERM
    subprocess.Popen([sys.executable, "-c", CHILD])  # holds the run's output: no wait
    print("started", flush=True)
"""


def test_a_run_whose_process_ended_frees_its_slot_while_a_child_holds_its_output(
    tmp_path: Path, home: Path
) -> None:
    """With a limit of one, the next run starts as soon as the first run's own process ended,
    though a child it left (deaf to SIGTERM) still holds the run's output open."""
    backend = store(home)
    deployment(backend, tmp_path, name="leaves", source=for_this_test(LEAVES_A_CHILD))
    deployment(backend, tmp_path, name="next")
    first = backend.create_flow_run("f/leaves")
    with running(home, limit=1, grace_seconds=WAIT * 3) as (worker, said):
        try:
            until("the first run to complete", lambda: backend.read_flow_run(first.id).state.type
                  is StateType.COMPLETED)  # fmt: skip
            after = backend.create_flow_run("f/next")
            until("the next run to complete", lambda: backend.read_flow_run(after.id).state.type
                  is StateType.COMPLETED)  # fmt: skip
            assert first.id in worker.supervisors  # its output still held: still supervised
        finally:
            (tmp_path / "go").touch()
        until("the first run's supervisor to end", lambda: not worker._busy())
    assert f"Flow run {first.name!r} finished: Completed." in said


def test_a_stopping_worker_deletes_no_more_than_the_chunk_under_way(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker is told to stop while its retention deletes its first chunk: the rest is
    left for the next worker (it never waits for them all)."""
    monkeypatch.setattr(housekeeping, "RETENTION_CHUNK", 2)
    backend = store(home)
    deployment(backend, tmp_path)
    finished(backend, 5, ago=timedelta(hours=3))
    chunks: list[int | None] = []
    workers: list[Worker] = []

    class StopsTheWorker(Through):
        """The retention's connection: its first delete waits until the worker stops."""

        def delete_finished_runs(self, *, limit: int | None = None, **kwargs: Any) -> int:
            chunks.append(limit)
            if len(chunks) == 1:
                until("the test to know its worker", lambda: workers)
                workers[0].stop()
                until("the worker to stop its services", workers[0]._stop.is_set)
            return int(self._backend.delete_finished_runs(limit=limit, **kwargs))

    connect, hour = (lambda: StopsTheWorker(home)), timedelta(hours=1)
    with running(home, connect, retention=hour) as (worker, said):
        workers.append(worker)
        until("the first chunk", lambda: chunks)
    assert chunks == [2]
    assert len(backend.read_flow_runs(deployment="f/d")) == 3
    assert [line for line in said if line.startswith("Deleted")] == [
        "Deleted 2 finished flow run(s) older than the retention (1h) with their logs."]  # fmt: skip


class Unchanging(Through):
    """A store connection whose change marker never moves: only the poll interval claims."""

    def change_marker(self) -> int:
        return 0


class Unwatched(Through):
    """A store connection with no way to wait for changes (as on a system without inotify):
    the claims look at the change marker every tick."""

    def watch_changes(self) -> None:
        return None


@pytest.mark.parametrize(
    ("connect", "poll_interval"),
    [(None, 3600.0), (Unwatched, 3600.0), (Unchanging, 0.05)],
    ids=["the store changed", "the store changed, seen without a watch",
         "the poll interval passed"],
)  # fmt: skip
def test_a_run_due_after_the_first_claim_is_claimed_when(
    tmp_path: Path, home: Path, connect: Any, poll_interval: float
) -> None:
    backend = store(home)
    deployment(backend, tmp_path)
    connection = None if connect is None else (lambda: connect(home))
    with running(home, connection, poll_interval=poll_interval) as (worker, _):
        until("the first claim", lambda: worker.claims is not None and worker.claims.passes)
        run = backend.create_flow_run("f/d")
        until("the run to complete", lambda: backend.read_flow_run(run.id).state.type
              is StateType.COMPLETED)  # fmt: skip


def test_a_worker_for_some_deployments_claims_only_their_runs_in_its_own_name(
    tmp_path: Path, home: Path, signals_kept: None
) -> None:
    """As `flowplan serve` runs one; the store knows which worker holds a run (its crash
    detection goes by that worker's heartbeats)."""
    backend = store(home)
    mine = deployment(backend, tmp_path)
    deployment(backend, tmp_path, name="other")
    run, other = backend.create_flow_run("f/d"), backend.create_flow_run("f/other")
    worker, _ = a_worker(home, run_once=True, deployments=(mine.id,))
    assert run_in_main_thread(worker) == 0
    assert backend.read_flow_run(run.id).state.type is StateType.COMPLETED
    assert backend.read_flow_run(other.id).state.type is StateType.SCHEDULED
    [(holder,)] = backend.store.connection.execute(
        "SELECT worker_name FROM flow_runs WHERE id = ?", (run.id,)
    ).fetchall()
    assert holder == "w"


def test_a_run_whose_pool_the_claim_could_not_read_is_started_all_the_same(
    tmp_path: Path, home: Path
) -> None:
    """The claim reads the pool once for the runs it claimed; when that read fails, each
    run's supervisor reads it again (by the worker's pool name) and the run starts."""
    backend = store(home)
    deployment(backend, tmp_path)

    class PoolUnreadable(Through):
        def read_work_pool(self, name: str) -> Any:
            raise RuntimeError("the pool cannot be read just now")

    with running(home, lambda: PoolUnreadable(home)):
        run = backend.create_flow_run("f/d")
        until("the run to complete", lambda: backend.read_flow_run(run.id).state.type
              is StateType.COMPLETED)  # fmt: skip


DEAF = """
import os, signal, time
from flowplan import flow

@flow
def f(n: int = 1):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print("started", flush=True)
    while os.path.exists("/proc/TEST_PID"):  # until killed (or this test process is gone)
        time.sleep(0.05)
"""


def test_a_cancelled_run_deaf_to_sigterm_is_killed_after_the_grace_period(
    tmp_path: Path, home: Path
) -> None:
    backend = store(home)
    deployment(backend, tmp_path, source=for_this_test(DEAF))
    run = backend.create_flow_run("f/d")
    with running(home, grace_seconds=0.5):
        until("the run to start", lambda: has_started(backend, run.id))
        backend.cancel_flow_run(run.id)
        until("the run to be cancelled",
              lambda: backend.read_flow_run(run.id).state.type is StateType.CANCELLED)  # fmt: skip


def test_a_store_fault_before_the_services_started_stops_the_worker_the_same(
    tmp_path: Path, home: Path
) -> None:
    backend = store(home)
    deployment(backend, tmp_path)
    failing = threading.Event()
    failing.set()  # the first heartbeat, before any service, meets it
    said: list[str] = []
    options = WorkerOptions(pool="pool", name="w")
    worker = Worker(Faulty(home, failing), options, said.append, connect=lambda: store(home))  # type: ignore[arg-type]
    with pytest.raises(StoreFault, match="the disk is full"):
        worker.run()
    assert "Stopping: the store failed: the disk is full" in said
    assert not Path(worker.channel.path).exists()


def test_a_worker_run_once_with_nothing_due_stops(
    tmp_path: Path, home: Path, signals_kept: None
) -> None:
    deployment(store(home), tmp_path)
    worker, said = a_worker(home, run_once=True)
    assert run_in_main_thread(worker) == 0
    assert said[-1] == "Worker 'w' stopped."


class Told:
    """A change watch that records the timeouts it is asked to wait and says "changed"."""

    def __init__(self) -> None:
        self.asked: list[float] = []
        self.woken = 0

    def wait(self, timeout: float) -> bool:
        self.asked.append(timeout)
        return True

    def wake(self) -> None:
        self.woken += 1


def test_with_a_watch_the_claims_wait_for_a_change_at_most_till_the_next_poll(
    tmp_path: Path, home: Path
) -> None:
    backend = store(home)
    deployment(backend, tmp_path)
    worker, _ = a_worker(home, poll_interval=600.0)
    worker.infrastructure = infrastructure("process")
    watch = Told()
    step = worker._claimer(store(home), watch)  # type: ignore[arg-type]
    step()
    assert watch.asked == []  # the first look waits for nothing
    step()
    assert len(watch.asked) == 1 and 599.0 < watch.asked[0] <= 600.0
    worker.stop()
    step()  # a stopping worker still waits (to claim nothing): its stop wakes the watch
    assert len(watch.asked) == 2
    due, _ = a_worker(home, poll_interval=0.0)
    due.infrastructure = worker.infrastructure
    step = due._claimer(store(home), watch)  # type: ignore[arg-type]
    step()
    step()  # the poll is due already: no wait
    assert watch.asked[2:] == [0.0]


def test_a_run_whose_process_exits_frees_its_slot_for_the_next_run_at_once(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--limit 1`, two runs: the second is claimed once the first's process exited, with no
    poll to fall back on (an hour here), and no tick either: the claims look again after
    `CLAIM_SPACING`, not the tick (an hour here too)."""
    monkeypatch.setattr(worker_module, "TICK", 3600.0)
    backend = store(home)
    deployment(backend, tmp_path)
    first, second = backend.create_flow_run("f/d"), backend.create_flow_run("f/d")
    with running(home, limit=1, poll_interval=3600.0, heartbeat_interval=3600.0):
        for run in (first, second):
            until("the run to complete", lambda run=run: backend.read_flow_run(run.id).state.type
                  is StateType.COMPLETED)  # fmt: skip


def test_a_run_whose_process_exited_wakes_the_claims_waiting_for_a_change(home: Path) -> None:
    """Its slot is free: the claims look at once (the run's last write may have come while
    the slot was still taken)."""
    worker, _ = a_worker(home, limit=1)
    watch = Told()
    worker._watch = watch  # type: ignore[assignment]
    run = SimpleNamespace(run=SimpleNamespace(id="r1"))
    worker.supervisors["r1"] = run  # type: ignore[assignment]
    assert worker._free_slots(worker._running()) == 0
    worker._run_exited(run)  # type: ignore[arg-type]
    assert watch.woken == 1 and worker._free_slots(worker._running()) == 1


def test_a_change_seen_while_every_slot_is_taken_is_claimed_once_one_frees(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # no tick to wait for: only the full slots keep the claims from looking
    monkeypatch.setattr(worker_module, "TICK", 0.0)
    backend = store(home)
    deployment(backend, tmp_path)
    asked: list[int] = []
    looks: list[int] = []

    class Claims(Through):
        def change_marker(self) -> int:
            looks.append(marker := self._backend.change_marker())
            return marker

        def claim_flow_runs(self, *args: Any, **kwargs: Any) -> Any:
            asked.append(kwargs["limit"])
            return []

    worker, _ = a_worker(home, limit=1, poll_interval=600.0)
    worker.infrastructure = infrastructure("process")
    step = worker._claimer(Claims(home), Told())  # type: ignore[arg-type]
    step()
    assert asked == [1]  # the first look
    worker.supervisors["busy"] = SimpleNamespace(run=SimpleNamespace(id="busy"))  # type: ignore[assignment]
    backend.create_flow_run("f/d")  # a change, with no slot free
    step()
    assert asked == [1] and len(looks) == 1  # not even a look at the store: nothing to claim
    del worker.supervisors["busy"]
    step()  # nothing changed since, and the poll is ten minutes away: the kept change claims
    assert asked == [1, 1]


def test_slots_freed_while_runs_go_on_are_claimed_together_once_a_tick(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With none of its runs going, a worker claims at once; with one going, at most once a
    tick (the slots freed in it are claimed together: a claim a run costs more CPU)."""
    monkeypatch.setattr(worker_module, "TICK", 0.5)
    backend = store(home)
    deployment(backend, tmp_path)
    asked: list[int] = []

    class Claims(Through):
        def claim_flow_runs(self, *args: Any, **kwargs: Any) -> Any:
            asked.append(kwargs["limit"])
            return []

    worker, _ = a_worker(home, limit=3, poll_interval=600.0)
    worker.infrastructure = infrastructure("process")
    watch = Told()
    step = worker._claimer(Claims(home), watch)  # type: ignore[arg-type]
    step()
    backend.create_flow_run("f/d")
    step()
    assert asked == [3, 3]  # nothing going: the change is claimed at once
    assert watch.asked[-1] > 500  # and the next wait is for a change, or the poll
    worker.supervisors["going"] = SimpleNamespace(run=SimpleNamespace(id="going"))  # type: ignore[assignment]
    backend.create_flow_run("f/d")
    step()
    assert asked == [3, 3]  # a run is going: not before the tick ends
    assert 0 < watch.asked[-1] <= 0.5  # the wait ended at the tick's end at the latest
    time.sleep(0.5)
    step()
    assert asked == [3, 3, 2]


def test_a_worker_prepares_its_infrastructure_and_reaps_what_dead_workers_left_first(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    crashed, running_now = a_crashed_and_a_running_run(tmp_path, home)
    played = Played([running_now, crashed])
    monkeypatch.setattr(worker_module, "infrastructure", lambda kind: played)
    worker, said = a_worker(home, run_once=True, heartbeat_interval=3600.0)
    assert run_in_main_thread(worker) == 0
    assert said[0] == "infrastructure ready"
    assert played.crashed_found[0] == [crashed]  # before the first claim


def test_a_worker_without_connect_gives_its_services_its_own_connection(home: Path) -> None:
    backend = store(home)
    worker = Worker(backend, WorkerOptions(pool="pool"))
    assert worker.connect() is backend


def test_an_idle_worker_looks_at_the_store_only_when_it_changes(tmp_path: Path, home: Path) -> None:
    """Its claims wait for the store's watch (here nothing writes but the scheduler, every 2
    s), not a look every tick (20 a second)."""
    deployment(store(home), tmp_path)
    with running(home, poll_interval=600.0, heartbeat_interval=3600.0) as (worker, _):
        until("the first claim", lambda: worker.claims is not None and worker.claims.passes)
        assert worker.claims is not None
        before = worker.claims.passes
        time.sleep(1.0)
        assert worker.claims.passes - before <= 5


def test_runs_claimed_together_are_supervised_with_their_pool_and_deployment_read_once(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = store(home)
    first = deployment(backend, tmp_path)

    class Claims(Counting):
        def claim_flow_runs(self, *args: Any, **kwargs: Any) -> Any:
            return backend.claim_flow_runs(*args, **kwargs)

    made: list[tuple[str, Any]] = []

    class Supervised:
        """A run's supervisor that records what it was given and supervises nothing."""

        def __init__(self, run: Any, *args: Any) -> None:
            self.run = run
            made.append((run.id, args[-1]))

        def supervise(self) -> None:
            pass

    monkeypatch.setattr(worker_module, "Supervisor", Supervised)
    worker, _ = a_worker(home)
    worker.infrastructure = infrastructure("process")
    worker.channel = SimpleNamespace()  # type: ignore[assignment]
    claims = Claims(backend, {})
    worker._claim(claims, 10)  # type: ignore[arg-type]
    assert claims.reads == []  # no run: nothing read
    runs = {backend.create_flow_run("f/d").id for _ in range(3)}
    worker._claim(claims, 10)  # type: ignore[arg-type]
    until("the supervisors to end", lambda: not worker._busy())
    assert claims.reads == [("pool", "pool"), ("deployment", first.id)]
    assert {run_id for run_id, _ in made} == runs
    for _, found in made:
        assert (found[0].name, found[1].id) == ("pool", first.id)


def test_without_a_limit_a_claim_takes_up_to_a_hundred_runs(home: Path) -> None:
    worker, _ = a_worker(home)
    assert worker._free_slots(0) == 100
    limited, _ = a_worker(home, limit=3)
    assert limited._free_slots(0) == 3 and limited._free_slots(2) == 1


def test_the_cancellations_read_the_cancelling_runs_once_a_change(
    tmp_path: Path, home: Path
) -> None:
    backend = store(home)
    deployment(backend, tmp_path)
    run = backend.create_flow_run("f/d")
    reads: list[object] = []

    class Reading(Through):
        def read_flow_runs(self, **kwargs: Any) -> Any:
            reads.append(kwargs["states"])
            return self._backend.read_flow_runs(**kwargs)

    cancelled: list[str] = []
    worker, _ = a_worker(home)
    supervisor = SimpleNamespace(run=run, cancelled=False, cancel=lambda: cancelled.append(run.id))
    worker.supervisors[run.id] = supervisor  # type: ignore[assignment]
    step = worker._canceller(Reading(home))
    step()
    step()  # the store has not changed: no read
    assert reads == [[StateType.CANCELLING]]
    assert cancelled == []
    backend.set_flow_run_state(run.id, StateType.CANCELLING)
    step()
    assert len(reads) == 2 and cancelled == [run.id]
