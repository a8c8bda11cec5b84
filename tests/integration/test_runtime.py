"""The runtime with real worker processes: runs happen once, in order and within limits,
failures and kills end in a clear state, and nothing is left RUNNING forever."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from flowplan.backends.local import LocalBackend
from flowplan.domain.objects import FlowRun, StateType
from flowplan.domain.schedules import IntervalSchedule
from tests.integration.workers import Workers, engines_of, wait_for
from tests.runtime.helpers import deployment, store

SLEEPY = """
import time
from flowplan import flow

@flow
def f(seconds: float = 60):
    print("started", flush=True)
    time.sleep(seconds)
"""


def final(backend: LocalBackend, run: FlowRun, timeout: float = 60) -> FlowRun:
    def check() -> FlowRun | None:
        current = backend.read_flow_run(run.id)
        return current if current.state.type.is_final else None

    return wait_for(f"run {run.name} to finish", check, timeout)


def state_names(backend: LocalBackend, run_id: str) -> list[str]:
    return [row[0] for row in backend.store.connection.execute(
        "SELECT name FROM flow_run_states WHERE flow_run_id = ? ORDER BY rowid", (run_id,))]  # fmt: skip


def run_processes(home: Path) -> list[int]:
    """Engine processes running a flow (not the fork server, which names itself so)."""
    return [pid for pid in engines_of(home)
            if Path(f"/proc/{pid}/comm").read_text().strip() != "flowplan-forks"]  # fmt: skip


def test_a_worker_runs_what_is_triggered(tmp_path: Path, workers: Workers) -> None:
    backend = store(workers.home)
    deployment(backend, tmp_path)
    worker = workers.start()
    runs = [backend.create_flow_run("f/d", parameters={"n": i}) for i in range(5)]
    for i, run in enumerate(runs):
        done = final(backend, run)
        assert done.state.type is StateType.COMPLETED
        assert f"n={i}" in [line.message for line in backend.read_logs(run.id)]
        assert state_names(backend, run.id) == ["Scheduled", "Pending", "Running", "Completed"]
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    assert "stopped." in workers.output(worker)
    assert engines_of(workers.home) == []  # the fork server went with the worker


WAITS_FOR_ITS_LOG = """
import os, time
from flowplan import flow

@flow
def f(marker: str):
    print("an early line", flush=True)
    while not os.path.exists(marker):  # the test creates it once the line is in the store
        time.sleep(0.02)
    print(f"threads={len(os.listdir('/proc/self/task'))}")
"""


def test_a_forked_runs_logs_reach_the_store_while_it_runs(tmp_path: Path, workers: Workers) -> None:
    # a forked run starts its channel's thread (the log flushes) only when its fork server
    # wakes it, a flush interval after the fork: it must come, or the line would wait for
    # the run's end, which waits for the line
    backend = store(workers.home)
    deployment(backend, tmp_path, source=WAITS_FOR_ITS_LOG)
    workers.start()
    marker = tmp_path / "marker"
    run = backend.create_flow_run("f/d", parameters={"marker": str(marker)})
    wait_for("the early line in the store", lambda: "an early line" in [
        line.message for line in backend.read_logs(run.id)])  # fmt: skip
    assert backend.read_flow_run(run.id).state.type is StateType.RUNNING
    marker.touch()
    assert final(backend, run).state.type is StateType.COMPLETED
    messages = [line.message for line in backend.read_logs(run.id)]
    assert "threads=2" in messages  # the run's own and the channel's


def test_four_workers_run_each_run_exactly_once(tmp_path: Path, workers: Workers) -> None:
    backend = store(workers.home)
    deployment(backend, tmp_path)
    for _ in range(4):
        workers.start("--limit", "4")
    runs = [backend.create_flow_run("f/d") for _ in range(120)]
    for run in runs:
        assert final(backend, run).state.type is StateType.COMPLETED
    for run in runs:
        assert state_names(backend, run.id).count("Running") == 1
        messages = [line.message for line in backend.read_logs(run.id)]
        assert sum("Running flow run" in m for m in messages) == 1
    by_worker = {row[0] for row in backend.store.connection.execute(
        "SELECT DISTINCT worker_name FROM flow_runs")}  # fmt: skip
    assert len(by_worker) >= 2  # the work was shared


def test_limits_hold_while_runs_overlap(tmp_path: Path, workers: Workers) -> None:
    backend = store(workers.home)
    deployment(backend, tmp_path, source=SLEEPY, name="a", concurrency_limit=1)
    deployment(backend, tmp_path, source=SLEEPY, name="b")
    workers.start("--limit", "2")
    # runs long enough that runs started together surely overlap, even on a loaded machine
    runs = [backend.create_flow_run(name, parameters={"seconds": 2})
            for name in ("f/a", "f/a", "f/b", "f/b")]  # fmt: skip
    done = [final(backend, run) for run in runs]
    assert all(run.state.type is StateType.COMPLETED for run in done)

    def overlapping(group: list[FlowRun]) -> int:
        events = sorted([(r.start_time, 1) for r in group] + [(r.end_time, -1) for r in group])
        most = current = 0
        for _, step in events:
            current += step
            most = max(most, current)
        return most

    assert overlapping(done) == 2  # the worker's --limit
    assert overlapping(done[:2]) == 1  # deployment a's concurrency limit


def test_kill_9_of_a_worker_and_its_run_is_found_by_another_worker(
    tmp_path: Path, workers: Workers
) -> None:
    backend = store(workers.home)
    deployment(backend, tmp_path, source=SLEEPY)
    doomed = workers.start("--heartbeat-interval", "0.5")
    run = backend.create_flow_run("f/d")
    wait_for("the run to start", lambda: backend.read_flow_run(run.id).state.type
             is StateType.RUNNING)  # fmt: skip
    os.killpg(doomed.pid, signal.SIGKILL)
    for pid in engines_of(workers.home):
        os.kill(pid, signal.SIGKILL)  # the run's process dies too, as in a machine crash
    doomed.wait()
    survivor = workers.start("--heartbeat-interval", "0.5")
    crashed = final(backend, run, timeout=30)
    assert crashed.state.type is StateType.CRASHED
    assert "stopped sending heartbeats" in (crashed.state.message or "")
    assert "crashed" in wait_for("the survivor to say so", lambda: workers.output(survivor))
    later = backend.create_flow_run("f/d", parameters={"seconds": 0})
    assert final(backend, later).state.type is StateType.COMPLETED


@pytest.mark.parametrize(
    ("body", "state", "message"),
    [
        ("import os; os.abort()", StateType.CRASHED, "Process was killed by signal SIGABRT"),
        ("import os; os._exit(7)", StateType.CRASHED,
         "Process exited with status code 7 before reporting a final state"),
        ("raise RuntimeError('boom')", StateType.FAILED,
         "Flow run encountered an exception: RuntimeError: boom"),
    ],
)  # fmt: skip
def test_a_flow_that_dies_or_raises(
    tmp_path: Path, workers: Workers, body: str, state: StateType, message: str
) -> None:
    backend = store(workers.home)
    source = (
        f"from flowplan import flow\n@flow\ndef f():\n    print('before', flush=True)\n    {body}\n"
    )
    deployment(backend, tmp_path, source=source)
    workers.start()
    done = final(backend, backend.create_flow_run("f/d"))
    assert done.state.type is state
    assert (done.state.message or "").startswith(message)


def test_credentials_in_urls_are_masked_in_the_output_a_crash_stores(
    tmp_path: Path, workers: Workers
) -> None:
    backend = store(workers.home)
    body = "os.system('echo cloning https://ci:tok-raw-fd@git.example/x.git'); os._exit(7)"
    source = f"import os\nfrom flowplan import flow\n@flow\ndef f():\n    {body}\n"
    deployment(backend, tmp_path, source=source)
    worker = workers.start()
    done = final(backend, backend.create_flow_run("f/d"))
    assert done.state.type is StateType.CRASHED
    assert "cloning https://********@git.example/x.git" in (done.state.message or "")
    assert "tok-raw-fd" not in (done.state.message or "") + workers.output(worker)


def test_cancelling_a_running_run_stops_its_process(tmp_path: Path, workers: Workers) -> None:
    backend = store(workers.home)
    deployment(backend, tmp_path, source=SLEEPY)
    workers.start()
    run = backend.create_flow_run("f/d")
    wait_for("the run to start", lambda: backend.read_flow_run(run.id).state.type
             is StateType.RUNNING)  # fmt: skip
    cancel = subprocess.run(
        [sys.executable, "-m", "flowplan", "flow-run", "cancel", run.id],
        env=workers.env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert cancel.returncode == 0 and "is now Cancelling" in cancel.stdout
    assert final(backend, run, timeout=30).state.type is StateType.CANCELLED
    wait_for("the run's process to end", lambda: run_processes(workers.home) == [])


def test_sigterm_lets_runs_finish_and_a_second_signal_stops_them(
    tmp_path: Path, workers: Workers
) -> None:
    backend = store(workers.home)
    deployment(backend, tmp_path, source=SLEEPY)
    worker = workers.start()
    short = backend.create_flow_run("f/d", parameters={"seconds": 1})
    wait_for("it to start", lambda: backend.read_flow_run(short.id).state.type
             is StateType.RUNNING)  # fmt: skip
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=60) == 0
    assert backend.read_flow_run(short.id).state.type is StateType.COMPLETED
    worker = workers.start()
    long = backend.create_flow_run("f/d")
    wait_for("it to start", lambda: backend.read_flow_run(long.id).state.type
             is StateType.RUNNING)  # fmt: skip
    pending = backend.create_flow_run("f/d")  # claimed by nobody once the worker stops
    worker.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=60) == 130
    stopped = backend.read_flow_run(long.id)
    assert stopped.state.type is StateType.CRASHED
    assert "was stopped while the run was in progress" in (stopped.state.message or "")
    assert backend.read_flow_run(pending.id).state.type in (StateType.SCHEDULED, StateType.CRASHED)


def test_schedules_fire_through_a_worker(tmp_path: Path, workers: Workers) -> None:
    backend = store(workers.home)
    deployment(backend, tmp_path, schedules=(IntervalSchedule(1),), parameters={"n": 3})
    workers.start()

    def completed() -> list[FlowRun]:
        runs = backend.read_flow_runs(states=[StateType.COMPLETED])
        return runs if len(runs) >= 3 else []

    runs = wait_for("three scheduled runs", completed, timeout=60)
    assert all(run.auto_scheduled and "auto-scheduled" in run.tags for run in runs)
    assert len({run.expected_start_time for run in runs}) == len(runs)


def test_a_store_held_by_a_long_writer_makes_workers_wait(tmp_path: Path, workers: Workers) -> None:
    backend = store(workers.home)
    deployment(backend, tmp_path)
    worker = workers.start()
    run = backend.create_flow_run("f/d")
    final(backend, run)
    holder = sqlite3.connect(workers.home / "flowplan.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    made: list[FlowRun] = []
    client = threading.Thread(
        target=lambda: made.append(store(workers.home).create_flow_run("f/d"))
    )
    client.start()  # it waits for the writer, as the worker's heartbeats and claims do
    time.sleep(3)
    holder.execute("ROLLBACK")
    holder.close()
    client.join(timeout=60)
    assert final(backend, made[0]).state.type is StateType.COMPLETED
    assert worker.poll() is None
    assert "Internal error" not in workers.output(worker)


def test_a_secret_printed_in_pieces_is_masked_in_what_a_crash_stores(
    tmp_path: Path, workers: Workers
) -> None:
    backend = store(workers.home)
    secret = f"piece-{os.getpid()}-secret-value"
    backend.set_secret("s", secret)
    steps = [
        {"prefect.deployments.steps.run_shell_script": {
            "script": "true {{ prefect.blocks.secret.s }}"}},  # read, so registered
        {"prefect.deployments.steps.set_working_directory": {"directory": str(tmp_path)}},
    ]  # fmt: skip
    body = f"sys.stdout.write({secret[:8]!r}); sys.stdout.write({secret[8:]!r} + '\\n')"
    source = f"import os, sys\nfrom flowplan import flow\n@flow\ndef f():\n    {body}\n" \
             "    sys.stdout.flush()\n    os._exit(7)\n"  # fmt: skip
    deployment(backend, tmp_path, source=source, pull_steps=steps)
    worker = workers.start()
    done = final(backend, backend.create_flow_run("f/d"))
    assert done.state.type is StateType.CRASHED
    assert (done.state.message or "").endswith("\n********")
    assert secret[:8] not in (done.state.message or "") + workers.output(worker)
