"""Triggering and following runs as a user does: `deployment run`, `flow-run logs --follow`,
`run_deployment`, and `serve`."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from flowplan import run_deployment
from flowplan.domain.clock import utcnow
from flowplan.domain.objects import StateType
from flowplan.errors import DeploymentNotFound
from flowplan.sdk.runs import FlowRunTimeout
from tests.integration.workers import Workers, wait_for
from tests.runtime.helpers import deployment, store

SCHEMA = {"title": "Parameters", "type": "object",
          "properties": {"n": {"title": "n", "type": "integer", "default": 1, "position": 0}}}  # fmt: skip


def test_deployment_run_watch_streams_and_exits_with_the_outcome(
    tmp_path: Path, workers: Workers
) -> None:
    backend = store(workers.home)
    source = """
        from flowplan import flow

        @flow
        def f(n: int = 1):
            print(f"n={n}")
            if n < 0:
                raise ValueError("negative")
        """
    deployment(backend, tmp_path, source=source, parameter_openapi_schema=SCHEMA)
    workers.start()
    done = workers.cli("deployment", "run", "f/d", "--param", "n=5", "--watch",
                    "--flow-run-name", "five-{n}", "--tag", "manual")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Creating flow run for deployment 'f/d'...\nCreated flow run 'five-5'." in done.stdout
    assert "| INFO     | n=5" in done.stdout
    assert "Flow run 'five-5' is Completed." in done.stderr
    failed = workers.cli("deployment", "run", "f/d", "-p", "n=-1", "--watch")
    assert failed.returncode == 1
    assert "Flow run finished in state 'Failed': Flow run encountered an exception: ValueError:" \
        " negative" in failed.stderr  # fmt: skip
    run_id = failed.stdout.split("UUID")[1].split()[0]
    logs = workers.cli("flow-run", "logs", run_id)
    assert "ValueError: negative" in logs.stdout
    follow = workers.cli("flow-run", "logs", run_id, "--follow")
    assert follow.returncode == 0 and follow.stdout == logs.stdout
    (run,) = [r for r in backend.read_flow_runs() if r.name == "five-5"]
    assert "manual" in run.tags and run.parameters == {"n": 5}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--param", "m=1"], "the following parameters were specified but not found on the "
                             "deployment: m (it takes: n)"),
        (["--params", "[1]"], "--params must be a JSON object"),
        (["--start-in", "soon"], "unable to parse --start-in 'soon'"),
        (["--start-in", "1m", "--start-at", "2030-01-01"], "use either --start-in or --start-at"),
        (["--flow-run-name", "x-{missing}"], "missing parameter for flow run name: 'missing'"),
        (["--timeout", "5"], "--timeout goes with --watch"),
    ],
)  # fmt: skip
def test_deployment_run_refuses_bad_options(
    tmp_path: Path, workers: Workers, args: list[str], message: str
) -> None:
    deployment(store(workers.home), tmp_path, parameter_openapi_schema=SCHEMA)
    done = workers.cli("deployment", "run", "f/d", *args)
    assert done.returncode == 1 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_deployment_run_later_and_an_unknown_deployment(tmp_path: Path, workers: Workers) -> None:
    backend = store(workers.home)
    deployment(backend, tmp_path)
    done = workers.cli("deployment", "run", "f/d", "--start-in", "2 hours")
    assert done.returncode == 0 and re.search(r"\(in 7(199|200) s\)", done.stdout), done.stdout
    (run,) = backend.read_flow_runs()
    assert timedelta(minutes=119) < run.expected_start_time - utcnow() < timedelta(minutes=121)
    unknown = workers.cli("deployment", "run", "f/dd")
    assert unknown.returncode == 1 and "did you mean 'f/d'?" in unknown.stderr


def test_run_deployment_waits_returns_or_times_out(
    tmp_path: Path, workers: Workers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWPLAN_HOME", str(workers.home))
    backend = store(workers.home)
    deployment(backend, tmp_path, source=textwrap.dedent("""
        import time
        from flowplan import flow

        @flow
        def f(seconds: float = 0):
            time.sleep(seconds)
        """))  # fmt: skip
    at_once = run_deployment("f/d", timeout=0)
    assert at_once.state.type is StateType.SCHEDULED
    workers.start()
    done = run_deployment("f/d", parameters={"seconds": 0.1}, poll_interval=1)
    assert done.state.type is StateType.COMPLETED
    with pytest.raises(TimeoutError) as caught:
        run_deployment("f/d", parameters={"seconds": 30}, timeout=0.5)
    assert isinstance(caught.value, FlowRunTimeout) and caught.value.flow_run_id
    # the wait ran out, not the run: it goes on (started or about to)
    assert not backend.read_flow_run(caught.value.flow_run_id).state.type.is_final
    first = run_deployment("f/d", idempotency_key="k1", timeout=0)
    assert run_deployment("f/d", idempotency_key="k1", timeout=0).id == first.id
    with pytest.raises(DeploymentNotFound):
        run_deployment("f/nope", timeout=0)
    with pytest.raises(ValueError, match="`timeout` cannot be negative"):
        run_deployment("f/d", timeout=-1)


SERVE = """
import sys
from flowplan import flow

@flow
def served(n: int = 1):
    print(f"served n={n}")

if __name__ == "__main__":
    served.serve("svc", interval=3600, parameters={"n": 2})
"""


def test_serve_runs_triggered_runs_and_pauses_on_ctrl_c(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (tmp_path / "app.py").write_text(SERVE)
    env = {**os.environ, "FLOWPLAN_HOME": str(home)}
    log = tmp_path / "serve.log"
    process = subprocess.Popen([sys.executable, "app.py"], cwd=tmp_path, env=env,
                               stdout=log.open("w"), stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_for("serve to start", lambda: "Serving 'served/svc'" in log.read_text())
        backend = store(home)
        run = run_deployment("served/svc", timeout=60, poll_interval=1, client=backend)
        assert run.state.type is StateType.COMPLETED
        assert "served n=2" in [line.message for line in backend.read_logs(run.id)]
        assert backend.read_deployment("served/svc").work_pool_name == "served"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
        assert backend.read_deployment("served/svc").paused
    finally:
        if process.poll() is None:
            process.kill()
