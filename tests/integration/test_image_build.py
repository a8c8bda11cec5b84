"""`deploy(image=..., build=True, push=True)` against podman's Docker API and real registries:
one build for every deployment sharing an image, none for an unchanged re-deploy, nothing stored
when the build or the push fails. Builds are counted from the engine's own `build` events."""

from __future__ import annotations

import importlib.util
import io
import json
import tarfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import docker
import pytest

import flowplan
from flowplan import DeploymentImage, RunnerDeployment, deploy
from flowplan.backends import get_backend
from flowplan.errors import StepExecutionError
from flowplan.steps.builtin import images
from tests.engine_events import Builds
from tests.images import base_image
from tests.servers import DockerEngine, docker_engine

FLOWS = "from flowplan import flow\n\n@flow\ndef etl(day: str = 'today'):\n    return day\n"
DOCKERFILE = "FROM scratch\nARG STAGE=dev\nLABEL stage=$STAGE\nCOPY flows /opt/prefect/proj/flows\n"


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerEngine]:
    with docker_engine(tmp_path_factory.mktemp("podman")) as started:
        yield started


@pytest.fixture
def client(engine: DockerEngine) -> docker.DockerClient:
    return docker.DockerClient(base_url=engine.host)


@pytest.fixture
def proj(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: DockerEngine) -> Path:
    monkeypatch.setenv("DOCKER_HOST", engine.host)
    root = tmp_path / "proj"
    (root / "flows").mkdir(parents=True)
    (root / "flows" / "etl.py").write_text(FLOWS)
    (root / "Dockerfile").write_text(DOCKERFILE)
    monkeypatch.chdir(root)
    get_backend().create_work_pool("docker-pool", "docker")
    return root


def load(root: Path) -> ModuleType:
    path = root / "flows" / "etl.py"
    spec = importlib.util.spec_from_file_location(f"user_{abs(hash(path))}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tags(registry: str, name: str) -> list[str]:
    url = f"http://{registry}/v2/{name}/tags/list"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return sorted(json.load(response)["tags"] or [])
    except urllib.error.HTTPError as exc:
        if exc.code == 404:  # the repository does not exist
            return []
        raise


def ten(module: ModuleType) -> list[RunnerDeployment]:
    return [module.etl.to_deployment(f"d{i}", work_pool_name="docker-pool") for i in range(10)]


def image(engine: DockerEngine, **kwargs: Any) -> DeploymentImage:
    kwargs.setdefault("dockerfile", "Dockerfile")
    kwargs.setdefault("pull", False)
    return DeploymentImage(f"{engine.registry}/data/etl", tag="v1", **kwargs)


def test_ten_deployments_one_build_then_none_until_a_file_changes(
    proj: Path, engine: DockerEngine, client: docker.DockerClient
) -> None:
    module = load(proj)
    builds = Builds(client)
    deploy(*ten(module), image=image(engine), print_next_steps=False)
    assert builds.since_start() == 1
    stored = get_backend().read_deployments()
    assert len(stored) == 10
    assert {d.job_variables["image"] for d in stored} == {f"{engine.registry}/data/etl:v1"}
    assert tags(engine.registry, "data/etl") == ["v1"]
    first = client.images.get(f"{engine.registry}/data/etl:v1")
    assert first.labels[images.LABEL]

    deploy(*ten(module), image=image(engine), print_next_steps=False)  # unchanged
    assert builds.since_start() == 1
    assert client.images.get(f"{engine.registry}/data/etl:v1").id == first.id
    (proj / "flows" / "__pycache__").mkdir(exist_ok=True)
    (proj / "flows" / "__pycache__" / "etl.cpython-311.pyc").write_bytes(b"bytecode")
    deploy(*ten(module), image=image(engine), print_next_steps=False)  # bytecode is left out
    assert builds.since_start() == 1

    (proj / "flows" / "etl.py").write_text(FLOWS + "# changed\n")
    deploy(*ten(module), image=image(engine), print_next_steps=False)
    assert builds.since_start() == 2
    assert client.images.get(f"{engine.registry}/data/etl:v1").id != first.id


def test_build_args_are_part_of_the_digest(
    proj: Path, engine: DockerEngine, client: docker.DockerClient
) -> None:
    module = load(proj)
    builds = Builds(client)
    module.etl.deploy("d", work_pool_name="docker-pool", print_next_steps=False,
                      image=image(engine, buildargs={"STAGE": "test"}), push=False)  # fmt: skip
    module.etl.deploy("d", work_pool_name="docker-pool", print_next_steps=False,
                      image=image(engine, buildargs={"STAGE": "test"}), push=False)  # fmt: skip
    assert builds.since_start() == 1
    module.etl.deploy("d", work_pool_name="docker-pool", print_next_steps=False,
                      image=image(engine, buildargs={"STAGE": "prod"}), push=False)  # fmt: skip
    assert builds.since_start() == 2
    assert client.images.get(f"{engine.registry}/data/etl:v1").labels["stage"] == "prod"


def test_an_unchanged_image_under_a_new_tag_is_tagged_not_built(
    proj: Path, engine: DockerEngine, client: docker.DockerClient
) -> None:
    module = load(proj)
    builds = Builds(client)
    name = f"{engine.registry}/data/tagged"
    deploy(*ten(module), image=DeploymentImage(name, tag="a", dockerfile="Dockerfile", pull=False),
           push=False, print_next_steps=False)  # fmt: skip
    deploy(*ten(module), image=DeploymentImage(name, tag="b", dockerfile="Dockerfile", pull=False),
           push=False, print_next_steps=False)  # fmt: skip
    assert builds.since_start() == 1
    assert client.images.get(f"{name}:a").id == client.images.get(f"{name}:b").id
    assert {d.job_variables["image"] for d in get_backend().read_deployments()} == {f"{name}:b"}


def test_a_failing_build_raises_with_the_log_tail_and_stores_nothing(
    proj: Path, engine: DockerEngine
) -> None:
    (proj / "Dockerfile").write_text("FROM scratch\nCOPY no-such-file /x\n")
    module = load(proj)
    with pytest.raises(StepExecutionError) as caught:
        deploy(*ten(module), image=image(engine), print_next_steps=False)
    message = str(caught.value)
    assert f"docker build of {engine.registry}/data/etl:v1 failed" in message
    assert "no-such-file" in message
    assert get_backend().read_deployments() == []


def test_a_push_the_registry_refuses_raises_and_stores_nothing(
    proj: Path, engine: DockerEngine
) -> None:
    module = load(proj)
    refused = DeploymentImage(f"{engine.readonly_registry}/data/etl", tag="v1",
                              dockerfile="Dockerfile", pull=False)  # fmt: skip
    with pytest.raises(StepExecutionError) as caught:
        deploy(*ten(module), image=refused, print_next_steps=False)
    assert f"push of {engine.readonly_registry}/data/etl:v1 failed" in str(caught.value)
    assert get_backend().read_deployments() == []


def test_build_false_and_push_false_are_honoured(
    proj: Path, engine: DockerEngine, client: docker.DockerClient
) -> None:
    module = load(proj)
    builds = Builds(client)
    module.etl.deploy("prebuilt", work_pool_name="docker-pool", print_next_steps=False,
                      image=f"{engine.registry}/data/none:1", build=False)  # fmt: skip
    assert builds.since_start() == 0
    assert get_backend().read_deployment("etl/prebuilt").job_variables == {
        "image": f"{engine.registry}/data/none:1"
    }
    (proj / "flows" / "local.txt").write_text("an image no other test builds\n")
    local = DeploymentImage(f"{engine.registry}/data/local", tag="1", dockerfile="Dockerfile",
                            pull=False)  # fmt: skip
    module.etl.deploy("local", work_pool_name="docker-pool", print_next_steps=False,
                      image=local, push=False)  # fmt: skip
    assert builds.since_start() == 1
    assert client.images.get(f"{engine.registry}/data/local:1")
    assert tags(engine.registry, "data/local") == []


def test_a_missing_pool_fails_before_any_build(
    proj: Path, engine: DockerEngine, client: docker.DockerClient
) -> None:
    module = load(proj)
    builds = Builds(client)
    with pytest.raises(ValueError, match="work pool 'no-pool' does not exist"):
        module.etl.deploy("d", work_pool_name="no-pool", image=image(engine),
                          print_next_steps=False)  # fmt: skip
    assert builds.since_start() == 0
    assert get_backend().read_deployments() == []


def test_the_auto_dockerfile_context_writes_nothing_into_the_project(
    proj: Path, engine: DockerEngine, client: docker.DockerClient
) -> None:
    (proj / "Dockerfile").unlink()
    (proj / ".dockerignore").write_text("secret.txt\n")
    (proj / "secret.txt").write_text("not in the image\n")
    module = load(proj)
    before = sorted(p.name for p in proj.iterdir())
    deploy(*ten(module), print_next_steps=False, push=False,
           image=DeploymentImage(f"{engine.registry}/data/auto", tag="1", base_image="scratch",
                                 install_flowplan=False, pull=False))  # fmt: skip
    assert sorted(p.name for p in proj.iterdir()) == before
    made = client.images.get(f"{engine.registry}/data/auto:1")
    exported = b"".join(client.api.export(client.containers.create(made.id, "x").id))
    with tarfile.open(fileobj=io.BytesIO(exported)) as archive:
        names = set(archive.getnames())
    assert "opt/prefect/proj/flows/etl.py" in names
    assert "opt/prefect/proj/secret.txt" not in names
    assert not any("flowplan-wheels" in name or "Dockerfile" in name for name in names)


def test_an_auto_dockerfile_image_runs_this_flowplan_and_holds_the_project(
    proj: Path, engine: DockerEngine, client: docker.DockerClient
) -> None:
    base = base_image(client, extras=["pip"])  # Python 3.11, flowplan, pip; built locally
    (proj / "Dockerfile").unlink()
    (proj / "requirements.txt").write_text("rich>=13\n")  # installed here: from the wheels
    module = load(proj)
    app = DeploymentImage(f"{engine.registry}/data/app", tag="1", base_image=base, pull=False)
    deploy(module.etl.to_deployment("d", work_pool_name="docker-pool"), image=app,
           print_next_steps=False)  # fmt: skip
    assert tags(engine.registry, "data/app") == ["1"]
    stored = get_backend().read_deployment("etl/d")
    workdir = stored.pull_steps[0]["prefect.deployments.steps.set_working_directory"]["directory"]
    script = ("import os, flowplan, importlib.metadata as m; "
              "print(m.distribution('flowplan').read_text('INSTALLER').strip()); "
              "print(os.getcwd()); print(open('flows/etl.py').read().splitlines()[0])")  # fmt: skip
    output = client.containers.run(app.reference, ["python", "-c", script], remove=True)
    installer, cwd, first_line = output.decode().splitlines()[:3]
    assert installer == "pip"  # the wheel of the running flowplan, not the base image's copy
    assert cwd == workdir == "/opt/prefect/proj"
    assert first_line == FLOWS.splitlines()[0]
    version = client.containers.run(app.reference, ["flowplan", "--version"], remove=True)
    assert flowplan.__version__ in version.decode()
