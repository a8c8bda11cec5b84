"""Entrypoints: format, inside the project, the file and function exist, it is a flow, and
`parameters` fit its signature. Source files are parsed with `ast`, never imported."""

from __future__ import annotations

import difflib
import re
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from flowplan.discovery.flows import (
    FlowInfo,
    ParsedSource,
    SourceProblem,
    scan_file,
)
from flowplan.findings import Finding, Path_, error, warning
from flowplan.project.model import DeploymentConfig, Project
from flowplan.schema_validator import Validator
from flowplan.templating import has_placeholder

_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")
_MODULE = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


@dataclass
class SourceIndex:
    """Source files of one project, each parsed and scanned once."""

    _scanned: dict[Path, ParsedSource | SourceProblem] = field(default_factory=dict)

    def scan(self, file: Path, display: str) -> ParsedSource | SourceProblem:
        if file not in self._scanned:
            self._scanned[file] = scan_file(file, display, prefilter=False)
        return self._scanned[file]


@dataclass(frozen=True)
class Target:
    file: Path | None  # None: a module path that is not inside the project
    function: str
    display: str


def check(project: Project, flows: dict[int, FlowInfo]) -> Iterator[Finding]:
    """Yields findings; fills `flows` with the flow found for each deployment index."""
    index = SourceIndex()
    for deployment in project.deployments:
        entrypoint = deployment.data.get("entrypoint")
        path = (*deployment.path, "entrypoint")
        if entrypoint is None:
            if deployment.is_placeholder:
                continue  # one warning for the whole placeholder (checks/deployments.py)
            yield error(
                "entrypoint-missing",
                "deployment has no entrypoint",
                deployment.path,
                "add entrypoint: path/to/file.py:flow_function",
            )
            continue
        if not isinstance(entrypoint, str) or has_placeholder(entrypoint):
            continue
        target = yield from _target(project.root, entrypoint, path, project.directory)
        if target is None or target.file is None:
            continue
        flow = yield from _flow(index, target, path)
        if flow is not None:
            if flow.name_problem:
                yield warning(
                    "flow-name", f"{flow.name_problem}; flowplan uses {flow.name!r}", path
                )
            for problem in flow.schema_problems:
                yield warning("flow-source", f"{flow.name}: {problem}", path)
            flows[deployment.index] = flow
            yield from _parameters(deployment, flow)


def _target(
    root: Path, entrypoint: str, path: Path_, file_directory: Path
) -> Generator[Finding, None, Target | None]:
    text = entrypoint.strip()
    if ":" not in text and text.endswith(".py"):
        yield error(
            "entrypoint-format",
            f"entrypoint {entrypoint!r} names a file but not the flow function in it",
            path,
            f"write {text}:flow_function",
        )
        return None
    if ":" in text:
        location, _, function = text.rpartition(":")
    else:
        location, _, function = text.rpartition(".")
        if not location:
            yield error(
                "entrypoint-format",
                f"entrypoint {entrypoint!r} names no file or module",
                path,
                "write path/to/file.py:flow_function",
            )
            return None
    if not _IDENTIFIER.fullmatch(function):
        yield error(
            "entrypoint-format",
            f"{function!r} is not a function name",
            path,
            "write path/to/file.py:flow_function",
        )
        return None
    if "\\" in location:
        yield error(
            "entrypoint-format",
            f"entrypoint {entrypoint!r} uses backslashes",
            path,
            "use forward slashes: they work on every system",
        )
        return None
    if not location.endswith(".py") and _MODULE.fullmatch(location):
        return (yield from _module_target(root, location, function, path))
    if Path(location).is_absolute():
        yield error(
            "entrypoint-outside",
            f"entrypoint {entrypoint!r} is an absolute path",
            path,
            "write it relative to the project root",
        )
        return None
    problem = _path_problem(root, location)
    if problem:
        yield error("entrypoint-format", f"entrypoint {entrypoint!r}: {problem}", path)
        return None
    file = _resolve(root, location)
    if not file.is_relative_to(root):
        yield error(
            "entrypoint-outside",
            f"entrypoint {entrypoint!r} leaves the project root",
            path,
            f"the project root is {root}",
        )
        return None
    if not file.exists():  # a directory, FIFO or device is reported by the scan, saying so
        hint = f"entrypoints are relative to the directory flowplan runs in, {root}"
        if file_directory != root and (file_directory / location).is_file():
            hint += (f"; it exists relative to {file_directory}: run from there, as Prefect"
                     " would need too")  # fmt: skip
        yield error(
            "entrypoint-not-found", f"entrypoint file {location!r} does not exist", path, hint
        )
        return None
    return Target(file, function, location)


def _path_problem(root: Path, location: str) -> str | None:
    """What makes `location` unusable as a path before the file system is asked: a NUL byte,
    text that is not valid Unicode, a name longer than the system allows."""
    if "\0" in location:
        return "a path cannot contain a NUL character"
    try:
        location.encode("utf-8")
    except UnicodeEncodeError:
        return "the path is not valid Unicode text"
    try:
        _resolve(root, location).is_file()
    except OSError as exc:
        return f"cannot use this path: {exc.strerror or exc}"
    return None


@lru_cache(maxsize=4096)
def _resolve(root: Path, location: str) -> Path:
    return (root / location).resolve()


def _module_target(
    root: Path, module: str, function: str, path: Path_
) -> Generator[Finding, None, Target]:
    relative = module.replace(".", "/")
    for candidate in (root / f"{relative}.py", root / relative / "__init__.py"):
        if candidate.is_file() and candidate.resolve().is_relative_to(root):
            return Target(candidate.resolve(), function, module)
    yield warning(
        "entrypoint-module",
        f"module {module!r} is not a file in this project;"
        " it cannot be checked without importing it",
        path,
    )
    return Target(None, function, module)


def _flow(
    index: SourceIndex, target: Target, path: Path_
) -> Generator[Finding, None, FlowInfo | None]:
    assert target.file is not None
    scanned = index.scan(target.file, target.display)
    if isinstance(scanned, SourceProblem):
        yield error("entrypoint-source", f"cannot check the flow: {scanned.render()}", path)
        return None
    flows = {flow.function: flow for flow in scanned.flows}
    defined = scanned.functions
    if target.function in flows:
        return flows[target.function]
    if target.function in defined:
        yield error(
            "entrypoint-not-flow",
            f"{target.function} in {target.display} is not a flow",
            path,
            "decorate it with @flow (from prefect or flowplan)",
        )
        return None
    close = difflib.get_close_matches(target.function, sorted(flows) or sorted(defined), 1, 0.6)
    listed = ", ".join(sorted(flows)) or "none"
    hint = f"did you mean {close[0]!r}?" if close else f"flows in that file: {listed}"
    yield error(
        "entrypoint-function", f"{target.display} has no function {target.function!r}", path, hint
    )
    return None


def _parameters(deployment: DeploymentConfig, flow: FlowInfo) -> Iterator[Finding]:
    given = deployment.data.get("parameters")
    given = given if isinstance(given, dict) else {}
    path = (*deployment.path, "parameters")
    yield from check_parameter_values(given, flow, path)
    for schedule_path, item in deployment.schedules():
        extra = item.get("parameters")
        if isinstance(extra, dict):
            yield from check_parameter_values(extra, flow, (*schedule_path, "parameters"))
    triggers = deployment.data.get("triggers")  # not a list: the schema says so
    from_triggers = {
        name
        for trigger in (triggers if isinstance(triggers, list) else ())
        if isinstance(trigger, dict) and isinstance(trigger.get("parameters"), dict)
        for name in trigger["parameters"]
    }
    missing = [p.name for p in flow.parameters if p.required and p.name not in given]
    for name in missing:
        # a schedule that does not give it makes runs that can only fail
        for schedule_path, item in deployment.schedules():
            extra = item.get("parameters")
            if item.get("active") is not False and not (isinstance(extra, dict) and name in extra):
                yield error(
                    "parameter-missing-scheduled",
                    f"required parameter {name!r} of {flow.name} has no value, so every run of"
                    " this schedule would fail",
                    schedule_path,
                    "give it under the deployment's parameters, or this schedule's parameters",
                )
                break
        else:
            if name in from_triggers:
                continue  # the runs its triggers make supply it
            yield warning(
                "parameter-missing",
                f"required parameter {name!r} of {flow.name} has no value",
                path,
                "give it under parameters, or every run must pass it",
            )


def check_parameter_values(
    given: Mapping[str, Any], flow: FlowInfo, path: Path_
) -> Iterator[Finding]:
    known = {p.name: p for p in flow.parameters if not p.variadic}
    for name, value in given.items():
        parameter = known.get(name)
        if parameter is None:
            if flow.accepts_any_keyword:
                continue
            close = difflib.get_close_matches(name, list(known), 1, 0.6)
            listed = ", ".join(known) or "none"
            hint = f"did you mean {close[0]!r}?" if close else f"it takes: {listed}"
            yield error(
                "parameter-unknown", f"{flow.name} has no parameter {name!r}", (*path, name), hint
            )
            continue
        if not parameter.schema or _contains_placeholder(value):
            continue
        for issue in Validator(parameter.validation_schema()).issues(value):
            yield error(
                "parameter-type",
                f"parameter {name!r} ({parameter.annotation}): {issue.message}",
                (*path, name, *issue.path),
            )


def _contains_placeholder(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_contains_placeholder(v) for v in value.values())
    if isinstance(value, list):
        return any(_contains_placeholder(v) for v in value)
    return has_placeholder(value)
