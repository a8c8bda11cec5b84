"""The typed project model, built from schema-valid data, with Prefect's merge rules.

Steps keep the path they were written at, so that every later check can point at them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from flowplan.findings import Path_
from flowplan.steps.mapping import split_step


@dataclass(frozen=True)
class Step:
    """One step: its function name, its arguments (with `id`/`requires` taken out) and origin."""

    function: str
    arguments: Mapping[str, Any]
    id: str | None
    requires: tuple[str, ...]
    path: Path_  # where the step's mapping was written

    @property
    def argument_path(self) -> Path_:
        return (*self.path, self.function)

    def as_mapping(self) -> dict[str, Any]:
        """The step as written (`{function: {arguments..., id, requires}}`), for the runner."""
        arguments = dict(self.arguments)
        if self.id is not None:
            arguments["id"] = self.id
        if self.requires:
            arguments["requires"] = list(self.requires)
        return {self.function: arguments}


@dataclass(frozen=True)
class DeploymentConfig:
    index: int
    data: Mapping[str, Any]  # the deployment as written (after YAML merge keys)
    build: tuple[Step, ...]
    push: tuple[Step, ...]
    pull: tuple[Step, ...]
    pull_is_explicit_empty: bool  # `pull: []` means "no pull steps, no default"

    @property
    def path(self) -> Path_:
        return ("deployments", self.index)

    @property
    def is_placeholder(self) -> bool:
        """The untouched deployment `prefect init` writes: no name and no entrypoint."""
        return self.data.get("name") is None and self.data.get("entrypoint") is None

    @property
    def name(self) -> str | None:
        value = self.data.get("name")
        return value if isinstance(value, str) else None

    @property
    def entrypoint(self) -> str | None:
        value = self.data.get("entrypoint")
        return value if isinstance(value, str) else None

    def schedules(self) -> list[tuple[Path_, Mapping[str, Any]]]:
        """Schedule items with their paths; the legacy `schedule` key becomes one item."""
        items: list[tuple[Path_, Mapping[str, Any]]] = []
        legacy = self.data.get("schedule")
        if isinstance(legacy, dict) and legacy:
            items.append(((*self.path, "schedule"), legacy))
        for index, item in enumerate(items_of(self.data.get("schedules"))):
            if isinstance(item, dict):
                items.append(((*self.path, "schedules", index), item))
        return items


@dataclass(frozen=True)
class Project:
    """A loaded project file. `root` is where entrypoints, template files and the default
    working directory are resolved: the directory flowplan runs in, as Prefect resolves them
    (so `--prefect-file sub/prefect.yaml` from a repository's root works as in Prefect)."""

    file: Path
    data: Mapping[str, Any]
    deployments: tuple[DeploymentConfig, ...]
    root: Path

    @cached_property
    def directory(self) -> Path:
        """The directory holding the project file (it names a project without `name:`)."""
        return self.file.resolve().parent

    @property
    def name(self) -> str | None:
        value = self.data.get("name")
        return value if isinstance(value, str) else None


def items_of(value: Any) -> tuple[Any, ...]:
    """The items of a list; anything else (a wrong type the schema reports) gives none."""
    return tuple(value) if isinstance(value, list) else ()


def steps_of(value: Any, path: Path_) -> tuple[Step, ...] | None:
    """Steps from an action value; a single mapping is a one-item list. None when unset/null."""
    if value is None or value == {}:
        return None
    if isinstance(value, dict):
        items: list[tuple[Path_, Any]] = [(path, value)]
    elif isinstance(value, list):
        items = [((*path, index), item) for index, item in enumerate(value)]
    else:
        return None
    steps = []
    for item_path, item in items:
        if not isinstance(item, dict) or len(item) != 1:
            continue  # empty items are skipped, as Prefect does; bad ones are schema errors
        call = split_step(item)
        steps.append(Step(call.function, call.arguments, call.id, call.requires, item_path))
    return tuple(steps)


def effective_actions(
    top: Mapping[str, Any], deployment: Mapping[str, Any], path: Path_
) -> tuple[tuple[Step, ...], tuple[Step, ...], tuple[Step, ...], bool]:
    """(build, push, pull, pull_is_explicit_empty) for one deployment (PREFECT-COMPAT 1.6).

    build: absent -> top-level; null or [] -> none; a list -> the deployment's.
    push:  absent, null or [] -> top-level; a list -> the deployment's.
    pull:  absent or null -> top-level; [] -> explicitly none; a list -> the deployment's.
    """
    top_build = steps_of(top.get("build"), ("build",)) or ()
    top_push = steps_of(top.get("push"), ("push",)) or ()
    top_pull = steps_of(top.get("pull"), ("pull",)) or ()

    if "build" in deployment:
        build = steps_of(deployment["build"], (*path, "build")) or ()
    else:
        build = top_build
    push = steps_of(deployment.get("push"), (*path, "push")) or top_push

    own_pull = deployment.get("pull")
    if own_pull == []:
        return build, push, (), True
    if own_pull is not None and own_pull != {}:
        return build, push, steps_of(own_pull, (*path, "pull")) or (), False
    return build, push, top_pull, top.get("pull") == []


def build_project(file: Path, data: Mapping[str, Any], root: Path | None = None) -> Project:
    deployments = []
    raw = data.get("deployments")
    for index, item in enumerate(raw if isinstance(raw, list) else ()):
        if not isinstance(item, dict):
            continue
        path: Path_ = ("deployments", index)
        build, push, pull, explicit_empty = effective_actions(data, item, path)
        deployments.append(DeploymentConfig(index, item, build, push, pull, explicit_empty))
    return Project(file, data, tuple(deployments), (root or Path.cwd()).resolve())
