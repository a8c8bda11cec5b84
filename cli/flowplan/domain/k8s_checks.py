"""Offline checks of a Kubernetes Job manifest: the strict JSON schemas `kubernetes-validate`
bundles (every error, not the first), and what the API server checks that no schema says:
quantities, image references, env names, DNS names, label syntax, enumerations.

The schemas (1.5 MB of JSON) are read on first use, so projects without a kubernetes pool never
pay for them. `kubernetes-validate` is found without importing it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from flowplan import files
from flowplan.domain.k8s_job import RenderedJob, not_known
from flowplan.findings import Finding, Path_, Severity, format_path
from flowplan.schema_validator import Validator, describe_value
from flowplan.templating import path_parts, walk_placeholders


@dataclass(frozen=True)
class Issue:
    path: Path_  # in the manifest
    message: str
    code: str
    severity: Severity = "error"


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


# -- the semantic checks ----------------------------------------------------------------------

QUANTITY = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$")
_SUFFIX: dict[str, int | Decimal] = {
           "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
           "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": 1,
           "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}  # fmt: skip
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")  # before Kubernetes 1.32 (relaxed since)
# the distribution reference grammar (what `docker pull` and the kubelet accept)
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
IMAGE = re.compile(
    rf"^(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*(?::[\w][\w.-]{{0,127}})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$"
)
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
JOB_RESTART_POLICIES = ("Never", "OnFailure")


def quantity_value(text: str) -> Decimal | None:
    """A Kubernetes quantity's value (`500m` -> 0.5), None when it is not one."""
    match = QUANTITY.match(text)
    if not match:
        return None
    suffix = match.group(3) or ""
    try:
        number = Decimal(text[: len(text) - len(suffix)])
        if suffix[:1] in ("e", "E"):
            return number * Decimal(10) ** int(suffix[1:])
        return number * Decimal(_SUFFIX[suffix])
    except (InvalidOperation, ValueError):
        return None


def image_problem(image: str) -> str | None:
    if not image.strip():
        return "the image is empty"
    if image != image.strip():
        return f"image {image!r} has spaces around it"
    if IMAGE.match(image):
        return None
    head = image.split("@")[0].rsplit(":", 1)[0] if "/" in image else image.split(":")[0]
    if head != head.lower() and IMAGE.match(image.lower()):
        return f"image {image!r} is not a valid reference: repository names are lowercase"
    return (f"image {image!r} is not a valid image reference"
            " ([registry[:port]/]name[:tag][@sha256:digest])")  # fmt: skip


def _name_problem(value: str, what: str, subdomain: bool = False, limit: int = 63) -> str | None:
    pattern = DNS_SUBDOMAIN if subdomain else DNS_LABEL
    kind = "DNS subdomain" if subdomain else "DNS label"
    if len(value) > limit:
        return f"{what} {value!r} is longer than {limit} characters"
    if not pattern.match(value):
        return (f"{what} {value!r} is not a valid {kind} (lowercase letters, digits and '-'"
                f"{', and dots between parts' if subdomain else ''}; starting and ending with a"
                " letter or digit)")  # fmt: skip
    return None


def semantic_issues(manifest: Mapping[str, Any]) -> list[Issue]:
    """What the API server refuses that the schemas let through."""
    return list(_semantic(manifest))


def _semantic(manifest: Mapping[str, Any]) -> Iterator[Issue]:
    metadata = manifest.get("metadata")
    if isinstance(metadata, Mapping):
        yield from _metadata(metadata, ("metadata",), top=True)
    spec = manifest.get("spec")
    if not isinstance(spec, Mapping):
        return
    template = spec.get("template")
    if not isinstance(template, Mapping):
        return
    if isinstance(template.get("metadata"), Mapping):
        yield from _metadata(template["metadata"], ("spec", "template", "metadata"))
    pod = template.get("spec")
    if not isinstance(pod, Mapping):
        return
    base: Path_ = ("spec", "template", "spec")
    policy = pod.get("restartPolicy")
    if isinstance(policy, str) and policy not in JOB_RESTART_POLICIES:
        yield Issue((*base, "restartPolicy"), f"a Job's pods must have restartPolicy Never or"
                    f" OnFailure, got {policy!r}", "k8s-value")  # fmt: skip
    account = pod.get("serviceAccountName")
    if isinstance(account, str) and account:
        problem = _name_problem(account, "service account name", subdomain=True, limit=253)
        if problem:
            yield Issue((*base, "serviceAccountName"), problem, "k8s-name")
    for kind in ("initContainers", "containers"):
        for index, container in enumerate(pod.get(kind) or ()):
            if isinstance(container, Mapping):
                yield from _container(container, (*base, kind, index))


def _metadata(metadata: Mapping[str, Any], path: Path_, top: bool = False) -> Iterator[Issue]:
    if top:
        namespace = metadata.get("namespace")
        if isinstance(namespace, str):
            problem = _name_problem(namespace, "namespace")
            if problem:
                yield Issue((*path, "namespace"), problem, "k8s-name")
        name = metadata.get("name")
        if isinstance(name, str):
            problem = _name_problem(name, "Job name")
            if problem:
                yield Issue((*path, "name"), problem, "k8s-name")
        generate = metadata.get("generateName")
        if isinstance(generate, str) and generate:
            # the API server adds 5 characters; a Job's name must stay a DNS label
            problem = _name_problem(generate + "x", "generateName", limit=58)
            if problem:
                yield Issue((*path, "generateName"), problem.replace(f"{generate + 'x'!r}",
                            repr(generate)), "k8s-name")  # fmt: skip
    labels = metadata.get("labels")
    for key, value in labels.items() if isinstance(labels, Mapping) else ():
        where = (*path, "labels", key)
        problem = _label_key_problem(str(key))
        if problem:
            yield Issue(where, problem, "k8s-label")
        if isinstance(value, str) and value and (len(value) > 63 or not LABEL_NAME.match(value)):
            yield Issue(where, f"label value {value!r} is not valid (at most 63 letters, digits,"
                        " '-', '_' or '.', starting and ending with a letter or digit)",
                        "k8s-label")  # fmt: skip


def _label_key_problem(key: str) -> str | None:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not DNS_SUBDOMAIN.match(prefix)):
        return f"label key {key!r}: the prefix must be a DNS subdomain"
    if len(name) > 63 or not LABEL_NAME.match(name):
        return (f"label key {key!r} is not valid (a name of at most 63 letters, digits, '-',"
                " '_' or '.', starting and ending with a letter or digit)")  # fmt: skip
    return None


def _container(container: Mapping[str, Any], path: Path_) -> Iterator[Issue]:
    name = container.get("name")
    if isinstance(name, str):
        problem = _name_problem(name, "container name")
        if problem:
            yield Issue((*path, "name"), problem, "k8s-name")
    image = container.get("image")
    if isinstance(image, str):
        problem = image_problem(image)
        if problem:
            yield Issue((*path, "image"), problem, "k8s-image")
    policy = container.get("imagePullPolicy")
    if isinstance(policy, str) and policy not in PULL_POLICIES:
        yield Issue((*path, "imagePullPolicy"), f"imagePullPolicy must be one of"
                    f" {', '.join(PULL_POLICIES)}; got {policy!r}", "k8s-value")  # fmt: skip
    env = container.get("env")
    for index, item in enumerate(env if isinstance(env, list) else ()):
        if isinstance(item, Mapping) and isinstance(item.get("name"), str):
            yield from _env_name(item["name"], (*path, "env", index, "name"))
    resources = container.get("resources")
    if isinstance(resources, Mapping):
        yield from _resources(resources, (*path, "resources"))


def _env_name(name: str, path: Path_) -> Iterator[Issue]:
    if not name or "=" in name or not all(" " <= c <= "~" for c in name):
        yield Issue(path, f"environment variable name {name!r} is not valid (printable ASCII"
                    " characters other than '=')", "k8s-env-name")  # fmt: skip
    elif not ENV_NAME.match(name):
        yield Issue(path, f"environment variable name {name!r} is refused by Kubernetes before"
                    " 1.32 (letters, digits, '_', '-' and '.', not starting with a digit)",
                    "k8s-env-name", "warning")  # fmt: skip


def _resources(resources: Mapping[str, Any], path: Path_) -> Iterator[Issue]:
    parsed: dict[str, dict[str, Decimal]] = {}
    for kind in ("requests", "limits"):
        amounts = resources.get(kind)
        for resource, amount in amounts.items() if isinstance(amounts, Mapping) else ():
            where = (*path, kind, resource)
            if isinstance(amount, bool) or not isinstance(amount, str | int | float):
                continue  # the schema reports the type
            value = quantity_value(str(amount))
            if value is None:
                yield Issue(where, f"{amount!r} is not a Kubernetes quantity (a number with an"
                            " optional suffix: 500m, 2, 1.5, 512Mi, 2Gi, 1e3)",
                            "k8s-quantity")  # fmt: skip
            elif value < 0:
                yield Issue(where, f"{amount!r}: a resource quantity cannot be negative",
                            "k8s-quantity")  # fmt: skip
            else:
                parsed.setdefault(kind, {})[str(resource)] = value
    for resource, request in parsed.get("requests", {}).items():
        limit = parsed.get("limits", {}).get(resource)
        if limit is not None and request > limit:
            yield Issue((*path, "requests", resource), f"the {resource} request"
                        f" ({resources['requests'][resource]}) is more than its limit"
                        f" ({resources['limits'][resource]}); Kubernetes refuses the pod",
                        "k8s-quantity")  # fmt: skip


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
