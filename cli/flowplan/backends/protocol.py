"""The `Backend` protocol: everything the CLI, plan/apply and the Python API need from an
orchestration store, which both backends implement (the local store and a Prefect server);
and `RuntimeBackend`, what only the embedded worker and scheduler need, on the local store.

Conventions: names identify pools, queues (within a pool), variables and secrets; deployments
are addressed as `flow/deployment`, by id, or by a bare name only one flow has. Partial updates
take a mapping of the fields to change. Missing objects raise `ObjectNotFound` (with a
did-you-mean), taken names `ObjectAlreadyExists`, bad values `InvalidInput`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from flowplan.domain.objects import (
    Deployment,
    DeploymentSchedule,
    Flow,
    FlowRun,
    Lease,
    LogLine,
    ScheduleDue,
    SecretInfo,
    SkippedSchedule,
    StateType,
    Variable,
    WorkPool,
    WorkQueue,
)

if TYPE_CHECKING:  # not imported at run time: reading runs needs no specs (start-up time)
    from flowplan.domain.specs import DeploymentSpec, ScheduleSpec


class ChangeWatch(Protocol):
    def wait(self, timeout: float) -> bool:
        """Until something changed (True), `timeout` passed or `wake` was called."""
        ...

    def wake(self) -> None:
        """End the wait under way, or the next one if none is."""
        ...

    def close(self) -> None: ...


class Backend(Protocol):
    atomic_batches: bool  # upsert_deployments writes all of its specs or none (one transaction)
    write_concurrency: int  # how many deployment writes an apply sends at once
    log_lag: float  # seconds a finished run's last log lines may take to arrive

    @property
    def target(self) -> str:
        """What this backend writes to, for the `Target: ...` line (`local store ~/.flowplan`)."""
        ...

    # work pools, queues, workers
    def create_work_pool(
        self,
        name: str,
        type: str,
        *,
        description: str | None = None,
        base_job_template: Mapping[str, Any] | None = None,
        concurrency_limit: int | None = None,
        is_paused: bool = False,
    ) -> WorkPool: ...
    def read_work_pool(self, name: str) -> WorkPool: ...
    def read_work_pools(self) -> list[WorkPool]: ...
    def update_work_pool(self, name: str, changes: Mapping[str, Any]) -> WorkPool: ...
    def delete_work_pool(self, name: str, *, force: bool = False) -> None: ...
    def worker_heartbeat(self, pool: str, worker: str, heartbeat_interval: float = 30) -> None: ...
    def create_work_queue(
        self,
        pool: str,
        name: str,
        *,
        description: str | None = None,
        is_paused: bool = False,
        concurrency_limit: int | None = None,
        priority: int | None = None,
    ) -> WorkQueue: ...
    def read_work_queue(self, pool: str, name: str) -> WorkQueue: ...
    def read_work_queues(self, pool: str | None = None) -> list[WorkQueue]: ...
    def update_work_queue(self, pool: str, name: str, changes: Mapping[str, Any]) -> WorkQueue: ...
    def delete_work_queue(self, pool: str, name: str) -> None: ...
    def mark_polled(self, pool: str, queues: Iterable[str] = ()) -> None: ...

    # flows, deployments, schedules
    def read_flows(self) -> list[Flow]: ...
    def upsert_deployments(
        self, specs: Sequence[DeploymentSpec], *, new: bool = False
    ) -> list[Deployment]:
        """Create or update. `new`: the caller just found that these do not exist (a plan made
        under the apply lock), so a backend may create them without looking them up."""
        ...

    def read_deployment(self, name: str) -> Deployment: ...
    def read_deployments(
        self,
        *,
        flow_name: str | None = None,
        work_pool_name: str | None = None,
        ids: Sequence[str] | None = None,
    ) -> list[Deployment]: ...
    def export_deployments(
        self,
        *,
        flow_name: str | None = None,
        work_pool_name: str | None = None,
        ids: Sequence[str] | None = None,
    ) -> list[str]:
        """Deployments as JSON text in `Deployment.to_json()` form (the fast path for listing)."""
        ...

    def update_deployment(self, deployment_id: str, changes: Mapping[str, Any]) -> Deployment: ...
    def delete_deployment(self, deployment_id: str) -> None: ...
    def create_deployment_schedules(
        self, deployment_id: str, specs: Sequence[ScheduleSpec]
    ) -> list[DeploymentSchedule]: ...
    def update_deployment_schedule(
        self, deployment_id: str, schedule_id: str, changes: Mapping[str, Any]
    ) -> DeploymentSchedule: ...
    def delete_deployment_schedule(self, deployment_id: str, schedule_id: str) -> None: ...

    # flow runs and logs
    def create_flow_run(
        self,
        deployment: str,
        *,
        parameters: Mapping[str, Any] | None = None,
        name: str | None = None,
        scheduled_time: datetime | None = None,
        tags: Iterable[str] = (),
        idempotency_key: str | None = None,
        work_queue_name: str | None = None,
        job_variables: Mapping[str, Any] | None = None,
    ) -> FlowRun: ...
    def read_flow_run(self, run_id: str) -> FlowRun: ...
    def read_flow_runs(
        self,
        *,
        states: Sequence[StateType] = (),
        deployment: str | None = None,
        limit: int | None = None,
        name: str | None = None,
    ) -> list[FlowRun]: ...
    def set_flow_run_state(
        self,
        run_id: str,
        state_type: StateType,
        *,
        name: str | None = None,
        message: str | None = None,
        force: bool = False,
    ) -> FlowRun: ...
    def cancel_flow_run(self, run_id: str) -> FlowRun: ...
    def delete_flow_run(self, run_id: str) -> None: ...
    def write_logs(self, lines: Sequence[LogLine]) -> None: ...
    def read_logs(self, run_id: str, *, limit: int | None = None, offset: int = 0) -> list[LogLine]:
        """A run's lines, oldest first: from the `offset`-th (watchers read only what is new),
        or the last `limit`."""
        ...

    # watching for changes
    def change_marker(self) -> int:
        """A value that changes when anything else wrote (a backend that cannot tell returns a
        new value each time): workers poll it cheaply and query only on a change."""
        ...

    def watch_changes(self) -> ChangeWatch | None:
        """A way to wait for the next change instead of polling `change_marker`, or None where
        the backend has none (then poll)."""
        ...

    # variables, secrets, leases
    def set_variable(
        self, name: str, value: Any, *, tags: Iterable[str] = (), overwrite: bool = False
    ) -> Variable: ...
    def read_variable(self, name: str) -> Variable: ...
    def read_variables(self) -> list[Variable]: ...
    def delete_variable(self, name: str) -> None: ...
    def set_secret(self, name: str, value: str, *, overwrite: bool = False) -> SecretInfo: ...
    def read_secrets(self) -> list[SecretInfo]: ...
    def read_secret_value(self, name: str) -> str: ...
    def delete_secret(self, name: str) -> None: ...
    def acquire_lease(self, name: str, holder: str, ttl_seconds: float) -> Lease | None: ...
    def read_lease(self, name: str) -> Lease | None: ...
    def release_lease(self, name: str, holder: str | None = None) -> bool: ...


@runtime_checkable
class RuntimeBackend(Backend, Protocol):
    """What only flowplan's embedded runtime needs (workers and the scheduler): claiming runs,
    crashing a dead worker's runs, filling schedules. The local store implements it; a Prefect
    server schedules and hands out its runs itself, to Prefect's workers."""

    def claim_flow_runs(
        self,
        pool: str,
        worker: str,
        *,
        queues: Sequence[str] = (),
        deployment_ids: Sequence[str] = (),
        limit: int = 10,
        now: datetime | None = None,
    ) -> list[FlowRun]: ...
    def crash_orphaned_runs(self, *, now: datetime | None = None) -> list[FlowRun]: ...
    def start_flow_run(self, run_id: str) -> FlowRun:
        """A run's engine starts it, in one transaction: RUNNING, or CANCELLED when it is being
        cancelled; a run in a final state already is left as it is."""
        ...

    def finish_flow_run(
        self,
        run_id: str,
        state_type: StateType,
        *,
        name: str | None = None,
        message: str | None = None,
        logs: Sequence[LogLine] = (),
    ) -> None:
        """A run's last logs and its new state in one transaction; the logs are kept even when
        the state is refused (the run is in a final state already)."""
        ...

    def read_schedules_to_fill(
        self, *, now: datetime, min_runs: int, min_until: datetime
    ) -> list[ScheduleDue]: ...
    def insert_scheduled_runs(
        self, deployment_id: str, schedule: DeploymentSchedule, times: Sequence[datetime]
    ) -> int: ...
    def mark_late_runs(self, *, before: datetime) -> int: ...
    def drop_unscheduled_runs(self, *, now: datetime) -> int: ...
    def read_deployment_leniently(self, name: str) -> tuple[Deployment, list[SkippedSchedule]]: ...
    def delete_finished_runs(
        self, *, ended_before: datetime, dry_run: bool = False, limit: int | None = None
    ) -> int: ...
