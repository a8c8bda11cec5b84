"""Flow runs and logs on a Prefect server. Prefect's own workers and scheduler run them: the
methods of flowplan's embedded worker and scheduler are refused here with a pointer to those."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from flowplan.backends.prefect import convert
from flowplan.backends.prefect.http import Api
from flowplan.domain.objects import (
    Deployment,
    FlowRun,
    LogLine,
    StateType,
)
from flowplan.domain.pool_rules import cancel_state, check_run_values
from flowplan.errors import FlowplanError, ObjectNotFound


class RunsMixin:
    api: Api
    read_deployment: Callable[[str], Deployment]
    _flow_names: Callable[[set[str]], dict[str, str]]

    def _runs(self, items: Sequence[Mapping[str, Any]]) -> list[FlowRun]:
        flows = self._flow_names({item["flow_id"] for item in items})
        ids = sorted({item["deployment_id"] for item in items if item.get("deployment_id")})
        # only the names: a run's deployment is read without its schedules' or triggers' reads
        body = {"deployments": {"id": {"any_": ids}}}
        names = ({item["id"]: item["name"] for item in self.api.filter("deployments/filter", body)}
                 if ids else {})  # fmt: skip
        # a run whose deployment was deleted keeps its id on the server: shown without one
        return [
            convert.flow_run(
                {**item, "deployment_id": item.get("deployment_id") if
                 item.get("deployment_id") in names else None},
                flows.get(item["flow_id"], "?"), names.get(item.get("deployment_id") or ""),
            )
            for item in items
        ]  # fmt: skip

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
    ) -> FlowRun:
        check_run_values(dict(parameters or {}), dict(job_variables or {}))
        target = self.read_deployment(deployment)
        when = (scheduled_time or datetime.now(UTC)).isoformat()
        body: dict[str, Any] = {
            "parameters": dict(parameters or {}), "tags": list(tags),
            "job_variables": dict(job_variables or {}),
            "state": {"type": "SCHEDULED", "name": "Scheduled",
                      "state_details": {"scheduled_time": when}},
        }  # fmt: skip
        if name:
            body["name"] = name
        if idempotency_key is not None:
            body["idempotency_key"] = idempotency_key
        if work_queue_name is not None:
            body["work_queue_name"] = work_queue_name
        # with an idempotency key the server returns the first run again: safe to resend
        created = self.api.post(f"deployments/{target.id}/create_flow_run", body,
                                idempotent=idempotency_key is not None)  # fmt: skip
        return self._runs([created])[0]

    def read_flow_run(self, run_id: str) -> FlowRun:
        try:
            return self._runs([self.api.get(f"flow_runs/{run_id}")])[0]
        except ObjectNotFound:
            raise ObjectNotFound(
                f"flow run {run_id!r} not found", hint="'flowplan flow-run ls' lists runs"
            ) from None

    def read_flow_runs(
        self,
        *,
        states: Sequence[StateType] = (),
        deployment: str | None = None,
        limit: int | None = None,
        name: str | None = None,
    ) -> list[FlowRun]:
        body: dict[str, Any] = {"sort": "EXPECTED_START_TIME_DESC"}
        runs: dict[str, Any] = {}
        if name is not None:
            runs["name"] = {"any_": [name]}
        if states:
            runs["state"] = {"type": {"any_": [state.value for state in states]}}
        if runs:
            body["flow_runs"] = runs
        if deployment is not None:
            body["deployments"] = {"id": {"any_": [self.read_deployment(deployment).id]}}
        found = []
        for item in self.api.filter("flow_runs/filter", body):
            found.append(item)
            if limit is not None and len(found) >= limit:
                break
        return self._runs(found)

    def set_flow_run_state(
        self,
        run_id: str,
        state_type: StateType,
        *,
        name: str | None = None,
        message: str | None = None,
        force: bool = False,
    ) -> FlowRun:
        current = self.read_flow_run(run_id)
        if current.state.type.is_final and not force:
            raise FlowplanError(
                f"flow run {run_id} is already {current.state.type}; its state cannot change"
            )
        state = {"type": state_type.value, "name": name or state_type.value.capitalize(),
                 "message": message}  # fmt: skip
        answer = self.api.post(f"flow_runs/{run_id}/set_state",
                               {"state": state, "force": force})  # fmt: skip
        if answer.get("status") not in ("ACCEPT", None):
            reason = (answer.get("details") or {}).get("reason") or answer.get("status")
            raise FlowplanError(f"the Prefect server did not accept the state: {reason}")
        return self.read_flow_run(run_id)

    def cancel_flow_run(self, run_id: str) -> FlowRun:
        target = cancel_state(self.read_flow_run(run_id))
        message = "Cancelled" if target is StateType.CANCELLED else None
        return self.set_flow_run_state(run_id, target, message=message)

    def delete_flow_run(self, run_id: str) -> None:
        self.read_flow_run(run_id)
        self.api.delete(f"flow_runs/{run_id}")

    def write_logs(self, lines: Sequence[LogLine]) -> None:
        body = [{"name": "flowplan", "level": line.level, "message": line.message,
                 "timestamp": line.timestamp.isoformat(), "flow_run_id": line.flow_run_id}
                for line in lines]  # fmt: skip
        if body:
            self.api.post("logs/", body)

    def read_logs(self, run_id: str, *, limit: int | None = None, offset: int = 0) -> list[LogLine]:
        self.read_flow_run(run_id)
        body = {"logs": {"flow_run_id": {"any_": [run_id]}}, "sort": "TIMESTAMP_ASC"}
        pages = self.api.filter("logs/filter", body, start=max(0, offset))
        found = [convert.log_line(item) for item in pages]
        return found[-limit:] if limit else found

    def change_marker(self) -> int:
        """A server cannot say cheaply whether anything changed: watchers re-read each second."""
        import time

        return int(time.monotonic())

    def watch_changes(self) -> None:
        return None  # a server says nothing when it changes: poll
