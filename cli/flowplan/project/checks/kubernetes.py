"""The Kubernetes Job of each deployment on a pool the project declares with `type: kubernetes`,
rendered and checked offline (domain/k8s_job.py, domain/k8s_checks.py).

Job variables are taken as written: a value with a `{{ placeholder }}` (a build step's image,
an environment variable) is known only when the project is planned, and is checked then. A
project without a kubernetes pool returns before anything is loaded.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from flowplan.errors import InvalidInput
from flowplan.findings import Finding, Path_, error
from flowplan.project.model import Project


def kubernetes_pools(project: Project) -> dict[str, tuple[int, Any]]:
    """Declared kubernetes pools: name -> (index under work_pools, base_job_template)."""
    found: dict[str, tuple[int, Any]] = {}
    pools = project.data.get("work_pools")
    for index, pool in enumerate(pools if isinstance(pools, list) else ()):
        if (isinstance(pool, dict) and pool.get("type") == "kubernetes"
                and isinstance(pool.get("name"), str)):  # fmt: skip
            found.setdefault(pool["name"], (index, pool.get("base_job_template")))
    return found


def check(project: Project) -> Iterator[Finding]:
    pools = kubernetes_pools(project)
    if not pools:
        return
    from flowplan.domain.job_templates import default_template
    from flowplan.domain.k8s_checks import JobSource, check_source, prefect_labels

    templates: dict[str, Mapping[str, Any] | None] = {}
    for pool_name, (index, given) in pools.items():
        template, problem = _template(project, given, ("work_pools", index, "base_job_template"))
        templates[pool_name] = template
        if problem:
            yield problem
    for deployment in project.deployments:
        pool = deployment.data.get("work_pool")
        name = pool.get("name") if isinstance(pool, dict) else None
        if not isinstance(name, str) or templates.get(name) is None:
            continue
        assert isinstance(pool, dict)
        variables = pool.get("job_variables")
        if variables is not None and not isinstance(variables, dict):
            continue  # the schema reports it
        template = templates[name]
        assert template is not None
        deployment_name = deployment.name or f"deployments[{deployment.index}]"
        source = JobSource(
            deployment=deployment_name, pool=name, template=template,
            job_variables=variables or {},
            labels=prefect_labels(deployment_name, None, name),
            variables_path=(*deployment.path, "work_pool", "job_variables"),
            pool_path=("work_pools", pools[name][0], "base_job_template"
                       if pools[name][1] is not None else "type"),
            default_template=template == default_template("kubernetes"),
        )  # fmt: skip
        yield from check_source(source)[1]


def _template(project: Project, given: Any, path: Path_) -> tuple[Any, Finding | None]:
    """The pool's template (Prefect's default when none is given), or None and why not."""
    from flowplan.domain.job_templates import default_template, read_template, template_problems

    if given is None:
        return default_template("kubernetes"), None
    if isinstance(given, str):
        if "{{" in given:
            return None, None
        file = (project.root / given).resolve()
        if not file.is_relative_to(project.root):
            return None, None  # plan refuses it with its own message
        try:
            return read_template(file, given), None
        except InvalidInput as exc:
            return None, error("k8s-template", exc.message, path)
    if isinstance(given, Mapping) and not template_problems(given):
        return given, None
    return None, None
