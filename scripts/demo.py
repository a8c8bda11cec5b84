"""`make demo`: create a sample project in a temporary directory and run flowplan on it.

For now: validate (a clean file, then a broken one) and discover flows. Later issues extend this
to plan and apply against the embedded backend.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

FLOW = '''from prefect import flow


@flow(name="hello")
def hello(who: str = "world", times: int = 1) -> None:
    """Say hello."""
    for _ in range(times):
        print(f"Hello, {who}!")
'''
PROJECT = """name: demo
prefect-version: 3.0.0
pull:
  - prefect.deployments.steps.set_working_directory:
      directory: "{{ $PWD }}"
deployments:
  - name: nightly
    entrypoint: flows/hello.py:hello
    parameters: {who: data team, times: 2}
    work_pool: {name: local}
    schedules:
      - cron: "0 2 * * *"
        timezone: Europe/Berlin
        slug: nightly
"""
BROKEN = PROJECT.replace("times: 2", "tims: 2").replace("0 2 * * *", "61 2 * * *").replace(
    "    work_pool", "    tags: nightly,etl\n    work_pool"
)


def run(*args: str, cwd: Path) -> int:
    print(f"\n$ flowplan {' '.join(args)}", flush=True)
    return subprocess.run([sys.executable, "-m", "flowplan", *args], cwd=cwd, check=False).returncode


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="flowplan-demo-") as tmp:
        root = Path(tmp)
        (root / "flows").mkdir()
        (root / "flows" / "hello.py").write_text(FLOW)
        (root / "prefect.yaml").write_text(PROJECT)
        print(f"Sample project in {root}")
        checks = [run("flows", "ls", cwd=root) == 0, run("validate", cwd=root) == 0]
        (root / "broken.yaml").write_text(BROKEN)
        checks.append(run("validate", "broken.yaml", cwd=root) == 1)  # expected to fail
    ok = all(checks)
    print("\nDemo finished: " + ("every step behaved as expected." if ok else "UNEXPECTED RESULT."))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
