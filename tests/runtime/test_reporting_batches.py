"""The reporting channel's batched requests (a run's start, and its last logs with its final
state), what the worker keeps so that a run need not ask the store again, and the one helper
thread of a run's channel. A worker from before these requests is still served: the engine
falls back to the single requests."""

from __future__ import annotations

import json
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
from flowplan.domain.objects import FlowRun, LogLine, StateType
from flowplan.errors import FlowplanError
from flowplan.runtime.reporter import ENV, SocketReporter
from flowplan.runtime.reporter_server import ReporterServer
from tests.runtime.helpers import deployment


@pytest.fixture
def run(tmp_path: Path, backend: LocalBackend) -> FlowRun:
    """A run of a deployment that its engine has started (RUNNING)."""
    deployment(backend, tmp_path)
    run = backend.create_flow_run("f/d")
    backend.set_flow_run_state(run.id, StateType.RUNNING)
    return run


class OldServer(ReporterServer):
    """A worker's channel from before `start` and `finish`: it answers them as unknown."""

    def _answer(self, line: bytes) -> dict[str, Any]:
        method = json.loads(line).get("method")
        if method in ("start", "finish"):
            return {"error": {"kind": "error", "message": f"unknown method {method!r}"}}
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
    run: FlowRun,
    backend: LocalBackend,
    server: ReporterServer,
    request: pytest.FixtureRequest,
) -> None:
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


def test_start_answers_the_deployment_as_the_worker_read_it_not_as_changed_since(
    tmp_path: Path, backend: LocalBackend, server: ReporterServer, request: pytest.FixtureRequest
) -> None:
    claimed = deployment(backend, tmp_path, version="1")
    run = backend.create_flow_run("f/d")
    address = server.register(run, deployment=claimed)
    deployment(backend, tmp_path, version="2")  # applied again between the claim and the start
    started, found = client(request, address).start(run.id)
    assert started.state.type is StateType.RUNNING
    assert found is not None and found.version == "1"
    # a deployment the worker did not read (or read for another run) comes from the store
    again = backend.create_flow_run("f/d")
    other = backend.create_flow_run("f/d")
    _, found = client(request, server.register(again, deployment=claimed)).start(again.id)
    assert found is not None and found.version == "1"  # the same id: kept
    _, found = client(request, server.register(other)).start(other.id)
    assert found is not None and found.version == "2"
    elsewhere = deployment(backend, tmp_path, name="elsewhere")
    third = backend.create_flow_run("f/d")
    _, found = client(request, server.register(third, deployment=elsewhere)).start(third.id)
    assert found is not None and (found.id, found.version) == (claimed.id, "2")


class RecordingOldServer(OldServer):
    """An old worker's channel that remembers the methods it was asked, in order."""

    asked: list[str]

    def _answer(self, line: bytes) -> dict[str, Any]:
        self.asked.append(json.loads(line)["method"])
        return super()._answer(line)


@pytest.fixture
def old(tmp_path: Path) -> Iterator[RecordingOldServer]:
    channel = RecordingOldServer(lambda: LocalBackend(tmp_path / "home" / "flowplan.db"))
    channel.asked = []
    yield channel
    channel.close()


def test_with_a_worker_from_before_start_a_run_starts_by_single_requests(
    tmp_path: Path, backend: LocalBackend, old: RecordingOldServer, request: pytest.FixtureRequest
) -> None:
    first = deployment(backend, tmp_path, version="1")
    run = backend.create_flow_run("f/d")
    started, found = client(request, old.register(run)).start(run.id)
    assert started.id == run.id and started.state.type is StateType.RUNNING
    assert backend.read_flow_run(run.id).state.type is StateType.RUNNING
    assert found is not None and (found.id, found.version) == (first.id, "1")
    assert old.asked == ["start", "read_flow_run", "read_deployment", "set_flow_run_state",
                         "read_flow_run"]  # fmt: skip
    # a run being cancelled is cancelled, without its deployment
    cancelling = backend.create_flow_run("f/d")
    backend.set_flow_run_state(cancelling.id, StateType.RUNNING)
    backend.cancel_flow_run(cancelling.id)
    started, found = client(request, old.register(cancelling)).start(cancelling.id)
    assert (started.id, started.state.type) == (cancelling.id, StateType.CANCELLED)
    assert started.state.message == "Cancelled before start" and found is None
    assert backend.read_flow_run(cancelling.id).state.type is StateType.CANCELLED
    # a run in a final state is left as it is
    done = backend.create_flow_run("f/d")
    backend.set_flow_run_state(done.id, StateType.RUNNING)
    backend.set_flow_run_state(done.id, StateType.FAILED, message="earlier")
    old.asked.clear()
    started, found = client(request, old.register(done)).start(done.id)
    assert (started.id, started.state.type, found) == (done.id, StateType.FAILED, None)
    assert backend.read_flow_run(done.id).state.message == "earlier"
    assert old.asked == ["start", "read_flow_run"]


def test_with_a_worker_from_before_finish_a_run_finishes_by_single_requests(
    tmp_path: Path, backend: LocalBackend, old: RecordingOldServer, request: pytest.FixtureRequest
) -> None:
    deployment(backend, tmp_path)
    run, quiet = backend.create_flow_run("f/d"), backend.create_flow_run("f/d")
    for each in (run, quiet):
        backend.set_flow_run_state(each.id, StateType.RUNNING)
    lines = [LogLine(run.id, utcnow(), 20, "one"), LogLine(run.id, utcnow(), 40, "two")]
    client(request, old.register(run)).finish(
        run.id, StateType.FAILED, name="Broken", message="it broke", logs=lines
    )
    state = backend.read_flow_run(run.id).state
    assert (state.type, state.name, state.message) == (StateType.FAILED, "Broken", "it broke")
    assert [(line.level, line.message) for line in backend.read_logs(run.id)] == [
        (20, "one"), (40, "two")]  # fmt: skip
    assert old.asked == ["finish", "write_logs", "set_flow_run_state"]
    old.asked.clear()
    client(request, old.register(quiet)).finish(quiet.id, StateType.COMPLETED)
    assert backend.read_flow_run(quiet.id).state.type is StateType.COMPLETED
    assert old.asked == ["finish", "set_flow_run_state"]  # no logs: none written


def test_finish_sends_the_states_name_and_message(
    run: FlowRun,
    backend: LocalBackend,
    server: ReporterServer,
    request: pytest.FixtureRequest,
) -> None:
    address = server.register(run)
    client(request, address).finish(run.id, StateType.FAILED, name="Broken", message="it broke")
    state = backend.read_flow_run(run.id).state
    assert (state.type, state.name, state.message) == (StateType.FAILED, "Broken", "it broke")
    assert server.final_state(address) == "Broken"
    assert backend.read_logs(run.id) == []


def test_a_finish_refused_for_another_reason_than_age_is_not_sent_again(
    run: FlowRun,
    backend: LocalBackend,
    server: ReporterServer,
    request: pytest.FixtureRequest,
) -> None:
    """Only "unknown method" (a worker from before `finish`) makes the engine fall back."""
    backend.set_flow_run_state(run.id, StateType.COMPLETED)
    channel = client(request, server.register(run))
    with pytest.raises(FlowplanError, match="already COMPLETED") as refused:
        channel.finish(run.id, StateType.FAILED, logs=[LogLine(run.id, utcnow(), 40, "late")])
    assert type(refused.value) is FlowplanError
    assert [line.message for line in backend.read_logs(run.id)] == ["late"]  # written once
