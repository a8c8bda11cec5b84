"""Targets (issue 27), against a Prefect server on PostgreSQL as teams run it, in one run:
- 100 new deployments: flowplan apply >= 10x faster than `prefect deploy --all --no-prompt`;
- 1,000 deployments: apply <= 15 s, no-op plan <= 3 s with 0 writes, re-apply after one edit
  writes only that deployment;
- the write width (FLOWPLAN_WRITE_CONCURRENCY) that applies 100 new deployments fastest, on
  PostgreSQL and, for comparison, on SQLite.

Needs .venv-prefect (`bash scripts/prefect-venv.sh`) and PostgreSQL's server binaries (Debian's
postgresql: `bash scripts/system-deps.sh`). A throwaway cluster and the servers start on free
ports; a counting proxy in front of each tells the writes apart. BENCH_RUNS (default 3) runs
of each measurement; medians are reported."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from _common import compile_package, flowplan_command, summary, write
from prefect_bench import make_project, raw_floor, timed

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.postgres import create_database, postgres_cluster  # noqa: E402
from tests.prefect_server import prefect_server, proxy, reset  # noqa: E402

WIDTHS = (1, 4, 8, 16)


def main() -> None:
    compile_package()
    runs = int(os.environ.get("BENCH_RUNS", "3"))
    widths: dict[str, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp, postgres_cluster() as cluster:
        base = Path(tmp)
        create_database(cluster, "prefect")
        project = base / "project"
        project.mkdir()
        make_project(project, 100)
        for database, url in (("postgresql", cluster.url("prefect")), ("sqlite", None)):
            with prefect_server(base / database, url) as server, proxy(server.url) as front:
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
                    if database == "postgresql":
                        fresh()
                        prefect_times.append(timed(
                            [str(ROOT / ".venv-prefect" / "bin" / "prefect"), "--no-prompt",
                             "deploy", "--all"], project, prefect_env))  # fmt: skip
                widths[database] = {str(w): summary(t) for w, t in by_width.items()}
                widths[database]["floor_100_creates_one_by_one"] = summary(floor_times)
                if database != "postgresql":
                    continue
                default = summary(by_width[8])  # the default width
                prefect_s = summary(prefect_times)
                big = base / "big"
                big.mkdir(exist_ok=True)
                make_project(big, 1000, "k")
                fresh()
                apply_big = [timed(flowplan_command("apply", "--auto-approve"), big, flowplan_env)]
                counted = {**flowplan_env, "FLOWPLAN_API_URL": front.url}
                front.reset()
                plan_times = [timed(flowplan_command("plan"), big, counted) for _ in range(runs)]
                plan_writes = len(front.writes())
                text = (big / "prefect.yaml").read_text()
                edited = text.replace("parameters: {n: 7}", "parameters: {n: 70007}")
                (big / "prefect.yaml").write_text(edited)
                front.reset()
                timed(flowplan_command("apply", "--auto-approve"), big, counted)
                edit_writes = [w for w in front.writes() if "/deployments" in w]
    ratio = round(prefect_s["median_s"] / default["median_s"], 1)
    floor = widths["postgresql"]["floor_100_creates_one_by_one"]
    rows = [
        {"what": "apply 100 new deployments, Prefect server on PostgreSQL, vs prefect deploy --all",
         "target": ">= 10x faster", "met": ratio >= 10,
         "measured": f"{default['median_s']} s vs {prefect_s['median_s']} s ({ratio}x)"},
        {"what": "the server's floor: 100 creates one by one, Prefect server on PostgreSQL",
         "target": "(what any client pays)", "met": None,
         "measured": f"{floor['median_s']} s: prefect deploy --all / floor ="
                     f" {round(prefect_s['median_s'] / floor['median_s'], 1)}x at most"},
        {"what": "apply 1,000 new deployments, Prefect server on PostgreSQL",
         "target": "<= 15 s", "measured": f"{apply_big[0]:.2f} s", "met": apply_big[0] <= 15},
        {"what": "no-op plan of 1,000 deployments, Prefect server on PostgreSQL",
         "target": "<= 3 s, 0 writes", "met": summary(plan_times)["median_s"] <= 3
         and plan_writes == 0,
         "measured": f"{summary(plan_times)['median_s']} s, {plan_writes} writes"},
        {"what": "re-apply of 1,000 after one edit, Prefect server on PostgreSQL",
         "target": "writes only that deployment (besides the apply lock)",
         "measured": "; ".join(edit_writes),
         "met": len(edit_writes) == 1},
    ]  # fmt: skip
    write("prefect_pg", {"rows": rows, "prefect_deploy_all": prefect_s, "widths": widths})


if __name__ == "__main__":
    main()
