"""The async functions of the public API (`get_deployment`, `update_deployment`, ...).

`client` is a backend; None means the one the environment chooses (the local store by default).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from uuid import UUID

from flowplan.backends import get_backend
from flowplan.backends.protocol import Backend
from flowplan.domain.objects import Deployment, WorkPool, WorkQueue
from flowplan.domain.schedules import Schedule, as_schedule
from flowplan.domain.specs import ScheduleSpec
from flowplan.errors import DeploymentNotFound


async def get_deployment(name: str | UUID, client: Backend | None = None) -> Deployment:
    """A deployment by `flow/name` or id; raises DeploymentNotFound."""
    return (client or get_backend()).read_deployment(str(name))


async def update_deployment(
    name: str | UUID,
    schedule: Schedule | Mapping[str, Any] | None = None,
    parameters: Mapping[str, Any] | None = None,
    tags: Iterable[str] | None = None,
    description: str | None = None,
    version: str | None = None,
    work_pool_name: str | None = None,
    client: Backend | None = None,
) -> Deployment:
    """Change the given fields; `schedule` replaces the deployment's schedules with this one."""
    backend = client or get_backend()
    deployment = backend.read_deployment(str(name))
    changes: dict[str, Any] = {}
    if schedule is not None:
        changes["schedules"] = (ScheduleSpec(as_schedule(schedule)),)
    if parameters is not None:
        changes["parameters"] = dict(parameters)
    if tags is not None:
        changes["tags"] = list(tags)
    if description is not None:
        changes["description"] = description
    if version is not None:
        changes["version"] = version
    if work_pool_name is not None:
        changes["work_pool_name"] = work_pool_name
    return backend.update_deployment(deployment.id, changes)


async def delete_deployment(name: str | UUID, client: Backend | None = None) -> bool:
    """Delete a deployment; False when there was none of that name."""
    backend = client or get_backend()
    try:
        deployment = backend.read_deployment(str(name))
    except DeploymentNotFound:
        return False
    backend.delete_deployment(deployment.id)
    return True


async def get_work_pool(work_pool_name: str, client: Backend | None = None) -> WorkPool:
    return (client or get_backend()).read_work_pool(work_pool_name)


async def create_work_queue(
    work_pool_name: str,
    work_queue_name: str,
    description: str | None = None,
    is_paused: bool = False,
    concurrency_limit: int | None = None,
    priority: int | None = None,
    client: Backend | None = None,
) -> WorkQueue:
    return (client or get_backend()).create_work_queue(
        work_pool_name, work_queue_name, description=description, is_paused=is_paused,
        concurrency_limit=concurrency_limit, priority=priority,
    )  # fmt: skip
