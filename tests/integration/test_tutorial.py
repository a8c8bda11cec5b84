"""The tutorial, as a user runs it: real `flowplan` processes and a Python script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    from flowplan import deploy, flow

    @flow(log_prints=True)
    def hello(name: str = "world"):
        print(f"Hello {name}!")

    if __name__ == "__main__":
        deploy(hello.to_deployment("my-deployment", cron="0 9 * * *"), work_pool_name="my-pool")
    """
)


def run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)


def test_tutorial_from_the_command_line(tmp_path: Path) -> None:
    flowplan = shutil.which("flowplan", path=str(Path(sys.executable).parent))
    assert flowplan, "the flowplan console script is installed next to the interpreter"
    env = {**os.environ, "FLOWPLAN_HOME": str(tmp_path / "home"), "NO_COLOR": "1"}
    (tmp_path / "hello.py").write_text(SCRIPT)

    created = run([flowplan, "work-pool", "create", "--type", "process", "my-pool"], tmp_path, env)
    assert created.returncode == 0, created.stderr
    assert created.stderr.startswith("Target: local store ")

    pools = run([flowplan, "work-pool", "ls"], tmp_path, env)
    assert pools.returncode == 0 and "my-pool" in pools.stdout and "process" in pools.stdout

    queues = run([flowplan, "work-queue", "ls", "--pool", "my-pool", "-o", "json"], tmp_path, env)
    assert [q["name"] for q in json.loads(queues.stdout)] == ["default"]

    deployed = run([sys.executable, "hello.py"], tmp_path, env)
    assert deployed.returncode == 0, deployed.stderr
    assert "hello/my-deployment (created" in deployed.stdout
    assert "flowplan worker start --pool 'my-pool'" in deployed.stdout

    listed = run([flowplan, "deployment", "ls"], tmp_path, env)
    assert listed.returncode == 0 and "hello/my-deployment" in listed.stdout
    data = json.loads(run([flowplan, "deployment", "ls", "-o", "json"], tmp_path, env).stdout)
    assert [(d["flow_name"], d["name"], d["entrypoint"], d["work_pool_name"]) for d in data] == [
        ("hello", "my-deployment", "hello.py:hello", "my-pool")
    ]
    missing = run([flowplan, "deployment", "inspect", "hello/my-deploymnt"], tmp_path, env)
    assert missing.returncode == 1
    assert missing.stderr.strip() == (
        "Error: deployment 'hello/my-deploymnt' not found (did you mean 'hello/my-deployment'?)"
    )
