"""What a client asks a backend to create: the inputs of the write methods.

A `DeploymentSpec` is a whole deployment as declared. Fields set to None where the docstring says
"leave alone" keep the stored value on an update, which is how an absent `paused:` or `schedules:`
key in `prefect.yaml` behaves (DESIGN.md section 9).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flowplan.domain.schedules import Schedule, derived_slug


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
