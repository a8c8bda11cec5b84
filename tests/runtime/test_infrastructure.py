"""The `process` worker type and its fork server in this process: what a run is started with,
its output and exit, stopping it with a grace period, what it leaves behind, and a fork
server that must not fork."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowplan.domain.job_config import WorkPoolJobConfiguration
from flowplan.domain.objects import FlowRun, StateType
from flowplan.errors import UsageError
from flowplan.runtime.forkserver import ForkRefused, ForkServer
from flowplan.runtime.infrastructure import Exit, RunHandle, infrastructure, worker_hint
from flowplan.runtime.infrastructure.docker import DockerInfrastructure
from flowplan.runtime.infrastructure.pipes import Pipe
from flowplan.runtime.infrastructure.process import ProcessInfrastructure
from tests.integration.workers import wait_for
from tests.runtime.helpers import deployment, store


@pytest.fixture
def run(tmp_path: Path) -> FlowRun:
    backend = store(tmp_path / "home")
    deployment(backend, tmp_path)
    return backend.create_flow_run("f/d")


@pytest.fixture
def process() -> Iterator[ProcessInfrastructure]:
    infra = ProcessInfrastructure()
    yield infra
    infra.close()


LAUNCHED: list[RunHandle] = []


@pytest.fixture(autouse=True)
def _no_run_left_running() -> Iterator[None]:
    """A test that fails half-way (as under `make mutation`, where most do) must not leave its
    run's process group running: one whose leader still runs is killed."""
    yield
    while LAUNCHED:
        handle = LAUNCHED.pop()
        if handle.wait(0) is None:
            handle.kill()
            handle.wait(10)


def launch(infra: ProcessInfrastructure, run: FlowRun, script: str) -> RunHandle:
    config = WorkPoolJobConfiguration(command=f"sh -c '{script}'")
    handle = infra.launch(run, config, infra.environment(run, config))
    LAUNCHED.append(handle)
    return handle


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"


def test_the_registry_names_what_is_available() -> None:
    assert isinstance(infrastructure("process"), ProcessInfrastructure)
    assert isinstance(infrastructure("docker"), DockerInfrastructure)
    with pytest.raises(
        UsageError,
        match=r"worker type 'kubernetes' is not available \(available: docker, process\)",
    ):
        infrastructure("kubernetes")


def test_a_run_gets_the_workers_environment_then_the_jobs(
    process: ProcessInfrastructure, run: FlowRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEPT", "1")
    monkeypatch.setenv("DROPPED", "1")
    config = WorkPoolJobConfiguration(env={"EXTRA": "x", "DROPPED": None, "KEPT": "2"})
    env = process.environment(run, config)
    assert env["EXTRA"] == "x" and env["KEPT"] == "2" and "DROPPED" not in env
    assert env["FLOWPLAN_FLOW_RUN_ID"] == env["PREFECT__FLOW_RUN_ID"] == run.id
    assert env["PATH"] == os.environ["PATH"]


def test_output_and_exit_of_a_run(process: ProcessInfrastructure, run: FlowRun) -> None:
    handle = launch(process, run, "echo one; echo two >&2; printf three; exit 4")
    assert list(handle.lines()) == ["one", "two", "three"]
    assert handle.wait() == Exit(4)
    assert handle.id.startswith("process ")
    handle.release()


def test_terminate_lets_the_run_clean_up_within_the_grace_period(
    process: ProcessInfrastructure, run: FlowRun
) -> None:
    handle = launch(
        process, run, 'trap "echo bye; exit 3" TERM; echo ready; while :; do sleep 0.05; done'
    )
    lines = handle.lines()
    assert next(lines) == "ready"
    handle.terminate(grace=60)
    assert handle.wait() == Exit(3)
    assert "bye" in list(lines)  # (sh may also say its sleep was terminated)
    handle.release()


def test_terminate_kills_a_run_that_ignores_sigterm_after_the_grace_period(
    process: ProcessInfrastructure, run: FlowRun
) -> None:
    handle = launch(process, run, 'trap "" TERM; echo ready; while :; do sleep 0.05; done')
    assert next(handle.lines()) == "ready"
    handle.terminate(grace=0.2)
    exit = handle.wait()
    assert exit == Exit(-9) and exit.describe() == "Process was killed by signal SIGKILL"
    handle.release()


def test_leftovers_are_ended_after_the_run_exits(
    process: ProcessInfrastructure, run: FlowRun
) -> None:
    handle = launch(process, run, "sleep 300 & echo $!")
    leftover = int(next(handle.lines()))
    assert handle.wait() == Exit(0)
    assert alive(leftover)
    handle.end_leftovers(grace=60)
    assert not alive(leftover)
    handle.release()


def test_closing_a_pipe_wakes_its_reader_while_a_writer_holds_it() -> None:
    read_end, write_end = os.pipe()
    pipe = Pipe(read_end)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(pipe.lines()))
    reader.start()
    os.write(write_end, b"held\n")
    wait_for("the line", lambda: lines)
    pipe.close()
    reader.join(timeout=60)
    assert not reader.is_alive() and lines == ["held"]
    os.close(write_end)


THREADED = (
    "import sys, threading, time\n"
    "threading.Thread(target=time.sleep, args=(600,), daemon=True).start()\n"
    "from flowplan.runtime.forkserver import serve\n"
    "serve(int(sys.argv[1]))\n"
)


def test_a_fork_server_with_threads_running_refuses_to_fork(tmp_path: Path) -> None:
    server = ForkServer([sys.executable, "-c", THREADED])
    try:
        with pytest.raises(ForkRefused, match=r"1 other thread\(s\) are running"):
            server.fork("some-run", dict(os.environ), str(tmp_path))
    finally:
        server.close()


def test_the_next_step_names_a_worker_that_can_serve_the_pool() -> None:
    assert (
        worker_hint("p", "process")
        == "Start a worker for it with: flowplan worker start --pool 'p'"
    )
    assert worker_hint("p", "process", embedded=False) == (
        "Start a worker for it with: prefect worker start --pool 'p'"
    )
    assert worker_hint("p", "kubernetes").startswith("flowplan has no 'kubernetes' worker yet")


def test_runs_start_as_new_interpreters_when_the_fork_server_refuses(
    tmp_path: Path, run: FlowRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWPLAN_HOME", str(tmp_path / "home"))
    said: list[str] = []
    infra = ProcessInfrastructure()
    infra.say = said.append
    infra._server = ForkServer([sys.executable, "-c", THREADED])
    try:
        config = WorkPoolJobConfiguration()
        handle = infra.launch(run, config, infra.environment(run, config))
        assert "n=1" in list(handle.lines())
        assert handle.wait() == Exit(0)
        handle.release()
    finally:
        infra.close()
    assert store(tmp_path / "home").read_flow_run(run.id).state.type is StateType.COMPLETED
    assert said == [
        "The fork server cannot fork (1 other thread(s) are running (Thread-1 (sleep))): runs"
        " start as new interpreters, which is slower."
    ]
