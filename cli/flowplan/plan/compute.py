"""`compute_plan(desired, actual, options) -> Plan`: pure, normalised, field by field."""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from flowplan.domain.events import Webhook
from flowplan.domain.job_templates import default_template, job_variable_problems
from flowplan.domain.objects import Deployment, WorkPool, WorkQueue
from flowplan.domain.specs import DeploymentSpec
from flowplan.errors import InvalidInput
from flowplan.plan.comparable import core_fields, desired_fields, drifted, fingerprint, live_fields
from flowplan.plan.model import Action, Change, FieldChange, Plan
from flowplan.plan.specs import (
    BUILD_LABEL,
    OWNER_LABEL,
    PROJECT_LABEL,
    Desired,
    PoolSpec,
    QueueSpec,
    WebhookSpec,
    deployment_to_json,
)
from flowplan.steps.predict import KNOWN_AFTER_BUILD, unknown_in

DEFAULT_DELETE_GUARD = 10


@dataclass(frozen=True)
class Actual:
    """What the target holds, keyed as plans key objects."""

    pools: Mapping[str, WorkPool]
    queues: Mapping[str, WorkQueue]  # `pool/queue`
    deployments: Mapping[str, Deployment]  # `flow/deployment`
    webhooks: Mapping[str, Webhook] | None = None  # None: the target keeps no webhooks


@dataclass(frozen=True)
class PlanOptions:
    prune: bool = False
    max_delete: int | None = None  # None: the default guard


# -- diffing -------------------------------------------------------------------------------------


def _diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[FieldChange, ...]:
    changes: list[FieldChange] = []
    for key, wanted in after.items():
        current = before.get(key)
        if current == wanted:
            continue
        if key == "schedules":
            for slug in sorted(set(current or {}) | set(wanted)):
                old, new = (current or {}).get(slug), wanted.get(slug)
                if old is None or new is None:
                    changes.append(FieldChange(f"schedules[{slug}]", old, new))
                    continue
                for part in sorted(set(old) | set(new)):
                    if old.get(part) != new.get(part) and part in new:
                        changes.append(FieldChange(f"schedules[{slug}].{part}", old.get(part),
                                                   new.get(part)))  # fmt: skip
        else:
            changes.append(FieldChange(key, current, wanted))
    return tuple(changes)


def _pool_change(spec: PoolSpec, live: WorkPool | None) -> Change:
    wanted: dict[str, Any] = {}
    if spec.description is not None:
        wanted["description"] = spec.description
    if spec.paused is not None:
        wanted["is_paused"] = spec.paused
    if spec.concurrency_limit is not None:
        wanted["concurrency_limit"] = spec.concurrency_limit
    if spec.base_job_template is not None:
        wanted["base_job_template"] = spec.base_job_template
    after = asdict(spec)
    if live is None:
        fields = (FieldChange("type", None, spec.type), *_diff({}, wanted))
        return Change("create", "work_pool", spec.name, fields, after)
    if live.type != spec.type:
        raise InvalidInput(
            f"work pool {spec.name!r} is of type {live.type!r} on the target; the project says"
            f" {spec.type!r} (a pool's type cannot change: delete it or use another name)"
        )
    current = {"description": live.description, "is_paused": live.is_paused,
               "concurrency_limit": live.concurrency_limit,
               "base_job_template": live.base_job_template}  # fmt: skip
    fields = _diff(current, wanted)
    action: Action = "update" if fields else "noop"
    return Change(action, "work_pool", spec.name, fields, after, live.id, fingerprint(live))


def _webhook_change(spec: WebhookSpec, live: Webhook | None) -> Change:
    wanted: dict[str, Any] = {"template": spec.template}
    if spec.description is not None:
        wanted["description"] = spec.description
    if spec.enabled is not None:
        wanted["enabled"] = spec.enabled
    after = asdict(spec)
    if live is None:
        return Change("create", "webhook", spec.name, _diff({}, wanted), after)
    fields = _diff(live.to_json(), wanted)
    action: Action = "update" if fields else "noop"
    return Change(action, "webhook", spec.name, fields, after, live.id, fingerprint(live))


def _webhook_changes(desired: Desired, actual: Actual) -> tuple[list[Change], list[str]]:
    """Declared webhooks (never deleted by a plan: `flowplan webhook delete` does that); on a
    target without webhooks (a Prefect server), a warning instead."""
    if not desired.webhooks:
        return [], []
    if actual.webhooks is None:
        names = ", ".join(spec.name for spec in desired.webhooks)
        return [], [
            f"webhooks ({names}): the target keeps no webhooks (flowplan server serves"
            " them over the local store; Prefect Cloud has its own); not applied"
        ]
    counts = Counter(spec.name for spec in desired.webhooks)
    twice = sorted(name for name, count in counts.items() if count > 1)
    if twice:
        raise InvalidInput(f"webhook {twice[0]!r} is declared twice")
    return [_webhook_change(spec, actual.webhooks.get(spec.name)) for spec in desired.webhooks], []


def _queue_change(spec: QueueSpec, live: WorkQueue | None) -> Change:
    wanted = {key: value for key, value in (
        ("description", spec.description), ("priority", spec.priority),
        ("concurrency_limit", spec.concurrency_limit), ("is_paused", spec.paused),
    ) if value is not None}  # fmt: skip
    after = asdict(spec)
    if live is None:
        return Change("create", "work_queue", spec.key, _diff({}, wanted), after)
    current = {
        "description": live.description, "priority": live.priority,
        "concurrency_limit": live.concurrency_limit, "is_paused": live.is_paused,
    }  # fmt: skip
    fields = _diff(current, wanted)
    action: Action = "update" if fields else "noop"
    return Change(action, "work_queue", spec.key, fields, after, live.id, fingerprint(live))


_SETTLED = ("description", "version", "tags", "parameters", "job_variables", "pull_steps")


def settle(spec: DeploymentSpec, live: Deployment | None) -> DeploymentSpec:
    """Values only a build can know (`(known after build)` in a plan) are the live ones when
    the live deployment was made by the same build and push configuration: a plan right after
    an apply then finds nothing to change, and an apply rebuilds nothing."""
    build = spec.labels.get(BUILD_LABEL)
    if live is None or build is None or live.labels.get(BUILD_LABEL) != build:
        return spec
    changes = {
        name: _known(getattr(spec, name), getattr(live, name))
        for name in _SETTLED
        if unknown_in(getattr(spec, name))
    }
    return replace(spec, **changes) if changes else spec


def _known(wanted: Any, live: Any) -> Any:
    if isinstance(wanted, str) and KNOWN_AFTER_BUILD in wanted:
        return live
    if isinstance(wanted, Mapping) and isinstance(live, Mapping):
        return {key: _known(value, live.get(key)) for key, value in wanted.items()}
    if (
        isinstance(wanted, list | tuple)
        and isinstance(live, list | tuple)
        and len(live) == len(wanted)
    ):
        return type(wanted)(_known(w, v) for w, v in zip(wanted, live, strict=True))
    return wanted


def _deployment_change(spec: DeploymentSpec, live: Deployment | None) -> Change:
    spec = settle(spec, live)
    if spec.enforce_parameter_schema is None:  # not declared: what the target has stays
        spec = replace(
            spec, enforce_parameter_schema=live.enforce_parameter_schema if live else True
        )
    wanted = desired_fields(spec)
    after = deployment_to_json(spec)
    if live is None:
        return Change("create", "deployment", spec.full_name, _diff({}, wanted), after)
    stored = {s.slug for s in live.schedules}
    renames = {s.replaces: s.effective_slug for s in spec.schedules or ()
               if s.replaces in stored and s.effective_slug not in stored}  # fmt: skip
    core = core_fields(live)
    fields = _diff(live_fields(live, wanted, renames, core), wanted)
    fields += tuple(FieldChange(f"schedules[{new}].slug", old, new) for old, new in renames.items())
    adopt = _adopts(fields, live)
    action: Action = "update" if fields and not adopt else "noop"
    return Change(action, "deployment", spec.full_name, fields, after, live.id, fingerprint(live),
                  drifted(live, core), adopt)  # fmt: skip


def _adopts(fields: tuple[FieldChange, ...], live: Deployment) -> bool:
    """Only the ownership labels differ, and no project owns the live deployment (made by
    `prefect deploy`, by hand, or by `flowplan deploy` outside a project file): taking it over
    changes nothing a user declared, so the plan has no changes, and apply writes the labels."""
    if len(fields) != 1 or fields[0].name != "labels" or PROJECT_LABEL in live.labels:
        return False
    if live.labels.get(OWNER_LABEL, "flowplan") != "flowplan":
        return False

    def others(labels: Mapping[str, str] | None) -> dict[str, str]:
        return {k: v for k, v in (labels or {}).items() if not k.startswith("flowplan.dev/")}

    return others(fields[0].before) == others(fields[0].after)


def _check_pools(desired: Desired, actual: Actual) -> None:
    declared = {pool.name: pool for pool in desired.pools}
    templates: dict[str, dict[str, Any]] = {}
    for spec in desired.deployments:
        pool = spec.work_pool_name
        if pool is None:
            continue
        if pool in templates:
            template = templates[pool]
        elif pool in declared:
            template = declared[pool].base_job_template or default_template(declared[pool].type)
        elif pool in actual.pools:
            template = actual.pools[pool].base_job_template
        else:
            known = [*declared, *actual.pools]
            close = difflib.get_close_matches(pool, known)
            raise InvalidInput(
                f"deployment {spec.full_name!r}: work pool {pool!r} does not exist on the target"
                " and is not declared under work_pools:",
                hint=f"did you mean {close[0]!r}?" if close else
                f"create it (flowplan work-pool create {pool} --type process) or declare it",
            )  # fmt: skip
        templates[pool] = template
        problems = job_variable_problems(spec.job_variables, template)
        if problems:
            raise InvalidInput(f"deployment {spec.full_name!r}: job variables do not fit the"
                               " work pool: " + "; ".join(problems))  # fmt: skip


def compute_plan(desired: Desired, actual: Actual, options: PlanOptions = PlanOptions()) -> Plan:
    """Pure: the changes that make `actual` match `desired`, in dependency order."""
    counts = Counter(spec.full_name for spec in desired.deployments)
    duplicates = sorted(key for key, count in counts.items() if count > 1)
    if duplicates:
        raise InvalidInput(f"two deployments in the project have the same name: {duplicates[0]}")
    _check_pools(desired, actual)
    changes = [_pool_change(p, actual.pools.get(p.name)) for p in desired.pools]
    changes += [_queue_change(q, actual.queues.get(q.key)) for q in desired.queues]
    changes += [
        _deployment_change(spec, actual.deployments.get(spec.full_name))
        for spec in sorted(desired.deployments, key=lambda s: s.full_name)
    ]
    if options.prune:
        changes += _deletes(desired, actual, options)
    hooks, unserved = _webhook_changes(desired, actual)
    changes += hooks
    return Plan(tuple(changes), warnings=(*desired.warnings, *unserved,
                                          *_conflicts(desired, actual)))  # fmt: skip


def _conflicts(desired: Desired, actual: Actual) -> list[str]:
    """Deployments of the same name that this project does not own (made by hand, by
    `prefect deploy`, or by another project): apply takes them over; prune never deletes them."""
    found = []
    for spec in desired.deployments:
        live = actual.deployments.get(spec.full_name)
        if live is None:
            continue
        owner = (
            live.labels.get(PROJECT_LABEL) if live.labels.get(OWNER_LABEL) == "flowplan" else None
        )
        if owner != desired.project:
            made_by = f"project {owner!r}" if owner else "something other than flowplan"
            found.append(
                f"deployment {spec.full_name!r} on the target was made by {made_by};"
                f" apply will take it over for project {desired.project!r}"
            )
    return found


def _owned(desired: Desired, actual: Actual) -> list[Deployment]:
    return [
        d
        for _, d in sorted(actual.deployments.items())
        if d.labels.get(OWNER_LABEL) == "flowplan"
        and d.labels.get(PROJECT_LABEL) == desired.project
    ]


def left_behind(desired: Desired, actual: Actual) -> list[str]:
    """This project's deployments on the target that the project no longer declares."""
    wanted = {spec.full_name for spec in desired.deployments}
    return [d.full_name for d in _owned(desired, actual) if d.full_name not in wanted]


def _deletes(desired: Desired, actual: Actual, options: PlanOptions) -> list[Change]:
    wanted = {spec.full_name for spec in desired.deployments}
    owned = _owned(desired, actual)
    doomed = [d for d in owned if d.full_name not in wanted]
    limit = options.max_delete
    if (
        limit is None
        and doomed
        and (len(doomed) > DEFAULT_DELETE_GUARD or 2 * len(doomed) > len(owned))
    ):
        raise InvalidInput(
            f"--prune would delete {len(doomed)} of the {len(owned)} deployments this project owns;"
            " refusing without an explicit --max-delete",
            hint=f"check the plan, then pass --max-delete {len(doomed)}",
        )
    if limit is not None and len(doomed) > limit:
        raise InvalidInput(
            f"--prune would delete {len(doomed)} deployments, more than --max-delete {limit}"
        )
    return [
        Change("delete", "deployment", d.full_name, (), None, d.id, fingerprint(d))
        for d in reversed(doomed)
    ]
