"""Faults a worker must survive, with real worker processes: a bad stored schedule, a flow whose
background child holds its output, cancel and timeout with `finally:` blocks, the fork server
killed, the worker killed under a run that prints, a pool of another type."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from flowplan.domain.objects import StateType
from flowplan.domain.schedules import CronSchedule, IntervalSchedule
from tests.integration.test_runtime import SLEEPY, final, run_processes
from tests.integration.workers import Workers, engines_of, wait_for
from tests.runtime.helpers import deployment, store


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rpartition(")")[2].split()[0] != "Z"


def running(backend, run) -> bool:  # type: ignore[no-untyped-def]
    return backend.read_flow_run(run.id).state.type is StateType.RUNNING


def test_a_bad_stored_schedule_is_skipped_and_reported_and_the_others_fire(
    tmp_path: Path, workers: Workers
) -> None:
    backend = store(workers.home)
    deployment(backend, tmp_path, name="bad", schedules=(CronSchedule("0 * * * *"),))
    deployment(backend, tmp_path, name="good", schedules=(IntervalSchedule(1),))
    bad = backend.read_deployment("f/bad")
    backend.store.connection.execute(
        "UPDATE deployment_schedules SET schedule = ? WHERE deployment_id = ?",
        (json.dumps({"cron": "0 * * * *", "timezone": "Mars/Olympus"}), bad.id),
    )  # written straight into the store, past every check
    worker = workers.start()

    def completed() -> bool:
        runs = backend.read_flow_runs(deployment="f/good", states=[StateType.COMPLETED])
        return len(runs) >= 2

    wait_for("the good schedule's runs", completed)
    output = wait_for("the report", lambda: "skipped" in workers.output(worker)
                      and workers.output(worker))  # fmt: skip
    assert re.search(f"of deployment {bad.id} skipped: ValueError: schedule '[^']+': unknown"
                     " time zone 'Mars/Olympus'", output), output  # fmt: skip
    assert output.count("Mars/Olympus") == 1  # reported once, not on every tick
    assert worker.poll() is None
    # `deployment inspect` says why, with the reason the worker gave, and shows the rest
    reported = re.search(r"Schedule (\S+) of deployment \S+ skipped: (.*)", output)
    assert reported is not None
    schedule_id, problem = reported.groups()
    shown = workers.cli("deployment", "inspect", "f/bad", "--output", "json")
    assert shown.returncode == 0, shown.stderr
    document = json.loads(shown.stdout)
    assert document["schedules"] == []
    assert document["skipped_schedules"] == [{
        "id": schedule_id, "slug": document["skipped_schedules"][0]["slug"],
        "schedule": {"cron": "0 * * * *", "timezone": "Mars/Olympus"}, "active": True,
        "problem": problem,
    }]  # fmt: skip
    text = workers.cli("deployment", "inspect", "f/bad")
    assert text.returncode == 0, text.stderr
    assert "warning: the scheduler skips schedule 'cron-" in text.stderr
    assert f"({schedule_id}): {problem} (apply the project" in text.stderr
    line = next(x for x in text.stdout.splitlines() if x.startswith("skipped_schedules"))
    assert json.dumps(problem) in line


HOLDER = """
import subprocess, sys
from flowplan import flow

@flow
def f(escape: bool = False):
    child = subprocess.Popen(["sleep", "300"], start_new_session=escape)
    print(f"child={child.pid}", flush=True)
"""


def child_of(backend, run) -> int:  # type: ignore[no-untyped-def]
    line = next(m.message for m in backend.read_logs(run.id) if m.message.startswith("child="))
    return int(line.removeprefix("child="))


def test_a_child_holding_the_output_does_not_hold_the_slot(
    tmp_path: Path, workers: Workers
) -> None:
    backend = store(workers.home)
    deployment(backend, tmp_path, source=HOLDER)
    workers.start("--limit", "1")
    first = backend.create_flow_run("f/d", parameters={"escape": True})
    assert final(backend, first).state.type is StateType.COMPLETED
    escaped = child_of(backend, first)  # its own session: out of the run's reach, pipe held
    try:
        second = backend.create_flow_run("f/d", parameters={"escape": False})
        assert final(backend, second).state.type is StateType.COMPLETED
        assert alive(escaped)  # the second run had the slot while the first's output was open
        leftover = child_of(backend, second)
        wait_for("the run's leftover process to be ended", lambda: not alive(leftover))
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(escaped, signal.SIGKILL)


FINALLY = """
import os, time
from pathlib import Path

import pytest
from flowplan import flow

@flow
def f(marker: str, stubborn: bool = False):
    try:
        print("started", flush=True)
        while True:
            try:
                time.sleep(300)
            except BaseException:
                if not stubborn:
                    raise
    finally:
        Path(marker).write_text("finally ran")
"""


def test_cancel_lets_finally_blocks_run(tmp_path: Path, workers: Workers) -> None:
    backend = store(workers.home)
    deployment(backend, tmp_path, source=FINALLY)
    workers.start()
    marker = tmp_path / "marker"
    run = backend.create_flow_run("f/d", parameters={"marker": str(marker)})
    wait_for("the run to start", lambda: running(backend, run))
    wait_for("its output", lambda: "started" in [m.message for m in backend.read_logs(run.id)])
    cancel = workers.cli("flow-run", "cancel", run.id)
    assert cancel.returncode == 0, cancel.stderr
    done = final(backend, run)
    assert done.state.type is StateType.CANCELLED
    assert marker.read_text() == "finally ran"
    wait_for("the run's process to end", lambda: run_processes(workers.home) == [])


def test_a_flow_that_ignores_its_timeout_is_stopped_by_the_worker(
    tmp_path: Path, workers: Workers
) -> None:
    backend = store(workers.home)
    source = FINALLY.replace("@flow\n", "@flow(timeout_seconds=1)\n")
    deployment(backend, tmp_path, source=source)
    workers.start("--grace-period", "1")
    marker = tmp_path / "marker"
    run = backend.create_flow_run("f/d", parameters={"marker": str(marker), "stubborn": True})
    done = final(backend, run)
    assert done.state.type is StateType.FAILED and done.state.name == "TimedOut"
    assert "exceeded timeout of 1 seconds; the worker stopped its process" in (
        done.state.message or ""
    )
    assert not marker.exists()  # it swallowed SIGTERM too: SIGKILL after the grace period
    wait_for("the run's process to end", lambda: run_processes(workers.home) == [])


def fork_server(home: Path) -> int | None:
    return next((pid for pid in engines_of(home)
                 if Path(f"/proc/{pid}/comm").read_text().strip() == "flowplan-forks"), None)  # fmt: skip


def test_a_dead_fork_server_crashes_its_runs_with_the_reason_and_is_restarted(
    tmp_path: Path, workers: Workers
) -> None:
    backend = store(workers.home)
    deployment(backend, tmp_path, source=SLEEPY)
    worker = workers.start()
    run = backend.create_flow_run("f/d")
    wait_for("the run to start", lambda: running(backend, run))
    first = wait_for("the fork server", lambda: fork_server(workers.home))
    os.kill(first, signal.SIGKILL)
    done = final(backend, run)
    assert done.state.type is StateType.CRASHED
    assert (done.state.message or "").startswith(
        "the worker's fork server died (process was killed by signal sigkill);"
        " the run's process was ended"
    )
    wait_for("the run's process to end", lambda: run_processes(workers.home) == [])
    wait_for("a new fork server", lambda: fork_server(workers.home) not in (None, first))
    assert (
        "The fork server died (process was killed by signal sigkill): its runs are marked"
        " crashed; starting a new one." in workers.output(worker)
    )
    later = backend.create_flow_run("f/d", parameters={"seconds": 0})
    assert final(backend, later).state.type is StateType.COMPLETED
    assert worker.poll() is None


LOUD_FINALLY = """
import time
from pathlib import Path
from flowplan import flow

@flow
def f(marker: str):
    try:
        print("started", flush=True)
        time.sleep(300)
    finally:
        for i in range(2000):
            print(f"line {i}")  # nobody reads the output any more: this must not fail
        Path(marker).write_text("finally ran")
"""


def test_a_run_whose_worker_is_killed_ends_crashed_with_its_process_group(
    tmp_path: Path, workers: Workers
) -> None:
    backend = store(workers.home)
    deployment(backend, tmp_path, source=LOUD_FINALLY)
    doomed = workers.start("--heartbeat-interval", "0.5")
    marker = tmp_path / "marker"
    run = backend.create_flow_run("f/d", parameters={"marker": str(marker)})
    wait_for("the flow to start", lambda: "| started" in workers.output(doomed))
    os.kill(doomed.pid, signal.SIGKILL)  # the worker alone: its run loses its channel
    doomed.wait()
    wait_for("the run's process group to end", lambda: run_processes(workers.home) == [])
    assert marker.read_text() == "finally ran"
    workers.start("--heartbeat-interval", "0.5")  # a live worker finds the dead one's run
    done = final(backend, run)
    assert done.state.type is StateType.CRASHED
    assert "stopped sending heartbeats" in (done.state.message or "")
    names = [row[0] for row in backend.store.connection.execute(
        "SELECT name FROM flow_run_states WHERE flow_run_id = ?", (run.id,))]  # fmt: skip
    assert "Failed" not in names


def test_a_worker_refuses_a_pool_of_another_type(tmp_path: Path, workers: Workers) -> None:
    backend = store(workers.home)
    backend.create_work_pool("containers", "docker")
    deployment(backend, tmp_path, pool="containers")
    run = backend.create_flow_run("f/d")
    explicit = workers.cli("worker", "start", "--pool", "containers", "--type", "process")
    assert explicit.returncode == 1
    assert (
        "work pool 'containers' is of type 'docker': a 'process' worker cannot run its flows"
        in explicit.stderr
    )
    backend.create_work_pool("cluster", "kubernetes")
    default = workers.cli("worker", "start", "--pool", "cluster", "--run-once")
    assert default.returncode == 1
    assert "worker type 'kubernetes' is not available (available: docker, process)" in (
        default.stderr
    )
    assert backend.read_flow_run(run.id).state.type is StateType.SCHEDULED  # nothing ran it


def test_a_worker_against_a_prefect_api_is_refused_before_anything_is_sent(
    workers: Workers,
) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0)  # any connection the worker made waits in the backlog
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/api"
    try:
        done = subprocess.run(
            [sys.executable, "-m", "flowplan", "worker", "start", "--pool", "p"],
            env={**workers.env, "PREFECT_API_URL": url}, capture_output=True, text=True,
            timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 1
        assert f"the target is Prefect API {url}, whose runs are handed out" in done.stderr
        assert "prefect worker start --pool p" in done.stderr
        assert "started" not in done.stdout
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected: no heartbeat, no request at all
    finally:
        listener.close()
