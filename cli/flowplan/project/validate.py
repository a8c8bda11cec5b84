"""Validate one project file: load, schema, semantic checks; every finding positioned."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from flowplan.discovery.flows import FlowInfo
from flowplan.errors import ProjectFileError
from flowplan.findings import Finding
from flowplan.project.checks import (
    deployments,
    entrypoints,
    events,
    kubernetes,
    schedule_items,
    steps,
    templates,
    values,
)
from flowplan.project.loader import LoadedFile, Positions, load_file, load_text
from flowplan.project.model import Project, build_project
from flowplan.resources import project_schema
from flowplan.schema_validator import STOPPED, SchemaIssue, Validator

# Findings about a key itself (the step function's name), reported at the key, not its value.
_ABOUT_THE_KEY = frozenset({"unknown-step", "legacy-step-name", "unsupported-step"})


@dataclass(frozen=True)
class Options:
    strict: bool = False  # warnings count as errors
    ignore: frozenset[str] = frozenset()  # finding codes to leave out


@dataclass
class FileReport:
    file: str
    findings: list[Finding] = field(default_factory=list)
    references: templates.References = field(default_factory=templates.References)
    project: Project | None = None
    flows: dict[int, FlowInfo] = field(default_factory=dict)  # deployment index -> its flow
    positions: Positions | None = None  # where each path of the file is written

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def valid(self) -> bool:
        return not self.errors

    def to_json(self) -> dict[str, object]:
        return {
            "file": self.file,
            "valid": self.valid,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "findings": [finding.to_json() for finding in self.findings],
            "references": self.references.to_json(),
        }


def validate_file(
    path: Path,
    display: str | None = None,
    options: Options = Options(),
    env: Mapping[str, str] | None = None,
    text: str | None = None,
) -> FileReport:
    """Validate a project file (or `text`, what the file would hold). Never raises for a bad
    file: problems become findings."""
    name = display or str(path)
    report = FileReport(name)
    try:
        loaded = load_file(path, name) if text is None else load_text(text, path, name)
    except ProjectFileError as exc:
        report.findings.append(
            Finding("error", "unreadable", exc.message, (), exc.hint, name, exc.line, exc.column)
        )
        return report
    report.project = build_project(path, loaded.data)
    report.positions = loaded.positions
    raw = list(_schema_findings(loaded)) + list(
        semantic_findings(
            report.project, report.references, os.environ if env is None else env, report.flows
        )
    )
    if _top_pull_never_runs(report.project):
        raw = [(_unused_pull(finding), on_key) for finding, on_key in raw]
    report.findings = _finish(raw, loaded, options)
    return report


def _top_pull_never_runs(project: Project) -> bool:
    """Every deployment has a `pull` of its own, so the top-level one is never used."""
    return (
        bool(project.data.get("pull"))
        and bool(project.deployments)
        and all(deployment.data.get("pull") is not None for deployment in project.deployments)
    )


def _unused_pull(finding: Finding) -> Finding:
    if finding.severity != "error" or finding.path[:1] != ("pull",):
        return finding
    note = "the top-level pull never runs: every deployment has its own"
    hint = f"{finding.hint}; {note}" if finding.hint else note
    return replace(finding, severity="warning", hint=hint)


def _schema_findings(loaded: LoadedFile) -> Iterable[tuple[Finding, bool]]:
    for issue in Validator(project_schema(), same_items=True).issues(loaded.data):
        if _is_anchor_holder(issue, loaded):
            continue
        yield _with_hint(issue), issue.on_key


def _is_anchor_holder(issue: SchemaIssue, loaded: LoadedFile) -> bool:
    return (
        issue.code == "unknown-key"
        and len(issue.path) == 1
        and issue.path[0] in loaded.anchor_holders
    )


def _with_hint(issue: SchemaIssue) -> Finding:
    finding = issue.finding()
    if issue.code == "unknown-key":
        hint = deployments.misplaced_hint(issue.path)
        if hint:
            return Finding(finding.severity, "misplaced-key", finding.message, finding.path, hint)
    return finding


def semantic_findings(
    project: Project,
    references: templates.References,
    env: Mapping[str, str],
    flows: dict[int, FlowInfo] | None = None,
) -> Iterable[tuple[Finding, bool]]:
    flows = {} if flows is None else flows
    found: list[Finding] = list(entrypoints.check(project, flows))
    names = {index: flow.name for index, flow in flows.items()}
    for deployment in project.deployments:
        entry = deployment.entrypoint
        if deployment.index not in names and entry:
            names[deployment.index] = entry.rpartition(":")[2].rpartition(".")[2].replace("_", "-")
    found += deployments.check(project, names)
    found += schedule_items.check(project)
    found += values.check(project)
    found += steps.check(project)
    found += templates.check(project, references, env)
    found += kubernetes.check(project)
    found += events.check(project)
    return ((finding, finding.code in _ABOUT_THE_KEY) for finding in found)


def _finish(
    raw: Iterable[tuple[Finding, bool]], loaded: LoadedFile, options: Options
) -> list[Finding]:
    """Position, filter, de-duplicate (top-level steps are seen per deployment) and order."""
    result: dict[tuple[object, ...], Finding] = {}
    for finding, on_key in raw:
        if finding.code in options.ignore:
            continue
        if options.strict and finding.severity == "warning":
            finding = finding.as_error()
        where = None if finding.code == STOPPED else loaded.positions.of(finding.path, key=on_key)
        line, column = where if where else (None, None)
        located = finding.located(loaded.display, line, column)
        result.setdefault((located.path, located.code, located.message), located)
    return sorted(  # the note that checking stopped comes last
        result.values(),
        key=lambda f: (f.code == STOPPED, f.line or 0, f.column or 0, f.severity, f.message),
    )
