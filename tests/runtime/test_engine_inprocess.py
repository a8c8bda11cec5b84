"""The flow-run engine called in this process (`engine.main`, as the fork server's child calls
it), reporting to the store through a recording `RunReporter`: what test_engine.py checks with
a real engine process, plus what only shows from inside (the timeout the worker is told, the
final state sent with the last logs, SIGTERM). mutmut attributes a mutant's tests by what runs
in the test process, so this is also what kills the engine's mutants."""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from flowplan import masking, schema_validator
from flowplan.backends.local import LocalBackend
from flowplan.domain.objects import FlowRun, LogLine, StateType
from flowplan.errors import FlowplanError
from flowplan.runtime import context, control, engine, forkserver, reporter
from flowplan.runtime.logs import LogSink
from flowplan.runtime.reporter_server import ReporterServer
from flowplan.runtime.run_config import SECRETS_ENV
from tests.runtime.helpers import FAILS_TWICE, SCHEMA, deployment, store

REAL_CONNECT = reporter.connect


class Recorder:
    """The store's reporter, with what the engine sent it written down."""

    def __init__(self, inner: reporter.RunReporter) -> None:
        self.inner = inner
        self.calls: list[tuple[Any, ...]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def set_flow_run_state(self, run_id: str, state_type: StateType, **kwargs: Any) -> object:
        self.calls.append(("state", state_type, kwargs.get("name"), kwargs.get("message")))
        return self.inner.set_flow_run_state(run_id, state_type, **kwargs)

    def finish(self, run_id: str, state_type: StateType, **kwargs: Any) -> None:
        logs: Sequence[LogLine] = kwargs.get("logs", ())
        self.calls.append(("finish", state_type, kwargs.get("name"), kwargs.get("message"),
                           [line.message for line in logs]))  # fmt: skip
        self.inner.finish(run_id, state_type, **kwargs)

    def flow_call(self, run_id: str, timeout: float | None) -> None:
        self.calls.append(("flow_call", run_id, timeout))


class Engine:
    def __init__(self, tmp_path: Path, backend: LocalBackend) -> None:
        self.tmp_path, self.backend = tmp_path, backend
        self.recorder: Recorder | None = None

    def run(self, run_id: str) -> int:
        return engine.main([run_id])

    def execute(self, **run_options: Any) -> FlowRun:
        run = self.backend.create_flow_run("f/d", **run_options)
        self.code = self.run(run.id)
        return self.backend.read_flow_run(run.id)

    def messages(self, run: FlowRun) -> list[str]:
        return [line.message for line in self.backend.read_logs(run.id)]

    def states(self, run: FlowRun) -> list[str]:
        return [
            row[0]
            for row in self.backend.store.connection.execute(
                "SELECT name FROM flow_run_states WHERE flow_run_id = ? ORDER BY rowid", (run.id,)
            )
        ]


@pytest.fixture
def backend(tmp_path: Path) -> LocalBackend:
    return store(tmp_path / "home")


@pytest.fixture
def eng(tmp_path: Path, backend: LocalBackend, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """The engine's process-wide changes (directory, root logger level, SIGTERM handler, the
    flow's modules and import path, the run context) undone after each test."""
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.setenv("FLOWPLAN_HOME", str(tmp_path / "home"))
    monkeypatch.delenv(reporter.ENV, raising=False)
    monkeypatch.delenv(SECRETS_ENV, raising=False)
    monkeypatch.delenv("FLOWPLAN_FLOW_RUN_ID", raising=False)
    monkeypatch.chdir(tmp_path / "elsewhere")
    helper = Engine(tmp_path, backend)
    connect = reporter.connect

    def recording() -> reporter.RunReporter:
        helper.recorder = Recorder(connect())
        return helper.recorder  # type: ignore[return-value]

    monkeypatch.setattr(reporter, "connect", recording)
    path, modules = list(sys.path), set(sys.modules)
    level = logging.getLogger().level
    sigterm = signal.getsignal(signal.SIGTERM)
    try:
        yield helper
    finally:
        sys.path[:] = path
        for name in set(sys.modules) - modules:
            del sys.modules[name]
        logging.getLogger().setLevel(level)
        signal.signal(signal.SIGTERM, sigterm)
        context.current = None


def test_a_flow_runs_with_its_parameters_context_and_logs(eng: Engine) -> None:
    source = """
        import logging, os
        from flowplan import flow
        from flowplan.runtime import deployment, flow_run

        @flow
        def f(n: int, who: str = "x"):
            print(f"n={n} who={who} run={flow_run.name} dep={deployment.name} cwd={os.getcwd()}")
            print(f"params={flow_run.parameters} flow={flow_run.flow_name} tags={flow_run.tags}")
            print(f"dep_params={deployment.parameters} version={deployment.version}")
            print(f"id={flow_run.id is not None} dep_id={deployment.id is not None}")
            print(f"start={flow_run.scheduled_start_time is not None}")
            logging.getLogger("etl").warning("careful")
        """
    deployment(eng.backend, eng.tmp_path, source=source, parameters={"n": 1, "who": "dep"},
               parameter_openapi_schema=SCHEMA, version="v7")  # fmt: skip
    run = eng.execute(parameters={"n": 7}, name="my-run", tags=["a"])
    assert eng.code == 0
    assert (run.state.type, run.state.name) == (StateType.COMPLETED, "Completed")
    text = eng.messages(run)
    assert f"n=7 who=dep run=my-run dep=d cwd={eng.tmp_path}" in text
    assert "params={'n': 7, 'who': 'dep'} flow=f tags=('a',)" in text
    assert "dep_params={'n': 1, 'who': 'dep'} version=v7" in text
    assert "id=True dep_id=True" in text and "start=True" in text
    assert "etl - careful" in text
    assert "flowplan.flow_run - Running flow run 'my-run' of deployment 'f/d'" in text
    assert "flowplan.flow_run - Running 1 deployment pull step" in text
    assert text[-1] == "flowplan.flow_run - Finished in state Completed()"
    assert eng.states(run) == ["Scheduled", "Running", "Completed"]
    assert eng.recorder is not None
    # the final state goes with the logs not written yet, in one request; no timeout to watch
    final = eng.recorder.calls[-1]
    assert final[:4] == ("finish", StateType.COMPLETED, None, None)
    assert "flowplan.flow_run - Finished in state Completed()" in final[4]
    assert [call for call in eng.recorder.calls if call[0] == "flow_call"] == []


def test_an_exception_fails_the_run_with_the_users_traceback(eng: Engine) -> None:
    source = """
        from flowplan import flow

        @flow
        def f():
            raise ValueError("bad input")
        """
    deployment(eng.backend, eng.tmp_path, source=source)
    run = eng.execute()
    assert eng.code == 1
    assert (run.state.type, run.state.name) == (StateType.FAILED, "Failed")
    assert run.state.message == "Flow run encountered an exception: ValueError: bad input"
    logs = eng.messages(run)
    error = next(m for m in logs if m.startswith("flowplan.flow_run - Flow run encountered"))
    assert error.splitlines()[1] == "Traceback (most recent call last):"
    # from the flow's own code on: the engine's frames say nothing to users (under mutmut
    # its trampolines come between them, so only the first frame is checked)
    frames = [line for line in error.splitlines() if line.startswith('  File "')]
    assert 'engine.py"' not in frames[0]
    assert frames[-1].endswith('flows/d.py", line 6, in f')
    assert error.endswith("ValueError: bad input")
    assert logs[-1] == (
        "flowplan.flow_run - Finished in state Failed('Flow run encountered an exception:"
        " ValueError: bad input')"
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("import sys; sys.exit(3)", "the flow called sys.exit(3)"),
        ("import sys; sys.exit('no')", "the flow called sys.exit('no')"),
        ("raise KeyError('k')", "KeyError: 'k'"),
    ],
)
def test_sys_exit_and_other_errors_fail_the_run(eng: Engine, body: str, message: str) -> None:
    source = f"from flowplan import flow\n@flow\ndef f():\n    {body}\n"
    deployment(eng.backend, eng.tmp_path, source=source)
    run = eng.execute()
    assert eng.code == 1 and run.state.type is StateType.FAILED
    assert run.state.message == f"Flow run encountered an exception: {message}"


@pytest.mark.parametrize("kind", ["def", "async def"])
def test_a_flow_past_its_timeout_is_timed_out_and_the_worker_told(eng: Engine, kind: str) -> None:
    wait = "await asyncio.sleep(60)" if kind == "async def" else "time.sleep(60)"
    source = f"""
        import asyncio, time
        from flowplan import flow

        @flow(timeout_seconds=0.5)
        {kind} f():
            {wait}
        """
    deployment(eng.backend, eng.tmp_path, source=source)
    previous = signal.getsignal(signal.SIGALRM)
    run = eng.execute()
    assert (run.state.type, run.state.name) == (StateType.FAILED, "TimedOut")
    assert run.state.message == "Flow run exceeded timeout of 0.5 seconds"
    assert eng.recorder is not None
    watched = [call[1:] for call in eng.recorder.calls if call[0] == "flow_call"]
    # the call and its end, for the worker to enforce it too
    assert watched == [(run.id, 0.5), (run.id, None)]
    # the alarm is off and its handler back
    assert signal.getsignal(signal.SIGALRM) == previous
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


@pytest.mark.parametrize("kind", ["def", "async def"])
def test_a_flow_within_its_timeout_completes(eng: Engine, kind: str) -> None:
    source = f"""
        from flowplan import flow

        @flow(timeout_seconds=30)
        {kind} f(n: int = 1):
            print(f"within {{n}}")
        """
    deployment(eng.backend, eng.tmp_path, source=source)
    previous = signal.getsignal(signal.SIGALRM)
    run = eng.execute(parameters={"n": 3})
    assert run.state.type is StateType.COMPLETED and "within 3" in eng.messages(run)
    assert eng.recorder is not None
    assert [c[2] for c in eng.recorder.calls if c[0] == "flow_call"] == [30, None]
    assert signal.getsignal(signal.SIGALRM) == previous
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_a_timeout_error_of_the_flow_itself_is_a_failure_not_a_timeout(eng: Engine) -> None:
    source = """
        from flowplan import flow

        @flow
        async def f():
            raise TimeoutError("the database did not answer")
        """
    deployment(eng.backend, eng.tmp_path, source=source)
    run = eng.execute()
    assert (run.state.type, run.state.name) == (StateType.FAILED, "Failed")
    assert run.state.message == (
        "Flow run encountered an exception: TimeoutError: the database did not answer"
    )


def test_retries_then_success(eng: Engine) -> None:
    deployment(eng.backend, eng.tmp_path, source=FAILS_TWICE)
    run = eng.execute()
    assert eng.code == 0 and run.state.type is StateType.COMPLETED
    assert (eng.tmp_path / "attempts").read_text() == "xxx"
    assert eng.states(run) == ["Scheduled", "Running", "AwaitingRetry", "Retrying",
                               "AwaitingRetry", "Retrying", "Completed"]  # fmt: skip
    text = eng.messages(run)
    assert "flowplan.flow_run - Retry 1 of 2" in text
    assert "flowplan.flow_run - Retry 2 of 2" in text
    assert eng.recorder is not None
    waiting = [c for c in eng.recorder.calls if c[0] == "state" and c[2] == "AwaitingRetry"]
    assert waiting[0][1:] == (
        StateType.SCHEDULED, "AwaitingRetry",
        "Flow run encountered an exception: RuntimeError: flaky",
    )  # fmt: skip


def test_retries_run_out(eng: Engine) -> None:
    source = """
        from flowplan import flow

        @flow(retries=1)
        def f():
            print("attempt")
            raise RuntimeError("always")
        """
    deployment(eng.backend, eng.tmp_path, source=source)
    run = eng.execute()
    assert eng.code == 1
    assert (run.state.type, run.state.name) == (StateType.FAILED, "Failed")
    assert eng.messages(run).count("attempt") == 2
    assert eng.states(run) == ["Scheduled", "Running", "AwaitingRetry", "Retrying", "Failed"]


def test_an_async_flow_and_a_module_entrypoint(eng: Engine) -> None:
    source = """
        import asyncio
        from flowplan import flow

        @flow
        async def f(n: int = 2):
            await asyncio.sleep(0.01)
            print(f"async {n}")
        """
    (eng.tmp_path / "flows").mkdir(parents=True, exist_ok=True)
    (eng.tmp_path / "flows" / "__init__.py").write_text("")
    deployment(eng.backend, eng.tmp_path, source=source, entrypoint="flows.d.f")
    run = eng.execute()
    assert run.state.type is StateType.COMPLETED
    assert "async 2" in eng.messages(run)


def test_a_plain_function_runs_too(eng: Engine) -> None:
    deployment(eng.backend, eng.tmp_path, source="def f(n=1):\n    print('plain', n)\n")
    run = eng.execute(parameters={"n": 4})
    assert run.state.type is StateType.COMPLETED and "plain 4" in eng.messages(run)


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        (
            {"n": "seven"},
            "Validation of flow parameters failed: n: expected an integer, got text ('seven')",
        ),
        ({}, "Validation of flow parameters failed: parameters: missing required"),
        (
            {"n": 1, "m": 2, "k": 3},
            "Validation of flow parameters failed: unknown parameter(s) m, k"
            " (the flow takes: n, who)",
        ),
    ],
)
def test_parameters_are_checked_against_the_schema(
    eng: Engine, parameters: dict[str, object], message: str
) -> None:
    created = deployment(eng.backend, eng.tmp_path, parameter_openapi_schema=SCHEMA,
                         enforce_parameter_schema=False)  # fmt: skip
    run = eng.backend.create_flow_run("f/d", parameters=parameters)
    eng.backend.update_deployment(created.id, {"enforce_parameter_schema": True})
    assert eng.run(run.id) == 1
    run = eng.backend.read_flow_run(run.id)
    assert run.state.type is StateType.FAILED
    assert (run.state.message or "").startswith(message), run.state.message


def test_a_nested_parameter_error_names_its_path(eng: Engine) -> None:
    schema = {"type": "object", "properties": {"cfg": {
        "type": "object", "properties": {"size": {"type": "integer"}}}}}  # fmt: skip
    created = deployment(eng.backend, eng.tmp_path, parameter_openapi_schema=schema,
                         enforce_parameter_schema=False)  # fmt: skip
    run = eng.backend.create_flow_run("f/d", parameters={"cfg": {"size": "big"}})
    eng.backend.update_deployment(created.id, {"enforce_parameter_schema": True})
    eng.run(run.id)
    message = eng.backend.read_flow_run(run.id).state.message or ""
    assert message.startswith("Validation of flow parameters failed: cfg.size: "), message


def test_without_enforcement_the_flow_gets_what_it_is_given(eng: Engine) -> None:
    untyped = "from flowplan import flow\n@flow\ndef f(n=1):\n    print(f'n={n}')\n"
    deployment(eng.backend, eng.tmp_path, source=untyped, parameter_openapi_schema=SCHEMA,
               enforce_parameter_schema=False)  # fmt: skip
    run = eng.execute(parameters={"n": "seven"})
    assert run.state.type is StateType.COMPLETED and "n=seven" in eng.messages(run)


def test_check_parameters_directly() -> None:
    """The schema check before the flow is called: unknown names first, a run of the defaults
    against a schema no empty object can fail is not validated at all."""
    engine._check_parameters({}, {"type": "object", "properties": {"n": {"type": "integer"}}})
    engine._check_parameters({"x": 1}, {"type": "object"})  # no properties: nothing unknown
    with pytest.raises(FlowplanError, match=r"^Validation of flow parameters failed: "
                       r"parameters: missing required"):  # fmt: skip
        engine._check_parameters({}, {"type": "object", "required": ["n"]})
    with pytest.raises(FlowplanError, match=r"\(the flow takes: n\)$"):
        engine._check_parameters({"m": 1}, {"type": "object", "properties": {"n": {}}})
    with pytest.raises(FlowplanError, match="missing required"):
        engine._check_parameters({}, {"properties": {"n": {}}, "required": ["n"]})
    # a schema the validator cannot apply (users wrote it) checks nothing rather than failing
    engine._check_parameters({"n": 1}, {"properties": {"n": {"$ref": "#/definitions/gone"}}})


def test_a_run_of_the_defaults_builds_no_validator_where_none_can_fail(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built: list[dict[str, Any]] = []

    class Validator:
        def __init__(self, schema: dict[str, Any], lenient: bool) -> None:
            built.append(schema)

        def issues(self, value: object) -> list[object]:
            return []

    monkeypatch.setattr(schema_validator, "Validator", Validator)
    plain = {"type": "object", "title": "Parameters", "properties": {"n": {"type": "integer"}},
             "definitions": {}, "$defs": {}, "$schema": "x", "description": "d"}  # fmt: skip
    engine._check_parameters({}, plain)
    assert built == []
    checked = [({"n": 1}, plain), ({}, {**plain, "required": ["n"]}),
               ({}, {**plain, "type": "array"}), ({}, {"properties": {}})]  # fmt: skip
    for parameters, schema in checked:
        engine._check_parameters(parameters, schema)
    assert built == [schema for _, schema in checked]


def test_an_entrypoint_gone_at_run_time(eng: Engine) -> None:
    deployment(eng.backend, eng.tmp_path)
    (eng.tmp_path / "flows" / "d.py").unlink()
    run = eng.execute()
    assert eng.code == 1 and run.state.type is StateType.FAILED
    assert run.state.message == f"entrypoint file 'flows/d.py' not found in {eng.tmp_path}"
    assert eng.messages(run)[-1] == (
        "flowplan.flow_run - Finished in state Failed(\"entrypoint file 'flows/d.py' not found"
        f' in {eng.tmp_path}")'
    )


def test_without_pull_steps_the_flow_is_loaded_from_the_working_directory(eng: Engine) -> None:
    deployment(eng.backend, eng.tmp_path, pull_steps=[])
    (eng.tmp_path / "elsewhere" / "flows").mkdir()
    (eng.tmp_path / "elsewhere" / "flows" / "d.py").write_text(
        "import os\ndef f(n=1):\n    print('here', os.getcwd())\n"
    )
    run = eng.execute()
    assert run.state.type is StateType.COMPLETED
    assert f"here {eng.tmp_path / 'elsewhere'}" in eng.messages(run)
    assert not any("pull step" in m for m in eng.messages(run))


def test_pull_steps_resolve_secrets_variables_and_context_and_mask_them(eng: Engine) -> None:
    eng.backend.set_secret("token", "hunter2-very-secret")
    eng.backend.set_variable("greeting", "hello-var")
    steps = [
        {"prefect.deployments.steps.run_shell_script": {
            "script": "echo token={{ prefect.blocks.secret.token }} run={{ ctx.flow_run.name }}"
                      " var={{ prefect.variables.greeting }}",
            "stream_output": True}},
        {"prefect.deployments.steps.set_working_directory": {"directory": str(eng.tmp_path)}},
    ]  # fmt: skip
    deployment(eng.backend, eng.tmp_path, pull_steps=steps)
    run = eng.execute(name="ctx-run")
    assert run.state.type is StateType.COMPLETED
    logs = eng.messages(run)
    assert "token=******** run=ctx-run var=hello-var" in logs
    assert "flowplan.flow_run - > Running set_working_directory step..." in logs
    assert "flowplan.flow_run - Running 2 deployment pull steps" in logs
    assert not any("hunter2" in line for line in logs)


def test_a_pull_step_without_a_directory_leaves_the_working_directory(eng: Engine) -> None:
    steps = [{"prefect.deployments.steps.run_shell_script": {"script": "true"}}]
    deployment(eng.backend, eng.tmp_path, pull_steps=steps)
    (eng.tmp_path / "elsewhere" / "flows").mkdir()
    (eng.tmp_path / "elsewhere" / "flows" / "d.py").write_text("def f():\n    print('there')\n")
    run = eng.execute()
    assert run.state.type is StateType.COMPLETED and "there" in eng.messages(run)
    assert Path.cwd() == eng.tmp_path / "elsewhere"


def test_a_failing_pull_step_fails_the_run(eng: Engine) -> None:
    steps = [{"prefect.deployments.steps.run_shell_script": {"script": "false"}}]
    deployment(eng.backend, eng.tmp_path, pull_steps=steps)
    run = eng.execute()
    assert eng.code == 1 and run.state.type is StateType.FAILED
    assert (run.state.message or "").startswith(
        "step 'prefect.deployments.steps.run_shell_script' failed"
    )


def test_a_run_cancelled_before_it_started(eng: Engine) -> None:
    deployment(eng.backend, eng.tmp_path)
    run = eng.backend.create_flow_run("f/d")
    eng.backend.claim_flow_runs("pool", "w")
    eng.backend.set_flow_run_state(run.id, StateType.CANCELLING)
    assert eng.run(run.id) == 0
    assert eng.backend.read_flow_run(run.id).state.type is StateType.CANCELLED
    assert eng.messages(eng.backend.read_flow_run(run.id)) == []


def test_a_prefect_flow_without_prefect_installed_says_so(eng: Engine) -> None:
    source = "from prefect import flow\n@flow\ndef f():\n    pass\n"
    deployment(eng.backend, eng.tmp_path, source=source)
    run = eng.execute()
    assert run.state.message == (
        "ModuleNotFoundError: No module named 'prefect' (the flow imports Prefect, which is not"
        " installed where the worker runs: install it there, or use 'from flowplan import flow')"
    )


def test_another_missing_module_is_said_as_it_is(eng: Engine) -> None:
    source = "import no_such_module_here\ndef f():\n    pass\n"
    deployment(eng.backend, eng.tmp_path, source=source)
    run = eng.execute()
    assert run.state.message == "ModuleNotFoundError: No module named 'no_such_module_here'"


def test_the_run_secrets_are_masked_in_the_flows_output(
    eng: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    eng.backend.set_secret("api", "s3cr3t-value-xyz")
    monkeypatch.setenv(SECRETS_ENV, "api,gone")  # `gone` was deleted since: skipped
    source = "def f():\n    print('key', 's3cr3t-' + 'value-xyz')\n"
    deployment(eng.backend, eng.tmp_path, source=source)
    run = eng.execute()
    assert run.state.type is StateType.COMPLETED
    assert "key ********" in eng.messages(run)


def test_the_run_id_from_the_environment_and_usage_without_one(
    eng: Engine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert engine.main([]) == 2
    assert capsys.readouterr().err == "usage: python -m flowplan.runtime.engine RUN_ID\n"
    deployment(eng.backend, eng.tmp_path)
    run = eng.backend.create_flow_run("f/d", parameters={"n": 5})
    monkeypatch.setenv("FLOWPLAN_FLOW_RUN_ID", run.id)
    assert engine.main([]) == 0
    assert "n=5" in eng.messages(eng.backend.read_flow_run(run.id))


def test_sigterm_interrupts_the_flow_runs_its_finally_and_ends_the_process_by_it(
    eng: Engine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = """
        import os, signal
        from flowplan import flow

        @flow
        def f():
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                signal.pause()
            finally:
                print("cleaned up")
        """
    deployment(eng.backend, eng.tmp_path, source=source)
    ended: list[bool] = []
    monkeypatch.setattr(control, "end_by_sigterm", lambda: ended.append(True))
    run = eng.backend.create_flow_run("f/d")
    with pytest.raises(control.Terminated):
        eng.run(run.id)
    assert ended == [True]
    err = capsys.readouterr().err.splitlines()
    assert "flowplan engine: the run was stopped (SIGTERM)" in err
    assert "cleaned up" in eng.messages(run)
    # no state: the worker reads the end by SIGTERM as "stopped"
    assert eng.backend.read_flow_run(run.id).state.type is StateType.RUNNING


def test_a_run_without_a_deployment_fails_with_its_flow_named(
    eng: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    deployment(eng.backend, eng.tmp_path)
    run = eng.backend.create_flow_run("f/d")
    run = eng.backend.set_flow_run_state(run.id, StateType.RUNNING)
    bare = FlowRun.from_json({**run.to_json(), "deployment_name": None})
    recorder = Recorder(reporter.StoreReporter(eng.backend))
    with (
        caplog.at_level(logging.INFO, "flowplan.flow_run"),
        LogSink(run.id, recorder.write_logs, thread=False) as sink,
    ):
        code = engine.execute(engine.Reporting(recorder, sink), bare, None)  # type: ignore[arg-type]
    assert code == 1
    assert f"Running flow run {run.name!r} of flow 'f'" in caplog.messages
    assert recorder.calls[-1][:4] == (
        "finish", StateType.FAILED, None, "the run's deployment has no entrypoint"
    )  # fmt: skip


def test_the_reporter_masks_state_messages_and_keeps_a_lost_channel_from_failing_the_call(
    tmp_path: Path,
) -> None:
    secret = "zq-secret-for-the-reporter"
    masking.register(secret)
    sent: list[tuple[Any, ...]] = []

    class Channel:
        def set_flow_run_state(self, run_id: str, state: StateType, **kwargs: Any) -> None:
            sent.append(("state", run_id, state, kwargs))

        def finish(self, run_id: str, state: StateType, **kwargs: Any) -> None:
            sent.append(("finish", run_id, state, kwargs))

        def flow_call(self, run_id: str, timeout: float | None) -> None:
            raise FlowplanError("the worker's reporting channel closed")

        def write_logs(self, lines: Sequence[LogLine]) -> None:
            sent.append(("logs", [line.message for line in lines]))

    channel = Channel()
    sink = LogSink("r1", channel.write_logs, thread=False)
    sink.add(logging.INFO, "a line")
    wrapped = engine.Reporting(channel, sink)  # type: ignore[arg-type]
    wrapped.set_state("r1", StateType.SCHEDULED, "AwaitingRetry", f"bad {secret}")
    wrapped.set_state("r1", StateType.RUNNING)
    wrapped.flow_call("r1", 3.0)  # a lost channel: the run goes on, the worker stops it
    wrapped.set_state("r1", StateType.CRASHED, "Crashed", f"lost {secret}")
    assert sent[0] == ("state", "r1", StateType.SCHEDULED,
                       {"name": "AwaitingRetry", "message": "bad ********"})  # fmt: skip
    assert sent[1] == ("state", "r1", StateType.RUNNING, {"name": None, "message": None})
    kind, run_id, state, kwargs = sent[2]
    assert (kind, run_id, state) == ("finish", "r1", StateType.CRASHED)
    assert (kwargs["name"], kwargs["message"]) == ("Crashed", "lost ********")
    assert [line.message for line in kwargs["logs"]] == ["a line"]
    assert len(sent) == 3


def test_uses_prefect_when_the_flow_file_mentions_it_or_it_is_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "p.py").write_text("import prefect\n")
    (tmp_path / "plain.py").write_text("import os\n")
    monkeypatch.delitem(sys.modules, "prefect", raising=False)
    monkeypatch.setattr(engine, "_prefect_installed", lambda: True)
    assert engine._uses_prefect("p.py:f", tmp_path)
    assert not engine._uses_prefect("plain.py:f", tmp_path)
    assert not engine._uses_prefect("missing.py:f", tmp_path)
    assert engine._uses_prefect("package.module.f", tmp_path)
    monkeypatch.setattr(engine, "_prefect_installed", lambda: False)
    assert not engine._uses_prefect("p.py:f", tmp_path)
    assert not engine._uses_prefect("package.module.f", tmp_path)
    (tmp_path / "a:b").mkdir()  # a directory with a colon: the function is after the last
    (tmp_path / "a:b" / "p.py").write_text("import prefect\n")
    monkeypatch.setattr(engine, "_prefect_installed", lambda: True)
    assert engine._uses_prefect("a:b/p.py:f", tmp_path)
    monkeypatch.setitem(sys.modules, "prefect", object())  # type: ignore[arg-type]
    assert engine._uses_prefect("plain.py:f", tmp_path)


def test_prefect_is_found_where_the_worker_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert engine._prefect_installed() is False  # not in this environment
    (tmp_path / "prefect").mkdir()
    (tmp_path / "prefect" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert engine._prefect_installed() is True


def test_the_fork_server_is_started_by_its_option(monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[int] = []
    monkeypatch.setattr(forkserver, "serve", lambda fd: served.append(fd) or 5)
    assert engine.main(["--fork-server", "7"]) == 5
    assert served == [7]


LIVE = """
import time
from pathlib import Path
from flowplan import flow
from flowplan.backends.local import LocalBackend

@flow
def f(db: str = ""):
    print("early line")
    deadline = time.monotonic() + 60
    store = LocalBackend(Path(db))
    while time.monotonic() < deadline:  # the line reaches the store while the run goes on
        if any(line.message == "early line" for line in store.read_logs(RUN_ID)):
            print("seen while running")
            return
        time.sleep(0.05)
    raise RuntimeError("the early line was not written while the run went on")
"""


def _live_run(eng: Engine) -> FlowRun:
    deployment(eng.backend, eng.tmp_path, source=LIVE.replace("RUN_ID", "__import__('flowplan')"
               ".runtime.flow_run.id"))  # fmt: skip
    return eng.backend.create_flow_run(
        "f/d", parameters={"db": str(eng.tmp_path / "home" / "flowplan.db")}
    )


def test_logs_are_written_while_the_run_goes_on(eng: Engine) -> None:
    run = _live_run(eng)
    assert eng.run(run.id) == 0
    assert "seen while running" in eng.messages(run)


def test_through_the_workers_channel_its_thread_writes_the_logs_while_the_run_goes_on(
    eng: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_connect = REAL_CONNECT
    run = _live_run(eng)
    server = ReporterServer(lambda: store(eng.tmp_path / "home"))
    channels: list[reporter.RunReporter] = []

    def connect() -> reporter.RunReporter:  # the real channel, unwrapped: its thread flushes
        channels.append(real_connect())
        return channels[-1]

    monkeypatch.setattr(reporter, "connect", connect)
    try:
        monkeypatch.setenv(reporter.ENV, server.register(run))
        code = eng.run(run.id)
        assert [type(channel) for channel in channels] == [reporter.SocketReporter]
    finally:
        for channel in channels:  # a run's process ends here: nothing to watch any more
            channel.close()  # type: ignore[attr-defined]
        server.close()
    assert code == 0
    assert "seen while running" in eng.messages(run)
    assert eng.backend.read_flow_run(run.id).state.type is StateType.COMPLETED


def test_a_pull_step_that_clones_changes_into_the_clone(eng: Engine) -> None:
    import subprocess

    repository = eng.tmp_path / "repo"
    (repository / "flows").mkdir(parents=True)
    (repository / "flows" / "d.py").write_text(
        "import os\ndef f():\n    print('in', os.getcwd())\n"
    )
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    for command in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-q", "-m", "flow"]):
        subprocess.run([*git, *command], cwd=repository, check=True)
    steps = [{"prefect.deployments.steps.git_clone": {"repository": f"file://{repository}"}}]
    deployment(eng.backend, eng.tmp_path, pull_steps=steps)
    (eng.tmp_path / "flows" / "d.py").unlink()  # only the clone has the flow
    run = eng.execute()
    assert run.state.type is StateType.COMPLETED, run.state.message
    clone = eng.tmp_path / "elsewhere" / "repo"
    assert f"in {clone}" in eng.messages(run)
