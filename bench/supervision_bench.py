"""Issue 22: heartbeats never wait on other work. A store holds 10,000 deployments with a cron
schedule each; a real worker starts (heartbeat every 1 s) and its scheduler fills them all
ahead (30,000 runs). Measured: how long that first fill takes, and the longest gap between two
of the worker's heartbeats meanwhile (read from the store every 50 ms). Target: the longest gap
stays near the interval (<= 3 s: 3 missed heartbeats would mark the worker's runs CRASHED)."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from datetime import datetime

from _common import scratch, write

DEPLOYMENTS = 10_000


def main() -> None:
    from flowplan.backends.local import LocalBackend
    from flowplan.domain.schedules import CronSchedule
    from flowplan.domain.specs import DeploymentSpec, ScheduleSpec

    root = scratch("flowplan-bench-")
    backend = LocalBackend(root / "home" / "flowplan.db")
    backend.create_work_pool("pool", "process")
    specs = [
        DeploymentSpec(flow_name="f", name=f"d{i}", entrypoint="flows/f.py:f",
                       work_pool_name="pool",
                       schedules=(ScheduleSpec(CronSchedule("0 2 * * *")),))
        for i in range(DEPLOYMENTS)
    ]  # fmt: skip
    backend.upsert_deployments(specs)
    env = {**os.environ, "FLOWPLAN_HOME": str(root / "home")}
    worker = subprocess.Popen(
        [sys.executable, "-m", "flowplan", "worker", "start", "--pool", "pool",
         "--heartbeat-interval", "1"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    started = time.monotonic()
    beats: list[datetime] = []
    filled_after = None
    conn = backend.store.connection
    while time.monotonic() - started < 600:
        row = conn.execute("SELECT max(last_heartbeat) FROM workers").fetchone()
        if row[0] and (not beats or beats[-1].isoformat() != row[0]):
            beats.append(datetime.fromisoformat(row[0]))
        if filled_after is None:
            count = conn.execute("SELECT count(*) FROM flow_runs").fetchone()[0]
            if count >= DEPLOYMENTS * 3:
                filled_after = time.monotonic() - started
        elif time.monotonic() - started > filled_after + 3:
            break
        time.sleep(0.05)
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(beats)]
    write(
        "supervision",
        {
            "deployments": DEPLOYMENTS,
            "first_fill_s": round(filled_after, 1) if filled_after else None,
            "heartbeats": len(beats),
            "longest_heartbeat_gap_s": round(max(gaps), 2) if gaps else None,
            "target": "longest gap <= 3 s (the interval is 1 s)",
        },
    )


if __name__ == "__main__":
    main()
