"""What the project declares for pools and queues (deployments use `domain.specs`), and the
JSON form of every desired object, as stored in plan files."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flowplan.domain.schedules import schedule_from_json
from flowplan.domain.specs import DeploymentSpec, ScheduleSpec

OWNER_LABEL = "flowplan.dev/managed-by"
PROJECT_LABEL = "flowplan.dev/project"
# the hash of the build and push steps' configuration that produced the deployment's values:
# a later plan with the same configuration keeps values only a build can know
BUILD_LABEL = "flowplan.dev/build"


@dataclass(frozen=True)
class QueueSpec:
    pool: str
    name: str
    description: str | None = None
    priority: int | None = None
    concurrency_limit: int | None = None
    paused: bool | None = None

    @property
    def key(self) -> str:
        return f"{self.pool}/{self.name}"


@dataclass(frozen=True)
class PoolSpec:
    name: str
    type: str
    description: str | None = None
    paused: bool | None = None
    concurrency_limit: int | None = None
    base_job_template: dict[str, Any] | None = None  # None: the type's default on create


@dataclass(frozen=True)
class WebhookSpec:
    """A webhook of `webhooks:` (flowplan's extension); its slug is made on the target."""

    name: str
    template: str
    description: str | None = None
    enabled: bool | None = None


@dataclass(frozen=True)
class Desired:
    project: str
    pools: tuple[PoolSpec, ...] = ()
    queues: tuple[QueueSpec, ...] = ()
    deployments: tuple[DeploymentSpec, ...] = ()
    warnings: tuple[str, ...] = field(default=(), compare=False)
    webhooks: tuple[WebhookSpec, ...] = ()


def deployment_to_json(spec: DeploymentSpec) -> dict[str, Any]:
    data = {name: getattr(spec, name) for name in spec.__dataclass_fields__}
    data["tags"] = list(spec.tags)
    if spec.schedules is not None:
        data["schedules"] = [
            {"schedule": s.schedule.to_json(), "active": s.active, "parameters": s.parameters,
             "slug": s.effective_slug, **({"replaces": s.replaces} if s.replaces else {})}
            for s in spec.schedules
        ]  # fmt: skip
    return data


def deployment_from_json(data: dict[str, Any]) -> DeploymentSpec:
    values = dict(data)
    values["tags"] = tuple(values["tags"])
    if values.get("schedules") is not None:
        values["schedules"] = tuple(
            ScheduleSpec(
                schedule_from_json(s["schedule"]),
                s["active"],
                s["parameters"],
                s["slug"],
                s.get("replaces"),
            )
            for s in values["schedules"]
        )
    return DeploymentSpec(**values)
