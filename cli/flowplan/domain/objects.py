"""The objects an orchestration backend stores, as frozen dataclasses.

Field names follow the public API (Prefect's names), so code written against Prefect's objects
reads the same here. `to_json()` gives the form that `--output json` prints.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from flowplan.domain.clock import utcnow
from flowplan.domain.schedules import Schedule, schedule_from_json


class StateType(StrEnum):
    SCHEDULED = "SCHEDULED"
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLING = "CANCELLING"
    CANCELLED = "CANCELLED"
    CRASHED = "CRASHED"
    PAUSED = "PAUSED"

    @property
    def is_final(self) -> bool:
        return self in _FINAL


_FINAL = frozenset({StateType.COMPLETED, StateType.FAILED, StateType.CANCELLED, StateType.CRASHED})


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="microseconds") if value else None


def _copied(value: Any) -> Any:
    """A JSON value's containers copied (what `dataclasses.asdict` gives)."""
    if isinstance(value, dict):
        return {key: _copied(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_copied(item) for item in value)
    return value


def _parse(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


@dataclass(frozen=True)
class State:
    type: StateType
    name: str
    timestamp: datetime
    message: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type.value,
            "name": self.name,
            "message": self.message,
            "timestamp": _iso(self.timestamp),
        }


@dataclass(frozen=True)
class Flow:
    id: str
    name: str
    created: datetime

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "created": _iso(self.created)}


@dataclass(frozen=True)
class DeploymentSchedule:
    id: str
    schedule: Schedule
    active: bool
    slug: str
    parameters: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "schedule": self.schedule.to_json(),
            "active": self.active,
            "slug": self.slug,
            "parameters": self.parameters,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DeploymentSchedule:
        try:
            schedule = schedule_from_json(data["schedule"])
        except ValueError as exc:
            raise ValueError(f"schedule {data['slug']!r}: {exc}") from None
        return cls(
            id=data["id"],
            schedule=schedule,
            active=data["active"],
            slug=data["slug"],
            parameters=data["parameters"],
        )


@dataclass(frozen=True)
class ScheduleDue:
    """A deployment's schedule that needs more runs inserted (what the scheduler works on).
    A stored schedule that cannot be read has no `schedule`, its id and the `problem`."""

    deployment_id: str
    schedule: DeploymentSchedule | None
    schedule_id: str = ""
    problem: str | None = None


def schedule_problem(exc: Exception) -> str:
    """Why a stored schedule cannot be used, as the scheduler reports it."""
    return f"{type(exc).__name__}: {exc}"


@dataclass(frozen=True)
class SkippedSchedule:
    """A stored schedule of a deployment that the scheduler cannot use (it skips it and says
    so): one stored by an older flowplan or written past every check, e.g. a time zone this
    machine does not know. `schedule` is what is stored."""

    id: str
    slug: str
    schedule: Any
    active: bool
    problem: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "slug": self.slug, "schedule": self.schedule,
                "active": self.active, "problem": self.problem}  # fmt: skip


@dataclass(frozen=True)
class Deployment:
    id: str
    name: str
    flow_id: str
    flow_name: str
    created: datetime
    updated: datetime
    version: str | None = None
    description: str | None = None
    paused: bool = False
    schedules: tuple[DeploymentSchedule, ...] = ()
    concurrency_limit: int | None = None
    job_variables: dict[str, Any] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    parameter_openapi_schema: dict[str, Any] = field(default_factory=dict)
    enforce_parameter_schema: bool = True
    tags: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    pull_steps: list[dict[str, Any]] | None = None
    entrypoint: str | None = None
    path: str | None = None
    work_pool_name: str | None = None
    work_queue_name: str | None = None
    last_polled: datetime | None = None
    triggers: list[dict[str, Any]] = field(default_factory=list)
    concurrency_options: dict[str, Any] | None = None

    @property
    def full_name(self) -> str:
        """`flow-name/deployment-name`, the form every command accepts."""
        return f"{self.flow_name}/{self.name}"

    @property
    def status(self) -> str:
        """READY when a worker polled its queue in the last 60 seconds, else NOT_READY."""
        return "READY" if _recent(self.last_polled) else "NOT_READY"

    def to_json(self) -> dict[str, Any]:
        """The JSON form; the local store builds the same document in SQL (see
        backends/local/rows.py), and a test keeps the two equal."""
        return {
            "id": self.id, "name": self.name, "flow_id": self.flow_id,
            "flow_name": self.flow_name, "created": _iso(self.created),
            "updated": _iso(self.updated), "version": self.version,
            "description": self.description, "paused": self.paused,
            "schedules": [schedule.to_json() for schedule in self.schedules],
            "concurrency_limit": self.concurrency_limit, "job_variables": self.job_variables,
            "triggers": self.triggers, "concurrency_options": self.concurrency_options,
            "parameters": self.parameters,
            "parameter_openapi_schema": self.parameter_openapi_schema,
            "enforce_parameter_schema": self.enforce_parameter_schema, "tags": list(self.tags),
            "labels": self.labels, "pull_steps": self.pull_steps, "entrypoint": self.entrypoint,
            "path": self.path, "work_pool_name": self.work_pool_name,
            "work_queue_name": self.work_queue_name, "last_polled": _iso(self.last_polled),
            "status": self.status,
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Deployment:
        return cls(
            id=data["id"], name=data["name"], flow_id=data["flow_id"],
            flow_name=data["flow_name"], created=datetime.fromisoformat(data["created"]),
            updated=datetime.fromisoformat(data["updated"]), version=data["version"],
            description=data["description"], paused=data["paused"],
            schedules=tuple(DeploymentSchedule.from_json(s) for s in data["schedules"]),
            concurrency_limit=data["concurrency_limit"], job_variables=data["job_variables"],
            triggers=data.get("triggers") or [],
            concurrency_options=data.get("concurrency_options"), parameters=data["parameters"],
            parameter_openapi_schema=data["parameter_openapi_schema"],
            enforce_parameter_schema=data["enforce_parameter_schema"],
            tags=tuple(data["tags"]), labels=data["labels"], pull_steps=data["pull_steps"],
            entrypoint=data["entrypoint"], path=data["path"],
            work_pool_name=data["work_pool_name"], work_queue_name=data["work_queue_name"],
            last_polled=_parse(data["last_polled"]),
        )  # fmt: skip


@dataclass(frozen=True)
class WorkPool:
    id: str
    name: str
    type: str
    created: datetime
    updated: datetime
    description: str | None = None
    is_paused: bool = False
    concurrency_limit: int | None = None
    default_queue_id: str | None = None
    base_job_template: dict[str, Any] = field(default_factory=dict)
    last_heartbeat: datetime | None = None  # the newest heartbeat of any of its workers

    @property
    def status(self) -> str:
        if self.is_paused:
            return "PAUSED"
        return "READY" if _recent(self.last_heartbeat, 90) else "NOT_READY"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            created=_iso(self.created),
            updated=_iso(self.updated),
            last_heartbeat=_iso(self.last_heartbeat),
            status=self.status,
        )
        return data


@dataclass(frozen=True)
class WorkQueue:
    id: str
    name: str
    work_pool_id: str
    work_pool_name: str
    priority: int
    created: datetime
    description: str | None = None
    is_paused: bool = False
    concurrency_limit: int | None = None
    last_polled: datetime | None = None

    @property
    def status(self) -> str:
        """PAUSED, READY (polled within the last 60 seconds) or NOT_READY."""
        if self.is_paused:
            return "PAUSED"
        return "READY" if _recent(self.last_polled) else "NOT_READY"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            created=_iso(self.created), last_polled=_iso(self.last_polled), status=self.status
        )
        return data


@dataclass(frozen=True)
class FlowRun:
    id: str
    name: str
    flow_id: str
    flow_name: str
    state: State
    created: datetime
    expected_start_time: datetime
    deployment_id: str | None = None
    deployment_name: str | None = None
    work_pool_name: str | None = None
    work_queue_name: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    job_variables: dict[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    idempotency_key: str | None = None
    auto_scheduled: bool = False
    start_time: datetime | None = None
    end_time: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """Field by field (`dataclasses.asdict` took 10 times as long: a run is sent to its
        engine, listed and streamed often)."""
        return {
            "id": self.id, "name": self.name, "flow_id": self.flow_id,
            "flow_name": self.flow_name, "state": self.state.to_json(),
            "created": _iso(self.created), "expected_start_time": _iso(self.expected_start_time),
            "deployment_id": self.deployment_id, "deployment_name": self.deployment_name,
            "work_pool_name": self.work_pool_name, "work_queue_name": self.work_queue_name,
            "parameters": _copied(self.parameters), "job_variables": _copied(self.job_variables),
            "tags": list(self.tags), "idempotency_key": self.idempotency_key,
            "auto_scheduled": self.auto_scheduled, "start_time": _iso(self.start_time),
            "end_time": _iso(self.end_time),
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FlowRun:
        state = data["state"]
        return cls(**{
            **data, "tags": tuple(data["tags"]), "created": datetime.fromisoformat(data["created"]),
            "expected_start_time": datetime.fromisoformat(data["expected_start_time"]),
            "start_time": _parse(data["start_time"]), "end_time": _parse(data["end_time"]),
            "state": State(StateType(state["type"]), state["name"],
                           datetime.fromisoformat(state["timestamp"]), state["message"]),
        })  # fmt: skip


@dataclass(frozen=True)
class LogLine:
    flow_run_id: str
    timestamp: datetime
    level: int
    message: str

    def to_json(self) -> dict[str, Any]:
        return {
            "flow_run_id": self.flow_run_id,
            "timestamp": _iso(self.timestamp),
            "level": self.level,
            "message": self.message,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LogLine:
        return cls(
            data["flow_run_id"], datetime.fromisoformat(data["timestamp"]), data["level"],
            data["message"],
        )  # fmt: skip


@dataclass(frozen=True)
class Variable:
    name: str
    value: Any
    tags: tuple[str, ...]
    created: datetime
    updated: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "tags": list(self.tags),
            "created": _iso(self.created),
            "updated": _iso(self.updated),
        }


@dataclass(frozen=True)
class SecretInfo:
    """A stored secret without its value: the value is only read at run time."""

    name: str
    created: datetime
    updated: datetime

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "created": _iso(self.created), "updated": _iso(self.updated)}


@dataclass(frozen=True)
class Lease:
    name: str
    holder: str
    acquired: datetime
    expires: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "holder": self.holder,
            "acquired": _iso(self.acquired),
            "expires": _iso(self.expires),
        }


def _recent(moment: datetime | None, seconds: float = 60) -> bool:
    return moment is not None and (utcnow() - moment).total_seconds() <= seconds
