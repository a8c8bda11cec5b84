"""Targets (issue 22), a store holding 1,000,000 finished runs (4 states each) and 10,000,000
log lines, made with SQL and kept under the temporary directory between runs of this script
(a copy is measured, the kept one never changes):
- pickup: trigger to the run's start (RUNNING), a real worker on that store, p50 <= 0.06 s
  (and trigger to COMPLETED beside it);
- `flowplan flow-run ls`, whole process: median <= 0.3 s (`python -c pass` as the anchor, and
  the same command on an empty store: what start-up costs); beside the wall-clock time, the
  CPU time the process used (user + system), which moves less with the machine's load;
- `flowplan flow-run delete --older-than 1d --yes` deletes the million runs in batches (or
  the older part of them: FLOWPLAN_BENCH_DELETE_AGE=300d): how long it takes, and the longest
  a small write by another process waited meanwhile (the store is never locked for long); the
  file's size before and after, the space freed for new runs, and after a VACUUM."""

from __future__ import annotations

import json
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _common import RESULTS, compile_package, flowplan_command, summary, time_command, write
from runtime_bench import FLOW, SETUP, start_worker, stop, trigger

from flowplan.backends.local.migrations import SCHEMA_VERSION

RUNS = int(os.environ.get("FLOWPLAN_BENCH_RUNS", "1000000"))
LOGS_PER_RUN = 10
TIMED_RUNS = 15  # of each command timed (after a warm-up run)
# named by the store's schema version: a store kept from older code is made again, not migrated
CACHE = Path(tempfile.gettempdir()) / f"flowplan-store-scale-{RUNS}-schema{SCHEMA_VERSION}"

RUN_ID = (
    "lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4'"
    " || substr(lower(hex(randomblob(2))), 2) || '-a' || substr(lower(hex(randomblob(2))), 2)"
    " || '-' || lower(hex(randomblob(6)))"
)


def generate(home: Path, root: Path) -> None:
    """The store: the schema and one deployment through flowplan, then the runs, states and
    logs straight in SQL, with the big indexes dropped meanwhile and built again after."""
    env = {**os.environ, "FLOWPLAN_HOME": str(home)}
    subprocess.run([sys.executable, "-c", SETUP, str(root)], env=env, check=True)
    db = sqlite3.connect(home / "flowplan.db", isolation_level=None)
    db.execute("PRAGMA journal_mode = DELETE")
    db.execute("PRAGMA journal_mode = OFF")
    db.execute("PRAGMA synchronous = OFF")
    db.execute("PRAGMA cache_size = -1000000")
    flow_id, deployment_id, queue_id = db.execute(
        "SELECT flow_id, id, work_queue_id FROM deployments"
    ).fetchone()
    indexes = db.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        " AND tbl_name IN ('flow_runs', 'flow_run_states', 'logs')"
    ).fetchall()
    db.execute("BEGIN")
    for name, _ in indexes:
        db.execute(f"DROP INDEX {name}")
    # one run every 30 s back from two days ago: the newest ended two days ago
    db.execute(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?)"
        " INSERT INTO flow_runs (id, name, flow_id, deployment_id, work_queue_id, state_type,"
        " state_name, state_timestamp, parameters, tags, expected_start_time, start_time,"
        " end_time, worker_name, created)"
        f" SELECT {RUN_ID}, 'bench-run-' || x, ?, ?, ?, 'COMPLETED', 'Completed', t, '{{}}',"
        " '[]', t, t, t, 'bench-worker', t FROM (SELECT x, strftime('%Y-%m-%dT%H:%M:%f',"
        " 'now', '-2 days', '-' || (x * 30) || ' seconds') || '000+00:00' AS t FROM c)",
        (RUNS, flow_id, deployment_id, queue_id),
    )
    db.execute(
        "INSERT INTO flow_run_states (flow_run_id, type, name, message, timestamp)"
        " SELECT r.id, s.column1, s.column2, NULL, r.created FROM flow_runs r,"
        " (VALUES ('SCHEDULED', 'Scheduled'), ('PENDING', 'Pending'), ('RUNNING', 'Running'),"
        " ('COMPLETED', 'Completed')) s WHERE r.worker_name = 'bench-worker'"
    )
    db.execute(
        "WITH RECURSIVE k(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM k WHERE n < ?)"
        " INSERT INTO logs (flow_run_id, timestamp, level, message)"
        " SELECT r.id, r.created, 20, 'line ' || k.n || ' of ' || r.name"
        " || ': a typical log line a flow writes, about eighty characters long'"
        " FROM flow_runs r, k WHERE r.worker_name = 'bench-worker'",
        (LOGS_PER_RUN,),
    )
    for _, sql in indexes:
        db.execute(sql)
    db.execute("COMMIT")
    db.execute("PRAGMA journal_mode = WAL")
    db.close()


def cached_store() -> Path:
    """The kept store (made once): a directory with `home/flowplan.db` and the flow."""
    if (CACHE / "done").exists():
        return CACHE
    shutil.rmtree(CACHE, ignore_errors=True)
    building = Path(tempfile.mkdtemp(prefix="flowplan-store-scale-building-"))
    (building / "flows").mkdir()
    (building / "flows" / "trivial.py").write_text(FLOW)
    started = time.perf_counter()
    generate(building / "home", CACHE)  # the pull step's directory: where the copy is used
    (building / "done").write_text(f"{time.perf_counter() - started:.1f}\n")
    building.rename(CACHE)
    return CACHE


def size_mb(home: Path) -> float:
    return round(sum(f.stat().st_size for f in home.glob("flowplan.db*")) / 1e6, 1)


def probe_writes(db_path: Path, stop_probe: threading.Event, waits: list[float]) -> None:
    """Another process's small write every 50 ms: how long each waited for the store."""
    db = sqlite3.connect(db_path, isolation_level=None, timeout=600)
    while not stop_probe.is_set():
        started = time.perf_counter()
        db.execute("BEGIN IMMEDIATE")
        db.execute(
            "INSERT OR REPLACE INTO leases (name, holder, acquired, expires)"
            " VALUES ('bench-probe', 'bench', '', '')"
        )
        db.execute("COMMIT")
        waits.append(time.perf_counter() - started)
        time.sleep(0.05)
    db.close()


def main() -> None:
    """`--reads-only`: measure pickup and `flow-run ls` again (on a machine that was busier
    during the full run) and update them in the result file, leaving the delete's numbers."""
    compile_package()
    python = sys.executable
    cache = cached_store()
    work = Path(tempfile.mkdtemp(prefix="flowplan-store-scale-"))
    try:
        measure(python, cache, work, reads_only="--reads-only" in sys.argv[1:])
    finally:
        shutil.rmtree(work, ignore_errors=True)


def measure(python: str, cache: Path, work: Path, reads_only: bool) -> None:
    root = cache  # the flow and the pull step's directory
    home = work / "home"
    shutil.copytree(cache / "home", home)
    os.sync()  # the copy's 4 GB written out before anything is timed
    env = {**os.environ, "FLOWPLAN_HOME": str(home)}
    started = time.perf_counter()
    subprocess.run(flowplan_command("work-pool", "ls"), env=env, check=True,
                   capture_output=True)  # fmt: skip
    first_open = time.perf_counter() - started  # migrations of a store made by older code
    load_before = os.getloadavg()[0]
    anchor = summary(time_command([python, "-c", "pass"], root, TIMED_RUNS, env))
    ls, ls_cpu = timed_with_cpu(flowplan_command("flow-run", "ls"), root, env)
    empty_env = {**env, "FLOWPLAN_HOME": str(work / "empty-home")}  # the command's own startup
    empty, empty_cpu = timed_with_cpu(flowplan_command("flow-run", "ls"), root, empty_env)
    load_after = os.getloadavg()[0]
    worker = start_worker(python, root, env)
    time.sleep(2)
    try:
        pickup_p50, completed_p50 = pickup(python, root, env)
    finally:
        stop(worker)
    reads = {
        "first_open_s": round(first_open, 2),
        "python_c_pass": anchor,
        "flow_run_ls": {**ls, "cpu_median_s": ls_cpu},
        "flow_run_ls_empty_store": {**empty, "cpu_median_s": empty_cpu},
        # the machine is shared: wall-clock medians move with its load (1-minute average)
        "load_average": [round(load_before, 2), round(load_after, 2)],
        "pickup_p50_s": round(pickup_p50, 3),
        "trigger_to_completed_p50_s": round(completed_p50, 3),
    }
    read_rows = [
        {
            "what": f"pickup (trigger to RUNNING), store of {RUNS:,} runs and"
            f" {RUNS * LOGS_PER_RUN:,} log lines",
            "target": "p50 <= 0.06 s",
            "measured": f"p50 {pickup_p50:.3f} s (to COMPLETED {completed_p50:.3f} s)",
            "met": pickup_p50 <= 0.06,
        },
        {
            "what": "`flowplan flow-run ls` on that store",
            "target": "<= 0.3 s",
            "measured": f"{ls['median_s']:.3f} s median of {ls['runs']} runs"
            f" ({ls['median_s'] / anchor['median_s']:.1f}x `python -c pass`; {ls_cpu:.3f} s of CPU;"
            f" on an empty store {empty['median_s']:.3f} s; load {load_before:.1f})",
            "met": ls["median_s"] <= 0.3,
        },
    ]
    if reads_only:
        result = json.loads((RESULTS / "store_scale.json").read_text())
        result.update(reads)
        result["rows"] = read_rows + result["rows"][2:]
        write("store_scale", result)
        return
    delete = measure_delete(home, env)
    row = delete.pop("row")
    write("store_scale", {"runs": RUNS, "log_lines": RUNS * LOGS_PER_RUN, **reads,
                          **delete, "rows": [*read_rows, row]})  # fmt: skip


def timed_with_cpu(
    argv: list[str], cwd: Path, env: dict[str, str]
) -> tuple[dict[str, float], float]:
    """Wall-clock summary of TIMED_RUNS runs, and the median CPU time (user + system) a run
    used, from the children's resource usage before and after each run."""
    subprocess.run(argv, cwd=cwd, env=env, capture_output=True, check=True)  # warm-up
    walls, cpus = [], []
    for _ in range(TIMED_RUNS):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(argv, cwd=cwd, env=env, capture_output=True, check=True)
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return summary(walls), round(statistics.median(cpus), 4)


def free_mb(home: Path) -> float:
    db = sqlite3.connect(home / "flowplan.db")
    pages, size = (db.execute(f"PRAGMA {name}").fetchone()[0]
                   for name in ("freelist_count", "page_size"))  # fmt: skip
    db.close()
    return round(pages * size / 1e6, 1)


def measure_delete(home: Path, env: dict[str, str]) -> dict[str, Any]:
    """`flow-run delete --older-than AGE` (FLOWPLAN_BENCH_DELETE_AGE, default 1d: all of the
    generated runs, which ended between 2 and 349 days ago; 300d deletes the oldest 13 %)."""
    age = os.environ.get("FLOWPLAN_BENCH_DELETE_AGE", "1d")
    before_mb = size_mb(home)
    waits: list[float] = []
    stop_probe = threading.Event()
    prober = threading.Thread(target=probe_writes, args=(home / "flowplan.db", stop_probe, waits))
    prober.start()
    started = time.perf_counter()
    deleted = subprocess.run(
        flowplan_command("flow-run", "delete", "--older-than", age, "--yes"),
        env=env, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    delete_s = time.perf_counter() - started
    stop_probe.set()
    prober.join()
    after_mb, reusable_mb = size_mb(home), free_mb(home)
    db = sqlite3.connect(home / "flowplan.db", isolation_level=None)
    left = db.execute("SELECT count(*) FROM flow_runs").fetchone()[0]
    logs_left = db.execute("SELECT count(*) FROM logs").fetchone()[0]
    deleted_runs = RUNS + 30 - left  # the 30 of the pickup measurement stay
    vacuum_s = vacuumed_mb = None
    if age == "1d":  # VACUUM rewrites what is left: only quick once (nearly) all is gone
        started = time.perf_counter()
        db.execute("VACUUM")
        vacuum_s = round(time.perf_counter() - started, 1)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        vacuumed_mb = size_mb(home)
    db.close()
    longest_wait = max(waits) if waits else 0.0
    rate = deleted_runs / delete_s
    return {
        "delete": {
            "output": deleted,
            "seconds": round(delete_s, 1),
            "runs_left": left,
            "log_lines_left": logs_left,
            "probe_writes": len(waits),
            "probe_wait_p50_s": round(statistics.median(waits), 4) if waits else None,
            "probe_wait_max_s": round(longest_wait, 3),
        },
        "size_mb": {"before": before_mb, "after_delete": after_mb,
                    "free_for_new_runs": reusable_mb, "after_vacuum": vacuumed_mb,
                    "vacuum_s": vacuum_s},
        "row": {
            "what": f"`flowplan flow-run delete --older-than {age}` on that store",
            "target": "the store stays bounded; never locked for long",
            "measured": f"{deleted_runs:,} runs (and {deleted_runs * LOGS_PER_RUN:,} log lines)"
            f" deleted in {delete_s:.0f} s ({rate:.0f} runs/s); another writer waited at most"
            f" {longest_wait:.2f} s; file {before_mb:,.0f} MB -> {after_mb:,.0f} MB, of which"
            f" {reusable_mb:,.0f} MB free for new runs"
            + ("" if vacuumed_mb is None else f", {vacuumed_mb:,.0f} MB after VACUUM"),
            "met": longest_wait <= 1.0 and reusable_mb > 0,
        },
    }  # fmt: skip


def pickup(python: str, root: Path, env: dict[str, str]) -> tuple[float, float]:
    """Median trigger-to-RUNNING and trigger-to-COMPLETED over 30 runs."""
    completed = trigger(python, root, env, 30, 0.2)
    db = sqlite3.connect(Path(env["FLOWPLAN_HOME"]) / "flowplan.db")
    starts = db.execute(
        "SELECT (julianday(start_time) - julianday(created)) * 86400 FROM flow_runs"
        " WHERE worker_name != 'bench-worker'"
    ).fetchall()
    db.close()
    return statistics.median(s for (s,) in starts), statistics.median(completed)


if __name__ == "__main__":
    main()
