"""Targets (issue 3), whole process, medians against `python -c pass` in the same run:
- `flowplan deployment ls --output json` with 10,000 deployments in the store: <= 0.5 s;
- creating 10,000 deployments through the Python API in one process: <= 5 s."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

from _common import flowplan_command, measure

DEPLOY_SCRIPT = textwrap.dedent(
    """
    import os, sys, uuid
    os.environ["FLOWPLAN_HOME"] = os.path.join(os.getcwd(), "homes", uuid.uuid4().hex)
    sys.path.insert(0, os.getcwd())
    from flowplan import deploy
    from flowplan.backends import get_backend
    from flows.etl import etl

    get_backend().create_work_pool("pool", "process")
    deploy(
        *[etl.to_deployment(f"d{i}", cron="0 2 * * *", tags=["bench"], parameters={"n": i})
          for i in range(10_000)],
        work_pool_name="pool",
        print_next_steps=False,
    )
    """
)
FLOW = textwrap.dedent(
    """
    from flowplan import flow

    @flow
    def etl(day: str = "today", n: int = 3, tables: list[str] = []):
        return n
    """
)


def make_flows(root: Path) -> None:
    (root / "flows").mkdir()
    (root / "flows" / "etl.py").write_text(FLOW)
    (root / "deploy10k.py").write_text(DEPLOY_SCRIPT)


def make_store(root: Path) -> None:
    import os
    import subprocess

    make_flows(root)
    env = {**os.environ, "FLOWPLAN_HOME": str(root / "unused")}
    subprocess.run([sys.executable, "deploy10k.py"], cwd=root, env=env, check=True)
    (home,) = (root / "homes").iterdir()
    home.rename(root / "home")


def main() -> None:
    measure(
        "deployment_ls",
        "flowplan deployment ls --output json, 10,000 deployments: median <= 0.5 s",
        0.5,
        flowplan_command("deployment", "ls", "--output", "json"),
        make_store,
        11,
        env=lambda root: {"FLOWPLAN_HOME": str(root / "home")},
    )
    measure(
        "deploy_10k",
        "10,000 deployments created through the Python API in one process: median <= 5 s",
        5.0,
        [sys.executable, "deploy10k.py"],
        make_flows,
        5,
    )


if __name__ == "__main__":
    main()
