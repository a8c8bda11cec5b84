"""The reporting channel: a run's engine works with nothing but the channel and its code, and a
token lets a run read and report only itself."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowplan.backends.local import LocalBackend
from flowplan.domain.clock import utcnow
from flowplan.domain.objects import LogLine, StateType
from flowplan.errors import FlowplanError, ObjectNotFound
from flowplan.runtime.reporter import ENV, SocketReporter
from flowplan.runtime.reporter_server import ReporterServer
from tests.runtime.helpers import deployment, store

SOURCE = """
import os
from flowplan import flow
from flowplan.runtime import flow_run

@flow
def f(n: int = 1):
    print(f"n={n} run={flow_run.name} home={os.environ['FLOWPLAN_HOME']}")
"""


@pytest.fixture
def backend(tmp_path: Path) -> LocalBackend:
    return store(tmp_path / "home")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ReporterServer]:
    channel = ReporterServer(lambda: LocalBackend(tmp_path / "home" / "flowplan.db"))
    yield channel
    channel.close()


def test_a_run_needs_only_the_channel_and_its_code(
    tmp_path: Path, backend: LocalBackend, server: ReporterServer
) -> None:
    steps = [{"prefect.deployments.steps.set_working_directory": {"directory": str(tmp_path)}},
             {"prefect.deployments.steps.run_shell_script": {
                 "script": "echo {{ prefect.variables.greeting }}", "stream_output": True}}]  # fmt: skip
    deployment(backend, tmp_path, source=SOURCE, pull_steps=steps)
    backend.set_variable("greeting", "hello")
    run = backend.create_flow_run("f/d", parameters={"n": 7})
    nowhere = tmp_path / "no-store-here"
    env = {**os.environ, "FLOWPLAN_HOME": str(nowhere), ENV: server.register(run)}
    done = subprocess.run(
        [sys.executable, "-m", "flowplan.runtime.engine", run.id], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    finished = backend.read_flow_run(run.id)
    assert finished.state.type is StateType.COMPLETED
    messages = [line.message for line in backend.read_logs(run.id)]
    assert f"n=7 run={run.name} home={nowhere}" in messages
    assert "hello" in messages
    assert not nowhere.exists()  # the engine never opened a store


def test_a_token_reads_and_reports_only_its_own_run(
    tmp_path: Path, backend: LocalBackend, server: ReporterServer, request: pytest.FixtureRequest
) -> None:
    deployment(backend, tmp_path)
    mine, other = backend.create_flow_run("f/d"), backend.create_flow_run("f/d")
    address = server.register(mine)
    client = SocketReporter(address)
    request.addfinalizer(client.close)
    assert client.read_flow_run(mine.id).id == mine.id
    assert client.read_deployment(mine.deployment_id or "").name == "d"
    with pytest.raises(FlowplanError, match="a run may read and report only itself"):
        client.read_flow_run(other.id)
    with pytest.raises(FlowplanError, match="a run may read and report only itself"):
        client.set_flow_run_state(other.id, StateType.RUNNING)
    with pytest.raises(FlowplanError, match="a run may read and report only itself"):
        client.write_logs([LogLine(other.id, utcnow(), 20, "not mine")])
    with pytest.raises(ObjectNotFound):
        client.read_secret_value("missing")
    server.unregister(address)
    with pytest.raises(FlowplanError, match="unknown or expired reporting token"):
        client.read_flow_run(mine.id)
    assert backend.read_logs(other.id) == []
