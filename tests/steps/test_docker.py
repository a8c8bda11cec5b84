"""build_docker_image and push_docker_image against podman's Docker API and a real registry."""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flowplan.errors import StepExecutionError
from flowplan.steps.runner import StepContext, run_steps
from tests.servers import DockerEngine, docker_engine, free_port

BUILD = "prefect_docker.deployments.steps.build_docker_image"
PUSH = "prefect_docker.deployments.steps.push_docker_image"


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerEngine]:
    with docker_engine(tmp_path_factory.mktemp("podman")) as started:
        yield started


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: DockerEngine) -> Path:
    monkeypatch.setenv("DOCKER_HOST", engine.host)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "etl.py").write_text("print('etl')\n")
    return tmp_path


def run(*steps: dict[str, Any]) -> dict[str, Any]:
    context = StepContext(variable={}.get, secret={"registry-password": "pa55word!"}.__getitem__,
                          env=os.environ)  # fmt: skip
    return run_steps(list(steps), context)


def tags(registry: str, name: str) -> list[str]:
    with urllib.request.urlopen(f"http://{registry}/v2/{name}/tags/list", timeout=10) as response:
        return sorted(json.load(response)["tags"])


def test_build_push_and_read_back_from_the_registry(project: Path, engine: DockerEngine) -> None:
    (project / "Dockerfile").write_text("FROM scratch\nCOPY flows /flows\n")
    image = f"{engine.registry}/team/etl"
    outputs = run(
        {BUILD: {"id": "build-image", "image_name": image, "tag": "v1", "pull": False,
                 "additional_tags": ["latest"], "labels": {"team": "data"}}},
        {PUSH: {"image_name": "{{ build-image.image_name }}", "tag": "{{ build-image.tag }}",
                "additional_tags": "{{ build-image.additional_tags }}"}},
    )  # fmt: skip
    assert outputs["build-image"]["image"] == f"{image}:v1"
    assert outputs["build-image"]["image_id"]
    assert tags(engine.registry, "team/etl") == ["latest", "v1"]


def test_auto_dockerfile_with_a_configurable_base(project: Path, engine: DockerEngine) -> None:
    image = f"{engine.registry}/team/auto"
    outputs = run({BUILD: {"image_name": image, "dockerfile": "auto", "base_image": "scratch",
                           "pull": False, "persist_dockerfile": True,
                           "install_flowplan": False}})  # fmt: skip
    assert outputs["tag"]  # a timestamp tag
    generated = (project / "Dockerfile.generated").read_text()
    assert generated.splitlines() == [
        "FROM scratch", f"COPY project/ /opt/prefect/{project.name}/",
        f"WORKDIR /opt/prefect/{project.name}/",
    ]  # fmt: skip
    assert not (project / "Dockerfile").exists()


def test_a_failing_build_shows_the_log_tail(project: Path, engine: DockerEngine) -> None:
    (project / "Dockerfile").write_text("FROM scratch\nCOPY missing-file /x\n")
    with pytest.raises(StepExecutionError) as caught:
        run({BUILD: {"image_name": f"{engine.registry}/team/bad", "tag": "1", "pull": False}})
    message = str(caught.value)
    assert "docker build of" in message and "missing-file" in message


def test_auto_refuses_to_overwrite_a_dockerfile(project: Path, engine: DockerEngine) -> None:
    (project / "Dockerfile").write_text("FROM scratch\n")
    with pytest.raises(StepExecutionError, match="Dockerfile already exists"):
        run({BUILD: {"image_name": "x/y", "dockerfile": "auto"}})


def test_a_push_the_registry_refuses_is_an_error(project: Path, engine: DockerEngine) -> None:
    (project / "Dockerfile").write_text("FROM scratch\nCOPY flows /flows\n")
    nowhere = f"127.0.0.1:{free_port()}/team/etl"  # no registry listens there
    run({BUILD: {"image_name": nowhere, "tag": "1", "pull": False}})
    with pytest.raises(StepExecutionError) as caught:
        run({PUSH: {"image_name": nowhere, "tag": "1",
                    "credentials": {"username": "ci", "password": "{{ prefect.blocks.secret.registry-password }}",
                                    "registry_url": nowhere.split("/")[0]}}})  # fmt: skip
    assert "pa55word!" not in str(caught.value)
    assert "failed" in str(caught.value)


def test_a_push_a_read_only_registry_refuses_is_an_error(
    project: Path, engine: DockerEngine
) -> None:
    (project / "Dockerfile").write_text("FROM scratch\nCOPY flows /flows\n")
    image = f"{engine.readonly_registry}/team/etl"
    run({BUILD: {"image_name": image, "tag": "1", "pull": False}})
    with pytest.raises(StepExecutionError) as caught:
        run({PUSH: {"image_name": image, "tag": "1"}})
    assert f"push of {image}:1 failed" in str(caught.value)


def test_no_engine_names_docker_host(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{project / 'no-engine.sock'}")
    with pytest.raises(StepExecutionError) as caught:
        run({BUILD: {"image_name": "x/y", "tag": "1"}})
    assert f"no Docker engine answers at DOCKER_HOST=unix://{project / 'no-engine.sock'}" in str(
        caught.value
    )
