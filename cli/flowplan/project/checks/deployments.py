"""Deployment-level checks: names, duplicates, misplaced keys, tags, work pools as code."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from typing import Any

from flowplan.domain.job_templates import POOL_TYPES
from flowplan.findings import Finding, Path_, error, format_path, warning
from flowplan.project.model import Project, items_of

FORBIDDEN_NAME_CHARACTERS = re.compile(r"[/%&><]")


# Keys users put in the wrong place, and where they belong.
MISPLACED: dict[tuple[str, str], str] = {
    ("deployment", "job_variables"): "job_variables belongs under work_pool",
    ("deployment", "work_queue_name"): "work_queue_name belongs under work_pool",
    ("deployment", "infra_overrides"): "Prefect 2's infra_overrides is work_pool.job_variables now",
    ("deployment", "env"): "environment variables belong under work_pool.job_variables.env",
    ("deployment", "image"): "the image belongs under work_pool.job_variables.image",
    ("deployment", "working_dir"): "the working directory belongs under work_pool.job_variables",
    ("deployment", "is_schedule_active"): "use active: false on each schedule instead",
    ("deployment", "is_paused"): "the key is called paused",
    ("deployment", "environment"): "environment variables belong under work_pool.job_variables.env",
    ("work_pool", "image"): "the image belongs under work_pool.job_variables.image",
    ("work_pool", "env"): "environment variables belong under work_pool.job_variables.env",
    (
        "work_pool",
        "type",
    ): "a pool's type is set on the pool itself: declare it under top-level work_pools",
    (
        "work_pool",
        "concurrency_limit",
    ): "a pool's limit is set on the pool itself: declare it under top-level work_pools",
    ("top", "entrypoint"): "entrypoint belongs to each deployment, under deployments",
    ("top", "schedules"): "schedules belong to each deployment, under deployments",
    ("top", "work_pool"): "work_pool belongs to each deployment, under deployments",
}


def container_of(path: Path_) -> str:
    """Which kind of mapping holds the key at `path`."""
    if len(path) == 1:
        return "top"
    if len(path) == 3 and path[0] == "deployments":
        return "deployment"
    if len(path) == 4 and path[0] == "deployments" and path[2] == "work_pool":
        return "work_pool"
    return "other"


def misplaced_hint(path: Path_) -> str | None:
    return MISPLACED.get((container_of(path), str(path[-1])))


def name_problem(name: str) -> str | None:
    if not name.strip():
        return "name is empty"
    bad = FORBIDDEN_NAME_CHARACTERS.search(name)
    if bad:
        return f"name {name!r} contains {bad.group(0)!r}; names cannot contain / % & > <"
    return None


def check(project: Project, flow_names: Mapping[int, str]) -> Iterator[Finding]:
    """`flow_names` maps a deployment index to its flow's name, where it is known."""
    seen: dict[tuple[str, str], Path_] = {}
    for deployment in project.deployments:
        path = deployment.path
        name = deployment.data.get("name")
        if deployment.is_placeholder:
            yield warning(
                "placeholder-deployment",
                "this is the placeholder deployment 'prefect init' writes (no name, no"
                " entrypoint); plan, apply and deploy refuse it until it is filled in",
                path,
                "fill in name: and entrypoint: (path/to/file.py:flow_function), or remove it",
            )
        elif name is None:
            yield error(
                "unnamed-deployment",
                "deployment has no name",
                path,
                "add name: ...; Prefect would skip it silently",
            )
        elif isinstance(name, str):
            problem = name_problem(name)
            if problem:
                yield error("invalid-name", problem, (*path, "name"))
            elif name.endswith(".py"):
                yield warning(
                    "name-py",
                    f"Prefect cuts a name ending in .py to {name[:-3]!r}",
                    (*path, "name"),
                )
            flow = flow_names.get(deployment.index, "?")
            key = (flow, name)
            if key in seen:
                yield error(
                    "duplicate-deployment",
                    f"deployment {flow}/{name} is declared twice",
                    (*path, "name"),
                    f"first at {format_path(seen[key])}",
                )
            else:
                seen[key] = path
        yield from _pool_names(deployment.data.get("work_pool"), (*path, "work_pool"))
        yield from _tags(deployment.data.get("tags"), (*path, "tags"))
    yield from _work_pools(project.data.get("work_pools"))


def _pool_names(pool: Any, path: Path_) -> Iterator[Finding]:
    if not isinstance(pool, dict):
        return
    for key in ("name", "work_queue_name"):
        value = pool.get(key)
        if isinstance(value, str) and "{{" not in value:
            problem = name_problem(value)
            if problem:
                yield error("invalid-name", problem, (*path, key))


def _tags(tags: Any, path: Path_) -> Iterator[Finding]:
    if isinstance(tags, list):
        for index, tag in enumerate(tags):
            if isinstance(tag, str) and not tag.strip():
                yield warning("empty-tag", "empty tag (it is dropped)", (*path, index))


def _work_pools(pools: Any) -> Iterator[Finding]:
    if not isinstance(pools, list):
        return
    seen: set[str] = set()
    for index, pool in enumerate(pools):
        if not isinstance(pool, dict) or not isinstance(pool.get("name"), str):
            continue
        path: Path_ = ("work_pools", index)
        name = pool["name"]
        problem = name_problem(name)
        if problem:
            yield error("invalid-name", problem, (*path, "name"))
        if name in seen:
            yield error("duplicate-pool", f"work pool {name!r} is declared twice", (*path, "name"))
        seen.add(name)
        kind = pool.get("type")
        if isinstance(kind, str) and kind not in POOL_TYPES:
            close = difflib.get_close_matches(kind, POOL_TYPES, 1)
            yield error(  # plan and apply refuse it too: say so now
                "pool-type",
                f"unknown work pool type {kind!r}; flowplan knows {', '.join(POOL_TYPES)}",
                (*path, "type"),
                f"did you mean {close[0]!r}?" if close else None,
            )
        queues: set[str] = set()
        for q_index, queue in enumerate(items_of(pool.get("queues"))):
            if isinstance(queue, dict) and isinstance(queue.get("name"), str):
                q_path: Path_ = (*path, "queues", q_index, "name")
                problem = name_problem(queue["name"])
                if problem:
                    yield error("invalid-name", problem, q_path)
                if queue["name"] in queues:
                    yield error(
                        "duplicate-queue",
                        f"queue {queue['name']!r} is declared twice in {name!r}",
                        q_path,
                    )
                queues.add(queue["name"])
