"""`flowplan init` and `initialize_project`: recipes, inference, inputs, existing files."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from flowplan import initialize_project
from flowplan.domain.job_config import WorkPoolJobConfiguration
from flowplan.project.init import recipe_names
from tests.conftest import Result
from tests.servers import git

RECIPES = ["docker", "docker-git", "git", "kubernetes", "local"]
DOCKER_INPUTS = {"image_name": "registry.example.com/team/etl", "tag": "1.2"}


@pytest.fixture
def empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "my-project"
    root.mkdir()
    monkeypatch.chdir(root)
    return root


def loaded(root: Path) -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((root / "prefect.yaml").read_text())


def test_the_bundled_recipes() -> None:
    assert recipe_names() == RECIPES


@pytest.mark.parametrize("recipe", RECIPES)
def test_every_recipe_writes_a_file_that_validates(
    recipe: str, empty: Path, cli: Callable[..., Result]
) -> None:
    """Items 3 and 6: the keys, a name, the installed Prefect version (or the tested one)."""
    written = initialize_project(recipe=recipe, inputs=DOCKER_INPUTS if "docker" in recipe
                                 or recipe == "kubernetes" else None)  # fmt: skip
    assert {p.name for p in written} >= {"prefect.yaml", ".prefectignore"}
    data = loaded(empty)
    assert list(data)[:5] == ["name", "prefect-version", "build", "push", "pull"]
    assert data["name"] == "my-project" and data["prefect-version"] == "3.9.1"
    text = (empty / "prefect.yaml").read_text()
    assert text.startswith("# yaml-language-server: $schema=")
    result = cli("validate")
    assert result.code == 0, result.out + result.err


def test_fields_keep_everything_after_the_first_equals_sign(
    empty: Path, cli: Callable[..., Result]
) -> None:
    """Item 1 (the CLI splits at the first `=`)."""
    result = cli("init", "--recipe", "docker", "-f", "image_name=a/b", "-f", "tag=aGVsbG8gd29ybGQ=")
    assert result.code == 0, result.err
    assert loaded(empty)["build"][0]["prefect_docker.deployments.steps.build_docker_image"][
        "tag"] == "aGVsbG8gd29ybGQ="  # fmt: skip


def test_an_unknown_recipe(empty: Path, cli: Callable[..., Result]) -> None:
    """Item 2."""
    with pytest.raises(ValueError, match="Unknown recipe"):
        initialize_project(recipe="nope")
    result = cli("init", "--recipe", "nope")
    assert result.code == 1
    assert "unknown recipe 'nope' (recipes: docker, docker-git, git, kubernetes, local)" in (
        result.err
    )
    assert list(empty.iterdir()) == []


def test_git_recipe_with_only_a_repository(empty: Path) -> None:
    """Item 4: no git here, so the branch stays a literal placeholder."""
    initialize_project(recipe="git", inputs={"repository": "test-org/test-repo"})
    clone = loaded(empty)["pull"][0]["prefect.deployments.steps.git_clone"]
    assert clone == {"repository": "test-org/test-repo", "branch": "{{ branch }}",
                     "access_token": None}  # fmt: skip


def test_docker_recipe_pull_directory_and_image(empty: Path) -> None:
    """Items 5 and 7."""
    initialize_project(recipe="docker", inputs={"name": "test-dir", **DOCKER_INPUTS})
    data = loaded(empty)
    assert data["pull"][0]["prefect.deployments.steps.set_working_directory"] == {
        "directory": "/opt/prefect/test-dir"}  # fmt: skip
    assert list(data["build"][0]) == ["prefect_docker.deployments.steps.build_docker_image"]
    assert data["deployments"][0]["work_pool"]["job_variables"]["image"] == (
        "{{ build_image.image }}"
    )


def test_the_recipe_and_repository_come_from_git_and_a_dockerfile(
    empty: Path, cli: Callable[..., Result]
) -> None:
    git("init", "-q", "-b", "trunk", cwd=empty)
    git("remote", "add", "origin", "https://example.com/team/flows.git", cwd=empty)
    (empty / "Dockerfile").write_text("FROM scratch\n")
    result = cli("init", "-f", "image_name=x/y", "-f", "tag=1")
    assert result.code == 0, result.err
    assert "Using the 'docker-git' recipe" in result.err
    data = loaded(empty)
    assert data["pull"][0]["prefect.deployments.steps.git_clone"]["repository"] == (
        "https://example.com/team/flows.git"
    )
    assert data["pull"][0]["prefect.deployments.steps.git_clone"]["branch"] == "trunk"
    assert data["build"][0]["prefect_docker.deployments.steps.build_docker_image"][
        "dockerfile"] == "Dockerfile"  # fmt: skip


def test_missing_inputs_without_a_terminal_name_the_flag(
    empty: Path, cli: Callable[..., Result]
) -> None:
    result = cli("init", "--recipe", "docker", "-f", "tag=1")
    assert result.code == 1
    assert "the 'docker' recipe needs: image_name (no terminal to ask on)" in result.err
    assert "--field image_name=..." in result.err
    assert list(empty.iterdir()) == []


def test_existing_project_files_are_never_overwritten(
    empty: Path, cli: Callable[..., Result]
) -> None:
    (empty / "prefect.yaml").write_text("name: mine  # keep me\n")
    with pytest.raises(FileExistsError):
        initialize_project(recipe="local")
    result = cli("init", "--recipe", "local")
    assert result.code == 1
    assert "prefect.yaml already exists; nothing was written" in result.err
    assert (empty / "prefect.yaml").read_text() == "name: mine  # keep me\n"
    assert not (empty / ".prefectignore").exists()


def test_the_kubernetes_recipe_renders_a_valid_job(empty: Path) -> None:
    """The Job manifest the pool's template gives for the recipe's job variables passes the
    strict Kubernetes schemas (kubernetes-validate), with the image, namespace, service account
    and resources in place. A Dockerfile is written because there was none."""
    import kubernetes_validate

    written = initialize_project(recipe="kubernetes", inputs={**DOCKER_INPUTS,
                                 "namespace": "data", "memory_request": "1Gi"})  # fmt: skip
    assert {p.name for p in written} == {"prefect.yaml", "k8s-job-template.json", "Dockerfile",
                                         ".prefectignore"}  # fmt: skip
    data = loaded(empty)
    template = json.loads((empty / "k8s-job-template.json").read_text())
    assert data["work_pools"] == [{"name": "kubernetes-pool", "type": "kubernetes",
                                   "base_job_template": "k8s-job-template.json"}]  # fmt: skip
    variables = dict(data["deployments"][0]["work_pool"]["job_variables"])
    variables["image"] = "registry.example.com/team/etl:1.2"  # what the build step gives
    config = WorkPoolJobConfiguration.from_template(
        template, variables, {"command": "python -m flowplan.runtime.engine"}
    )
    manifest = config.extra["job_manifest"]
    job = manifest["spec"]["template"]["spec"]
    container = job["containers"][0]
    # what Prefect's kubernetes worker does before sending it: the command split, env as a list
    container["args"] = container["args"].split()
    container["env"] = [{"name": k, "value": v} for k, v in (container.get("env") or {}).items()]
    kubernetes_validate.validate(manifest, "1.30", strict=True)
    assert manifest["metadata"]["namespace"] == "data"
    assert job["serviceAccountName"] == "default"
    assert container["image"] == "registry.example.com/team/etl:1.2"
    assert container["resources"] == {"requests": {"cpu": "500m", "memory": "1Gi"}}
    broken = {**manifest, "spec": {**manifest["spec"], "backoffLimit": "six"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.30", strict=True)
    assert (empty / "Dockerfile").read_text().startswith("FROM python:3.11-slim")


def test_the_git_recipe_without_a_remote_refuses_naming_the_fields(
    empty: Path, cli: Callable[..., Result]
) -> None:
    """As the docker recipe refuses missing inputs: nothing is written with a literal
    `{{ repository }}` in it."""
    result = cli("init", "--recipe", "git")
    assert result.code == 1
    assert result.err.splitlines()[-1] == (
        "Error: the 'git' recipe needs: repository, branch (no terminal to ask on)"
        " (--field repository=... --field branch=...)"
    )
    assert list(empty.iterdir()) == []
    given = cli("init", "--recipe", "git", "-f", "repository=https://example.com/t/f.git",
                "-f", "branch=dev")  # fmt: skip
    assert given.code == 0, given.err
    assert "does not use" not in given.err
    assert loaded(empty)["pull"][0]["prefect.deployments.steps.git_clone"] == {
        "repository": "https://example.com/t/f.git",
        "branch": "dev",
        "access_token": None,
    }


def test_the_kubernetes_dockerfile_installs_what_runs_a_flow(empty: Path) -> None:
    """The pods run flowplan's engine, and the flows import Prefect: both are installed, at
    the versions the project was made with, before the project's own requirements."""
    from flowplan import __version__

    initialize_project(recipe="kubernetes", inputs=DOCKER_INPUTS)
    lines = (empty / "Dockerfile").read_text().splitlines()
    install = f'RUN pip install --no-cache-dir "prefect==3.9.1" "flowplan=={__version__}"'
    assert install in lines
    assert lines.index(install) < lines.index("COPY . .")
