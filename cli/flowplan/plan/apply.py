"""Executing a plan: dependency order, one transaction per object, no-ops skipped, past
independent failures, a result per object. Re-running after a failure or a crash converges,
because every change is computed against what the target holds now."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from flowplan.backends.protocol import Backend
from flowplan.domain.specs import HASH_LABEL, DeploymentSpec
from flowplan.errors import FlowplanError
from flowplan.plan.comparable import fingerprint, spec_hash
from flowplan.plan.compute import Actual
from flowplan.plan.model import Change, Plan
from flowplan.plan.specs import deployment_from_json


@dataclass(frozen=True)
class Result:
    change: Change
    ok: bool
    message: str = ""


def stale_objects(plan: Plan, actual: Actual) -> list[str]:
    """Keys of planned objects that changed on the target since the plan was made."""
    live: dict[str, Any] = {
        "work_pool": actual.pools, "work_queue": actual.queues, "deployment": actual.deployments,
        "webhook": actual.webhooks or {},
    }  # fmt: skip
    stale = []
    for change in plan.changes:
        current = live[change.kind].get(change.key)
        now = fingerprint(current) if current is not None else None
        if now != change.fingerprint:
            stale.append(change.key)
    return stale


def _pool_of(change: Change) -> str | None:
    if change.kind == "work_queue":
        return change.key.partition("/")[0]
    if change.kind == "deployment" and change.after:
        pool: str | None = change.after.get("work_pool_name")
        return pool
    return None


def _waves(changes: list[Change]) -> list[list[Change]]:
    """The first deployment naming each work queue, then the rest: a Prefect server makes a
    queue a deployment names when its pool lacks it, and two such writes at once collide on
    PostgreSQL (a unique constraint), so the writes that may make a queue do not share one."""
    first: list[Change] = []
    rest: list[Change] = []
    queues: set[tuple[str | None, str]] = set()
    for change in changes:
        queue = (change.after or {}).get("work_queue_name")
        key = (_pool_of(change), str(queue))
        if change.action == "delete" or queue in (None, "default") or key in queues:
            rest.append(change)
        else:
            queues.add(key)
            first.append(change)
    return [wave for wave in (first, rest) if wave]


def execute(change: Change, backend: Backend) -> None:
    after = change.after or {}
    changed = {field.name: field.after for field in change.fields}
    if change.kind == "work_pool":
        if change.action == "create":
            backend.create_work_pool(
                after["name"], after["type"], description=after["description"],
                base_job_template=after["base_job_template"],
                concurrency_limit=after["concurrency_limit"], is_paused=bool(after["paused"]),
            )  # fmt: skip
        else:
            backend.update_work_pool(change.key, changed)
    elif change.kind == "webhook":
        _webhook(change, backend)
    elif change.kind == "work_queue":
        if change.action == "create":
            backend.create_work_queue(
                after["pool"], after["name"], description=after["description"],
                is_paused=bool(after["paused"]), concurrency_limit=after["concurrency_limit"],
                priority=after["priority"],
            )  # fmt: skip
        else:
            backend.update_work_queue(after["pool"], after["name"], changed)
    elif change.action == "delete":
        assert change.target_id is not None
        backend.delete_deployment(change.target_id)
    else:
        backend.upsert_deployments([_spec(change)], new=change.action == "create")


def _webhook(change: Change, backend: Backend) -> None:
    after = change.after or {}
    if change.action == "create":
        backend.create_webhook(  # type: ignore[attr-defined]
            after["name"], after["template"], description=after["description"] or "",
            enabled=after["enabled"] is not False,
        )  # fmt: skip
    else:
        backend.update_webhook(  # type: ignore[attr-defined]
            change.key, {field.name: field.after for field in change.fields}
        )


def _spec(change: Change) -> DeploymentSpec:
    spec = deployment_from_json(change.after or {})
    return replace(spec, labels={**spec.labels, HASH_LABEL: spec_hash(spec)})


def _batches(changes: list[Change], size: int = 500) -> list[list[Change]]:
    """Runs of deployment creates and updates (at most `size`); each delete on its own."""
    batches: list[list[Change]] = []
    for change in changes:
        joins = batches and change.action != "delete" and batches[-1][-1].action != "delete"
        if joins and len(batches[-1]) < size:
            batches[-1].append(change)
        else:
            batches.append([change])
    return batches


def apply_plan(
    plan: Plan, backend: Backend, report: Callable[[Result], None] = lambda result: None
) -> list[Result]:
    """Pools and queues first, one at a time; then deployments, up to the backend's
    `write_concurrency` at once (a server takes them in parallel; the local store one by one).
    Results come back in plan order; `report` is called as each finishes."""
    failed_pools: set[str] = set()
    lock = threading.Lock()

    def run(change: Change) -> Result:
        pool = _pool_of(change)
        if pool in failed_pools:
            result = Result(change, False, f"skipped: work pool {pool!r} failed")
        else:
            try:
                execute(change, backend)
                result = Result(change, True)
            except FlowplanError as exc:
                result = Result(change, False, str(exc))
                if change.kind == "work_pool":
                    failed_pools.add(change.key)
        with lock:
            report(result)
        return result

    # a takeover (`adopt`) is written as an update of the labels; other no-ops write nothing
    todo = [replace(change, action="update") if change.adopt else change
            for change in plan.changes if change.action != "noop" or change.adopt]  # fmt: skip
    first = [change for change in todo if change.kind != "deployment"]
    results = {id(change): run(change) for change in first}
    rest = [change for change in todo if change.kind == "deployment"]
    if backend.atomic_batches:  # the store: a batch is one transaction
        for batch in _batches([c for c in rest if _pool_of(c) not in failed_pools]):
            if len(batch) > 1:
                try:
                    backend.upsert_deployments([_spec(change) for change in batch])
                except FlowplanError:
                    pass  # nothing of the batch was written: one by one tells which failed
                else:
                    for change in batch:
                        results[id(change)] = Result(change, True)
                        report(results[id(change)])
                    continue
            results.update({id(change): run(change) for change in batch})
        results.update({id(c): run(c) for c in rest if id(c) not in results})
    else:
        for wave in _waves(rest):
            with ThreadPoolExecutor(min(backend.write_concurrency, len(wave))) as pool:
                for change, result in zip(wave, pool.map(run, wave), strict=True):
                    results[id(change)] = result
    return [results[id(change)] for change in todo]
