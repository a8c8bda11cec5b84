"""Target (issue 26): every page of the web UI answers in <= 100 ms of server time with 10,000
deployments and 1,000,000 runs in the store.

The 10,000 deployments are made through the Python API (store_bench's helper); the runs are
written straight into the store with SQL (the API would take far longer), spread over the last
100 days (10,000 a day), in every state, one of them with 5,000 log lines. Server time is
`UiServer.answer` in-process (what a request costs the server, without the network), the median
of 9 calls per page after one warm-up.

    python bench/ui_bench.py [RUNS]     # default 1,000,000"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

from _common import write
from store_bench import make_store

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flowplan.backends.local import LocalBackend
from flowplan.domain.clock import utcnow
from flowplan.server.ui_app import UiServer

TARGET_MS = 100.0
CALLS = 9
STATES = [("COMPLETED", "Completed")] * 8 + [("FAILED", "Failed"), ("CANCELLED", "Cancelled"),
          ("SCHEDULED", "Scheduled"), ("SCHEDULED", "Late"), ("RUNNING", "Running")]  # fmt: skip


def fill_runs(backend: LocalBackend, count: int) -> str:
    """`count` runs over the store's deployments; returns the id of one with 5,000 log lines."""
    rng = random.Random(26)
    now = utcnow()
    with backend.store.write() as conn:
        deployments = conn.execute("SELECT id, flow_id, work_queue_id FROM deployments").fetchall()
        batch = []
        for index in range(count):
            dep, flow, queue = deployments[index % len(deployments)]
            kind, name = STATES[rng.randrange(len(STATES))]
            when = now - timedelta(seconds=index * 8640)  # 10,000 a day, newest first
            if kind == "SCHEDULED" and name == "Scheduled":
                when = now + timedelta(seconds=index % 86400)
            stamp = when.isoformat()
            started = None if kind == "SCHEDULED" else stamp
            ended = stamp if kind in ("COMPLETED", "FAILED", "CANCELLED") else None
            batch.append(
                (
                    str(uuid.UUID(int=rng.getrandbits(128))),
                    f"run-{index}",
                    flow,
                    dep,
                    queue,
                    kind,
                    name,
                    stamp,
                    '{"n": 1}',
                    stamp,
                    started,
                    ended,
                    stamp,
                )
            )
            if len(batch) == 50_000:
                _insert(conn, batch)
                batch = []
        _insert(conn, batch)
        run_id = str(conn.execute("SELECT id FROM flow_runs ORDER BY expected_start_time DESC"
                                  " LIMIT 1").fetchone()[0])  # fmt: skip
        conn.executemany(
            "INSERT INTO logs (flow_run_id, timestamp, level, message) VALUES (?, ?, 20, ?)",
            [(run_id, now.isoformat(), f"line {i} " + "x" * 80) for i in range(5000)],
        )
    return run_id


def _insert(conn: object, batch: list[tuple[object, ...]]) -> None:
    conn.executemany(  # type: ignore[attr-defined]
        "INSERT INTO flow_runs (id, name, flow_id, deployment_id, work_queue_id, state_type,"
        " state_name, state_timestamp, parameters, expected_start_time, start_time, end_time,"
        " created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        batch,
    )


def time_page(ui: UiServer, path: str) -> float:
    headers = {"host": "127.0.0.1:4200"}
    answer = ui.answer("GET", path, headers, b"")
    if answer.status != 200:
        sys.exit(f"{path} answered {answer.status}: {answer.body[:500]!r}")
    times = []
    for _ in range(CALLS):
        start = time.perf_counter()
        ui.answer("GET", path, headers, b"")
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        make_store(root)
        backend = LocalBackend(root / "home" / "flowplan.db")
        log_run = fill_runs(backend, count)
        fill_s = time.perf_counter() - started
        deployment_id = backend.read_deployments(ids=None)[5000].id
        with backend.store.read() as conn:  # the cursor of the 1,000th page of runs
            when, run_id = conn.execute("SELECT expected_start_time, id FROM flow_runs ORDER BY"
                                        " expected_start_time DESC, id DESC LIMIT 1 OFFSET"
                                        " 49999").fetchone()  # fmt: skip
        deep = urlencode({"before": f"{when}|{run_id}"})
        ui = UiServer(backend, None, b"k" * 32, True)
        pages = {
            "dashboard `/`": "/",
            "deployments, first page": "/deployments",
            "deployments, last page": "/deployments?offset=9950",
            "deployments, filtered by name": "/deployments?q=d999",
            "deployments, filtered by tag and pool": "/deployments?tag=bench&pool=pool",
            "one deployment (form, schedules, its runs)": f"/deployments/{deployment_id}",
            "flow runs, first page": "/runs",
            "flow runs, FAILED": "/runs?state=FAILED",
            "flow runs, page 1,001 (by its cursor)": f"/runs?{deep}",
            "one run (5,000 log lines in the store)": f"/runs/{log_run}",
            "a run's logs.json, first poll (1,000 lines)": f"/runs/{log_run}/logs.json",
            "work pools": "/pools",
        }
        rows = []
        for what, path in pages.items():
            measured = time_page(ui, path)
            rows.append({
                "what": f"UI page: {what}",
                "target": f"<= {TARGET_MS:g} ms server time (10,000 deployments, {count:,} runs)",
                "measured": f"{measured:.1f} ms median of {CALLS}",
                "met": measured <= TARGET_MS,
            })  # fmt: skip
        backend.close()
    target = f"every UI page <= {TARGET_MS:g} ms server time"
    write("ui", {"target": target, "runs": count, "deployments": 10_000,
                 "fill_seconds": round(fill_s, 1), "rows": rows})  # fmt: skip


if __name__ == "__main__":
    main()
