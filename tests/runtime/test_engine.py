"""The flow-run engine as a worker runs it: a real process per run, states and logs in the
store, every failure a FAILED state with a message that says why."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from flowplan.backends.local import LocalBackend
from flowplan.domain.objects import FlowRun, StateType
from tests.runtime.helpers import FAILS_TWICE, SCHEMA, deployment, run_engine, store


@pytest.fixture
def backend(tmp_path: Path) -> LocalBackend:
    return store(tmp_path / "home")


def execute(tmp_path: Path, backend: LocalBackend, **run_options: object) -> FlowRun:
    run = backend.create_flow_run("f/d", **run_options)  # type: ignore[arg-type]
    done = run_engine(tmp_path / "home", run.id, tmp_path / "elsewhere")
    assert "Traceback" not in done.stderr or "flowplan.flow_run" in done.stderr, done.stderr
    return backend.read_flow_run(run.id)


def messages(backend: LocalBackend, run: FlowRun) -> list[str]:
    return [line.message for line in backend.read_logs(run.id)]


@pytest.fixture(autouse=True)
def _elsewhere(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()  # the worker's temporary directory


def test_a_flow_runs_with_its_parameters_context_and_logs(
    tmp_path: Path, backend: LocalBackend
) -> None:
    source = """
        import logging, os
        from flowplan import flow
        from flowplan.runtime import deployment, flow_run

        @flow
        def f(n: int, who: str = "x"):
            print(f"n={n} who={who} run={flow_run.name} dep={deployment.name} cwd={os.getcwd()}")
            print(f"params={flow_run.parameters} id={flow_run.id == os.environ.get('RUN_ID')}")
            logging.getLogger("etl").warning("careful")
            logging.getLogger("etl").debug("fine detail")
        """
    deployment(backend, tmp_path, source=source, parameters={"n": 1, "who": "dep"},
               parameter_openapi_schema=SCHEMA)  # fmt: skip
    run = execute(tmp_path, backend, parameters={"n": 7}, name="my-run")
    assert (run.state.type, run.state.name) == (StateType.COMPLETED, "Completed")
    assert run.start_time is not None and run.end_time is not None
    logs = backend.read_logs(run.id)
    text = [line.message for line in logs]
    assert f"n=7 who=dep run=my-run dep=d cwd={tmp_path}" in text
    assert "params={'n': 7, 'who': 'dep'} id=False" in text
    assert ("etl - careful", 30) in [(line.message, line.level) for line in logs]
    assert "flowplan.flow_run - Finished in state Completed()" in text
    assert all("fine detail" not in m for m in text)  # DEBUG is below the default level
    states = [
        s[0]
        for s in backend.store.connection.execute(
            "SELECT name FROM flow_run_states WHERE flow_run_id = ? ORDER BY rowid", (run.id,)
        )
    ]
    assert states == ["Scheduled", "Running", "Completed"]


def test_an_exception_fails_the_run_with_the_users_traceback(
    tmp_path: Path, backend: LocalBackend
) -> None:
    source = """
        from flowplan import flow

        @flow
        def f():
            raise ValueError("bad input")
        """
    deployment(backend, tmp_path, source=source)
    run = execute(tmp_path, backend)
    assert run.state.type is StateType.FAILED
    assert run.state.message == "Flow run encountered an exception: ValueError: bad input"
    logs = "\n".join(messages(backend, run))
    assert 'flows/d.py", line 6, in f' in logs and "engine.py" not in logs


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("import sys; sys.exit(3)", "the flow called sys.exit(3)"),
        ("raise KeyError('k')", "KeyError: 'k'"),
    ],
)
def test_sys_exit_and_other_errors_fail_the_run(
    tmp_path: Path, backend: LocalBackend, body: str, message: str
) -> None:
    deployment(
        backend, tmp_path, source=f"from flowplan import flow\n@flow\ndef f():\n    {body}\n"
    )
    run = execute(tmp_path, backend)
    assert run.state.type is StateType.FAILED
    assert run.state.message == f"Flow run encountered an exception: {message}"


def test_a_flow_past_its_timeout_is_timed_out(tmp_path: Path, backend: LocalBackend) -> None:
    source = """
        import time
        from flowplan import flow

        @flow(timeout_seconds=0.5)
        def f():
            time.sleep(60)
        """
    deployment(backend, tmp_path, source=source)
    started = time.monotonic()
    run = execute(tmp_path, backend)
    assert time.monotonic() - started < 30
    assert (run.state.type, run.state.name) == (StateType.FAILED, "TimedOut")
    assert run.state.message == "Flow run exceeded timeout of 0.5 seconds"


def test_retries_then_success(tmp_path: Path, backend: LocalBackend) -> None:
    deployment(backend, tmp_path, source=FAILS_TWICE)
    run = execute(tmp_path, backend)
    assert run.state.type is StateType.COMPLETED
    assert (tmp_path / "attempts").read_text() == "xxx"
    names = [
        row[0]
        for row in backend.store.connection.execute(
            "SELECT name FROM flow_run_states WHERE flow_run_id = ? ORDER BY rowid", (run.id,)
        )
    ]
    assert names == ["Scheduled", "Running", "AwaitingRetry", "Retrying", "AwaitingRetry",
                     "Retrying", "Completed"]  # fmt: skip


def test_an_async_flow_and_a_module_entrypoint(tmp_path: Path, backend: LocalBackend) -> None:
    source = """
        import asyncio
        from flowplan import flow

        @flow
        async def f(n: int = 2):
            await asyncio.sleep(0.01)
            print(f"async {n}")
        """
    (tmp_path / "flows" / "__init__.py").parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / "flows" / "__init__.py").write_text("")
    deployment(backend, tmp_path, source=source, entrypoint="flows.d.f")
    run = execute(tmp_path, backend)
    assert run.state.type is StateType.COMPLETED
    assert "async 2" in messages(backend, run)


def test_a_plain_function_runs_too(tmp_path: Path, backend: LocalBackend) -> None:
    deployment(backend, tmp_path, source="def f(n=1):\n    print('plain', n)\n")
    run = execute(tmp_path, backend, parameters={"n": 4})
    assert run.state.type is StateType.COMPLETED and "plain 4" in messages(backend, run)


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        (
            {"n": "seven"},
            "Validation of flow parameters failed: n: expected an integer, got text ('seven')",
        ),
        ({}, "Validation of flow parameters failed: parameters: missing required"),
        ({"n": 1, "m": 2}, "unknown parameter(s) m (the flow takes: n, who)"),
    ],
)
def test_parameters_are_checked_against_the_schema(
    tmp_path: Path, backend: LocalBackend, parameters: dict[str, object], message: str
) -> None:
    """Checked again when the run starts: this one was created before its deployment enforced
    the schema (creating it now would be refused: tests/commands/test_run_door.py)."""
    created = deployment(backend, tmp_path, parameter_openapi_schema=SCHEMA,
                         enforce_parameter_schema=False)  # fmt: skip
    run = backend.create_flow_run("f/d", parameters=parameters)
    backend.update_deployment(created.id, {"enforce_parameter_schema": True})
    run_engine(tmp_path / "home", run.id, tmp_path / "elsewhere")
    run = backend.read_flow_run(run.id)
    assert run.state.type is StateType.FAILED
    assert message in (run.state.message or ""), run.state.message


def test_without_enforcement_the_flow_gets_what_it_is_given(
    tmp_path: Path, backend: LocalBackend
) -> None:
    untyped = "from flowplan import flow\n@flow\ndef f(n=1):\n    print(f'n={n}')\n"
    deployment(backend, tmp_path, source=untyped, parameter_openapi_schema=SCHEMA,
               enforce_parameter_schema=False)  # fmt: skip
    run = execute(tmp_path, backend, parameters={"n": "seven"})
    assert run.state.type is StateType.COMPLETED and "n=seven" in messages(backend, run)


def test_an_entrypoint_gone_at_run_time(tmp_path: Path, backend: LocalBackend) -> None:
    deployment(backend, tmp_path)
    (tmp_path / "flows" / "d.py").unlink()
    run = execute(tmp_path, backend)
    assert run.state.type is StateType.FAILED
    assert run.state.message == f"entrypoint file 'flows/d.py' not found in {tmp_path}"


def test_an_entrypoint_outside_the_project_is_refused(
    tmp_path: Path, backend: LocalBackend
) -> None:
    deployment(backend, tmp_path, entrypoint="../outside.py:f")
    (tmp_path.parent / "outside.py").write_text("def f():\n    print('escaped')\n")
    run = execute(tmp_path, backend)
    assert run.state.type is StateType.FAILED
    assert "is outside the project" in (run.state.message or "")


def test_pull_steps_resolve_secrets_and_context_and_mask_them(
    tmp_path: Path, backend: LocalBackend
) -> None:
    backend.set_secret("token", "hunter2-very-secret")
    steps = [
        {"prefect.deployments.steps.run_shell_script": {
            "script": "echo token={{ prefect.blocks.secret.token }} run={{ ctx.flow_run.name }}",
            "stream_output": True}},
        {"prefect.deployments.steps.set_working_directory": {"directory": str(tmp_path)}},
    ]  # fmt: skip
    deployment(backend, tmp_path, pull_steps=steps)
    run = backend.create_flow_run("f/d", name="ctx-run")
    done = run_engine(tmp_path / "home", run.id, tmp_path / "elsewhere")
    assert backend.read_flow_run(run.id).state.type is StateType.COMPLETED
    logs = "\n".join(messages(backend, run))
    assert "token=******** run=ctx-run" in logs
    assert "hunter2" not in logs and "hunter2" not in done.stdout + done.stderr


def test_a_failing_pull_step_fails_the_run(tmp_path: Path, backend: LocalBackend) -> None:
    steps = [{"prefect.deployments.steps.run_shell_script": {"script": "false"}}]
    deployment(backend, tmp_path, pull_steps=steps)
    run = execute(tmp_path, backend)
    assert run.state.type is StateType.FAILED
    assert (run.state.message or "").startswith(
        "step 'prefect.deployments.steps.run_shell_script' failed"
    )


def test_a_run_cancelled_before_it_started(tmp_path: Path, backend: LocalBackend) -> None:
    deployment(backend, tmp_path)
    run = backend.create_flow_run("f/d")
    backend.claim_flow_runs("pool", "w")
    backend.set_flow_run_state(run.id, StateType.CANCELLING)
    run_engine(tmp_path / "home", run.id, tmp_path / "elsewhere")
    assert backend.read_flow_run(run.id).state.type is StateType.CANCELLED
    assert messages(backend, backend.read_flow_run(run.id)) == []


def test_a_prefect_flow_without_prefect_installed_says_so(
    tmp_path: Path, backend: LocalBackend
) -> None:
    source = "from prefect import flow\n@flow\ndef f():\n    pass\n"
    deployment(backend, tmp_path, source=source)
    run = execute(tmp_path, backend)
    assert run.state.type is StateType.FAILED
    assert run.state.message == (
        "ModuleNotFoundError: No module named 'prefect' (the flow imports Prefect, which is not"
        " installed where the worker runs: install it there, or use 'from flowplan import flow')"
    )


def test_the_run_context_outside_a_run() -> None:
    from flowplan import runtime

    assert runtime.flow_run.id is None and runtime.flow_run.parameters == {}
    assert runtime.flow_run.tags == () and runtime.deployment.name is None
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        _ = runtime.flow_run.nope


def test_a_json_secret_is_masked_in_pull_step_output_logs_and_the_state_message(
    tmp_path: Path, backend: LocalBackend
) -> None:
    password, user = f"pw-{uuid.uuid4().hex[:12]}", f"svc-{uuid.uuid4().hex[:12]}"
    backend.set_secret("creds", json.dumps({"user": user, "db": {"password": password}}))
    steps = [
        {"prefect.deployments.steps.run_shell_script": {
            "script": "echo user={{ prefect.blocks.secret.creds.user }}"
                      " pw={{ prefect.blocks.secret.creds.db.password }}\n"
                      "echo https://ci:tok-in-a-url@git.example/x.git"}},
        {"prefect.deployments.steps.set_working_directory": {"directory": str(tmp_path)}},
    ]  # fmt: skip
    source = f"from flowplan import flow\n@flow\ndef f():\n    raise ValueError('bad {password}')\n"
    deployment(backend, tmp_path, source=source, pull_steps=steps)
    run = backend.create_flow_run("f/d")
    done = run_engine(tmp_path / "home", run.id, tmp_path / "elsewhere")
    state = backend.read_flow_run(run.id).state
    assert state.type is StateType.FAILED
    assert state.message == "Flow run encountered an exception: ValueError: bad ********"
    logs = "\n".join(messages(backend, run))
    assert "user=******** pw=********" in logs
    assert "https://********@git.example/x.git" in logs
    for value in (password, user, "tok-in-a-url"):
        assert value not in logs and value not in done.stdout + done.stderr


@pytest.mark.parametrize("target", ["prefect", "unknown run"])
def test_an_engine_started_by_hand_without_a_run_to_report_to_says_why(
    tmp_path: Path, backend: LocalBackend, target: str
) -> None:
    """By hand (no worker's channel) the engine reports to the local store; a Prefect API is
    refused before any request (Prefect's workers run its flows), an unknown run is named."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "FLOWPLAN_"))}
    env["FLOWPLAN_HOME"] = str(tmp_path / "home")
    if target == "prefect":
        env["PREFECT_API_URL"] = "http://127.0.0.1:9/api"  # nothing listens: nothing is sent
    run_id = str(uuid.uuid4())
    done = subprocess.run(
        [sys.executable, "-m", "flowplan.runtime.engine", run_id], cwd=tmp_path / "elsewhere",
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    if target == "prefect":
        assert "flowplan's worker runs flows from the local store" in done.stderr
        assert "prefect worker start" in done.stderr
    else:
        assert f"flowplan engine: flow run {run_id!r} not found" in done.stderr
