"""The flow-run engine: `python -m flowplan.runtime.engine RUN_ID`, one process per run.

It marks the run RUNNING, runs the deployment's pull steps (variables and secrets resolved now,
`{{ ctx.* }}` filled in), changes into the directory they report, loads the entrypoint by path,
checks the parameters against the stored schema when the deployment enforces it, calls the flow
(retries, timeout, async) and records COMPLETED or FAILED with the exception. Output and logs go
out as they happen. It reads and reports only through the worker's reporting channel (see
`reporter`; the store itself when started by hand), and SIGTERM interrupts the flow so that its
`finally:` blocks run (see `control`). It imports nothing it does not need: its start-up is on every
run's critical path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from flowplan import masking
from flowplan.backends import variable_reader
from flowplan.domain.objects import Deployment, FlowRun, LogLine, StateType
from flowplan.errors import FlowplanError
from flowplan.runtime import context, control, reporter
from flowplan.runtime.coercion import coerce
from flowplan.runtime.loading import Callable_, load_entrypoint
from flowplan.runtime.logs import FLUSH_SECONDS, LogSink
from flowplan.runtime.run_config import mask_run_secrets

logger = logging.getLogger("flowplan.flow_run")


class FlowTimeout(Exception):
    pass


def preload() -> None:
    """Import what runs need, ahead of them (the fork server calls this once): the step runner
    and the built-in steps, the schema validator, parameter coercion, flowplan's `flow`, and
    Prefect made plain when it is installed; then a trivial run, rehearsed, and the code it
    executes packed together (see rehearsal.py).
    Not the store: a forked run reports through its worker's channel. Every page held here
    costs each run's fork and exit a little."""
    import importlib

    import jsonschema  # noqa: F401  (the parameter check's, ~70 ms: not on each run's path)

    import flowplan.files  # what a run's pull steps read files with
    import flowplan.runtime.reporter
    import flowplan.runtime.std_coercion
    import flowplan.schema_validator
    import flowplan.steps.builtin.shell
    import flowplan.steps.runner  # noqa: F401
    from flowplan.runtime.coercion import pydantic_installed
    from flowplan.schema_validator import Validator
    from flowplan.steps.catalog import catalog

    # what every flowplan flow file imports (`from flowplan import flow`), loaded by name as
    # the flows' own imports are: the runtime itself never uses the SDK
    importlib.import_module("flowplan.sdk.flows")

    # what these build on first use (jsonschema's validator classes, the steps' catalog)
    # is built once here rather than in every run
    Validator({"type": "object", "properties": {"n": {"type": "integer"}}}, lenient=True).issues(
        {"n": 1}
    )
    catalog()
    pydantic_installed()  # asked once here, not by each run

    if _prefect_installed():
        from flowplan.runtime.prefect_compat import patch_prefect

        patch_prefect()

    # then a trivial run, so that what a run builds on first use is built here, and the code
    # a run executes packed together (a rehearsal that fails costs only that)
    from flowplan.runtime.rehearsal import pack_code, rehearse

    with contextlib.suppress(Exception):
        rehearse()
        pack_code()


def _prefect_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("prefect") is not None


def main(argv: list[str]) -> int:
    if argv[:1] == ["--fork-server"]:
        from flowplan.runtime import forkserver

        return forkserver.serve(int(argv[1]))
    run_id = argv[0] if argv else os.environ.get("FLOWPLAN_FLOW_RUN_ID", "")
    if not run_id:
        print("usage: python -m flowplan.runtime.engine RUN_ID", file=sys.stderr)
        return 2
    control.install()
    try:
        return _run(run_id)
    except FlowplanError as exc:  # no channel, no store: nothing to report the run to
        print(f"flowplan engine: {exc}", file=sys.stderr)
        return 1
    except control.Terminated:
        print("flowplan engine: the run was stopped (SIGTERM)", file=sys.stderr)
        control.end_by_sigterm()
        raise


def _run(run_id: str) -> int:
    backend = reporter.connect()  # the worker's channel: the engine never opens the store
    run, deployment = backend.start(run_id)  # RUNNING now, or cancelled (or ended) already
    if run.state.type is not StateType.RUNNING:
        return 0
    mask_run_secrets(backend)
    channel = backend if isinstance(backend, reporter.SocketReporter) else None
    with LogSink(run_id, backend.write_logs, masking.clean, thread=channel is None) as sink:
        if channel is not None:  # its thread flushes the logs: one thread per run, not two
            channel.every(FLUSH_SECONDS, sink.tick)
        return execute(Reporting(backend, sink), run, deployment)


class Reporting:
    """The backend, with every final state written only after the logs so far: whoever sees
    the final state sees all the run's output. State messages are cleaned of secrets as logs
    are (they quote what the flow or a pull step raised)."""

    def __init__(self, backend: reporter.RunReporter, sink: LogSink) -> None:
        self.backend, self._sink = backend, sink

    def set_state(
        self, run_id: str, state: StateType, name: str | None = None, message: str | None = None
    ) -> None:
        message = masking.clean(message) if message else message
        if state.is_final:  # with the logs so far: one request

            def send(lines: list[LogLine]) -> None:
                self.backend.finish(run_id, state, name=name, message=message, logs=lines)

            self._sink.flush_with(send)
            return
        self.backend.set_flow_run_state(run_id, state, name=name, message=message)

    def flow_call(self, run_id: str, timeout: float | None) -> None:
        with contextlib.suppress(FlowplanError):  # a lost channel stops the run anyway
            self.backend.flow_call(run_id, timeout)


def execute(reporter: Reporting, run: FlowRun, deployment: Deployment | None) -> int:
    context.current = context.RunContext(
        flow_run_id=run.id, flow_run_name=run.name, flow_name=run.flow_name,
        parameters=dict(run.parameters), scheduled_start_time=run.expected_start_time,
        tags=run.tags, deployment_id=run.deployment_id,
        deployment_name=deployment.name if deployment else None,
        deployment_version=deployment.version if deployment else None,
        deployment_parameters=dict(deployment.parameters) if deployment else {},
    )  # fmt: skip
    logger.info("Running flow run %r of %s", run.name, _deployment_name(run))
    try:
        target = _prepare(reporter.backend, run, deployment)
        parameters = coerce(target.source, target.fn, run.parameters)
    except Exception as exc:
        message = exc.message if isinstance(exc, FlowplanError) else f"{type(exc).__name__}: {exc}"
        if isinstance(exc, ModuleNotFoundError) and exc.name == "prefect":
            message += (" (the flow imports Prefect, which is not installed where the worker"
                        " runs: install it there, or use 'from flowplan import flow')")  # fmt: skip
        return _fail(reporter, run, message)
    return _call(reporter, run, target, parameters)


def _prepare(
    backend: reporter.RunReporter, run: FlowRun, deployment: Deployment | None
) -> Callable_:
    if deployment is None or not deployment.entrypoint:
        raise FlowplanError("the run's deployment has no entrypoint")
    root = Path.cwd()
    if deployment.pull_steps:
        root = _pull(backend, deployment.pull_steps)
    if _uses_prefect(deployment.entrypoint, root):
        from flowplan.runtime.prefect_compat import patch_prefect

        patch_prefect()
    target = load_entrypoint(deployment.entrypoint, root)
    if deployment.enforce_parameter_schema and deployment.parameter_openapi_schema:
        _check_parameters(run.parameters, deployment.parameter_openapi_schema)
    return target


def _pull(backend: reporter.RunReporter, steps: list[dict[str, Any]]) -> Path:
    from flowplan.steps.runner import StepContext, run_steps

    logger.info("Running %d deployment pull step%s", len(steps), "" if len(steps) == 1 else "s")

    step_context = StepContext(
        variable=variable_reader(backend), secret=backend.read_secret_value,
        echo=lambda text: logger.info(text.strip()),
    )  # fmt: skip
    assert context.current is not None
    outputs = run_steps(steps, step_context, upstream=context.current.template_values())
    directory = outputs.get("directory")
    if isinstance(directory, str) and directory:
        os.chdir(directory)
    return Path.cwd()


def _uses_prefect(entrypoint: str, root: Path) -> bool:
    """Prefect is made plain before the flow's module imports it (its `get_run_logger` is
    bound at import). Only when it is installed, and the flow file mentions it."""
    if "prefect" in sys.modules:
        return True
    if ":" in entrypoint:  # a file: read first, cheaper than looking for Prefect on the path
        from flowplan import files

        try:
            if b"prefect" not in files.read_bytes(root / entrypoint.rpartition(":")[0]):
                return False
        except files.UnreadableFile:
            return False
    # a file that mentions it, or a module path (cheaper to patch than to find its source)
    return _prefect_installed()


# keywords of an object schema that no empty object can fail
_EMPTY_PASSES = frozenset(
    {"type", "title", "description", "properties", "definitions", "$defs", "$schema"}
)


def _check_parameters(parameters: Mapping[str, Any], schema: dict[str, Any]) -> None:
    known = schema.get("properties") or {}
    unknown = [name for name in parameters if known and name not in known]
    if unknown:
        raise FlowplanError(
            f"Validation of flow parameters failed: unknown parameter(s) {', '.join(unknown)}"
            f" (the flow takes: {', '.join(known)})"  # (never empty: with no parameters
            # declared, no name is unknown)
        )
    if not parameters and schema.get("type") == "object" and _EMPTY_PASSES.issuperset(schema):
        return  # nothing to check (a run of the defaults): the validator costs a run ~0.5 ms
    from flowplan.schema_validator import Validator

    issues = Validator(schema, lenient=True).issues(dict(parameters))
    if issues:
        where = ".".join(str(part) for part in issues[0].path)
        raise FlowplanError(
            f"Validation of flow parameters failed: {where or 'parameters'}: {issues[0].message}"
        )


def _call(
    reporter: Reporting, run: FlowRun, target: Callable_, parameters: Mapping[str, Any]
) -> int:
    attempts = target.retries + 1
    for attempt in range(1, attempts + 1):
        try:
            _invoke(target, parameters, lambda timeout: reporter.flow_call(run.id, timeout))
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt | control.Terminated):
                raise
            timed_out = isinstance(exc, FlowTimeout)
            message = (
                f"Flow run exceeded timeout of {target.timeout_seconds:g} seconds"
                if timed_out
                else f"Flow run encountered an exception: {_describe(exc)}"
            )
            logger.error("%s\n%s", message, _user_traceback(exc))
            if attempt < attempts:
                reporter.set_state(run.id, StateType.SCHEDULED, "AwaitingRetry", message)
                time.sleep(target.retry_delay_seconds)
                reporter.set_state(run.id, StateType.RUNNING, "Retrying")
                logger.info("Retry %d of %d", attempt, target.retries)
                continue
            return _fail(reporter, run, message, "TimedOut" if timed_out else None)
        logger.info("Finished in state Completed()")
        reporter.set_state(run.id, StateType.COMPLETED)
        return 0
    raise AssertionError("unreachable")


def _invoke(
    target: Callable_, parameters: Mapping[str, Any], watch: Callable[[float | None], None]
) -> None:
    timeout = target.timeout_seconds
    if not timeout:
        _call_with_timeout(target, parameters, timeout)
        return
    watch(timeout)  # the worker stops the run if the flow ignores its timeout
    try:
        _call_with_timeout(target, parameters, timeout)
    finally:
        watch(None)


def _call_with_timeout(
    target: Callable_, parameters: Mapping[str, Any], timeout: float | None
) -> None:
    if target.is_async:
        coroutine = target.fn(**parameters)
        if timeout:
            coroutine = asyncio.wait_for(coroutine, timeout)
        try:
            asyncio.run(coroutine)
        except TimeoutError:
            if timeout:
                raise FlowTimeout() from None
            raise
        return
    if not timeout:
        target.fn(**parameters)
        return

    def expire(signum: int, frame: object) -> None:
        raise FlowTimeout()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, float(timeout))
    try:
        target.fn(**parameters)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _user_traceback(exc: BaseException) -> str:
    """The traceback from the flow's own code on (the engine's frames say nothing to users)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb)).rstrip()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"the flow called sys.exit({exc.code!r})"
    return f"{type(exc).__name__}: {exc}"


def _fail(reporter: Reporting, run: FlowRun, message: str, name: str | None = None) -> int:
    logger.error("Finished in state Failed(%r)", message)
    reporter.set_state(run.id, StateType.FAILED, name, message)
    return 1


def _deployment_name(run: FlowRun) -> str:
    if run.deployment_name:
        return f"deployment '{run.flow_name}/{run.deployment_name}'"
    return f"flow {run.flow_name!r}"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
