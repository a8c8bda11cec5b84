"""What `flowplan import` writes for live objects: the `prefect.yaml` mapping of a deployment
and the `work_pools:` entry of a pool with its queues. Pure functions.

Only what the file would not give anyway is written: a description or version that the flow's
source gives, the default pull step, the default queue, an active flag that is on and a slug
that the schedule's content derives are left out, so the file stays short and a plan of it
finds nothing to change.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from flowplan.discovery.flows import FlowInfo
from flowplan.domain.job_templates import default_template
from flowplan.domain.objects import Deployment, DeploymentSchedule, WorkPool, WorkQueue
from flowplan.domain.schedules import derived_slug, schedule_from_json

# what the store and Prefect's server give a pool's default queue
DEFAULT_QUEUE_DESCRIPTION = "The work pool's default queue."


def deployment_entry(
    live: Deployment, flow: FlowInfo | None, inherited_pull: Sequence[Mapping[str, Any]] | None
) -> dict[str, Any]:
    """The deployment as `prefect.yaml` declares it. `inherited_pull`: the pull steps a
    deployment without `pull:` gets in this file (None: the file's own top-level steps, which
    are not compared, so the deployment's are always written)."""
    entry: dict[str, Any] = {"name": live.name}
    if live.description and (flow is None or live.description != flow.description):
        entry["description"] = live.description
    if live.version is not None and (flow is None or live.version != flow.version):
        entry["version"] = live.version
    entry["entrypoint"] = live.entrypoint
    if live.tags:
        entry["tags"] = list(live.tags)
    if live.parameters:
        entry["parameters"] = live.parameters
    if live.paused:
        entry["paused"] = True
    if live.concurrency_options:
        entry["concurrency_limit"] = {"limit": live.concurrency_limit, **live.concurrency_options}
    elif live.concurrency_limit is not None:
        entry["concurrency_limit"] = live.concurrency_limit
    if not live.enforce_parameter_schema:
        entry["enforce_parameter_schema"] = False
    if live.work_pool_name:
        pool: dict[str, Any] = {"name": live.work_pool_name}
        if live.work_queue_name and live.work_queue_name != "default":
            pool["work_queue_name"] = live.work_queue_name
        if live.job_variables:
            pool["job_variables"] = live.job_variables
        entry["work_pool"] = pool
    if live.schedules:
        entry["schedules"] = [schedule_entry(schedule) for schedule in live.schedules]
    pull = live.pull_steps or []
    if inherited_pull is None or pull != list(inherited_pull):
        entry["pull"] = pull
    if live.triggers:
        entry["triggers"] = live.triggers
    return entry


def schedule_entry(live: DeploymentSchedule) -> dict[str, Any]:
    body = {key: value for key, value in live.schedule.to_json().items() if value is not None}
    if body.get("day_or") is True:
        del body["day_or"]
    entry = dict(body)
    if derived_slug(schedule_from_json(body), live.parameters) != live.slug:
        entry["slug"] = live.slug
    if not live.active:
        entry["active"] = False
    if live.parameters:
        entry["parameters"] = live.parameters
    return entry


def template_file(pool: WorkPool) -> str | None:
    """Where a pool's own base job template goes (a JSON file beside the project file, as the
    kubernetes recipe keeps its own: the file's `{{ }}` placeholders are the template's, not
    the project's); None when the pool has its type's default template."""
    if not pool.base_job_template or pool.base_job_template == default_template(pool.type):
        return None
    return re.sub(r"[^A-Za-z0-9._-]+", "-", pool.name).strip(".-") + ".job-template.json"


def pool_entry(pool: WorkPool, queues: Sequence[WorkQueue]) -> dict[str, Any]:
    """The pool under `work_pools:`, with its queues (the default one only when it has
    settings of its own)."""
    entry: dict[str, Any] = {"name": pool.name, "type": pool.type}
    if pool.description:
        entry["description"] = pool.description
    if pool.is_paused:
        entry["paused"] = True
    if pool.concurrency_limit is not None:
        entry["concurrency_limit"] = pool.concurrency_limit
    template = template_file(pool)
    if template:
        entry["base_job_template"] = template
    listed = []
    for queue in sorted(queues, key=lambda q: (q.priority, q.name)):
        described = queue.description and queue.description != DEFAULT_QUEUE_DESCRIPTION
        plain = not (described or queue.is_paused or queue.concurrency_limit is not None)
        if queue.id == pool.default_queue_id and plain:
            continue
        item: dict[str, Any] = {"name": queue.name, "priority": queue.priority}
        if (queue.description and queue.id != pool.default_queue_id) or described:
            item["description"] = queue.description
        if queue.concurrency_limit is not None:
            item["concurrency_limit"] = queue.concurrency_limit
        if queue.is_paused:
            item["paused"] = True
        listed.append(item)
    if listed:
        entry["queues"] = listed
    return entry


def with_secret_references(
    value: Any, secrets: Mapping[str, str], where: str, found: list[tuple[str, str]]
) -> Any:
    """`value` with every stored secret's value replaced by its reference
    (`{{ prefect.blocks.secret.NAME }}`); `found` gets (where, secret name) for each."""
    if isinstance(value, str):
        for name, secret in secrets.items():
            if secret in value:
                value = value.replace(secret, f"{{{{ prefect.blocks.secret.{name} }}}}")
                found.append((where, name))
        return value
    if isinstance(value, Mapping):
        return {k: with_secret_references(v, secrets, f"{where}.{k}", found)
                for k, v in value.items()}  # fmt: skip
    if isinstance(value, list):
        return [with_secret_references(v, secrets, f"{where}[{i}]", found)
                for i, v in enumerate(value)]  # fmt: skip
    return value
