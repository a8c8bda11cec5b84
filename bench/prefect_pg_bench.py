"""Targets (issue 27), against a Prefect server on PostgreSQL as teams run it, in one run:
- 100 new deployments: flowplan apply >= 10x faster than `prefect deploy --all --no-prompt`;
- 1,000 deployments: apply <= 15 s, no-op plan <= 3 s with 0 writes, re-apply after one edit
  writes only that deployment;
- the write width (FLOWPLAN_WRITE_CONCURRENCY) that applies 100 new deployments fastest, on
  PostgreSQL and, for comparison, on SQLite.
Each PostgreSQL measurement runs twice: the server as one process, and as Prefect's multi-worker
setup (`prefect server start --workers 2`, Redis for messaging) as teams scale it.

Needs .venv-prefect (`bash scripts/prefect-venv.sh`), PostgreSQL's server binaries and
redis-server (Debian's postgresql and redis-server: `bash scripts/system-deps.sh`). A throwaway
cluster and the servers start on free ports; a counting proxy in front of each tells the writes
apart. BENCH_RUNS (default 3) runs of each measurement; medians are reported."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from _common import compile_package, flowplan_command, summary, write
from prefect_bench import make_project, raw_floor, timed

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.postgres import create_database, postgres_cluster  # noqa: E402
from tests.prefect_server import Proxy, prefect_server, proxy, reset  # noqa: E402

WIDTHS = (1, 4, 8, 16)
# (name, database, API processes): the PostgreSQL-backed server as one process and as Prefect's
# multi-worker setup (Redis for messaging), and SQLite for comparison
SERVERS = (("postgresql", "prefect", 1), ("postgresql, 2 API workers", "prefect2", 2),
           ("sqlite", None, 1))  # fmt: skip


def main() -> None:
    compile_package()
    runs = int(os.environ.get("BENCH_RUNS", "3"))
    widths: dict[str, dict[str, dict[str, float]]] = {}
    prefect_s: dict[str, dict[str, float]] = {}
    rows = []
    with tempfile.TemporaryDirectory() as tmp, postgres_cluster() as cluster:
        base = Path(tmp)
        project = base / "project"
        project.mkdir()
        make_project(project, 100)
        for name, database, workers in SERVERS:
            if database:
                create_database(cluster, database)
            url = cluster.url(database) if database else None
            where = base / name.replace(" ", "-").replace(",", "")
            with prefect_server(where, url, workers) as server, proxy(server.url) as front:
                prefect_env = {**os.environ, "PREFECT_API_URL": server.url,
                               "PREFECT_HOME": str(server.home),
                               "PREFECT_CLI_PROMPT": "false"}  # fmt: skip
                flowplan_env = {**os.environ, "FLOWPLAN_API_URL": server.url,
                                "FLOWPLAN_HOME": str(base / "home")}  # fmt: skip

                def fresh() -> None:
                    reset(server.url)
                    server.cli("work-pool", "create", "bench-pool", "--type", "process")

                by_width: dict[int, list[float]] = {width: [] for width in WIDTHS}
                prefect_times, floor_times = [], []
                for _ in range(runs):
                    for width in WIDTHS:
                        fresh()
                        env = {**flowplan_env, "FLOWPLAN_WRITE_CONCURRENCY": str(width)}
                        by_width[width].append(
                            timed(flowplan_command("apply", "--auto-approve"), project, env)
                        )
                    fresh()
                    floor_times.append(raw_floor(server.url))
                    if database:
                        fresh()
                        prefect_times.append(timed(
                            [str(ROOT / ".venv-prefect" / "bin" / "prefect"), "--no-prompt",
                             "deploy", "--all"], project, prefect_env))  # fmt: skip
                widths[name] = {str(w): summary(t) for w, t in by_width.items()}
                widths[name]["floor_100_creates_one_by_one"] = floor = summary(floor_times)
                if not database:
                    continue
                default = summary(by_width[8])  # the default width
                prefect_s[name] = theirs = summary(prefect_times)
                ratio = round(theirs["median_s"] / default["median_s"], 1)
                rows += [
                    {"what": f"apply 100 new deployments, Prefect server on {name}, vs prefect"
                             " deploy --all", "target": ">= 10x faster", "met": ratio >= 10,
                     "measured": f"{default['median_s']} s vs {theirs['median_s']} s ({ratio}x)"},
                    {"what": f"the server's floor: 100 creates one by one, server on {name}",
                     "target": "(what any client pays)", "met": None,
                     "measured": f"{floor['median_s']} s: prefect deploy --all / floor ="
                                 f" {round(theirs['median_s'] / floor['median_s'], 1)}x"},
                ]  # fmt: skip
                rows += thousand(where / "big", name, runs, fresh, flowplan_env, front)
    write("prefect_pg", {"rows": rows, "prefect_deploy_all": prefect_s, "widths": widths})


def thousand(big: Path, name: str, runs: int, fresh: Callable[[], None],
             flowplan_env: dict[str, str], front: Proxy) -> list[dict[str, object]]:  # fmt: skip
    """1,000 deployments: apply (median of `runs`), no-op plan (its writes counted), one edit
    re-applied, import."""
    big.mkdir(exist_ok=True)
    make_project(big, 1000, "k")
    applies = []
    for _ in range(runs):  # the last one leaves the 1,000 applied for what follows
        fresh()
        applies.append(timed(flowplan_command("apply", "--auto-approve"), big, flowplan_env))
    apply_big = summary(applies)["median_s"]
    counted = {**flowplan_env, "FLOWPLAN_API_URL": front.url}
    front.reset()
    plan = summary([timed(flowplan_command("plan"), big, counted) for _ in range(runs)])
    plan_writes = len(front.writes())
    text = (big / "prefect.yaml").read_text()
    (big / "prefect.yaml").write_text(text.replace("parameters: {n: 7}", "parameters: {n: 70007}"))
    front.reset()
    timed(flowplan_command("apply", "--auto-approve"), big, counted)
    edit_writes = [w for w in front.writes() if "/deployments" in w]
    # adopt them back: the file without its deployments section, `flowplan import`, then plan
    header = text.split("deployments:")[0]
    imports = []
    for _ in range(runs):
        (big / "prefect.yaml").write_text(header)
        imports.append(timed(flowplan_command("import"), big, flowplan_env))
    imported = summary(imports)
    after = subprocess.run([*flowplan_command("plan"), "--detailed-exitcode"], cwd=big,
                           env=flowplan_env, capture_output=True, text=True)  # fmt: skip
    return [
        {"what": f"apply 1,000 new deployments, Prefect server on {name}",
         "target": "<= 15 s", "measured": f"{apply_big:.2f} s (median of {runs})",
         "met": apply_big <= 15},
        {"what": f"no-op plan of 1,000 deployments, Prefect server on {name}",
         "target": "<= 3 s, 0 writes", "met": plan["median_s"] <= 3 and plan_writes == 0,
         "measured": f"{plan['median_s']} s, {plan_writes} writes"},
        {"what": f"re-apply of 1,000 after one edit, Prefect server on {name}",
         "target": "writes only that deployment (besides the apply lock)",
         "measured": "; ".join(edit_writes), "met": len(edit_writes) == 1},
        {"what": f"flowplan import of those 1,000 into a file without them, then plan, {name}",
         "target": "<= 5 s, then plan exit 0", "met": imported["median_s"] <= 5
         and after.returncode == 0,
         "measured": f"{imported['median_s']} s, plan --detailed-exitcode exit "
                     f"{after.returncode}"},
    ]  # fmt: skip


if __name__ == "__main__":
    main()
