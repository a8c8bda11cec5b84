"""Several processes writing to one store at once: nothing lost, never "database is locked"."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from flowplan.backends.local import LocalBackend

CLI_LOOP = textwrap.dedent(
    """
    import sys
    from flowplan.main import main
    for i in range(500):  # each command opens its own connection, as a new CLI process does
        code = main(["variable", "set", f"cli-{i}", str(i)])
        if code:
            sys.exit(f"iteration {i} exited {code}")
    """
)
PYTHON_LOOP = textwrap.dedent(
    """
    from flowplan import flow

    @flow
    def etl(n: int = 0):
        return n

    for i in range(500):
        etl.deploy(f"d{i}", work_pool_name="pool", cron="0 2 * * *", print_next_steps=False)
    """
)


def test_a_cli_loop_and_a_python_loop_write_at_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    LocalBackend(home / "flowplan.db").create_work_pool("pool", "process")
    (tmp_path / "loop.py").write_text(PYTHON_LOOP)
    env = {**os.environ, "FLOWPLAN_HOME": str(home)}
    processes = [
        subprocess.Popen([sys.executable, "-c", CLI_LOOP], cwd=tmp_path, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
        subprocess.Popen([sys.executable, "loop.py"], cwd=tmp_path, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
    ]  # fmt: skip
    # and a few real CLI processes alongside
    for i in range(10):
        done = subprocess.run(
            [sys.executable, "-m", "flowplan", "work-queue", "create", f"q{i}", "--pool", "pool"],
            env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    results = [process.communicate(timeout=300) for process in processes]
    for process, (_, err) in zip(processes, results, strict=True):
        assert process.returncode == 0, err[-2000:]
        assert "locked" not in err and "busy" not in err
    backend = LocalBackend(home / "flowplan.db")
    assert len(backend.read_variables()) == 500
    assert {v.value for v in backend.read_variables()} == set(range(500))
    deployments = backend.read_deployments()
    assert len(deployments) == 500
    assert all(len(d.schedules) == 1 for d in deployments)
    assert len(backend.read_work_queues("pool")) == 11
