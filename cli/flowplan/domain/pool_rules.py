"""What every backend checks when pools, queues, schedules and runs change: one set of rules,
one set of messages, whatever stores them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flowplan.domain.names import check_name
from flowplan.domain.objects import FlowRun, StateType
from flowplan.domain.values import check_json, check_limit
from flowplan.errors import FlowplanError, InvalidInput

POOL_FIELDS = frozenset({"description", "is_paused", "concurrency_limit", "base_job_template"})
QUEUE_FIELDS = frozenset({"description", "is_paused", "concurrency_limit", "priority"})
SCHEDULE_FIELDS = frozenset({"schedule", "active", "parameters"})


def unknown_fields(changes: Mapping[str, Any], allowed: frozenset[str], what: str) -> None:
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise InvalidInput(f"cannot change {', '.join(unknown)} of a {what}")


def new_pool_template(
    name: str, type: str, base_job_template: Mapping[str, Any] | None, limit: int | None
) -> dict[str, Any]:
    """Check a new pool; its base job template (the type's default when none is given)."""
    # imported here: the job templates' validator is not needed to read runs (start-up time)
    from flowplan.domain.job_templates import check_pool_type, check_template, default_template

    check_name("work pool", name)
    if name.lower().startswith("prefect"):
        raise InvalidInput(f"work pool name {name!r} is reserved (names starting 'prefect')")
    check_pool_type(type)
    check_limit("concurrency limit", limit)
    if base_job_template is not None:
        return check_template(check_json("base job template", base_job_template))
    return default_template(type)


def pool_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Checked changes of a pool (a template is checked and returned as a plain dict)."""
    unknown_fields(changes, POOL_FIELDS, "work pool")
    values = dict(changes)
    if "concurrency_limit" in values:
        check_limit("concurrency limit", values["concurrency_limit"])
    if "base_job_template" in values:
        from flowplan.domain.job_templates import check_template

        template = check_json("base job template", values["base_job_template"])
        values["base_job_template"] = check_template(template)
    return values


def check_new_queue(name: str, concurrency_limit: int | None, priority: int | None) -> None:
    check_name("work queue", name)
    check_limit("concurrency limit", concurrency_limit)
    check_limit("priority", priority)


def check_queue_changes(changes: Mapping[str, Any]) -> None:
    unknown_fields(changes, QUEUE_FIELDS, "work queue")
    if "concurrency_limit" in changes:
        check_limit("concurrency limit", changes["concurrency_limit"])
    if "priority" in changes:
        if changes["priority"] is None:
            raise InvalidInput("priority must be a whole number of at least 1, got None")
        check_limit("priority", changes["priority"])


def check_schedule_parameters(specs: Sequence[Any]) -> None:
    """The parameters of new schedules (ScheduleSpecs): values the store can hold."""
    for spec in specs:
        check_json(f"schedule {spec.effective_slug!r}: parameters", spec.parameters)


def check_schedule_changes(changes: Mapping[str, Any]) -> None:
    unknown_fields(changes, SCHEDULE_FIELDS, "schedule")
    if "parameters" in changes:
        check_json("schedule parameters", changes["parameters"])


def check_run_values(parameters: object, job_variables: object) -> None:
    """A new run's parameters and job variables: values the store can hold."""
    check_json("flow run parameters", parameters)
    check_json("flow run job variables", job_variables)


def pool_in_use(name: str, users: Sequence[str]) -> FlowplanError:
    return FlowplanError(
        f"work pool {name!r} is used by {len(users)}"
        f" deployment{'' if len(users) == 1 else 's'}: "
        + ", ".join(users[:20]) + (" ..." if len(users) > 20 else ""),
        hint="move or delete them first, or pass --force",
    )  # fmt: skip


def cancel_state(run: FlowRun) -> StateType:
    """What cancelling a run means: CANCELLED at once before it started, else CANCELLING (its
    worker stops it). A final run cannot be cancelled."""
    if run.state.type.is_final:
        raise FlowplanError(f"flow run {run.name!r} is already {run.state.name}; nothing to cancel")
    if run.state.type in (StateType.SCHEDULED, StateType.PAUSED):
        return StateType.CANCELLED
    return StateType.CANCELLING
