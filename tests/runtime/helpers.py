"""Deployments and runs for the runtime tests, written straight into a local store."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from flowplan.backends.local import LocalBackend
from flowplan.domain.objects import Deployment, FlowRun
from flowplan.domain.schedules import Schedule
from flowplan.domain.specs import DeploymentSpec, ScheduleSpec

FLOW = """
from flowplan import flow

@flow
def f(n: int = 1):
    print(f"n={n}")
"""


def store(home: Path) -> LocalBackend:
    return LocalBackend(home / "flowplan.db")


def deployment(
    backend: LocalBackend,
    root: Path,
    *,
    name: str = "d",
    flow: str = "f",
    source: str = FLOW,
    entrypoint: str | None = None,
    pool: str = "pool",
    queue: str | None = None,
    schedules: tuple[Schedule, ...] | None = None,
    schedule_parameters: dict[str, Any] | None = None,
    pull_steps: list[dict[str, Any]] | None = None,
    **fields: Any,
) -> Deployment:
    """A deployment of `source` (written to flows/<name>.py) in `pool`, created if missing."""
    if pool not in {p.name for p in backend.read_work_pools()}:
        backend.create_work_pool(pool, "process")
    (root / "flows").mkdir(parents=True, exist_ok=True)
    (root / "flows" / f"{name}.py").write_text(textwrap.dedent(source))
    steps = pull_steps if pull_steps is not None else [
        {"prefect.deployments.steps.set_working_directory": {"directory": str(root)}}
    ]  # fmt: skip
    spec = DeploymentSpec(
        flow_name=flow, name=name, entrypoint=entrypoint or f"flows/{name}.py:f",
        work_pool_name=pool, work_queue_name=queue, pull_steps=steps,
        schedules=None if schedules is None else tuple(
            ScheduleSpec(s, parameters=schedule_parameters or {}) for s in schedules
        ),
        **fields,
    )  # fmt: skip
    return backend.upsert_deployments([spec])[0]


def run_engine(home: Path, run_id: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The engine as a worker starts it: its own process, the run id as its argument."""
    env = {**os.environ, "FLOWPLAN_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "flowplan.runtime.engine", run_id], cwd=cwd, env=env,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


FAILS_TWICE = """
from pathlib import Path
from flowplan import flow

@flow(retries=2, retry_delay_seconds=0.1)
def f():
    marker = Path("attempts")
    marker.write_text(marker.read_text() + "x" if marker.exists() else "x")
    if len(marker.read_text()) < 3:
        raise RuntimeError("flaky")
"""  # a flow that fails its first two tries: its `attempts` file counts them

SCHEMA = {
    "title": "Parameters", "type": "object",
    "properties": {"n": {"title": "n", "type": "integer", "position": 0},
                   "who": {"title": "who", "type": "string", "default": "x", "position": 1}},
    "required": ["n"],
}  # fmt: skip  # the parameter schema of `f(n: int, who: str = "x")`


def a_run(root: Path) -> FlowRun:
    """A scheduled run of deployment f/d, in a store under `root`."""
    backend = store(root / "home")
    deployment(backend, root)
    return backend.create_flow_run("f/d")
