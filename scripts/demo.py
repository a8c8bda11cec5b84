"""`make demo`: create a sample project in a temporary directory and run flowplan on it.

Validate (a clean file, then a broken one), discover flows, then the embedded store: a work pool,
deployments made from Python, listing them, and the GitOps loop on prefect.yaml: plan, apply,
plan again (no changes). Then the runtime: a worker in the background, a run with custom
parameters watched to the end, a scheduled run, and a clean shutdown. Its own FLOWPLAN_HOME
keeps ~/.flowplan clean.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

FLOW = '''from flowplan import flow


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
BROKEN = (
    PROJECT.replace("times: 2", "tims: 2")
    .replace("0 2 * * *", "61 2 * * *")
    .replace("    work_pool", "    tags: nightly,etl\n    work_pool")
)


SCRIPT = """from flowplan import deploy, flow


@flow(name="greeter")
def greet(who: str = "world") -> str:
    return f"Hello, {who}!"


if __name__ == "__main__":
    deploy(
        greet.to_deployment("hourly", interval=3600, parameters={"who": "ops"}),
        greet.to_deployment("weekly", cron="0 8 * * 1", tags=["report"]),
        work_pool_name="local",
    )
"""


def run(*args: str, cwd: Path, env: dict[str, str]) -> int:
    print(f"\n$ flowplan {' '.join(args)}", flush=True)
    command = [sys.executable, "-m", "flowplan", *args]
    return subprocess.run(command, cwd=cwd, env=env, check=False).returncode


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="flowplan-demo-") as tmp:
        root = Path(tmp)
        (root / "flows").mkdir()
        (root / "flows" / "hello.py").write_text(FLOW)
        (root / "prefect.yaml").write_text(PROJECT)
        (root / "deploy_greeter.py").write_text(SCRIPT)
        # PWD as a shell in the project sets it ({{ $PWD }} in prefect.yaml reads it)
        env = {**os.environ, "FLOWPLAN_HOME": str(root / ".flowplan"), "PWD": str(root)}
        print(f"Sample project in {root}")
        checks = [run("flows", "ls", cwd=root, env=env) == 0]
        checks.append(run("validate", cwd=root, env=env) == 0)
        (root / "broken.yaml").write_text(BROKEN)
        checks.append(run("validate", "broken.yaml", cwd=root, env=env) == 1)  # expected to fail
        checks.append(
            run("work-pool", "create", "local", "--type", "process", cwd=root, env=env) == 0
        )
        print("\n$ python deploy_greeter.py", flush=True)
        script = subprocess.run(
            [sys.executable, "deploy_greeter.py"], cwd=root, env=env, check=False
        )
        checks.append(script.returncode == 0)
        checks.append(run("deployment", "ls", cwd=root, env=env) == 0)
        checks.append(run("work-queue", "ls", "--pool", "local", cwd=root, env=env) == 0)
        # GitOps: plan shows the change, apply makes it, a second plan finds nothing to do
        checks.append(run("plan", "--detailed-exitcode", cwd=root, env=env) == 2)
        checks.append(run("apply", "--auto-approve", cwd=root, env=env) == 0)
        checks.append(run("plan", "--detailed-exitcode", cwd=root, env=env) == 0)
        checks += runtime(root, env)
    ok = all(checks)
    print("\nDemo finished: " + ("every step behaved as expected." if ok else "UNEXPECTED RESULT."))
    return 0 if ok else 1


def runtime(root: Path, env: dict[str, str]) -> list[bool]:
    """A worker in the background; a run on demand; a scheduled run; a clean stop."""
    print("\n$ flowplan worker start --pool local &   (its output goes to worker.log)", flush=True)
    log = root / "worker.log"
    worker = subprocess.Popen(
        [sys.executable, "-m", "flowplan", "worker", "start", "--pool", "local"],
        cwd=root, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    checks = [wait(lambda: "started on work pool" in log.read_text(), 30)]
    checks.append(run("deployment", "run", "hello/nightly", "--param", "who=demo", "--watch",
                      cwd=root, env=env) == 0)  # fmt: skip
    checks.append(run("deploy", "flows/hello.py:hello", "-n", "every-2s", "-p", "local",
                      "--interval", "2", cwd=root, env=env) == 0)  # fmt: skip
    print("\n(waiting for the scheduler to fire a run of hello/every-2s)", flush=True)
    checks.append(wait(lambda: "COMPLETED" in completed_runs(root, env), 30))
    checks.append(run("flow-run", "ls", "--state", "COMPLETED", cwd=root, env=env) == 0)
    checks.append(run("deployment", "pause", "hello/every-2s", cwd=root, env=env) == 0)
    print("\n$ kill -TERM <worker>   (it lets running runs finish, then stops)", flush=True)
    worker.send_signal(signal.SIGTERM)
    checks.append(worker.wait(timeout=60) == 0)
    print("\n$ cat worker.log\n" + log.read_text(), flush=True)
    return checks


def completed_runs(root: Path, env: dict[str, str]) -> str:
    args = [
        "flow-run",
        "ls",
        "--deployment",
        "hello/every-2s",
        "--state",
        "COMPLETED",
        "-o",
        "json",
    ]
    done = subprocess.run([sys.executable, "-m", "flowplan", *args], cwd=root, env=env,
                          capture_output=True, text=True, check=False)  # fmt: skip
    return done.stdout


def wait(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


if __name__ == "__main__":
    raise SystemExit(main())
