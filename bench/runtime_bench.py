"""Targets (issue 10), a real worker process with default settings on this machine:
- trigger to COMPLETED of a trivial flow: p50 <= 0.3 s, p95 <= 0.6 s (from the run's own
  created and end stamps), with `python -c pass` as the anchor;
- idle worker: CPU <= 1 % of one core, resident memory <= 60 MB (its fork server, which
  holds the imports runs share, is reported beside it);
- 200 trivial runs on one worker with --limit 8: all COMPLETED in <= 30 s;
- with Prefect installed (FLOWPLAN_BENCH_PREFECT_PYTHON names that environment's python): a
  Prefect flow calling three Prefect tasks, trigger to COMPLETED p50 <= 1 s."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from _common import scratch, summary, time_command, write

FLOW = textwrap.dedent(
    """
    from flowplan import flow

    @flow
    def trivial(n: int = 1):
        return n
    """
)
PREFECT_FLOW = textwrap.dedent(
    """
    from prefect import flow, task, get_run_logger

    @task
    def extract(n: int) -> list[int]:
        return list(range(n))

    @task
    def transform(rows: list[int]) -> int:
        return sum(rows)

    @task
    def load(total: int) -> None:
        get_run_logger().info("total %s", total)

    @flow
    def trivial(n: int = 3):
        load(transform(extract(n)))
    """
)
SETUP = textwrap.dedent(
    """
    import sys
    from flowplan.backends import get_backend
    from flowplan.domain.specs import DeploymentSpec
    backend = get_backend()
    backend.create_work_pool("pool", "process")
    root = sys.argv[1]
    backend.upsert_deployments([DeploymentSpec(
        flow_name="trivial", name="d", entrypoint="flows/trivial.py:trivial",
        work_pool_name="pool", parameter_openapi_schema={"type": "object", "properties": {
            "n": {"type": "integer", "default": 1}}}, pull_steps=[
            {"prefect.deployments.steps.set_working_directory": {"directory": root}}])])
    """
)
TRIGGER = textwrap.dedent(
    """
    import sys, time
    from flowplan import run_deployment
    from flowplan.backends import get_backend
    count, spacing = int(sys.argv[1]), float(sys.argv[2])
    ids = []
    for _ in range(count):
        ids.append(run_deployment("trivial/d", timeout=0).id)
        time.sleep(spacing)
    backend = get_backend()
    deadline = time.time() + 300
    while time.time() < deadline:
        runs = [backend.read_flow_run(i) for i in ids]
        if all(r.state.type.is_final for r in runs):
            break
        time.sleep(0.2)
    for r in runs:
        print(r.state.type.value, (r.end_time - r.created).total_seconds() if r.end_time else -1)
    """
)


def start_worker(
    python: str, root: Path, env: dict[str, str], *extra: str
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [python, "-m", "flowplan", "worker", "start", "--pool", "pool", *extra],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(worker: subprocess.Popen[bytes]) -> None:
    worker.terminate()
    worker.wait(timeout=60)


def trigger(
    python: str, root: Path, env: dict[str, str], count: int, spacing: float
) -> list[float]:
    done = subprocess.run(
        [python, "-c", TRIGGER, str(count), str(spacing)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    states = [line.split() for line in done.stdout.splitlines()]
    bad = [s for s in states if s[0] != "COMPLETED"]
    if bad:
        sys.exit(f"runs did not complete: {bad[:3]}")
    return [float(s[1]) for s in states]


def project(python: str, source: str) -> tuple[Path, dict[str, str]]:
    root = scratch("flowplan-bench-")
    (root / "flows").mkdir()
    (root / "flows" / "trivial.py").write_text(source)
    # its bytecode, as the first run writes it on a machine that allows it (this one sets
    # PYTHONDONTWRITEBYTECODE, and each run would compile the flow's source again)
    subprocess.run([python, "-m", "compileall", "-q", str(root / "flows")], check=True)
    env = {**os.environ, "FLOWPLAN_HOME": str(root / "home")}
    subprocess.run([python, "-c", SETUP, str(root)], cwd=root, env=env, check=True)
    return root, env


def percentiles(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "p50_s": round(statistics.median(ordered), 3),
        "p95_s": round(ordered[int(len(ordered) * 0.95) - 1], 3),
        "max_s": round(ordered[-1], 3),
        "runs": len(ordered),
    }


def rss_and_cpu(pid: int, seconds: float) -> tuple[float, float]:
    def ticks() -> int:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    before, start = ticks(), time.time()
    time.sleep(seconds)
    cpu = (ticks() - before) / os.sysconf("SC_CLK_TCK") / (time.time() - start) * 100
    rss = (
        next(
            int(line.split()[1])
            for line in Path(f"/proc/{pid}/status").read_text().splitlines()
            if line.startswith("VmRSS")
        )
        / 1024
    )
    return rss, cpu


def children_rss(pid: int) -> float:
    total = 0.0
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        for line in Path(f"/proc/{child}/status").read_text().splitlines():
            if line.startswith("VmRSS"):
                total += int(line.split()[1]) / 1024
    return total


def main() -> None:
    python = sys.executable
    anchor = summary(time_command([python, "-c", "pass"], Path.cwd(), 5))
    root, env = project(python, FLOW)
    worker = start_worker(python, root, env)
    time.sleep(2)
    rss, cpu = rss_and_cpu(worker.pid, 10)
    spare = children_rss(worker.pid)
    latencies = trigger(python, root, env, 40, 0.3)
    stop(worker)
    # 200 runs, --limit 8
    root2, env2 = project(python, FLOW)
    worker = start_worker(python, root2, env2, "--limit", "8")
    time.sleep(1)
    started = time.perf_counter()
    trigger(python, root2, env2, 200, 0)
    batch = time.perf_counter() - started
    stop(worker)
    timings = percentiles(latencies)
    result: dict[str, object] = {
        "python_c_pass": anchor,
        "trigger_to_completed": {
            **timings,
            "target": "p50 <= 0.3 s, p95 <= 0.6 s",
            "meets_target": timings["p50_s"] <= 0.3 and timings["p95_s"] <= 0.6,
            "ratio_p50_vs_python_c_pass": round(
                statistics.median(latencies) / anchor["median_s"], 1
            ),
        },
        "idle_worker": {
            "rss_mb": round(rss, 1),
            "cpu_percent": round(cpu, 2),
            "fork_server_rss_mb": round(spare, 1),
            "target": "CPU <= 1 %, RSS <= 60 MB",
            "meets_target": cpu <= 1 and rss <= 60,
        },
        "runs_200_limit_8": {
            "seconds": round(batch, 2),
            "target": "<= 30 s",
            "meets_target": batch <= 30,
        },
    }
    prefect_python = os.environ.get("FLOWPLAN_BENCH_PREFECT_PYTHON")
    if prefect_python:
        root3, env3 = project(prefect_python, PREFECT_FLOW)
        env3["DO_NOT_TRACK"] = "1"
        worker = start_worker(prefect_python, root3, env3)
        time.sleep(4)  # the fork server imports Prefect once
        prefect_latencies = trigger(prefect_python, root3, env3, 20, 0.5)
        stop(worker)
        prefect_timings = percentiles(prefect_latencies)
        result["prefect_flow_three_tasks"] = {
            **prefect_timings,
            "target": "p50 <= 1 s",
            "meets_target": prefect_timings["p50_s"] <= 1,
        }
    write("runtime", result)


if __name__ == "__main__":
    main()
