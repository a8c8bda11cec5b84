"""From a project file and a command line to a Plan: validate, select, render, read, diff."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from flowplan import files
from flowplan.backends import variable_reader
from flowplan.backends.protocol import Backend
from flowplan.errors import InvalidInput, UsageError
from flowplan.plan.builds import predicted
from flowplan.plan.compute import PlanOptions, compute_plan, left_behind
from flowplan.plan.desired import Overrides, desired_state, select
from flowplan.plan.kubernetes import JobsInvalid, RenderedJob, kubernetes_jobs, new_findings
from flowplan.plan.model import Plan
from flowplan.plan.specs import Desired
from flowplan.plan.target import read_actual
from flowplan.project.model import DeploymentConfig
from flowplan.project.validate import FileReport


@dataclass(frozen=True)
class Request:
    names: tuple[str, ...] = ()
    everything: bool = False
    prune: bool = False
    max_delete: int | None = None
    overrides: Overrides | None = None


def file_hash(path: Path) -> str:
    try:
        return hashlib.sha256(files.read_bytes(path)).hexdigest()
    except files.UnreadableFile:
        return ""


def make_plan(
    report: FileReport,
    request: Request,
    backend: Backend,
    env: Mapping[str, str] | None = None,
    outputs: Callable[[DeploymentConfig], Mapping[str, Any]] | None = None,
) -> Plan:
    """The plan for a validated project (`report` without errors). Build and push outputs come
    from `outputs` (by default: predicted, since a plan never runs steps). The Kubernetes Jobs
    of the selected deployments are checked first: all their errors at once (JobsInvalid)."""
    project = report.project
    assert project is not None
    configs, desired = _desired(report, request, backend, env, outputs)
    actual = read_actual(backend)
    fresh = new_findings(report, kubernetes_jobs(report, configs, desired, actual))
    errors = [finding for finding in fresh if finding.severity == "error"]
    if errors:
        raise JobsInvalid(errors)
    plan = compute_plan(desired, actual, PlanOptions(request.prune, request.max_delete))
    if fresh:
        plan = replace(plan, warnings=(*plan.warnings, *(f.render() for f in fresh)))
    if not request.prune and not request.names and (gone := left_behind(desired, actual)):
        names = ", ".join(repr(name) for name in gone)
        plan = replace(plan, warnings=(*plan.warnings, (
            f"{names} {'is' if len(gone) == 1 else 'are'} no longer in {project.file.name} but"
            " still on the target (made by this project): --prune deletes"
            f" {'it' if len(gone) == 1 else 'them'}"),
        ))  # fmt: skip
    return replace(plan, target=backend.target, project_hash=file_hash(project.file))


def render_jobs(
    report: FileReport,
    request: Request,
    backend: Backend,
    env: Mapping[str, str] | None = None,
) -> list[RenderedJob]:
    """The Kubernetes Job of each selected deployment on a kubernetes pool, as a plan renders
    it, with all its findings (`plan --render-jobs`)."""
    configs, desired = _desired(report, request, backend, env, None)
    return kubernetes_jobs(report, configs, desired, read_actual(backend))


def _desired(
    report: FileReport,
    request: Request,
    backend: Backend,
    env: Mapping[str, str] | None,
    outputs: Callable[[DeploymentConfig], Mapping[str, Any]] | None,
) -> tuple[list[DeploymentConfig], Desired]:
    project = report.project
    assert project is not None
    if request.prune and request.names:
        raise UsageError(
            "--prune needs the whole project: it cannot be combined with -n/--name",
            hint="run 'flowplan plan --prune' without -n",
        )
    configs, unmatched = select(project, report.flows, request.names, request.everything)
    if unmatched:
        known = ", ".join(c.name for c in project.deployments if c.name) or "none"
        raise InvalidInput(
            f"no deployment in {report.file} matches: {', '.join(unmatched)} (deployments: {known})"
        )

    desired = desired_state(
        project, report.flows, configs, variable=variable_reader(backend),
        env=env, overrides=request.overrides,
        outputs=outputs or predicted(variable_reader(backend)),
    )  # fmt: skip
    return configs, desired
