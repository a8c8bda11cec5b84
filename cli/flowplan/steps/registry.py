"""Which function a step name runs: built-ins by Prefect's names and aliases, storage steps of
other integrations refused clearly, anything else imported by its dotted path when it runs."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from flowplan.errors import StepExecutionError
from flowplan.steps.catalog import lookup, suggest

BUILTINS: dict[str, str] = {
    "run_shell_script": "flowplan.steps.builtin.shell:run_shell_script",
    "pip_install_requirements": "flowplan.steps.builtin.shell:pip_install_requirements",
    "set_working_directory": "flowplan.steps.builtin.shell:set_working_directory",
    "git_clone": "flowplan.steps.builtin.git:git_clone",
    "build_docker_image": "flowplan.steps.builtin.docker:build_docker_image",
    "push_docker_image": "flowplan.steps.builtin.docker:push_docker_image",
}
_UNSUPPORTED = re.compile(r"^prefect_(aws|gcp|azure)\.|\.(push_to|pull_from)_(s3|gcs|azure)")


def _import(path: str) -> Callable[..., Any]:
    module, _, name = path.partition(":")
    function: Callable[..., Any] = getattr(importlib.import_module(module), name)
    return function


def _requirement_module(requirement: str) -> str:
    name = re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0]
    return name.replace("-", "_")


def _install(requirements: Sequence[str]) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", "install", *requirements],
                          capture_output=True, text=True, check=False)  # fmt: skip
    if done.returncode != 0:
        raise StepExecutionError(
            f"installing {', '.join(requirements)} failed: {done.stderr.strip()[-1000:]}"
        )


def resolve(name: str, requires: Sequence[str] = (), install: bool = False) -> Callable[..., Any]:
    """The callable for a step; user-defined steps are imported now, never earlier."""
    info = lookup(name)
    if info is not None and info.canonical in BUILTINS:
        return _import(BUILTINS[info.canonical])
    if _UNSUPPORTED.search(name) or info is not None:
        raise StepExecutionError(
            f"step {name!r} (cloud storage) is not supported by flowplan",
            hint="use git_clone or a Docker image to ship code",
        )
    close = suggest(name)
    if close and name.startswith(("prefect.", "prefect_docker.")):
        raise StepExecutionError(f"unknown step {name!r}", hint=f"did you mean {close!r}?")
    missing = []
    for requirement in requires:
        try:
            importlib.import_module(_requirement_module(requirement))
        except ImportError:
            missing.append(requirement)
    if missing and not install:
        raise StepExecutionError(
            f"step {name!r} requires {', '.join(missing)}, which is not installed",
            hint="install it, or pass --install-requirements to let flowplan pip-install it",
        )
    if missing:
        _install(missing)
        importlib.invalidate_caches()
    module, _, function = name.rpartition(".")
    # a project's own step module (`steps/deploy.py` -> `steps.deploy.tag_image`) imports from
    # the directory the steps run in, as in Prefect: no PYTHONPATH needed
    here = str(Path.cwd())
    added = here not in sys.path
    if added:
        sys.path.insert(0, here)
    try:
        return _import(f"{module}:{function}")
    except (ImportError, AttributeError, ValueError) as exc:
        raise StepExecutionError(f"cannot load step {name!r}: {exc}") from None
    finally:
        if added:
            sys.path.remove(here)
