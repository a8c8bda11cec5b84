"""`flowplan import`: live deployments (with their pools and queues) into `prefect.yaml`.

Read the target once; select with `-n` patterns; leave out what the file declares already (same
flow and name, or same name and entrypoint: the file is the source of truth, so it is left as
written and the plan shows any difference); find each entrypoint's flow in the repository (by
AST, never importing it); write the rest through the wizard's round-trip save path; then check
the result the way `plan` will: validate the new text, and plan the imported deployments against
what was read. Whatever would still differ is a warning, positioned in the new file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowplan.backends.protocol import Backend
from flowplan.discovery.flows import FlowInfo
from flowplan.domain.objects import Deployment
from flowplan.errors import InvalidInput, ValidationFailed
from flowplan.files import UnreadableFile
from flowplan.files import read_text as read_file_text
from flowplan.plan.compute import Actual
from flowplan.plan.desired import matches_names, project_name
from flowplan.plan.import_check import Check, check_import
from flowplan.plan.import_yaml import (
    deployment_entry,
    pool_entry,
    template_file,
    with_secret_references,
)
from flowplan.plan.target import read_actual
from flowplan.project.bounds import read_text
from flowplan.project.model import Project, build_project
from flowplan.project.validate import FileReport, validate_file
from flowplan.steps.catalog import default_pull


@dataclass(frozen=True)
class Imported:
    """What an import gives: the new text of the file and what went into it."""

    file: Path
    text: str  # the whole file as it is to be written
    imported: tuple[str, ...]  # `flow/name` of the deployments added to the file
    declared: tuple[str, ...]  # selected deployments the file declares already: left alone
    pools: tuple[str, ...]  # pools newly declared under `work_pools:`
    warnings: tuple[str, ...]
    # base job templates of those pools, as JSON files beside the project file: (path, text)
    files: tuple[tuple[Path, str], ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.imported or self.pools)


def import_deployments(
    backend: Backend,
    file: Path,
    names: Sequence[str] = (),
    *,
    display: str | None = None,
    root: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Imported:
    """The project file with the target's deployments (those `names` select; all without)
    added. Writes nothing: the caller writes `text` (or shows it)."""
    environ = os.environ if env is None else env
    shown = display or str(file)
    text = read_text(file, shown) if file.exists() else ""
    base = root or Path.cwd()
    project, report = _existing(file, shown, text, base, environ)
    actual = read_actual(backend)
    selected = _select(actual.deployments.values(), names)
    declared_keys = _declared(project, report)
    declared = [d for d in selected if _key_of(d) & declared_keys]
    todo = [d for d in selected if not _key_of(d) & declared_keys]
    warnings: list[str] = []
    flows = _flows(file, base, todo, warnings)
    todo = [d for d in todo if d.full_name in flows]
    data: Mapping[str, Any] = project.data if project else {}
    inherited = _inherited_pull(data, base)
    secrets = _secrets(backend) if todo else {}
    entries = []
    leaked: set[str] = set()  # deployments whose stored secret values became references
    for deployment in todo:
        entry = deployment_entry(deployment, flows[deployment.full_name], inherited)
        if _has_steps(data.get("build")):
            entry["build"] = None  # the file's top-level build steps are not this deployment's
        found: list[tuple[str, str]] = []
        entries.append(with_secret_references(entry, secrets, deployment.full_name, found))
        if found:
            leaked.add(deployment.full_name)
        warnings += [
            f"{where}: the target holds the value of secret {name!r}; written as a reference to"
            " it (apply will store the reference)"
            for where, name in found
        ]
    if todo and _has_steps(data.get("push")):
        warnings.append(
            "the file's top-level push steps apply to the imported deployments too (Prefect's"
            " rules): plan shows their outputs until they ran"
        )
    pools, templates = _pools(actual, todo, data)
    files = _template_files(base, templates)
    name = project_name(project) if project else base.name
    from flowplan.project.save import merged_text

    new_text = text
    if entries or pools:
        new_text, _ = merged_text(text, entries, project_name=name,
                                  work_pools=pools)  # fmt: skip
    keys = {(entry["name"], entry["entrypoint"]): entry for entry in entries}
    listed = data.get("work_pools")
    first_pool = len(listed) if isinstance(listed, list) else 0
    check = Check(file, shown, new_text, keys, first_pool, templates, frozenset(leaked))
    warnings += check_import(check, environ, backend, actual)
    return Imported(file, new_text, tuple(d.full_name for d in todo),
                    tuple(d.full_name for d in declared), tuple(p["name"] for p in pools),
                    tuple(warnings), files)  # fmt: skip


def _existing(
    file: Path, shown: str, text: str, root: Path, env: Mapping[str, str]
) -> tuple[Project | None, FileReport | None]:
    if not text.strip():
        return None, None
    report = validate_file(file, shown, env=env, text=text)
    if not report.valid or report.project is None:
        listed = "; ".join(finding.render() for finding in report.errors[:5])
        more = len(report.errors) - 5
        raise ValidationFailed(
            f"{shown} has errors; nothing was imported: {listed}"
            + (f" (and {more} more)" if more > 0 else ""),
            hint=f"run 'flowplan validate {shown}' and fix them first",
        )
    return report.project, report


def _select(live: Sequence[Deployment] | Any, names: Sequence[str]) -> list[Deployment]:
    everything = sorted(live, key=lambda d: d.full_name)
    if not names:
        return everything
    chosen: dict[str, Deployment] = {}
    unmatched = []
    for pattern in names:
        found = [d for d in everything if _matches(pattern, d)]
        if not found:
            unmatched.append(pattern)
        chosen.update((d.full_name, d) for d in found)
    if unmatched:
        known = ", ".join(d.full_name for d in everything[:10]) or "none"
        more = f" and {len(everything) - 10} more" if len(everything) > 10 else ""
        raise InvalidInput(
            f"no deployment on the target matches: {', '.join(unmatched)}"
            f" (deployments: {known}{more})"
        )
    return [chosen[key] for key in sorted(chosen)]


def _matches(pattern: str, deployment: Deployment) -> bool:
    function = (deployment.entrypoint or "").rpartition(":")[2].rpartition(".")[2]
    return matches_names(pattern, deployment.name, [deployment.flow_name, function])


def _key_of(deployment: Deployment) -> set[tuple[str, str | None]]:
    return {
        ("flow", deployment.full_name),
        ("entrypoint", f"{deployment.entrypoint}#{deployment.name}"),
    }


def _declared(project: Project | None, report: FileReport | None) -> set[tuple[str, str | None]]:
    keys: set[tuple[str, str | None]] = set()
    for config in project.deployments if project and report else ():
        assert report is not None
        if config.name is None:
            continue
        flow = report.flows.get(config.index)
        if flow is not None:
            keys.add(("flow", f"{flow.name}/{config.name}"))
        keys.add(("entrypoint", f"{config.entrypoint}#{config.name}"))
    return keys


def _flows(
    file: Path, root: Path, todo: Sequence[Deployment], warnings: list[str]
) -> dict[str, FlowInfo | None]:
    """Each deployment's flow, found from its entrypoint in the repository (None: not found,
    which the check of the new file reports with its position). Deployments that cannot be
    declared in the file are left out, with a warning."""
    from flowplan.project.checks.entrypoints import check

    usable = []
    for deployment in todo:
        if not deployment.entrypoint:
            warnings.append(f"deployment {deployment.full_name!r} has no entrypoint on the target;"
                            " not imported (a project file needs one)")  # fmt: skip
        else:
            usable.append(deployment)
    items = [{"name": d.name, "entrypoint": d.entrypoint} for d in usable]
    project = build_project(file, {"deployments": items}, root)
    found: dict[int, FlowInfo] = {}
    for _ in check(project, found):  # the check of the new file reports what is not found
        pass
    flows: dict[str, FlowInfo | None] = {}
    for index, deployment in enumerate(usable):
        flow = found.get(index)
        if flow is not None and flow.name != deployment.flow_name:
            warnings.append(
                f"deployment {deployment.full_name!r}: its entrypoint"
                f" {deployment.entrypoint!r} defines flow {flow.name!r} now, not"
                f" {deployment.flow_name!r}; not imported (the file would declare another"
                " deployment)"
            )
            continue
        flows[deployment.full_name] = flow
    return flows


def _has_steps(value: Any) -> bool:
    return isinstance(value, list | dict) and bool(value)


def _inherited_pull(data: Mapping[str, Any], root: Path) -> list[dict[str, Any]] | None:
    """The pull steps a deployment without `pull:` gets in this file (None: the file's own
    top-level steps, rendered at plan time; the imported deployments then say theirs)."""
    top = data.get("pull")
    if top == []:
        return []
    if top is None or top == {}:
        return default_pull(str(root))
    return None


def _secrets(backend: Backend) -> dict[str, str]:
    from flowplan.masking import MIN_LENGTH

    values = {}
    for secret in backend.read_secrets():
        value = backend.read_secret_value(secret.name)  # masked from now on in all output
        if len(value) >= MIN_LENGTH:
            values[secret.name] = value
    return dict(sorted(values.items(), key=lambda item: -len(item[1])))


def _pools(
    actual: Actual, todo: Sequence[Deployment], data: Mapping[str, Any]
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Entries for the pools the imported deployments use that the file does not declare, and
    the base job templates they refer to (file name -> template)."""
    listed = data.get("work_pools")
    declared = {p.get("name") for p in listed if isinstance(p, Mapping)} if isinstance(
        listed, list) else set()  # fmt: skip
    wanted = sorted({d.work_pool_name for d in todo if d.work_pool_name} - declared)
    entries, templates = [], {}
    for name in wanted:
        pool = actual.pools.get(name)
        if pool is None:
            continue  # the check of the new file reports the missing pool
        queues = [q for q in actual.queues.values() if q.work_pool_name == name]
        entries.append(pool_entry(pool, queues))
        where = template_file(pool)
        if where:
            templates[where] = pool.base_job_template
    return entries, templates


def _template_files(root: Path, templates: Mapping[str, Any]) -> tuple[tuple[Path, str], ...]:
    files = []
    for name, template in templates.items():
        path = root / name
        text = json.dumps(template, indent=2) + "\n"
        if path.exists() and _content(path) != text:
            raise InvalidInput(
                f"{path} exists with other content; the base job template of a pool would be"
                " written there",
                hint="move the file away, or declare the pool under work_pools: yourself",
            )
        files.append((path, text))
    return tuple(files)


def _content(path: Path) -> str | None:
    """What an existing file holds (None when it cannot be read as text: it is not ours)."""
    try:
        return read_file_text(path)
    except UnreadableFile:
        return None
