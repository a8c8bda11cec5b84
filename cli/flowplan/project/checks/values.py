"""Values the store and the target cannot hold (domain/values.py has the rules): a number that
is not finite anywhere in the file (`.inf`, `.nan`, `1.0e+400`), and limits and priorities
past what Prefect's database stores. The schema checks their type and minimum."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

from flowplan.domain.values import MAX_INTEGER, json_problem, limit_problem
from flowplan.findings import Finding, Path_, error
from flowplan.project.model import Project


def check(project: Project) -> Iterator[Finding]:
    yield from _not_finite(project.data)
    for deployment in project.deployments:
        limit = deployment.data.get("concurrency_limit")
        path = (*deployment.path, "concurrency_limit")
        if isinstance(limit, Mapping):
            limit, path = limit.get("limit"), (*path, "limit")
        yield from _limit("concurrency limit", limit, path)
    pools = project.data.get("work_pools")
    for index, pool in enumerate(pools if isinstance(pools, list) else ()):
        if not isinstance(pool, Mapping):
            continue
        where: Path_ = ("work_pools", index)
        yield from _limit("concurrency limit", pool.get("concurrency_limit"),
                          (*where, "concurrency_limit"))  # fmt: skip
        queues = pool.get("queues")
        for number, queue in enumerate(queues if isinstance(queues, list) else ()):
            if isinstance(queue, Mapping):
                for key in ("concurrency_limit", "priority"):
                    yield from _limit(key.replace("_", " "), queue.get(key),
                                      (*where, "queues", number, key))  # fmt: skip


def _limit(what: str, value: Any, path: Path_) -> Iterator[Finding]:
    if isinstance(value, int) and not isinstance(value, bool) and value > MAX_INTEGER:
        yield error("number-out-of-range", limit_problem(what, value) or "", path)


def _not_finite(data: Any) -> Iterator[Finding]:
    if json_problem(data) is None:  # the common case, checked in C
        return
    stack: list[tuple[Any, Path_]] = [(data, ())]
    while stack:
        item, path = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            shown = ".nan" if math.isnan(item) else ("-" if item < 0 else "") + ".inf"
            yield error(
                "number-not-finite",
                f"{shown} is not a finite number: it cannot be stored or sent",
                path,
                "JSON has no Infinity or NaN; give a finite number, or quote it to make it text",
            )
        elif isinstance(item, Mapping):
            stack.extend((value, (*path, key)) for key, value in item.items())
        elif isinstance(item, list):
            stack.extend((value, (*path, index)) for index, value in enumerate(item))
