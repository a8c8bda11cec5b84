"""`flowplan init`: a new project's `prefect.yaml` (and `.prefectignore`) from a recipe.

Recipes live in `recipes/<name>/prefect.yaml`: a description, `required_inputs`, optional
`defaults`, and the file's sections with `{{ placeholders }}`. The values: `name` (the folder's
name), `directory` (its absolute path), `repository` and `branch` (from git), `dockerfile`
(`Dockerfile` when there is one, else `auto`), the recipe's defaults, then the user's inputs.
Placeholders without a value stay as written (`{{ build_image.image }}` is for deploy time).
"""

from __future__ import annotations

import io
import json
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowplan import files
from flowplan.resources import data_dir

SCHEMA_URL = "https://flowplan.dev/schemas/prefect.yaml.schema.json"
TESTED_PREFECT = "3.9.1"
K8S_TEMPLATE = "k8s-job-template.json"
_SECTIONS = (
    ("build", "the build section: how this project's images are built"),
    ("push", "the push section: how this project is uploaded to remote locations"),
    ("pull", "the pull section: how this project is fetched where its flows run"),
    ("deployments", "the deployments section: what is deployed, and how it runs"),
    ("work_pools", "work pools flowplan creates and keeps in step (a flowplan extension)"),
)
PREFECTIGNORE = """\
# files the push-to-storage steps leave out (gitignore syntax)
.prefectignore

# python artifacts
__pycache__/
*.py[cod]
*$py.class
*.egg-info/
*.egg

# type checking artifacts
.mypy_cache/
.dmypy.json
dmypy.json
.pyre/

# ipython
profile_default/
ipython_config.py
*.ipynb_checkpoints/*

# environments
.python-version
.env
.venv
env/
venv/

# macOS
.DS_Store

# dask
dask-worker-space/

# editors
.idea/
.vscode/

# VCS
.git/
.hg/
"""
DOCKERFILE = """\
FROM python:3.11-slim
WORKDIR /opt/prefect/{name}
# what runs a flow run in the pod: flowplan's engine, and Prefect, which the flows import
RUN pip install --no-cache-dir "prefect=={prefect}" "flowplan=={flowplan}"
COPY requirements.txt* ./
RUN if [ -f requirements.txt ]; then pip install --no-cache-dir -r requirements.txt; fi
COPY . .
"""


@dataclass(frozen=True)
class Recipe:
    name: str
    description: str
    required: dict[str, str]  # input -> what it is
    defaults: dict[str, Any]
    body: dict[str, Any]  # the sections, still templated


def recipe_names() -> list[str]:
    root = data_dir("recipes")
    return sorted(p.name for p in root.iterdir() if (p / "prefect.yaml").is_file())


def load_recipe(name: str) -> Recipe:
    path = data_dir("recipes") / name / "prefect.yaml"
    if "/" in name or not path.is_file():
        raise ValueError(f"Unknown recipe {name!r} provided.")
    from ruamel.yaml import YAML

    data = YAML(typ="safe").load(files.read_text(path)) or {}
    return Recipe(
        name=name,
        description=str(data.pop("description", "") or "(no description available)"),
        required=dict(data.pop("required_inputs", None) or {}),
        defaults=dict(data.pop("defaults", None) or {}),
        body=data,
    )


def _git(directory: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(directory), *args], capture_output=True,
                              text=True, timeout=10)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def git_facts(directory: Path) -> dict[str, str]:
    """`repository` (the `origin` remote) and `branch` (the current one, else main)."""
    remote = _git(directory, "remote", "get-url", "origin")
    if remote is None:
        return {}
    branch = _git(directory, "symbolic-ref", "--short", "HEAD")  # also before the first commit
    return {"repository": remote, "branch": branch or "main"}


def infer_recipe(directory: Path) -> str:
    """docker-git with a git remote and a Dockerfile, git or docker with one, else local."""
    remote = bool(git_facts(directory))
    dockerfile = (directory / "Dockerfile").is_file()
    if remote and dockerfile:
        return "docker-git"
    return "git" if remote else "docker" if dockerfile else "local"


def template_values(
    directory: Path, recipe: Recipe, inputs: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    values: dict[str, Any] = {"directory": str(directory.resolve()), "name": directory.name}
    values.update(git_facts(directory))
    if (directory / "Dockerfile").is_file() or recipe.name == "kubernetes":
        values["dockerfile"] = "Dockerfile"  # kubernetes writes one when there is none
    elif "docker" in recipe.name:
        values["dockerfile"] = "auto"
    values.update(recipe.defaults)
    values.update(inputs or {})
    return values


def unfilled(recipe: Recipe, values: Mapping[str, Any]) -> list[str]:
    """The recipe's plain placeholders (`{{ repository }}`, not `{{ build_image.image }}`, which
    a step fills at deploy time) that `values` leave empty, in the order they appear."""
    import re

    found: list[str] = []

    def walk(item: Any) -> None:
        if isinstance(item, str):
            for name in re.findall(r"\{\{\s*([A-Za-z_]\w*)\s*\}\}", item):
                if name not in values and name not in found:
                    found.append(name)
        elif isinstance(item, dict):
            for value in item.values():
                walk(value)
        elif isinstance(item, list):
            for value in item:
                walk(value)

    walk(recipe.body)
    return found


def _prefect_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("prefect")
    except metadata.PackageNotFoundError:
        return TESTED_PREFECT


def render_project(name: str, recipe: Recipe, values: Mapping[str, Any]) -> str:
    """The text of the new `prefect.yaml`."""
    from ruamel.yaml import YAML

    from flowplan.templating import apply_values

    body = apply_values(recipe.body, values, remove_notset=False)
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 4096
    yaml.representer.add_representer(
        type(None), lambda rep, _: rep.represent_scalar("tag:yaml.org,2002:null", "null")
    )

    def dump(data: dict[str, Any]) -> str:
        stream = io.StringIO()
        yaml.dump(data, stream)
        return stream.getvalue()

    parts = [
        f"# yaml-language-server: $schema={SCHEMA_URL}\n"
        "# Welcome to your prefect.yaml file! Check it with 'flowplan validate', see what would\n"
        "# change with 'flowplan plan', and deploy with 'flowplan deploy' or 'flowplan apply'.\n\n"
        "# generic metadata about this project\n"
        + dump({"name": name, "prefect-version": _prefect_version()})
    ]
    for key, comment in _SECTIONS:
        if key in body or key != "work_pools":
            parts.append(f"# {comment}\n" + dump({key: body.get(key)}))
    return "\n".join(parts)


def k8s_job_template() -> dict[str, Any]:
    """Prefect's kubernetes base job template plus CPU and memory requests for the container."""
    from flowplan.domain.job_templates import default_template

    template = default_template("kubernetes")
    properties = template["variables"]["properties"]
    properties["cpu_request"] = {"title": "CPU request", "type": "string", "default": "500m",
                                 "description": "CPU the job's container requests."}  # fmt: skip
    properties["memory_request"] = {"title": "Memory request", "type": "string",
                                    "default": "512Mi",
                                    "description": "Memory the container requests."}  # fmt: skip
    job = template["job_configuration"]["job_manifest"]["spec"]
    pod = job["template"]["spec"]
    # Prefect's template puts these in the pod spec, where strict validation refuses them:
    # they belong to the Job
    for key in ("parallelism", "completions"):
        if key in pod:
            job[key] = pod.pop(key)
    container = pod["containers"][0]
    container["resources"] = {
        "requests": {"cpu": "{{ cpu_request }}", "memory": "{{ memory_request }}"}
    }
    return template


def initialize_project(
    name: str | None = None,
    recipe: str | None = None,
    inputs: Mapping[str, Any] | None = None,
    directory: Path | str | None = None,
) -> list[Path]:
    """Write a new project into `directory` (default: the current one) and return the files
    written. A recipe is inferred when none is given. Raises ValueError for an unknown recipe
    and FileExistsError when the project file (or the kubernetes job template) exists: nothing
    is written then. An existing `.prefectignore` or `Dockerfile` is kept."""
    root = Path(directory or ".").resolve()
    chosen = load_recipe(recipe or infer_recipe(root))
    targets = [root / "prefect.yaml"] + ([root / K8S_TEMPLATE] if chosen.name == "kubernetes"
                                          else [])  # fmt: skip
    for target in targets:
        if target.exists():
            raise FileExistsError(f"{target} already exists")
    values = template_values(root, chosen, inputs)
    text = render_project(name or root.name, chosen, values)
    written = []
    files = {root / "prefect.yaml": text}
    if chosen.name == "kubernetes":
        files[root / K8S_TEMPLATE] = json.dumps(k8s_job_template(), indent=2) + "\n"
        if not (root / "Dockerfile").exists():
            from flowplan import __version__

            files[root / "Dockerfile"] = DOCKERFILE.format(
                name=values["name"], prefect=_prefect_version(), flowplan=__version__
            )
    if not (root / ".prefectignore").exists():
        files[root / ".prefectignore"] = PREFECTIGNORE
    for path, content in files.items():
        path.write_text(content, encoding="utf-8")
        written.append(path)
    return written
