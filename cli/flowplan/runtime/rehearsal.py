"""The fork server's rehearsal: before it freezes what it loaded, the server runs a trivial flow
once through the engine's own path (its run and deployment read from their JSON forms, a pull
step, loading the flow's file, coercing its parameters, the log sink and its lines, the final
state), against a reporter that keeps what it is told. What a run builds on first use is then
built once, in the server, and no forked run builds it again or copies the pages it would
write doing so (about 70 fewer a run; see docs/runtime.md "Throughput"). Everything the
rehearsal changes in the process is put back.

Then `pack_code` moves what a run executes closer together: every call writes to its function's
code object (a reference count), and a forked run copies each page it writes. The code objects
a rehearsed run executes lie one or two to a page among the rest of what the server loaded;
their copies, made one after another, share pages (about 100 copied pages a run fewer)."""

from __future__ import annotations

import gc
import io
import logging
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import CodeType, FrameType, FunctionType
from typing import Any

from flowplan.domain.objects import Deployment, FlowRun, LogLine, StateType, Variable
from flowplan.errors import ObjectNotFound

NAME = "rehearsal"
MODULE = "flowplan_rehearsal_flow"
FLOW = """from flowplan import flow


@flow
def rehearsal(n: int = 1):
    return n
"""
# a code object's copy starts unspecialized, and is rehearsed this many times more: CPython
# (3.11) quickens a function after 8 calls (24 copy no fewer pages: bench/fork_pages_bench.py)
WARMUP = 8
_TIME = "2026-01-01T00:00:00.000000+00:00"
# the run and its deployment as the worker's channel carries them to a run's engine
RUN: dict[str, Any] = {
    "id": NAME, "name": NAME, "flow_id": NAME, "flow_name": NAME,
    "state": {"type": "RUNNING", "name": "Running", "message": None, "timestamp": _TIME},
    "created": _TIME, "expected_start_time": _TIME, "deployment_id": NAME,
    "deployment_name": NAME, "work_pool_name": None, "work_queue_name": None,
    "parameters": {}, "job_variables": {}, "tags": [], "idempotency_key": None,
    "auto_scheduled": False, "start_time": _TIME, "end_time": None,
}  # fmt: skip
DEPLOYMENT: dict[str, Any] = {
    "id": NAME, "name": NAME, "flow_id": NAME, "flow_name": NAME, "created": _TIME,
    "updated": _TIME, "version": None, "description": None, "paused": False, "schedules": [],
    "concurrency_limit": None, "job_variables": {}, "triggers": [],
    "concurrency_options": None, "parameters": {}, "parameter_openapi_schema": {},
    "enforce_parameter_schema": True, "tags": [], "labels": {}, "pull_steps": [],
    "entrypoint": f"{MODULE}.py:{NAME}", "path": None, "work_pool_name": None,
    "work_queue_name": None, "last_polled": None,
}  # fmt: skip


class Rehearsed:
    """The rehearsal's `RunReporter`: a worker with this run and deployment and no variables or
    secrets, which keeps the states and log lines it is told."""

    def __init__(self, run: FlowRun, deployment: Deployment) -> None:
        self.run, self.deployment = run, deployment
        self.states: list[StateType] = []
        self.lines: list[LogLine] = []

    def start(self, run_id: str) -> tuple[FlowRun, Deployment | None]:
        return self.run, self.deployment

    def read_flow_run(self, run_id: str) -> FlowRun:
        return self.run

    def read_deployment(self, name: str) -> Deployment:
        return self.deployment

    def set_flow_run_state(
        self, run_id: str, state_type: StateType, *, name: str | None = None,
        message: str | None = None, force: bool = False,
    ) -> object:  # fmt: skip
        self.states.append(state_type)
        return None

    def write_logs(self, lines: Sequence[LogLine]) -> None:
        self.lines.extend(lines)

    def finish(
        self, run_id: str, state_type: StateType, *, name: str | None = None,
        message: str | None = None, logs: Sequence[LogLine] = (),
    ) -> None:  # fmt: skip
        self.write_logs(logs)
        self.states.append(state_type)

    def read_variable(self, name: str) -> Variable:
        raise ObjectNotFound(f"variable {name!r} not found")

    def read_secret_value(self, name: str) -> str:
        raise ObjectNotFound(f"secret {name!r} not found")

    def flow_call(self, run_id: str, timeout: float | None) -> None:
        pass


def rehearse() -> Rehearsed:
    """Run the rehearsal's flow in a directory of its own; its reporter, told COMPLETED and
    the run's log lines."""
    from flowplan import masking
    from flowplan.runtime import context, engine
    from flowplan.runtime.logs import LogSink

    root_logger = logging.getLogger()
    saved = (sys.stdout, sys.stderr, list(sys.path), Path.cwd(), root_logger.level)
    with tempfile.TemporaryDirectory(prefix="flowplan-rehearsal-") as directory:
        (Path(directory) / f"{MODULE}.py").write_text(FLOW)
        step = {"prefect.deployments.steps.set_working_directory": {"directory": directory}}
        reporter = Rehearsed(
            FlowRun.from_json(RUN), Deployment.from_json({**DEPLOYMENT, "pull_steps": [step]})
        )  # fmt: skip
        sys.stdout, sys.stderr = io.StringIO(), io.StringIO()
        try:
            os.chdir(directory)
            run, deployment = reporter.run, reporter.deployment
            with LogSink(run.id, reporter.write_logs, masking.clean, thread=False) as sink:
                engine.execute(engine.Reporting(reporter, sink), run, deployment)
        finally:
            sys.stdout, sys.stderr = saved[0], saved[1]
            sys.path[:] = saved[2]
            os.chdir(saved[3])
            sys.modules.pop(MODULE, None)
            root_logger.setLevel(saved[4])
            context.current = None
    return reporter


def pack_code() -> dict[int, CodeType]:
    """Give every function a rehearsed run calls a copy of its code object, the copies made
    one after another (and the code of what such a function defines, a comprehension or a
    nested function, copied within it), then rehearse the copies into their specialized
    form. A copy is the same code: only where it lies changes. Called after a first
    rehearsal, so that the code only a first run executes (what it builds on first use) is
    not copied among the rest. The copies, by the id of the code object each replaced."""
    executed: dict[int, CodeType] = {}

    def note(frame: FrameType, event: str, arg: object) -> None:
        if event == "call":
            executed.setdefault(id(frame.f_code), frame.f_code)

    previous = sys.getprofile()
    sys.setprofile(note)
    try:
        rehearse()
    finally:
        sys.setprofile(previous)
    copies: dict[int, CodeType] = {}

    def copy(code: CodeType) -> CodeType:
        if id(code) not in copies:
            consts = tuple(
                copy(c) if isinstance(c, CodeType) and id(c) in executed else c
                for c in code.co_consts
            )  # fmt: skip
            copies[id(code)] = code.replace(co_consts=consts)
        return copies[id(code)]

    for code in executed.values():
        copy(code)
    for thing in gc.get_objects():
        if isinstance(thing, FunctionType) and id(thing.__code__) in copies:
            thing.__code__ = copies[id(thing.__code__)]
    for _ in range(WARMUP):
        rehearse()
    return copies
