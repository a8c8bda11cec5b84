"""Targets (issue 22), a real worker process on this machine:
- 1,000 trivial runs created at once, one worker with `--limit 16`: all COMPLETED in <= 5 s
  (200 runs/s), from the moment the worker starts claiming them to the last end stamp;
- trigger to COMPLETED of a trivial flow on a running worker stays p50 <= 0.05 s (from the
  run's own created and end stamps).
Each measured several times on a fresh store; medians reported (the machine is shared)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from _common import compile_package, write
from runtime_bench import FLOW, project, start_worker, stop, trigger

RUNS = 1_000
ROUNDS = int(os.environ.get("FLOWPLAN_BENCH_ROUNDS", "3"))
CREATE = """
import sys
from flowplan.backends import get_backend
backend = get_backend()
for _ in range(int(sys.argv[1])):
    backend.create_flow_run("trivial/d")
"""
WAIT = """
import os, sqlite3, sys, time
db = sqlite3.connect(os.path.join(os.environ["FLOWPLAN_HOME"], "flowplan.db"))
count = int(sys.argv[1])
deadline = time.time() + 300
query = "SELECT count(*) FROM flow_runs WHERE state_type IN ('COMPLETED', 'FAILED', 'CRASHED')"
while time.time() < deadline and db.execute(query).fetchone()[0] < count:
    time.sleep(0.1)
print(*db.execute(
    "SELECT count(*), sum(state_type != 'COMPLETED'), min(start_time), max(end_time)"
    " FROM flow_runs").fetchone())
"""


def cpu_seconds(pid: int) -> float:
    """CPU time of a process, with its children that it waited for."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def batch(python: str) -> tuple[float, float]:
    """Seconds from the first run's start to the last run's end, 1,000 runs, --limit 16; and
    the CPU seconds the worker, its fork server and the runs used (less sensitive than the
    wall time to what else the machine does)."""
    root, env = project(python, FLOW)
    subprocess.run([python, "-c", CREATE, str(RUNS)], cwd=root, env=env, check=True)
    worker = start_worker(python, root, env, "--limit", "16")
    # FLOWPLAN_BENCH_PROFILE: a py-spy to record the worker with (where the GIL goes), raw
    # stacks into /tmp/throughput-profile.txt
    profile = os.environ.get("FLOWPLAN_BENCH_PROFILE")
    profile_out = str(Path(tempfile.gettempdir()) / "throughput-profile.txt")
    spy = None
    if profile:
        spy = subprocess.Popen([profile, "record", "--gil", "-f", "raw", "-o", profile_out,
                                "--pid", str(worker.pid)])  # fmt: skip
    try:
        done = subprocess.run(
            [python, "-c", WAIT, str(RUNS)], cwd=root, env=env, capture_output=True, text=True,
            check=True,
        )  # fmt: skip
        children = Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split()
        cpu = cpu_seconds(worker.pid) + sum(cpu_seconds(int(child)) for child in children)
    finally:
        stop(worker)
        if spy is not None:
            spy.wait()
    count, bad, first, last = done.stdout.split()
    if int(count) != RUNS or int(bad):
        sys.exit(f"runs did not all complete: {done.stdout}")
    return (datetime.fromisoformat(last) - datetime.fromisoformat(first)).total_seconds(), cpu


def latency(python: str) -> float:
    root, env = project(python, FLOW)
    worker = start_worker(python, root, env)
    time.sleep(2)
    try:
        return statistics.median(trigger(python, root, env, 40, 0.2))
    finally:
        stop(worker)


def main() -> None:
    compile_package()
    python = sys.executable
    batches, cpus = zip(*(batch(python) for _ in range(ROUNDS)), strict=True)
    # FLOWPLAN_BENCH_BASELINE: the `cli` directory of an older flowplan (e.g. from `git archive
    # <commit> cli`), measured the same way in the same conditions, for the ratio
    baseline = os.environ.get("FLOWPLAN_BENCH_BASELINE")
    before: tuple[float, float] | None = None
    if baseline:
        subprocess.run([python, "-m", "compileall", "-q", baseline], check=True)
        os.environ["PYTHONPATH"] = baseline
        try:
            old = [batch(python) for _ in range(ROUNDS)]
        finally:
            del os.environ["PYTHONPATH"]
        before = statistics.median(b for b, _ in old), statistics.median(c for _, c in old)
    latencies = [latency(python) for _ in range(ROUNDS)]
    seconds, p50 = statistics.median(batches), statistics.median(latencies)
    cpu_ms = statistics.median(cpus) / RUNS * 1000
    load = os.getloadavg()[0]
    write(
        "throughput",
        {
            "runs": RUNS,
            "rounds": ROUNDS,
            "batch_seconds": [round(b, 2) for b in batches],
            "cpu_ms_per_run": [round(c / RUNS * 1000, 1) for c in cpus],
            "load_average_at_end": round(load, 1),
            "baseline": None
            if before is None
            else {
                "code": baseline,
                "batch_seconds": round(before[0], 2),
                "cpu_ms_per_run": round(before[1] / RUNS * 1000, 1),
            },
            "trigger_to_completed_p50_s": [round(p, 3) for p in latencies],
            "rows": [
                {
                    "what": f"{RUNS:,} trivial runs through one worker with `--limit 16`",
                    "target": "<= 5 s (200 runs/s)",
                    "measured": f"{seconds:.2f} s median of {ROUNDS} ({RUNS / seconds:.0f} runs/s;"
                    f" {cpu_ms:.1f} ms CPU a run; load average {load:.0f} on 2 cores)"
                    + (
                        ""
                        if before is None
                        else f"; the landed code: {before[0]:.2f} s,"
                        f" {before[1] / RUNS * 1000:.1f} ms CPU a run"
                    ),
                    "met": seconds <= 5,
                },
                {
                    "what": "trigger to COMPLETED, trivial flow, a running worker",
                    "target": "p50 <= 0.05 s",
                    "measured": f"p50 {p50:.3f} s (median of {ROUNDS} rounds of 40 runs)",
                    "met": p50 <= 0.05,
                },
            ],
        },
    )


if __name__ == "__main__":
    main()
