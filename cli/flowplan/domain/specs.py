"""What a client asks a backend to create: the inputs of the write methods.

A `DeploymentSpec` is a whole deployment as declared. Fields set to None where the docstring says
"leave alone" keep the stored value on an update, which is how an absent `paused:` or `schedules:`
key in `prefect.yaml` behaves (DESIGN.md section 9).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flowplan.domain.names import check_name
from flowplan.domain.schedules import Schedule, derived_slug
from flowplan.domain.values import check_json, check_limit
from flowplan.errors import InvalidInput


@dataclass(frozen=True)
class ScheduleSpec:
    schedule: Schedule
    active: bool | None = None  # None: keep the stored flag (True for a new schedule)
    parameters: dict[str, Any] = field(default_factory=dict)
    slug: str | None = None  # None: a stable slug derived from the schedule
    replaces: str | None = None  # a stored schedule's old slug: it keeps its id and flags
    effective_slug: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        slug = self.slug or derived_slug(self.schedule, self.parameters)
        object.__setattr__(self, "effective_slug", slug)


@dataclass(frozen=True)
class DeploymentSpec:
    flow_name: str
    name: str
    entrypoint: str | None = None
    path: str | None = None
    description: str | None = None
    version: str | None = None
    tags: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    parameter_openapi_schema: dict[str, Any] = field(default_factory=dict)
    enforce_parameter_schema: bool | None = True  # None: keep the stored flag (True when new)
    job_variables: dict[str, Any] = field(default_factory=dict)
    work_pool_name: str | None = None
    work_queue_name: str | None = None
    pull_steps: list[dict[str, Any]] | None = None
    concurrency_limit: int | None = None
    paused: bool | None = None  # None: leave alone (False for a new deployment)
    schedules: tuple[ScheduleSpec, ...] | None = None  # None: leave the stored schedules alone
    triggers: list[dict[str, Any]] = field(default_factory=list)  # Prefect's trigger mappings
    # the rest of `concurrency_limit: {...}`: collision_strategy (ENQUEUE or CANCEL_NEW) and
    # grace_period_seconds; None without a limit or options
    concurrency_options: dict[str, Any] | None = None

    @property
    def full_name(self) -> str:
        return f"{self.flow_name}/{self.name}"


# what flowplan last applied (a hash of the declared fields): a plan tells drift apart with it
HASH_LABEL = "flowplan.dev/spec-hash"

# the fields `update_deployment` may change
DEPLOYMENT_FIELDS = frozenset(
    {"version", "description", "paused", "concurrency_limit", "enforce_parameter_schema", "tags",
     "entrypoint", "path", "work_pool_name", "work_queue_name", "schedules", "job_variables",
     "parameters", "parameter_openapi_schema", "labels", "pull_steps", "triggers",
     "concurrency_options"}
)  # fmt: skip


# the fields stored as JSON: each must be a value the store and the target can hold
JSON_FIELDS = ("parameters", "job_variables", "pull_steps", "parameter_openapi_schema",
               "labels", "triggers", "concurrency_options")  # fmt: skip


def check_spec(spec: DeploymentSpec) -> None:
    """What every backend checks before writing a deployment: names, values, slugs."""
    check_name("flow", spec.flow_name)
    check_name("deployment", spec.name)
    check_spec_values(spec)
    slugs = [schedule.effective_slug for schedule in spec.schedules or ()]
    duplicates = sorted({slug for slug in slugs if slugs.count(slug) > 1})
    if duplicates:
        raise InvalidInput(
            f"deployment {spec.full_name!r} has two schedules with slug {duplicates[0]!r}"
        )


def check_spec_values(spec: DeploymentSpec) -> None:
    """The limit and the JSON values: what the store and the target can hold (a plan checks
    them too, so that it never shows a change that apply would refuse)."""
    who = f"deployment {spec.full_name!r}"
    check_limit(f"{who}: concurrency limit", spec.concurrency_limit)
    values = {key: getattr(spec, key) for key in JSON_FIELDS}  # one check for all of them
    for index, schedule in enumerate(spec.schedules or ()):
        values[f"schedules[{index}].parameters"] = schedule.parameters
    check_json(who, values)


def check_changes(changes: dict[str, Any] | Any) -> None:
    unknown = sorted(set(changes) - DEPLOYMENT_FIELDS)
    if unknown:
        raise InvalidInput(f"cannot change {', '.join(unknown)} of a deployment")
    if "concurrency_limit" in changes:
        check_limit("concurrency limit", changes["concurrency_limit"])
    for key in JSON_FIELDS:
        if key in changes:
            check_json(key, changes[key])
    for index, schedule in enumerate(changes.get("schedules") or ()):
        check_json(f"schedules[{index}].parameters", getattr(schedule, "parameters", None))


def check_job_variables(
    who: str, job_variables: dict[str, Any] | Any, template: dict[str, Any] | Any | None
) -> None:
    """Job variables against the pool's base job template (required keys not enforced)."""
    from flowplan.domain.job_templates import job_variable_problems

    problems = job_variable_problems(job_variables, template) if template else []
    if problems:
        raise InvalidInput(
            f"deployment {who}: job variables do not fit the work pool: " + "; ".join(problems)
        )
