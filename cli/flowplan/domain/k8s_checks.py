"""Offline checks of a Kubernetes Job manifest: the strict JSON schemas `kubernetes-validate`
bundles (every error, not the first), plus the API server's own value rules (`k8s_rules`), each
problem traced back to the job variable that caused it.

The schemas (1.5 MB of JSON) are read on first use, so projects without a kubernetes pool never
pay for them. `kubernetes-validate` is found without importing it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from flowplan import files
from flowplan.domain.k8s_job import RenderedJob, not_known
from flowplan.domain.k8s_rules import Issue, semantic_issues
from flowplan.findings import Finding, Path_, Severity, format_path
from flowplan.schema_validator import Validator, describe_value
from flowplan.templating import path_parts, walk_placeholders


class SchemasMissing(Exception):
    """kubernetes-validate is not installed (or holds no schemas)."""


# -- the schemas ----------------------------------------------------------------------------


def _schema_root() -> Path:
    spec = find_spec("kubernetes_validate")
    if spec is None or not spec.submodule_search_locations:
        raise SchemasMissing("the Kubernetes schemas need the kubernetes-validate package")
    return Path(next(iter(spec.submodule_search_locations))) / "kubernetes-json-schema"


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", name.split("-")[0]))


@cache
def schema_version() -> str:
    """The newest Kubernetes version whose strict schemas are bundled (`1.37`)."""
    root = _schema_root()
    names = [path.name for path in root.iterdir()] if root.is_dir() else []
    found = [name for name in names if name.endswith("-local-strict")]
    if not found:
        raise SchemasMissing(f"no strict Kubernetes schemas under {root}")
    newest = max(found, key=_version_key)
    return ".".join(map(str, _version_key(newest)[:2]))


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(files.read_bytes(path, 16 * files.MB, "schemas"))
    return data


@cache
def _job_validator() -> Validator:
    from referencing import Registry, Resource

    folder = _schema_root() / f"v{schema_version()}.0-local-strict"
    job = _load(folder / "job-batch-v1.json")
    definitions = _load(folder / "_definitions.json")
    registry: Any = Registry().with_resources(
        [(job["$id"], Resource.from_contents(job)),
         (definitions["$id"], Resource.from_contents(definitions))]
    )  # fmt: skip
    return Validator(job, registry=registry)


def schema_issues(manifest: Mapping[str, Any]) -> list[Issue]:
    """Every difference between the manifest and the strict Job schema. Unknown fields are
    warnings: the API server drops them (with a warning), as Prefect's client sends them."""
    issues = []
    for issue in _job_validator().issues(dict(manifest)):
        if issue.code == "unknown-key":
            message = (f"{issue.message}: Kubernetes {schema_version()} has no such field"
                       " (the API server drops it)")  # fmt: skip
            issues.append(Issue(issue.path, message, "k8s-unknown-field", "warning"))
        elif issue.code == "schema-oneOf":  # a quantity or an int-or-string (a port)
            value = _value_at(manifest, issue.path)
            message = f"expected text or a number, got {describe_value(value)}"
            issues.append(Issue(issue.path, message, "k8s-schema"))
        else:
            hint = f" ({issue.hint})" if issue.hint else ""
            issues.append(Issue(issue.path, issue.message + hint, "k8s-schema"))
    return issues


def _value_at(data: Any, path: Path_) -> Any:
    for part in path:
        data = data[part]
    return data


# -- a Job's problems, traced back to job variables ------------------------------------------


@dataclass(frozen=True)
class JobProblem:
    """A problem of a rendered Job, traced back to the job variable that caused it."""

    variable: Path_ | None  # the job-variable path (None: the pool's template itself)
    message: str
    code: str
    severity: Severity = "error"


def job_problems(
    job: RenderedJob,
    job_variables: Mapping[str, Any],
    variables_schema: Any,
    unknown_text: tuple[str, ...] = (),
) -> list[JobProblem]:
    """Every problem at once: job variables against the pool's `variables` schema (as Prefect's
    server checks them), what rendering found, the strict Job schema, the semantic checks.
    Values not known offline (placeholders) are skipped; a job variable already refused by the
    pool's schema is not reported again through the Job it made."""
    found: list[JobProblem] = []
    refused: set[str] = set()
    if isinstance(variables_schema, Mapping) and job_variables:
        validator = Validator(dict(variables_schema), lenient=True, check_required=False)
        for refusal in validator.issues(dict(job_variables)):
            if refusal.path and _not_known_at(job_variables, refusal.path, unknown_text):
                continue
            refused.add(str(refusal.path[0]) if refusal.path else "")
            message = f"{refusal.message} (the work pool's variables)"
            severity = refusal.finding().severity
            found.append(JobProblem(refusal.path, message, "k8s-job-variables", severity))
    for variable, message in job.problems:
        if variable is None or str(variable[0]) not in refused:
            found.append(JobProblem(variable, message, "k8s-render"))
    try:
        schema = schema_issues(job.manifest)
    except SchemasMissing as exc:
        schema = []
        found.append(JobProblem(None, f"{exc}: the Job was not checked against the Kubernetes"
                                " schemas (pip install 'flowplan[kubernetes]')", "k8s-schemas",
                                "warning"))  # fmt: skip
    for issue in [*schema, *semantic_issues(job.manifest)]:
        if job.is_unknown(issue.path):
            continue
        origin = job.origin(issue.path)
        if origin and str(origin[0]) in refused:
            continue
        found.append(JobProblem(origin, f"the Job's {format_path(issue.path)}: {issue.message}",
                                issue.code, issue.severity))  # fmt: skip
    return found


def _not_known_at(data: Any, path: Path_, unknown_text: tuple[str, ...]) -> bool:
    current = data
    for part in path:
        if not_known(current, unknown_text):
            return True
        inside = (isinstance(current, Mapping) and part in current) or (
            isinstance(current, list) and isinstance(part, int) and part < len(current)
        )
        if not inside:
            return False
        current = current[part]
    return not_known(current, unknown_text)


@dataclass(frozen=True)
class JobSource:
    """One deployment on a kubernetes pool, and where its parts are written (project paths)."""

    deployment: str  # its name (`flow/name` when the flow is known)
    pool: str
    template: Mapping[str, Any]  # the pool's base job template
    job_variables: Mapping[str, Any]
    labels: Mapping[str, str]  # what the worker adds: the deployment's, flow's, pool's names
    variables_path: Path_  # where the deployment's job variables are written
    pool_path: Path_  # where a problem of the pool's own template is reported
    default_template: bool = False  # the pool uses Prefect's default template
    unknown_text: tuple[str, ...] = ()  # text that stands for a value known later


def unused_variables(template: Mapping[str, Any], job_variables: Mapping[str, Any]) -> list[str]:
    """Job variables the template neither declares nor uses in a placeholder."""
    properties = (template.get("variables") or {}).get("properties") or {}
    used = {
        path_parts(placeholder.name)[0]
        for _, placeholder in walk_placeholders(template.get("job_configuration") or {}, ())
        if placeholder.kind == "output"
    }
    return [
        str(key)
        for key in job_variables
        if str(key).partition(".")[0] not in properties and str(key).partition(".")[0] not in used
    ]


def prefect_labels(deployment: str, flow: str | None, pool: str) -> dict[str, str]:
    """The labels Prefect's kubernetes worker puts on a deployment's Jobs that do not depend
    on the run (the ids are left out: a plan does not know them)."""
    labels = {"prefect.io/deployment-name": deployment, "prefect.io/work-pool-name": pool,
              "app.kubernetes.io/name": deployment, "app.kubernetes.io/managed-by": "prefect",
              "app.kubernetes.io/part-of": "prefect"}  # fmt: skip
    if flow:
        labels["prefect.io/flow-name"] = flow
    return labels


def check_source(source: JobSource) -> tuple[RenderedJob, list[Finding]]:
    """The rendered Job of one deployment and its findings, each at the job variable that
    caused it (`deployments[0].work_pool.job_variables.cpu_request`), or at the pool when its
    template or a variable's default did. Prefect's default template puts `parallelism` and
    `completions` in the pod spec, where the API server drops them: not reported."""
    from flowplan.domain.k8s_job import render_job

    job = render_job(source.template, source.job_variables, source.labels, source.unknown_text)
    variables = (source.template.get("variables") or {}) if source.template else {}
    findings = [
        Finding("warning", "k8s-unused-variable",
                f"deployment {source.deployment!r}: work pool {source.pool!r} does not use job"
                f" variable {key!r}: its template neither declares nor references it, so the Job"
                " does not change (Prefect ignores it)", (*source.variables_path, key))
        for key in unused_variables(source.template, source.job_variables)
    ]  # fmt: skip
    for problem in job_problems(job, source.job_variables, variables, source.unknown_text):
        variable = _as_written(problem.variable, source.job_variables)
        if variable and variable[0] in source.job_variables:
            findings.append(Finding(problem.severity, problem.code,
                                    f"deployment {source.deployment!r}: {problem.message}",
                                    (*source.variables_path, *variable)))  # fmt: skip
            continue
        if source.default_template and problem.code == "k8s-unknown-field":
            continue
        default = f" (the default of job variable {format_path(variable)})" if variable else ""
        findings.append(Finding(problem.severity, problem.code,
                                f"work pool {source.pool!r}: {problem.message}{default}",
                                source.pool_path))  # fmt: skip
    return job, findings


def _as_written(variable: Path_ | None, job_variables: Mapping[str, Any]) -> Path_ | None:
    """`("env", "FOO")` is `("env.FOO",)` when the job variables say `env.FOO: ...` (and
    `("a", "b", "c")` is `("a.b", "c")` for `a.b: {c: ...}`): the longest dotted key written."""
    if not variable or variable[0] in job_variables:
        return variable
    for cut in range(len(variable), 1, -1):
        dotted = ".".join(str(part) for part in variable[:cut])
        if dotted in job_variables:
            return (dotted, *variable[cut:])
    return variable
