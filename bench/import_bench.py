"""Target (issue 27): `flowplan import` of 1,000 deployments (local store) into a new
prefect.yaml: median <= 5 s, whole process, after which `plan --detailed-exitcode` exits 0.

The deployments are applied from another project file (which is then removed) and their
ownership labels stripped, as if `prefect deploy` or a script had made them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from _common import flowplan_command, measure
from sync_bench import make_project


def make_live(root: Path) -> None:
    make_project(root)
    (root / "prefect.yaml").rename(root / "source.yaml")
    env = {**os.environ, "FLOWPLAN_HOME": str(root / "home")}
    subprocess.run(flowplan_command("apply", "--auto-approve", "--prefect-file", "source.yaml"),
                   cwd=root, env=env, check=True, capture_output=True)  # fmt: skip
    (root / "source.yaml").unlink()
    from flowplan.backends.local import LocalBackend

    store = LocalBackend(root / "home" / "flowplan.db")
    for deployment in store.read_deployments():
        store.update_deployment(deployment.id, {"labels": {}})
    store.close()


def check_round_trip(root: Path) -> None:
    """After an import, plan finds nothing to change (takeovers only): exit 0."""
    env = {**os.environ, "FLOWPLAN_HOME": str(root / "home")}
    subprocess.run(flowplan_command("import"), cwd=root, env=env, check=True, capture_output=True)
    start = time.perf_counter()
    plan = subprocess.run(flowplan_command("plan", "--detailed-exitcode"), cwd=root, env=env,
                          capture_output=True, text=True)  # fmt: skip
    took = time.perf_counter() - start
    last = plan.stdout.strip().splitlines()[-1]
    print(f"plan after import: exit {plan.returncode} in {took:.2f} s: {last}")
    if plan.returncode != 0 or "1000 to take over" not in last:
        sys.exit(f"plan after import is not clean: {plan.stdout[-500:]}{plan.stderr[-500:]}")


def make(root: Path) -> None:
    make_live(root)
    check_round_trip(root)


def main() -> None:
    fresh_file = 'rm -f prefect.yaml && exec "$0" import'
    measure(
        "import_1000",
        "flowplan import of 1,000 deployments (local store) into a new prefect.yaml: median <= 5 s",
        5.0,
        ["sh", "-c", fresh_file, flowplan_command()[0]],
        make,
        5,
        env=lambda root: {"FLOWPLAN_HOME": str(root / "home")},
    )


if __name__ == "__main__":
    main()
