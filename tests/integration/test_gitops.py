"""The CI story with real `flowplan` processes: plan on a pull request, apply on merge, trust
the exit codes; and an apply killed at random points converges on the next run."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from flowplan.backends.local import LocalBackend

FLOW = "from prefect import flow\n\n@flow\ndef etl(count: int = 0):\n    return count\n"


def project(root: Path, count: int, who: str = "team") -> None:
    lines = ["name: ci", "work_pools:", "  - {name: local, type: process}", "deployments:"]
    for i in range(count):
        lines += [f"  - name: d{i:03d}", "    entrypoint: flows/etl.py:etl",
                  f"    parameters: {{count: {i}}}", f"    description: for {who}",
                  "    work_pool: {name: local}",
                  f"    schedules: [{{cron: '{i % 60} 2 * * *', slug: nightly}}]"]  # fmt: skip
    (root / "prefect.yaml").write_text("\n".join(lines) + "\n")


def run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FLOWPLAN_HOME": str(root / "home"), "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "flowplan", *args], cwd=root, env=env,
                          capture_output=True, text=True, check=False)  # fmt: skip


def test_pull_request_then_merge(tmp_path: Path) -> None:
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "etl.py").write_text(FLOW)
    project(tmp_path, 3)
    pr = run(tmp_path, "plan", "--detailed-exitcode", "--out", "plan.json")
    assert pr.returncode == 2, pr.stderr
    assert "Plan: 4 to add, 0 to change, 0 to destroy." in pr.stdout
    merged = run(tmp_path, "apply", "plan.json", "--auto-approve")
    assert merged.returncode == 0, merged.stderr
    assert "Apply complete: 4 added, 0 changed, 0 destroyed." in merged.stdout
    assert run(tmp_path, "plan", "--detailed-exitcode").returncode == 0
    project(tmp_path, 2, who="ops")  # edit one field everywhere, drop one deployment
    changed = run(tmp_path, "plan", "--detailed-exitcode", "--prune")
    assert changed.returncode == 2
    assert '~ description: "for team" -> "for ops"' in changed.stdout
    assert "Plan: 0 to add, 2 to change, 1 to destroy." in changed.stdout
    assert run(tmp_path, "apply", "--auto-approve", "--prune").returncode == 0
    assert run(tmp_path, "plan", "--detailed-exitcode", "--prune").returncode == 0
    broken = (tmp_path / "prefect.yaml").read_text().replace("'0 2 * * *'", "'61 2 * * *'")
    (tmp_path / "prefect.yaml").write_text(broken)
    failed = run(tmp_path, "plan", "--detailed-exitcode")
    assert failed.returncode == 1 and "minute must be 0-59" in failed.stdout


def test_apply_killed_at_random_points_converges(tmp_path: Path) -> None:
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "etl.py").write_text(FLOW)
    env = {**os.environ, "FLOWPLAN_HOME": str(tmp_path / "home")}
    rng = random.Random(4)
    for trial in range(20):
        count = 40 + trial  # every trial changes the project, so every apply has work to do
        project(tmp_path, count, who=f"trial {trial}")
        process = subprocess.Popen(
            [sys.executable, "-m", "flowplan", "apply", "--auto-approve", "--prune",
             "--max-delete", "100"],
            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(rng.uniform(0.05, 0.6))
        process.send_signal(signal.SIGKILL)
        process.wait()
        again = run(tmp_path, "apply", "--auto-approve", "--prune", "--max-delete", "100",
                    "--lock-timeout", "5")  # fmt: skip
        assert again.returncode == 0, f"trial {trial}: {again.stderr}"
        assert run(tmp_path, "plan", "--detailed-exitcode").returncode == 0, f"trial {trial}"
        backend = LocalBackend(tmp_path / "home" / "flowplan.db")
        deployments = backend.read_deployments()
        assert len(deployments) == count
        assert all(len(d.schedules) == 1 for d in deployments)
        assert {d.description for d in deployments} == {f"for trial {trial}"}
        assert len(backend.read_work_pools()) == 1
        assert backend.read_lease("flowplan-apply") is None
        backend.close()


def test_four_identical_applies_at_once_all_succeed(tmp_path: Path) -> None:
    """Four applies that all planned before any of them could apply (the test holds the lock
    until each has printed its plan): one applies everything, the other three find, under the
    lock, that nothing is left to do."""
    from flowplan.plan.lock import LOCK

    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "etl.py").write_text(FLOW)
    project(tmp_path, 200)
    env = {**os.environ, "FLOWPLAN_HOME": str(tmp_path / "home"), "PYTHONUNBUFFERED": "1"}
    holder = LocalBackend(tmp_path / "home" / "flowplan.db")
    assert holder.acquire_lease(LOCK, "elsewhere:1:test", 600) is not None
    command = [sys.executable, "-m", "flowplan", "apply", "--auto-approve", "--lock-timeout", "60"]
    logs = [tmp_path / f"apply-{i}.out" for i in range(4)]
    processes = [
        subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log.open("w"),
                         stderr=subprocess.PIPE, text=True)
        for log in logs
    ]  # fmt: skip
    deadline = time.monotonic() + 60
    while not all("Plan: 201 to add" in log.read_text() for log in logs):
        assert time.monotonic() < deadline, [log.read_text() for log in logs]
        assert all(p.poll() is None for p in processes), "an apply ended before the lock was free"
        time.sleep(0.05)
    assert holder.release_lease(LOCK, "elsewhere:1:test")
    holder.close()
    errors = [process.communicate(timeout=120)[1] for process in processes]
    results = [(p.returncode, log.read_text(), err)
               for p, log, err in zip(processes, logs, errors, strict=True)]  # fmt: skip
    for code, _, err in results:
        assert code == 0, err
        assert "locked" not in err.replace("force-unlock", "")
    # one of them created everything; the others found nothing left to do after the lock
    created = sorted(len(re.findall(r"deployment '[^']+': created", out)) for _, out, _ in results)
    assert created == [0, 0, 0, 200], created
    assert sum("still to do: Plan: 0 to add" in out for _, out, _ in results) == 3
    assert run(tmp_path, "plan", "--detailed-exitcode").returncode == 0
    backend = LocalBackend(tmp_path / "home" / "flowplan.db")
    assert len(backend.read_deployments()) == 200
    assert len(backend.read_work_pools()) == 1
    backend.close()
