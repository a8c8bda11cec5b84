"""Targets (issue 14), both tools against the same real Prefect server in one run:
- apply 100 new deployments: >= 10x faster than `prefect deploy --all --no-prompt`;
- re-apply of 100 unchanged deployments: zero writes, <= 1 s;
- no-op plan of 1,000 deployments against the server: <= 3 s.

Needs .venv-prefect (`bash scripts/prefect-venv.sh`). The server starts on a free port with its
own home; a counting proxy in front of it tells the writes apart."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import compile_package, flowplan_command, summary, write

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.prefect_server import prefect_server, proxy, reset  # noqa: E402

FLOW = "from prefect import flow\n\n@flow\ndef etl(n: int = 1, name: str = 'x'):\n    print(n)\n"


def make_project(root: Path, count: int, prefix: str = "d") -> None:
    (root / "flows").mkdir(exist_ok=True)
    (root / "flows" / "etl.py").write_text(FLOW)
    lines = ["name: bench", "prefect-version: 3.9.1", "pull:",
             "  - prefect.deployments.steps.set_working_directory:",
             f"      directory: {root}", "deployments:"]  # fmt: skip
    for i in range(count):
        lines += [f"  - name: {prefix}{i:04d}", "    entrypoint: flows/etl.py:etl",
                  f"    parameters: {{n: {i}}}", "    tags: [bench]",
                  "    work_pool: {name: bench-pool}",
                  f"    schedules: [{{cron: '{i % 60} 2 * * *',"
                  " timezone: Europe/Berlin}]"]  # fmt: skip
    (root / "prefect.yaml").write_text("\n".join(lines) + "\n")


def raw_floor(url: str, count: int = 100) -> float:
    """The server's own floor: `count` deployment creations with the same pool and schedule as
    the project's, one after another, by a tight loop with no CLI around it (what any client
    pays on this server; its scheduler then fills in each schedule's runs)."""
    import httpx

    with httpx.Client(base_url=url + "/") as client:
        flow = client.post("flows/", json={"name": "floor"}).json()["id"]
        start = time.perf_counter()
        for i in range(count):
            body = {"name": f"floor-{i}", "flow_id": flow, "work_pool_name": "bench-pool",
                    "schedules": [{"schedule": {"cron": f"{i % 60} 2 * * *",
                                                "timezone": "Europe/Berlin"}}]}  # fmt: skip
            while client.post("deployments/", json=body).status_code == 503:
                time.sleep(0.05)
        return time.perf_counter() - start


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{argv} failed ({done.returncode}): {done.stdout[-800:]} {done.stderr[-800:]}")
    return elapsed


def main() -> None:
    compile_package()
    runs = int(os.environ.get("BENCH_RUNS", "3"))
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        with prefect_server(base) as server, proxy(server.url) as front:
            project = base / "project"
            project.mkdir()
            make_project(project, 100)
            prefect_env = {**os.environ, "PREFECT_API_URL": server.url,
                           "PREFECT_HOME": str(server.home),
                           "PREFECT_CLI_PROMPT": "false"}  # fmt: skip
            flowplan_env = {**os.environ, "FLOWPLAN_API_URL": server.url,
                            "FLOWPLAN_HOME": str(base / "home")}  # fmt: skip
            counted_env = {**flowplan_env, "FLOWPLAN_API_URL": front.url}  # writes counted
            prefect = str(ROOT / ".venv-prefect" / "bin" / "prefect")

            def fresh() -> None:
                reset(server.url)
                server.cli("work-pool", "create", "bench-pool", "--type", "process")

            prefect_times, flowplan_times, reapply_times, writes = [], [], [], []
            floor_times = []
            for _ in range(runs):
                fresh()
                floor_times.append(raw_floor(server.url))
                fresh()
                prefect_times.append(
                    timed([prefect, "--no-prompt", "deploy", "--all"], project, prefect_env)
                )
                fresh()
                flowplan_times.append(
                    timed(flowplan_command("apply", "--auto-approve"), project, flowplan_env)
                )
                front.reset()
                reapply_times.append(
                    timed(flowplan_command("apply", "--auto-approve"), project, counted_env)
                )
                writes.append(len(front.writes()))
            big = base / "big"
            big.mkdir()
            make_project(big, 1000, "k")
            fresh()
            timed(flowplan_command("apply", "--auto-approve"), big, flowplan_env)
            front.reset()
            plan_times = [timed(flowplan_command("plan"), big, flowplan_env) for _ in range(runs)]
            plan_writes = len(front.writes())
    prefect_s, flowplan_s = summary(prefect_times), summary(flowplan_times)
    ratio = round(prefect_s["median_s"] / flowplan_s["median_s"], 1)
    write("prefect_apply_100", {
        "target": ">= 10x faster than prefect deploy --all --no-prompt (100 new deployments)",
        "prefect_deploy_all": prefect_s, "flowplan_apply": flowplan_s,
        "server_floor_100_creates_tight_loop": summary(floor_times),
        "speedup": ratio, "meets_target": ratio >= 10,
    })  # fmt: skip
    reapply = summary(reapply_times)
    write("prefect_reapply_100", {
        "target": "re-apply of 100 unchanged deployments: zero writes, <= 1 s",
        "flowplan_apply": reapply, "writes": writes,
        "meets_target": reapply["median_s"] <= 1 and not any(writes),
    })  # fmt: skip
    plan = summary(plan_times)
    write("prefect_noop_plan_1000", {
        "target": "no-op plan of 1,000 deployments against the server: <= 3 s, zero writes",
        "flowplan_plan": plan, "writes": plan_writes,
        "meets_target": plan["median_s"] <= 3 and plan_writes == 0,
    })  # fmt: skip


if __name__ == "__main__":
    main()
