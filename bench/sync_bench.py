"""Targets (issue 4), local backend, whole process, medians against `python -c pass`:
- plan and apply 1,000 new deployments: <= 3 s;
- no-op plan of 1,000 deployments: <= 1 s (and a no-op apply writes nothing: a test counts it)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from _common import flowplan_command, measure

FLOW = (
    "from prefect import flow\n\n@flow\ndef etl(day: str = 'today', limit: int = 10):\n    pass\n"
)


def make_project(root: Path) -> None:
    (root / "flows").mkdir()
    (root / "flows" / "etl.py").write_text(FLOW)
    lines = ["name: bench", "work_pools:", "  - {name: local, type: process}", "deployments:"]
    for i in range(1000):
        lines += [f"  - name: d{i:04d}", "    entrypoint: flows/etl.py:etl",
                  f"    parameters: {{limit: {i}}}", "    tags: [bench]",
                  "    work_pool: {name: local, job_variables: {env: {MODE: prod}}}",
                  f"    schedules: [{{cron: '{i % 60} 2 * * *', slug: nightly}}]"]  # fmt: skip
    (root / "prefect.yaml").write_text("\n".join(lines) + "\n")


def make_applied(root: Path) -> None:
    make_project(root)
    env = {**os.environ, "FLOWPLAN_HOME": str(root / "home")}
    subprocess.run(flowplan_command("apply", "--auto-approve"), cwd=root, env=env, check=True,
                   capture_output=True)  # fmt: skip


def main() -> None:
    fresh_store = 'FLOWPLAN_HOME="$(mktemp -d -p .)" exec "$0" apply --auto-approve'
    measure(
        "apply_1000",
        "plan and apply 1,000 new deployments (local store): median <= 3 s",
        3.0,
        ["sh", "-c", fresh_store, flowplan_command()[0]],
        make_project,
        5,
    )
    measure(
        "noop_plan_1000",
        "no-op plan of 1,000 deployments (local store): median <= 1 s",
        1.0,
        flowplan_command("plan", "--detailed-exitcode"),
        make_applied,
        7,
        env=lambda root: {"FLOWPLAN_HOME": str(root / "home")},
    )


if __name__ == "__main__":
    main()
