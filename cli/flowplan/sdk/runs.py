"""Triggering and watching runs: `run_deployment` and the waiting that `deployment run --watch`
and `flow-run logs --follow` share."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from flowplan.backends import get_backend
from flowplan.backends.protocol import Backend, ChangeWatch
from flowplan.domain.objects import FlowRun, LogLine

TICK = 0.05


class FlowRunTimeout(TimeoutError):
    """The run did not reach a final state in time; `flow_run_id` says which run."""

    def __init__(self, flow_run_id: str, timeout: float, state: str) -> None:
        super().__init__(
            f"flow run {flow_run_id} did not finish within {timeout:g} s (it is {state})"
        )
        self.flow_run_id = flow_run_id


def run_deployment(
    name: str | UUID,
    parameters: Mapping[str, Any] | None = None,
    scheduled_time: datetime | None = None,
    flow_run_name: str | None = None,
    timeout: float | None = None,
    poll_interval: float = 10,
    tags: Iterable[str] | None = None,
    idempotency_key: str | None = None,
    work_queue_name: str | None = None,
    job_variables: Mapping[str, Any] | None = None,
    client: Backend | None = None,
) -> FlowRun:
    """Create a run of a deployment (`flow/name` or id) and, unless `timeout=0`, wait for a
    final state (`None`: as long as it takes). Raises `DeploymentNotFound`, `ValueError` for a
    negative timeout, and `TimeoutError` (with `.flow_run_id`) when the wait runs out. The same
    `idempotency_key` returns the same run."""
    if timeout is not None and timeout < 0:
        raise ValueError("`timeout` cannot be negative")
    backend = client or get_backend()
    run = backend.create_flow_run(
        str(name), parameters=parameters, name=flow_run_name, scheduled_time=scheduled_time,
        tags=tags or (), idempotency_key=idempotency_key, work_queue_name=work_queue_name,
        job_variables=job_variables,
    )  # fmt: skip
    if timeout == 0:
        return run
    return wait_for_run(backend, run.id, timeout=timeout, poll_interval=poll_interval)


def wait_for_run(
    backend: Backend,
    run_id: str,
    *,
    timeout: float | None = None,
    poll_interval: float = 10,
    on_change: Callable[[FlowRun, list[LogLine]], None] | None = None,
) -> FlowRun:
    """Wait until the run is final. The store is re-read when it changed (at once where the
    backend can tell, at most once a tick; else checked every 50 ms) or every `poll_interval`
    seconds; `on_change` hears each new state and new log lines."""
    watch = backend.watch_changes()
    try:
        return _wait(backend, run_id, timeout, poll_interval, on_change, watch)
    finally:
        if watch is not None:
            watch.close()


def _wait(
    backend: Backend,
    run_id: str,
    timeout: float | None,
    poll_interval: float,
    on_change: Callable[[FlowRun, list[LogLine]], None] | None,
    watch: ChangeWatch | None,
) -> FlowRun:
    deadline = None if timeout is None else time.monotonic() + timeout
    seen_logs = 0
    last_state = None
    marker = None
    next_read = 0.0
    while True:
        now = time.monotonic()
        current = backend.change_marker()
        if current != marker or now >= next_read:
            marker, next_read = current, now + poll_interval
            run = backend.read_flow_run(run_id)
            if on_change is not None:
                lines = backend.read_logs(run_id, offset=seen_logs)
                seen_logs += len(lines)
                if lines or run.state != last_state:
                    on_change(run, lines)
            last_state = run.state
            if run.state.type.is_final:
                if on_change is not None:
                    _late_logs(backend, run, seen_logs, on_change)
                return run
        if deadline is not None and now >= deadline:
            raise FlowRunTimeout(run_id, timeout or 0, last_state.name if last_state else "?")
        _pause(watch, next_read if deadline is None else min(next_read, deadline), now)


def _pause(watch: ChangeWatch | None, until: float, looked: float) -> None:
    """Until the next look: the backend's next change (but not within a tick of the last look,
    `looked`) or `until`; without a watch, a tick."""
    if watch is None:
        time.sleep(TICK)
        return
    watch.wait(max(0.0, until - time.monotonic()))
    time.sleep(max(0.0, looked + TICK - time.monotonic()))


def _late_logs(
    backend: Backend, run: FlowRun, seen: int, on_change: Callable[[FlowRun, list[LogLine]], None]
) -> None:
    """A server's runs send their logs in batches that can land after the final state: read
    them for `log_lag` seconds more (the local store has them all already)."""
    until = time.monotonic() + backend.log_lag
    while time.monotonic() < until:
        time.sleep(0.5)
        lines = backend.read_logs(run.id, offset=seen)
        seen += len(lines)
        if lines:
            on_change(run, lines)
