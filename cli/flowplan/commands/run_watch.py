"""Printing a run as it goes: new log lines and state changes (`deployment run --watch`,
`flow-run logs --follow`)."""

from __future__ import annotations

import logging
import sys

from flowplan import console
from flowplan.backends.protocol import Backend
from flowplan.domain.objects import FlowRun, LogLine, StateType
from flowplan.errors import FlowplanError
from flowplan.sdk.runs import FlowRunTimeout, wait_for_run


def log_text(line: LogLine) -> str:
    level = logging.getLevelName(line.level)
    stamp = f"{line.timestamp:%H:%M:%S}.{line.timestamp.microsecond // 1000:03d}"
    return f"{stamp} | {level:<8} | {line.message}"


def follow(backend: Backend, run_id: str, timeout: float | None, states: bool) -> FlowRun:
    """Print new log lines (and, with `states`, each state change) until the run is final."""
    shown: list[str] = []

    def show(run: FlowRun, lines: list[LogLine]) -> None:
        for line in lines:
            console.out(log_text(line))
        if states and run.state.name not in shown[-1:]:
            shown.append(run.state.name)
            console.err(f"Flow run {run.name!r} is {run.state.name}.")
        sys.stdout.flush()

    try:
        return wait_for_run(backend, run_id, timeout=timeout, poll_interval=1, on_change=show)
    except FlowRunTimeout as exc:
        raise FlowplanError(f"{exc}; it goes on without being watched") from None
    except KeyboardInterrupt:  # only the watching stops: say so, and how to stop the run
        console.err(f"Stopped watching; flow run {run_id} goes on. To cancel it:"
                    f" flowplan flow-run cancel {run_id}", "warning")  # fmt: skip
        raise


def exit_code(run: FlowRun) -> int:
    if run.state.type is StateType.COMPLETED:
        return 0
    message = f": {run.state.message.splitlines()[0]}" if run.state.message else ""
    console.err(f"Flow run finished in state {run.state.name!r}{message}", "error")
    return 1
