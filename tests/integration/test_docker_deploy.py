"""The docker recipe's steps at deploy time, against podman and a real registry: plan predicts,
apply builds once per distinct configuration and pushes, the deployments get the image."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from flowplan.backends import get_backend
from flowplan.steps.builtin import docker as docker_steps
from tests.conftest import Result
from tests.engine_events import Builds
from tests.servers import DockerEngine, docker_engine

FLOW = "from prefect import flow\n\n@flow\ndef etl(day: str = 'today'):\n    pass\n"


def project_text(registry: str, tag: str | None, count: int = 10) -> str:
    tag_line = f"      tag: {tag}\n" if tag else ""
    lines = [
        "name: shop",
        "build:",
        "  - prefect_docker.deployments.steps.build_docker_image:",
        "      id: build-image",
        f"      image_name: {registry}/data/etl",
        tag_line.rstrip("\n") if tag else "      dockerfile: Dockerfile",
        "      pull: false",
        "push:",
        "  - prefect_docker.deployments.steps.push_docker_image:",
        "      image_name: '{{ build-image.image_name }}'",
        "      tag: '{{ build-image.tag }}'",
        "pull:",
        "  - prefect.deployments.steps.set_working_directory:",
        "      directory: /opt/prefect/shop",
        "work_pools:",
        "  - {name: docker-pool, type: docker}",
        "deployments:",
    ]
    for i in range(count):
        lines += [f"  - name: d{i}", "    entrypoint: flows/etl.py:etl",
                  "    work_pool:", "      name: docker-pool",
                  "      job_variables: {image: '{{ build-image.image }}'}"]  # fmt: skip
    return "\n".join(line for line in lines if line) + "\n"


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerEngine]:
    with docker_engine(tmp_path_factory.mktemp("podman")) as started:
        yield started


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every real image build, counted."""
    calls: list[dict[str, Any]] = []
    real = docker_steps.build_docker_image

    def counting(**kwargs: Any) -> dict[str, Any]:
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(docker_steps, "build_docker_image", counting)
    return calls


@pytest.fixture
def shop(
    project: Callable[..., Path], engine: DockerEngine, monkeypatch: pytest.MonkeyPatch
) -> Path:
    monkeypatch.setenv("DOCKER_HOST", engine.host)
    return project(
        {"flows/etl.py": FLOW, "Dockerfile": "FROM scratch\nCOPY flows /opt/prefect/shop/flows\n"}
    )


def test_ten_deployments_one_build_then_push_and_store_the_image(
    cli: Callable[..., Result], shop: Path, engine: DockerEngine, builds: list[dict[str, Any]]
) -> None:
    (shop / "prefect.yaml").write_text(project_text(engine.registry, "v1"))
    plan = cli("plan")
    assert plan.code == 0, plan.err
    assert f'+ job_variables: {{"image": "{engine.registry}/data/etl:v1"}}' in plan.out
    assert builds == []  # plan never builds
    applied = cli("apply", "--auto-approve")
    assert applied.code == 0, applied.err
    assert len(builds) == 1
    stored = get_backend().read_deployments()
    assert len(stored) == 10
    assert {d.job_variables["image"] for d in stored} == {f"{engine.registry}/data/etl:v1"}
    with urllib.request.urlopen(f"http://{engine.registry}/v2/data/etl/tags/list") as response:
        assert json.load(response)["tags"] == ["v1"]


def test_unpredictable_outputs_are_known_after_build(
    cli: Callable[..., Result], shop: Path, engine: DockerEngine, builds: list[dict[str, Any]]
) -> None:
    (shop / "prefect.yaml").write_text(project_text(engine.registry, None, count=2))
    plan = cli("plan")
    assert '+ job_variables: {"image": "(known after build)"}' in plan.out
    skipped = cli("apply", "--auto-approve", "--skip-build")
    assert skipped.code == 1 and "only known after build" in skipped.err
    assert builds == [] and get_backend().read_deployments() == []
    applied = cli("apply", "--auto-approve")
    assert applied.code == 0, applied.err
    assert len(builds) == 1
    images = {d.job_variables["image"] for d in get_backend().read_deployments()}
    assert len(images) == 1 and next(iter(images)).startswith(f"{engine.registry}/data/etl:")


def test_an_unchanged_re_apply_builds_nothing_and_a_changed_file_rebuilds(
    cli: Callable[..., Result], shop: Path, engine: DockerEngine
) -> None:
    client = docker.DockerClient(base_url=engine.host)
    (shop / "prefect.yaml").write_text(project_text(engine.registry, "v2"))
    counted = Builds(client)
    assert cli("apply", "--auto-approve").code == 0
    assert counted.since_start() == 1
    first = client.images.get(f"{engine.registry}/data/etl:v2").id
    (shop / "flows" / "etl.py").write_text(FLOW + "# unchanged deployments, changed image\n")
    counted = Builds(client)
    assert cli("apply", "--auto-approve").code == 0
    assert counted.since_start() == 1
    assert client.images.get(f"{engine.registry}/data/etl:v2").id != first
    counted = Builds(client)
    applied = cli("apply", "--auto-approve")
    assert applied.code == 0, applied.err
    assert counted.since_start() == 0
