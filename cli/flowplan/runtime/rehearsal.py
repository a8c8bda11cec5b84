"""The fork server's rehearsal: before it freezes what it loaded, the server runs a trivial flow
once through the engine's own path (a pull step, loading the flow's file, coercing its
parameters, the log sink and its log lines, the final state), against a reporter that keeps
nothing. What a run builds on first use is then built once, in the server, and no forked run
builds it again or copies the pages it would write doing so (about 65 fewer a run; see
docs/runtime.md "Throughput"). Everything the rehearsal changes in the process is put back."""

from __future__ import annotations

import io
import logging
import os
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from flowplan.domain.objects import Deployment, FlowRun, LogLine, State, StateType, Variable
from flowplan.errors import ObjectNotFound

MODULE = "flowplan_rehearsal_flow"
FLOW = "from flowplan import flow\n\n\n@flow\ndef rehearsal(n: int = 1):\n    return n\n"


class _Reporter:
    """A `RunReporter` for the rehearsal: it answers `start`, and keeps what it is told."""

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
        self.lines.extend(logs)
        self.states.append(state_type)

    def read_variable(self, name: str) -> Variable:
        raise ObjectNotFound(f"variable {name!r} not found")

    def read_secret_value(self, name: str) -> str:
        raise ObjectNotFound(f"secret {name!r} not found")

    def flow_call(self, run_id: str, timeout: float | None) -> None:
        pass


def rehearse() -> _Reporter:
    """Run the rehearsal's flow; what its reporter was told (COMPLETED, and its log lines)."""
    from flowplan import masking
    from flowplan.runtime import context, engine
    from flowplan.runtime.logs import LogSink

    root_logger = logging.getLogger()
    saved = (sys.stdout, sys.stderr, list(sys.path), Path.cwd(), root_logger.level)
    with tempfile.TemporaryDirectory(prefix="flowplan-rehearsal-") as directory:
        (Path(directory) / f"{MODULE}.py").write_text(FLOW)
        now = datetime.now(UTC)
        run = FlowRun(
            id="rehearsal", name="rehearsal", flow_id="rehearsal", flow_name="rehearsal",
            state=State(StateType.RUNNING, "Running", now), created=now,
            expected_start_time=now, deployment_id="rehearsal", deployment_name="rehearsal",
        )  # fmt: skip
        deployment = Deployment(
            id="rehearsal", name="rehearsal", flow_id="rehearsal", flow_name="rehearsal",
            created=now, updated=now, entrypoint=f"{MODULE}.py:rehearsal",
            pull_steps=[{"prefect.deployments.steps.set_working_directory": {
                "directory": directory}}],
        )  # fmt: skip
        # both as the channel carries them to a run
        reporter = _Reporter(
            FlowRun.from_json(run.to_json()), Deployment.from_json(deployment.to_json())
        )  # fmt: skip
        sys.stdout, sys.stderr = io.StringIO(), io.StringIO()
        try:
            os.chdir(directory)
            started, found = reporter.start(run.id)
            with LogSink(run.id, reporter.write_logs, masking.clean, thread=False) as sink:
                engine.execute(engine.Reporting(reporter, sink), started, found)
        finally:
            sys.stdout, sys.stderr = saved[0], saved[1]
            sys.path[:] = saved[2]
            os.chdir(saved[3])
            sys.modules.pop(MODULE, None)
            root_logger.setLevel(saved[4])
            context.current = None
    return reporter
