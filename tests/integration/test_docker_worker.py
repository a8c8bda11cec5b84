"""The docker worker against podman's Docker API: each run in its own container of an image built
here from the local base image (tests/images.py), reporting only through the mounted channel."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from flowplan.backends.local import LocalBackend
from flowplan.domain.objects import FlowRun, StateType
from flowplan.runtime.infrastructure.docker_config import RUN_LABEL, SOCKET
from tests.images import base_image
from tests.integration.test_runtime import final
from tests.integration.workers import Workers, wait_for
from tests.runtime.helpers import deployment, store
from tests.servers import DockerEngine, docker_engine, remove_container

POOL = "docker-pool"
FLOWS = {
    "hello.py": """
        from flowplan import flow

        @flow
        def hello(who: str = "world"):
            print(f"hello {who} from the container", flush=True)
    """,
    "tally.py": """
        import os
        from flowplan import flow

        @flow
        def tally(n: int = 3):
            print("sum", sum(range(n)), flush=True)
            print("store?", os.path.exists(os.path.expanduser("~/.flowplan")), flush=True)
    """,
    "broken.py": """
        from flowplan import flow

        @flow
        def broken():
            raise ValueError("the flow's own error")
    """,
    "sleepy.py": """
        import time
        from pathlib import Path
        from flowplan import flow

        @flow
        def sleepy(marker: str = ""):
            try:
                print("started", flush=True)
                time.sleep(300)
            finally:
                if marker:
                    Path(marker).write_text("finally ran")
    """,
}


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerEngine]:
    with docker_engine(tmp_path_factory.mktemp("podman")) as started:
        yield started


@pytest.fixture(scope="module")
def client(engine: DockerEngine) -> Iterator[Any]:
    connected = docker.DockerClient(base_url=engine.host)
    yield connected
    connected.close()


@pytest.fixture(scope="module")
def image(client: Any, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The project's flows on the base image, as a user's image would carry them."""
    context = tmp_path_factory.mktemp("image")
    (context / "flows").mkdir()
    for name, source in FLOWS.items():
        (context / "flows" / name).write_text(textwrap.dedent(source))
    (context / "Dockerfile").write_text(
        f"FROM {base_image(client)}\nCOPY flows /opt/project/flows\nWORKDIR /opt/project\n"
    )
    client.images.build(path=str(context), tag="localhost/flows:v1", pull=False, rm=True)
    return "localhost/flows:v1"


@pytest.fixture
def workers(
    tmp_path: Path, engine: DockerEngine, client: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Workers]:
    monkeypatch.setenv("DOCKER_HOST", engine.host)
    started = Workers(tmp_path / "home", tmp_path)
    yield started
    started.stop_all()
    for container in client.api.containers(all=True):
        remove_container(client, container["Id"])


def docker_deployment(
    backend: LocalBackend, root: Path, name: str, flow: str, image: str, **variables: Any
) -> str:
    if POOL not in {pool.name for pool in backend.read_work_pools()}:
        backend.create_work_pool(POOL, "docker")
    deployment(
        backend, root, name=name, flow=flow, entrypoint=f"flows/{flow}.py:{flow}", pool=POOL,
        pull_steps=[{"prefect.deployments.steps.set_working_directory":
                     {"directory": "/opt/project"}}],
        job_variables={"image": image, **variables},
    )  # fmt: skip
    return f"{flow}/{name}"


def container_ids(client: Any, run: FlowRun) -> list[str]:
    """The run's containers, listed only (the SDK's `containers.list` inspects each one too,
    which fails for one removed meanwhile)."""
    found = client.api.containers(all=True, filters={"label": f"{RUN_LABEL}={run.id}"})
    return [str(container["Id"]) for container in found]


def containers_of(client: Any, run: FlowRun) -> list[Any]:
    return [client.containers.get(container) for container in container_ids(client, run)]


def messages(backend: LocalBackend, run: FlowRun) -> list[str]:
    return [line.message for line in backend.read_logs(run.id)]


def test_two_deployments_of_one_image_run_to_completed_with_their_logs(
    tmp_path: Path, workers: Workers, image: str, client: Any
) -> None:
    backend = store(workers.home)
    hello = docker_deployment(backend, tmp_path, "greet", "hello", image)
    tally = docker_deployment(backend, tmp_path, "count", "tally", image)
    worker = workers.start(pool=POOL)
    first = backend.create_flow_run(hello, parameters={"who": "podman"})
    second = backend.create_flow_run(tally, parameters={"n": 5})
    assert final(backend, first, 180).state.type is StateType.COMPLETED
    assert final(backend, second, 180).state.type is StateType.COMPLETED
    assert "hello podman from the container" in messages(backend, first)
    assert "sum 10" in messages(backend, second)
    assert "store? False" in messages(backend, second)  # no store in the container
    streamed = f"{first.name} | hello podman from the container"  # the worker's output too
    wait_for("the streamed output", lambda: streamed in workers.output(worker))
    (container,) = containers_of(client, first)  # kept: auto_remove is off by default
    assert container.name == first.name  # named after the run
    assert container.labels["io.flowplan.deployment-name"] == "greet"
    assert container.attrs["State"]["ExitCode"] == 0
    environment = dict(item.split("=", 1) for item in container.attrs["Config"]["Env"])
    assert environment["FLOWPLAN_FLOW_RUN_ID"] == first.id
    assert environment["FLOWPLAN_REPORTER"].startswith(f"unix:{SOCKET} ")
    assert "FLOWPLAN_HOME" not in environment  # the worker's own environment stays out
    assert "DOCKER_HOST" not in environment


def test_a_failing_flow_ends_failed_and_auto_remove_removes_its_container(
    tmp_path: Path, workers: Workers, image: str, client: Any
) -> None:
    backend = store(workers.home)
    name = docker_deployment(backend, tmp_path, "fails", "broken", image, auto_remove=True)
    workers.start(pool=POOL)
    run = backend.create_flow_run(name)
    done = final(backend, run, 180)
    assert done.state.type is StateType.FAILED
    assert "ValueError: the flow's own error" in (done.state.message or "")
    wait_for("the container's removal", lambda: container_ids(client, run) == [])


def test_a_cancelled_run_ends_cancelled_its_finally_runs_and_its_container_is_gone(
    tmp_path: Path, workers: Workers, image: str, client: Any
) -> None:
    backend = store(workers.home)
    shared = tmp_path / "shared"
    shared.mkdir()
    name = docker_deployment(backend, tmp_path, "waits", "sleepy", image, auto_remove=True,
                             volumes=[f"{shared}:/shared"])  # fmt: skip
    worker = workers.start(pool=POOL)
    run = backend.create_flow_run(name, parameters={"marker": "/shared/marker"})
    wait_for("the flow to start", lambda: "| started" in workers.output(worker), 180)
    backend.set_flow_run_state(run.id, StateType.CANCELLING)
    done = final(backend, run, 120)
    assert done.state.type is StateType.CANCELLED
    assert (shared / "marker").read_text() == "finally ran"  # SIGTERM first, in the grace
    wait_for("the container's removal", lambda: container_ids(client, run) == [])


def test_a_container_that_dies_ends_its_run_crashed(
    tmp_path: Path, workers: Workers, image: str, client: Any
) -> None:
    backend = store(workers.home)
    name = docker_deployment(backend, tmp_path, "dies", "sleepy", image)
    worker = workers.start(pool=POOL)
    run = backend.create_flow_run(name)
    wait_for("the flow to start", lambda: "| started" in workers.output(worker), 180)
    (container,) = containers_of(client, run)
    container.kill()  # SIGKILL from outside, as the OOM killer would
    done = final(backend, run, 60)
    assert done.state.type is StateType.CRASHED
    assert f"Container {container.name!r} exited with status code 137 (killed by SIGKILL)" in (
        done.state.message or ""
    )


def test_a_killed_workers_run_is_marked_crashed_and_its_container_removed_by_another(
    tmp_path: Path, workers: Workers, image: str, client: Any
) -> None:
    backend = store(workers.home)
    name = docker_deployment(backend, tmp_path, "orphan", "sleepy", image)
    doomed = workers.start("--heartbeat-interval", "0.5", pool=POOL)
    run = backend.create_flow_run(name)
    wait_for("the flow to start", lambda: "| started" in workers.output(doomed), 180)
    os.kill(doomed.pid, signal.SIGKILL)
    doomed.wait()
    assert len(container_ids(client, run)) == 1  # left behind
    peer = workers.start("--heartbeat-interval", "0.5", pool=POOL)
    done = final(backend, run, 60)
    assert done.state.type is StateType.CRASHED
    assert "stopped sending heartbeats" in (done.state.message or "")
    wait_for("the container's removal", lambda: container_ids(client, run) == [])
    removed = f"Removed container {run.name} of crashed flow run {run.id}."
    wait_for("the removal in the worker's output", lambda: removed in workers.output(peer))


def test_a_missing_image_crashes_the_run_with_a_clear_message(
    tmp_path: Path, workers: Workers, engine: DockerEngine
) -> None:
    backend = store(workers.home)
    missing = f"{engine.registry}/nobody/missing:v1"
    name = docker_deployment(backend, tmp_path, "nothing", "hello", missing)
    workers.start(pool=POOL)
    run = backend.create_flow_run(name)
    done = final(backend, run, 120)
    assert done.state.type is StateType.CRASHED
    message = done.state.message or ""
    assert message.startswith(f"Worker failed to run the flow: image {missing!r} could not be"
                              " pulled (")  # fmt: skip
    assert "and is not on the Docker engine" in message


def test_a_bad_volume_spec_crashes_the_run_naming_it(
    tmp_path: Path, workers: Workers, image: str
) -> None:
    backend = store(workers.home)
    name = docker_deployment(backend, tmp_path, "badvol", "hello", image,
                             volumes=["/tmp:relative/path"])  # fmt: skip
    workers.start(pool=POOL)
    run = backend.create_flow_run(name)
    done = final(backend, run, 60)
    assert done.state.type is StateType.CRASHED
    assert (done.state.message or "") == (
        "Worker failed to run the flow: job variable 'volumes[0]': '/tmp:relative/path' is not"
        " 'host-path-or-volume:/container/path[:mode]'"
    )


def test_an_unreachable_engine_refuses_the_worker(tmp_path: Path, workers: Workers) -> None:
    backend = store(workers.home)
    backend.create_work_pool(POOL, "docker")
    env = {**workers.env, "DOCKER_HOST": f"unix://{tmp_path}/nothing.sock"}
    done = subprocess.run(
        [sys.executable, "-m", "flowplan", "worker", "start", "--pool", POOL],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert (
        f"the docker worker cannot reach a Docker engine at DOCKER_HOST=unix://{tmp_path}"
        "/nothing.sock" in done.stderr
    )
    assert "Traceback" not in done.stderr
    workers_seen = backend.store.connection.execute("SELECT count(*) FROM workers").fetchone()
    assert workers_seen == (0,)  # refused before any heartbeat


def test_a_docker_worker_refuses_a_process_pool(tmp_path: Path, workers: Workers) -> None:
    backend = store(workers.home)
    backend.create_work_pool("local", "process")
    done = subprocess.run(
        [sys.executable, "-m", "flowplan", "worker", "start", "--pool", "local", "--type",
         "docker"], cwd=tmp_path, env=workers.env, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert "work pool 'local' is of type 'process': a 'docker' worker cannot run its flows" in (
        done.stderr
    )
