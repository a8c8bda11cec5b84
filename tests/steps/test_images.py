"""The build context flowplan sends and its digest (no engine needed): what changes the digest,
what does not, and the auto Dockerfile's text."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from flowplan.errors import StepExecutionError
from flowplan.steps.builtin import images


@pytest.fixture
def root(tmp_path: Path) -> Path:
    project = tmp_path / "shop"
    (project / "flows").mkdir(parents=True)
    (project / "flows" / "etl.py").write_text("print('etl')\n")
    (project / "Dockerfile").write_text("FROM scratch\nCOPY flows /flows\n")
    (project / ".dockerignore").write_text("# comment\nnotes/\n")
    return project


def digest(root: Path, **options: object) -> str:
    return images.user_context(root, "Dockerfile").digest(options, {})


def test_the_digest_follows_content_options_and_mode_not_ignored_files(root: Path) -> None:
    first = digest(root)
    assert digest(root) == first
    (root / "notes").mkdir()
    (root / "notes" / "todo.txt").write_text("ignored by .dockerignore\n")
    (root / "flows" / "__pycache__").mkdir()
    (root / "flows" / "__pycache__" / "etl.cpython-311.pyc").write_bytes(b"bytecode")
    assert digest(root) == first
    assert digest(root, buildargs={"A": "1"}) != first
    (root / "flows" / "etl.py").chmod(0o755)
    executable = digest(root)
    assert executable != first
    (root / "flows" / "etl.py").write_text("print('changed')\n")
    assert digest(root) not in (first, executable)
    context = images.user_context(root, "Dockerfile")
    assert context.digest({}, {"python:3.11-slim": "sha256:a"}) != context.digest(
        {}, {"python:3.11-slim": "sha256:b"}
    )


def test_the_tar_holds_what_the_digest_covers(root: Path) -> None:
    (root / "notes").mkdir()
    (root / "notes" / "todo.txt").write_text("x\n")
    buffer = io.BytesIO()
    images.user_context(root, "Dockerfile").write(buffer)
    buffer.seek(0)
    with tarfile.open(fileobj=buffer) as archive:
        names = sorted(archive.getnames())
    assert names == [".dockerignore", "Dockerfile", "flows", "flows/etl.py"]


def test_the_auto_dockerfile_installs_flowplan_then_the_requirements(root: Path) -> None:
    (root / "Dockerfile").unlink()
    (root / "requirements.txt").write_text("rich>=13  # installed here\n")
    context = images.auto_context(root, "python:3.11-slim")
    lines = context.dockerfile_text().splitlines()
    assert lines[0] == "FROM python:3.11-slim"
    assert lines[1] == "COPY .flowplan-wheels /opt/flowplan/wheels"
    assert "--no-index --find-links /opt/flowplan/wheels flowplan &&" in lines[2]
    assert "--force-reinstall /opt/flowplan/wheels/flowplan-" in lines[2]
    assert lines[3:] == [
        "COPY project/requirements.txt /opt/prefect/shop/requirements.txt",
        "RUN python -m pip install --no-cache-dir --disable-pip-version-check --no-index "
        "--find-links /opt/flowplan/wheels -r /opt/prefect/shop/requirements.txt",
        "COPY project/ /opt/prefect/shop/",
        "WORKDIR /opt/prefect/shop/",
    ]
    names = {dist.metadata["Name"].lower() for dist in context.bundle}
    assert {"flowplan", "rich"} <= names
    assert "prefect" not in names  # the project does not use it


def test_requirements_not_installed_here_are_left_to_the_index(root: Path) -> None:
    (root / "Dockerfile").unlink()
    (root / "requirements.txt").write_text("rich\nno-such-distribution-here==1.0\n")
    text = images.auto_context(root, "python:3.11-slim").dockerfile_text()
    install = next(line for line in text.splitlines() if "-r /opt/prefect" in line)
    assert "--no-index" not in install and "--find-links /opt/flowplan/wheels" in install


def test_a_missing_dockerfile_is_a_clear_error(root: Path) -> None:
    with pytest.raises(StepExecutionError, match="Dockerfile 'docker/Dockerfile' not found"):
        images.user_context(root, "docker/Dockerfile")


def test_the_default_base_image_follows_the_running_python() -> None:
    import sys

    assert images.default_base_image({}) == (
        f"python:{sys.version_info.major}.{sys.version_info.minor}-slim"
    )
    assert images.default_base_image({"FLOWPLAN_DOCKER_BASE_IMAGE": "mine:1"}) == "mine:1"
