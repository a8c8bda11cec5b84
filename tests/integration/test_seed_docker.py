"""The docker example end to end, as a user runs it: a script calls
`deploy(data_pipeline, monitoring_flow, name=..., work_pool_name="docker-pool", image=...,
build=True, push=True)`; one image is built (auto Dockerfile on the local base image) and
pushed to a local registry, two deployments are stored, and flowplan's docker worker runs each
flow in a container of that image to COMPLETED, with its logs."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from flowplan.domain.objects import StateType
from tests.engine_events import Builds
from tests.images import base_image
from tests.integration.test_image_build import tags
from tests.integration.test_runtime import final
from tests.integration.workers import Workers
from tests.runtime.helpers import store
from tests.servers import DockerEngine, docker_engine

WORKFLOWS = """\
from flowplan import DeploymentImage, deploy, flow


@flow(log_prints=True)
def data_pipeline(rows: int = 3):
    print(f"pipeline loaded {rows} rows")


@flow(log_prints=True)
def monitoring_flow():
    print("monitoring: all good")


if __name__ == "__main__":
    import sys

    registry, base = sys.argv[1], sys.argv[2]
    deploy(
        data_pipeline,
        monitoring_flow,
        name="data-workflows",
        work_pool_name="docker-pool",
        image=DeploymentImage(f"{registry}/prefect-workflows", tag="v1.0.0", base_image=base,
                              pull=False),
        build=True,
        push=True,
    )
"""


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerEngine]:
    with docker_engine(tmp_path_factory.mktemp("podman")) as started:
        yield started


def test_the_docker_example_builds_once_pushes_and_runs_both_flows_in_containers(
    tmp_path: Path, engine: DockerEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = docker.DockerClient(base_url=engine.host)
    base = base_image(client, extras=["pip"])
    root = tmp_path / "workflows"
    (root / "flows").mkdir(parents=True)
    (root / "flows" / "workflows.py").write_text(textwrap.dedent(WORKFLOWS))
    monkeypatch.setenv("DOCKER_HOST", engine.host)
    workers = Workers(tmp_path / "home", root)
    env = {**workers.env, "DOCKER_HOST": engine.host}
    made = subprocess.run([sys.executable, "-m", "flowplan", "work-pool", "create", "docker-pool",
                           "--type", "docker"], cwd=root, env=env, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "flowplan worker start --pool 'docker-pool'" in made.stdout
    builds = Builds(client)
    deployed = subprocess.run(
        [sys.executable, "flows/workflows.py", engine.registry, base],
        cwd=root, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    assert builds.since_start() == 1  # one image for both deployments
    assert tags(engine.registry, "prefect-workflows") == ["v1.0.0"]
    backend = store(workers.home)
    names = ["data-pipeline/data-workflows", "monitoring-flow/data-workflows"]
    for name in names:
        stored = backend.read_deployment(name)
        assert stored.job_variables["image"] == f"{engine.registry}/prefect-workflows:v1.0.0"
    try:
        workers.start(pool="docker-pool")
        pipeline = backend.create_flow_run(names[0], parameters={"rows": 7})
        monitoring = backend.create_flow_run(names[1])
        for run, line in ((pipeline, "pipeline loaded 7 rows"),
                          (monitoring, "monitoring: all good")):  # fmt: skip
            ended = final(backend, run, 240)
            logged = [entry.message for entry in backend.read_logs(run.id)]
            assert ended.state.type is StateType.COMPLETED, (ended.state, logged)
            assert line in logged
    finally:
        # the containers go with the module's engine (podman answers 500 to a removal that
        # races its own clean-up of a container that just stopped)
        workers.stop_all()
        client.close()
