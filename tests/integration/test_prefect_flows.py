"""Prefect-decorated flows run by flowplan's worker with the real Prefect installed (the
`.venv-prefect` environment `make test` builds): tasks are plain calls, nothing of Prefect's
engine or server is started."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from flowplan.domain.objects import StateType
from tests.conftest import REPO
from tests.integration.workers import wait_for
from tests.runtime.helpers import deployment, store

PREFECT_PYTHON = Path(os.environ.get("FLOWPLAN_TEST_PREFECT_PYTHON",
                                     REPO / ".venv-prefect" / "bin" / "python"))  # fmt: skip

FLOW = """
import asyncio
from prefect import flow, task, get_run_logger, unmapped

@task(retries=3, cache_key_fn=None)
def extract(n: int) -> list[int]:
    return list(range(n))

@task
def scale(x: int, factor: int) -> int:
    return x * factor

@task
async def total(values: list[int]) -> int:
    await asyncio.sleep(0)
    return sum(values)

@task
def explode(x: int) -> int:
    raise ValueError(f"cannot take {x}")

@flow(name="prefect-etl", log_prints=True)
def f(n: int = 4, fail: bool = False):
    rows = extract(n)
    future = extract.submit(n)
    scaled = scale.map(future.result(), factor=unmapped(10))
    result = asyncio.run(total(scaled.result()))
    get_run_logger().info("total is %s", result)
    print("printed", result)
    if fail:
        explode.submit(1).result()
    return rows
"""


@pytest.fixture
def prefect_python() -> Path:
    assert PREFECT_PYTHON.exists(), (
        f"{PREFECT_PYTHON} is missing: 'make test' builds it (scripts/prefect-venv.sh)"
    )
    return PREFECT_PYTHON


def test_a_prefect_flow_with_tasks_runs_as_plain_calls(
    tmp_path: Path, prefect_python: Path
) -> None:
    home, prefect_home = tmp_path / "home", tmp_path / "prefect-home"
    backend = store(home)
    deployment(backend, tmp_path, source=FLOW, enforce_parameter_schema=False)
    env = {**os.environ, "FLOWPLAN_HOME": str(home), "PREFECT_HOME": str(prefect_home),
           "DO_NOT_TRACK": "1"}  # fmt: skip
    env.pop("PREFECT_API_URL", None)
    log = tmp_path / "worker.log"
    worker = subprocess.Popen(
        [str(prefect_python), "-m", "flowplan", "worker", "start", "--pool", "pool"],
        cwd=tmp_path, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        good = backend.create_flow_run("f/d")
        bad = backend.create_flow_run("f/d", parameters={"fail": True})

        def finished(run_id: str) -> object:
            run = backend.read_flow_run(run_id)
            return run if run.state.type.is_final else None

        done = wait_for("the Prefect flow", lambda: finished(good.id), timeout=120)
        assert done.state.type is StateType.COMPLETED, log.read_text()
        messages = [line.message for line in backend.read_logs(good.id)]
        assert "flow_run - total is 60" in messages
        assert "printed 60" in messages
        failed = wait_for("the failing flow", lambda: finished(bad.id), timeout=120)
        assert failed.state.type is StateType.FAILED  # type: ignore[attr-defined]
        assert failed.state.message == (  # type: ignore[attr-defined]
            "Flow run encountered an exception: ValueError: cannot take 1"
        )
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    # no temporary Prefect server, no Prefect database: Prefect's engine never ran
    assert not (prefect_home / "prefect.db").exists()
    # a temporary server would be started with Prefect's own home: the suite's real server
    # (tests/prefect_server.py) runs elsewhere, so look for servers on this test's home
    servers = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True,
                             check=True).stdout  # fmt: skip
    for line in servers.splitlines():
        if "prefect server" in line:
            pid = line.split()[0]
            try:
                environ = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
            except OSError:  # gone meanwhile
                continue
            assert str(prefect_home) not in environ, line


def test_the_prefect_environment_is_separate() -> None:
    """Prefect is only in .venv-prefect: the main suite cannot lean on it by accident."""
    found = subprocess.run([sys.executable, "-c", "import prefect"], capture_output=True,
                           check=False)  # fmt: skip
    assert found.returncode != 0
