"""The Kubernetes Jobs of a plan: each selected deployment whose pool is `kubernetes` (declared in
the project, or stored on the target), rendered with its job variables as the plan renders them
(variables, `$ENV` and predicted build outputs filled in) and checked offline."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flowplan.errors import ValidationFailed
from flowplan.findings import Finding, Path_
from flowplan.plan.compute import Actual
from flowplan.plan.specs import Desired
from flowplan.project.model import DeploymentConfig
from flowplan.project.validate import FileReport
from flowplan.steps.predict import KNOWN_AFTER_BUILD


@dataclass(frozen=True)
class RenderedJob:
    deployment: str  # flow/name
    pool: str
    manifest: dict[str, Any]
    findings: tuple[Finding, ...]

    def to_json(self) -> dict[str, Any]:
        return {"deployment": self.deployment, "work_pool": self.pool,
                "manifest": self.manifest,
                "findings": [finding.to_json() for finding in self.findings]}  # fmt: skip


class JobsInvalid(ValidationFailed):
    """The Jobs of some kubernetes deployments would be refused; every problem is listed."""

    def __init__(self, errors: Sequence[Finding]) -> None:
        lines = "\n".join(f"  {finding.render()}" for finding in errors)
        count = len(errors)
        super().__init__(
            f"{count} error{'' if count == 1 else 's'} in the Kubernetes Jobs; nothing was"
            f" planned:\n{lines}"
        )
        self.errors = tuple(errors)


def _pool_index(report: FileReport, name: str) -> int | None:
    project = report.project
    pools = project.data.get("work_pools") if project else None
    for index, pool in enumerate(pools if isinstance(pools, list) else ()):
        if isinstance(pool, dict) and pool.get("name") == name:
            return index
    return None


def kubernetes_jobs(
    report: FileReport,
    configs: Sequence[DeploymentConfig],
    desired: Desired,
    actual: Actual,
) -> list[RenderedJob]:
    """One rendered Job per selected deployment on a kubernetes pool, with its findings
    positioned in the project file. Loads nothing when no pool is a kubernetes one."""
    declared = {pool.name: pool for pool in desired.pools}
    chosen = []
    for config, spec in zip(configs, desired.deployments, strict=True):
        pool = spec.work_pool_name
        if pool in declared and declared[pool].type == "kubernetes":
            template = declared[pool].base_job_template
            index = _pool_index(report, pool)
            place: Path_ = (
                ("work_pools", index, "base_job_template" if template else "type")
                if index is not None
                else (*config.path, "work_pool", "name")
            )
        elif pool and pool not in declared and pool in actual.pools \
                and actual.pools[pool].type == "kubernetes":  # fmt: skip
            template = actual.pools[pool].base_job_template
            place = (*config.path, "work_pool", "name")
        else:
            continue
        chosen.append((config, spec, template, place))
    if not chosen:
        return []
    from flowplan.domain.job_templates import default_template
    from flowplan.domain.k8s_checks import JobSource, check_source, prefect_labels

    default = default_template("kubernetes")
    jobs = []
    for config, spec, template, place in chosen:
        template = template or default
        assert spec.work_pool_name is not None
        source = JobSource(
            deployment=spec.name, pool=spec.work_pool_name, template=template,
            job_variables=spec.job_variables,
            labels=prefect_labels(spec.name, spec.flow_name, spec.work_pool_name),
            variables_path=(*config.path, "work_pool", "job_variables"), pool_path=place,
            default_template=template == default, unknown_text=(KNOWN_AFTER_BUILD,),
        )  # fmt: skip
        manifest, findings = check_source(source)
        jobs.append(RenderedJob(spec.full_name, spec.work_pool_name, manifest.manifest,
                                tuple(_located(report, f) for f in findings)))  # fmt: skip
    return jobs


def _located(report: FileReport, finding: Finding) -> Finding:
    where = report.positions.of(finding.path) if report.positions else None
    line, column = where if where else (None, None)
    return finding.located(report.file, line, column)


def new_findings(report: FileReport, jobs: Sequence[RenderedJob]) -> list[Finding]:
    """The jobs' findings that validate did not already report (values it could not know)."""
    seen = {(f.path, f.code, f.message) for f in report.findings}
    found: dict[tuple[Any, ...], Finding] = {}
    for job in jobs:
        for finding in job.findings:
            key = (finding.path, finding.code, finding.message)
            if key not in seen:
                found.setdefault(key, finding)
    return sorted(found.values(), key=lambda f: (f.line or 0, f.column or 0, f.message))
