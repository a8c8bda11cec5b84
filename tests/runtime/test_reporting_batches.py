"""The reporting channel's batched requests (a run's start, and its last logs with its final
state), what the worker keeps so that a run need not ask the store again, and the one helper
thread of a run's channel. A worker from before these requests is still served: the engine
falls back to the single requests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flowplan.backends.local import LocalBackend
from flowplan.domain.clock import utcnow
from flowplan.domain.objects import LogLine, StateType
from flowplan.errors import FlowplanError
from flowplan.runtime.reporter import ENV, SocketReporter
from flowplan.runtime.reporter_server import ReporterServer
from tests.runtime.helpers import deployment, store


@pytest.fixture
def backend(tmp_path: Path) -> LocalBackend:
    return store(tmp_path / "home")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ReporterServer]:
    channel = ReporterServer(lambda: LocalBackend(tmp_path / "home" / "flowplan.db"))
    yield channel
    channel.close()


class OldServer(ReporterServer):
    """A worker's channel from before `start` and `finish`: it answers them as unknown."""

    def _call(self, run: Any, method: str, args: dict[str, Any]) -> Any:
        if method in ("start", "finish"):
            raise FlowplanError(f"unknown method {method!r}")
        return super()._call(run, method, args)

    def _answer(self, line: bytes) -> dict[str, Any]:
        if b'"method": "start"' in line:
            return {"error": {"kind": "error", "message": "unknown method 'start'"}}
        return super()._answer(line)


def client(request: pytest.FixtureRequest, address: str) -> SocketReporter:
    channel = SocketReporter(address)
    request.addfinalizer(channel.close)
    return channel


def test_start_marks_the_run_running_and_answers_its_deployment_as_the_worker_read_it(
    tmp_path: Path, backend: LocalBackend, server: ReporterServer, request: pytest.FixtureRequest
) -> None:
    first = deployment(backend, tmp_path)
    run = backend.create_flow_run("f/d")
    address = server.register(run, deployment=first)
    started, found = client(request, address).start(run.id)
    assert started.state.type is StateType.RUNNING
    assert backend.read_flow_run(run.id).state.type is StateType.RUNNING
    assert found is not None and found.id == first.id and found.name == "d"


def test_start_of_a_run_being_cancelled_cancels_it_and_answers_no_deployment(
    tmp_path: Path, backend: LocalBackend, server: ReporterServer, request: pytest.FixtureRequest
) -> None:
    first = deployment(backend, tmp_path)
    run = backend.create_flow_run("f/d")
    backend.set_flow_run_state(run.id, StateType.RUNNING)
    backend.cancel_flow_run(run.id)  # CANCELLING: its worker stops it
    started, found = client(request, server.register(run, deployment=first)).start(run.id)
    assert started.state.type is StateType.CANCELLED
    assert started.state.message == "Cancelled before start"
    assert found is None
    # a run in a final state is left as it is
    again, found = client(request, server.register(run)).start(run.id)
    assert again.state.type is StateType.CANCELLED and found is None


def test_finish_writes_the_last_logs_and_the_final_state_together(
    tmp_path: Path, backend: LocalBackend, server: ReporterServer, request: pytest.FixtureRequest
) -> None:
    deployment(backend, tmp_path)
    run = backend.create_flow_run("f/d")
    backend.set_flow_run_state(run.id, StateType.RUNNING)
    address = server.register(run)
    channel = client(request, address)
    assert server.final_state(address) is None
    lines = [LogLine(run.id, utcnow(), 20, f"line {n}") for n in range(3)]
    channel.finish(run.id, StateType.COMPLETED, logs=lines)
    assert backend.read_flow_run(run.id).state.type is StateType.COMPLETED
    assert [line.message for line in backend.read_logs(run.id)] == ["line 0", "line 1", "line 2"]
    assert server.final_state(address) == "Completed"  # its supervisor needs not read it back
    # a refused state (the run is final already) still keeps the logs
    with pytest.raises(FlowplanError, match="already COMPLETED"):
        channel.finish(run.id, StateType.FAILED, logs=[LogLine(run.id, utcnow(), 40, "late")])
    assert backend.read_logs(run.id)[-1].message == "late"
    assert backend.read_flow_run(run.id).state.type is StateType.COMPLETED
    server.unregister(address)
    assert server.final_state(address) is None


def test_finish_reports_only_the_run_itself(
    tmp_path: Path, backend: LocalBackend, server: ReporterServer, request: pytest.FixtureRequest
) -> None:
    deployment(backend, tmp_path)
    mine, other = backend.create_flow_run("f/d"), backend.create_flow_run("f/d")
    channel = client(request, server.register(mine))
    with pytest.raises(FlowplanError, match="only itself"):
        channel.finish(other.id, StateType.COMPLETED)
    with pytest.raises(FlowplanError, match="only itself"):
        channel.finish(mine.id, StateType.COMPLETED, logs=[LogLine(other.id, utcnow(), 20, "x")])
    assert backend.read_flow_run(other.id).state.type is StateType.SCHEDULED
    assert backend.read_logs(other.id) == []


def test_an_engine_is_served_by_a_worker_from_before_start_and_finish(
    tmp_path: Path, backend: LocalBackend
) -> None:
    deployment(backend, tmp_path)
    run = backend.create_flow_run("f/d", parameters={"n": 4})
    old = OldServer(lambda: LocalBackend(tmp_path / "home" / "flowplan.db"))
    try:
        env = {**os.environ, "FLOWPLAN_HOME": str(tmp_path / "elsewhere"), ENV: old.register(run)}
        done = subprocess.run(
            [sys.executable, "-m", "flowplan.runtime.engine", run.id], cwd=tmp_path, env=env,
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    finally:
        old.close()
    assert done.returncode == 0, done.stderr
    assert backend.read_flow_run(run.id).state.type is StateType.COMPLETED
    messages = [line.message for line in backend.read_logs(run.id)]
    assert "n=4" in messages
    assert messages[-1].endswith("Finished in state Completed()")


def test_the_channels_one_thread_does_what_every_asks(
    tmp_path: Path, backend: LocalBackend, server: ReporterServer, request: pytest.FixtureRequest
) -> None:
    deployment(backend, tmp_path)
    run = backend.create_flow_run("f/d")
    channel = client(request, server.register(run))
    calls = threading.Semaphore(0)
    channel.every(0.01, calls.release)
    for _ in range(3):  # called again and again, not once
        assert calls.acquire(timeout=30)


def test_a_run_of_the_defaults_is_still_checked_against_required_parameters(
    tmp_path: Path, backend: LocalBackend, server: ReporterServer
) -> None:
    deployment(backend, tmp_path)
    run = backend.create_flow_run("f/d")  # then the deployment comes to require `n`
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    deployment(backend, tmp_path, parameter_openapi_schema=schema, enforce_parameter_schema=True)
    env = {**os.environ, "FLOWPLAN_HOME": str(tmp_path / "elsewhere"), ENV: server.register(run)}
    done = subprocess.run(
        [sys.executable, "-m", "flowplan.runtime.engine", run.id], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    state = backend.read_flow_run(run.id).state
    assert state.type is StateType.FAILED
    assert "Validation of flow parameters failed" in (state.message or "")


def test_the_fork_server_refuses_an_order_it_cannot_read_and_goes_on_serving(
    tmp_path: Path,
) -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    server = subprocess.Popen(
        [sys.executable, "-m", "flowplan.runtime.engine", "--fork-server", str(theirs.fileno())],
        pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL,
    )  # fmt: skip
    theirs.close()
    try:
        ours.send(b"run-1\n{}")  # no pipe for the run's output
        ours.settimeout(120)
        assert ours.recv(4096).startswith(b"refused run-1 the order was malformed")
        # a good order after it is served: the child runs the engine (which finds no run)
        order = b'run-2\n{"cwd": "%s", "env": {"FLOWPLAN_HOME": "%s"}, "unset": []}' % (
            str(tmp_path).encode(), str(tmp_path / "home").encode(),
        )  # fmt: skip
        output_read, output_write = os.pipe()
        socket.send_fds(ours, [order], [output_write])
        os.close(output_write)
        started = ours.recv(4096).split()
        assert started[:2] == [b"started", b"run-2"] and int(started[2]) > 0
        assert ours.recv(4096).split()[:2] == [b"exit", started[2]]
        os.close(output_read)
    finally:
        ours.close()
        server.wait(timeout=60)
