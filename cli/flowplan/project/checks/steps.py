"""Step function names: known built-ins, Prefect aliases, typos, unsupported integrations."""

from __future__ import annotations

from collections.abc import Iterator

from flowplan.findings import Finding, error, warning
from flowplan.project.model import Project, Step, steps_of
from flowplan.steps.catalog import CLOSED_NAMESPACES, lookup, suggest

_STORAGE = ("push_to_s3", "pull_from_s3", "push_to_gcs", "pull_from_gcs",
            "push_to_azure_blob_storage", "pull_from_azure_blob_storage")  # fmt: skip


def all_steps(project: Project) -> Iterator[Step]:
    """Every step written in the file, once (top level and per deployment)."""
    for action in ("build", "push", "pull"):
        yield from steps_of(project.data.get(action), (action,)) or ()
        for deployment in project.deployments:
            if action in deployment.data:
                yield from steps_of(deployment.data[action], (*deployment.path, action)) or ()


def check(project: Project) -> Iterator[Finding]:
    for step in all_steps(project):
        yield from _check_function(step)


def _check_function(step: Step) -> Iterator[Finding]:
    name = step.function
    path = (*step.path, name)
    info = lookup(name)
    if info is not None:
        if ".projects.steps." in name:
            modern = name.replace(".projects.steps.", ".deployments.steps.")
            yield warning(
                "legacy-step-name",
                f"{name} is a Prefect 2 name that Prefect 3 no longer has",
                path,
                f"write {modern}",
            )
        if info.canonical in _STORAGE:
            yield warning(
                "unsupported-step",
                f"flowplan cannot run {info.canonical} (cloud storage steps are not supported)",
                path,
                "ship code with git_clone or a Docker image instead",
            )
        return
    close = suggest(name)
    hint = f"did you mean {close}?" if close else None
    if "." not in name:
        yield error("unknown-step", f"step function {name!r} is not an import path", path, hint)
    elif name.startswith(CLOSED_NAMESPACES):
        yield error("unknown-step", f"unknown step function {name!r}", path, hint)
