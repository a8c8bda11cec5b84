"""The check at the end of `flowplan import`: what `plan` will say about what the import
added to the file (the new file's findings about it, positioned, and fields a plan would still
change), computed in memory before anything is written."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from flowplan.backends import variable_reader
from flowplan.backends.protocol import Backend
from flowplan.errors import InvalidInput
from flowplan.plan.compute import Actual, compute_plan
from flowplan.plan.desired import desired_state
from flowplan.project.model import build_project
from flowplan.project.validate import validate_file


@dataclass(frozen=True)
class Check:
    """The new file and what in it is new: deployments by (name, entrypoint), pools from
    `first_pool` on, the templates of those pools (not written yet), and deployments whose
    secret values became references (a plan changes them, as it should)."""

    file: Path
    shown: str
    text: str
    entries: Mapping[tuple[str, str], Mapping[str, Any]]  # by name and entrypoint
    first_pool: int
    templates: Mapping[str, Any]
    leaked: frozenset[str]


def check_import(
    check: Check, env: Mapping[str, str], backend: Backend, actual: Actual
) -> list[str]:
    """What `plan` will say about what the import added: the new file's findings about it,
    positioned, and fields a plan would still change (what a project file cannot say, such as
    the path a deployment was made from)."""
    if not check.entries:
        return []
    report = validate_file(check.file, check.shown, env=env, text=check.text)
    project = report.project
    configs = [c for c in project.deployments if (c.name, c.entrypoint) in check.entries] if (
        project) else []  # fmt: skip
    indexes = {c.index for c in configs}
    for config in configs:  # what was written reads back as what was meant, or it is a bug
        wanted = check.entries[(str(config.name), str(config.entrypoint))]
        if json.loads(json.dumps(wanted)) != config.data:
            raise AssertionError(f"deployments[{config.index}] does not read back as imported")

    def concerns(path: tuple[object, ...]) -> bool:
        if path[:1] == ("work_pools",):
            return len(path) > 1 and isinstance(path[1], int) and path[1] >= check.first_pool
        return path[:1] == ("deployments",) and len(path) > 1 and path[1] in indexes

    found = [f.render() for f in report.findings if concerns(f.path)]
    if not report.valid or project is None:
        return found
    # the templates are files the import has not written yet: planned from memory
    pools = [{k: v for k, v in p.items() if k != "base_job_template"}
             if isinstance(p, Mapping) and p.get("base_job_template") in check.templates else p
             for p in project.data.get("work_pools") or ()]  # fmt: skip
    project = build_project(project.file, {**project.data, "work_pools": pools}, project.root)
    try:
        desired = desired_state(project, report.flows, configs, variable=variable_reader(backend),
                                env=env)  # fmt: skip
        templates = {
            p.get("name"): check.templates[p["base_job_template"]]
            for p in project.data.get("work_pools") or ()
            if isinstance(p, Mapping) and p.get("base_job_template") in check.templates
        }
        desired = replace(desired, pools=tuple(
            replace(p, base_job_template=templates.get(p.name, p.base_job_template))
            for p in desired.pools))  # fmt: skip
        plan = compute_plan(desired, actual)
    except InvalidInput as exc:
        return [*found, f"plan will fail: {exc.message}"]
    for change in plan.changes:
        fields = [f.name for f in change.fields if f.name != "labels"]
        if change.action != "noop" and fields and change.key not in check.leaked:
            found.append(f"{change.kind.replace('_', ' ')} {change.key!r}: plan will still show"
                         f" a change of {', '.join(fields)} (a project file cannot say what the"
                         " target holds there)")  # fmt: skip
    return found
