"""Write the benchmark table of docs/benchmarks.md from the results in bench/results/*.json.

    python scripts/bench_table.py           # rewrite the table between the markers
    python scripts/bench_table.py --check   # exit 1 when the page and the results disagree

Each result file has a row maker below, or carries its own rows (`"rows": [{"what", "target",
"measured", "met"}, ...]`, met true, false or null); a result file with neither is an error, so
a new benchmark cannot be left out of the page silently."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BEGIN = "<!-- bench-table: begin (written by scripts/bench_table.py; do not edit) -->"
END = "<!-- bench-table: end -->"
Row = tuple[str, str, str, str]  # what, target, measured, met


def _target(data: dict[str, Any]) -> str:
    text = str(data["target"])
    return text.rsplit(": ", 1)[-1]


def _met(value: object) -> str:
    """The met column: yes, no, or empty for a result that does not say."""
    if value is None:
        return ""
    return "yes" if value else "**no**"


def _s(value: float) -> str:
    return f"{value:.3f} s" if value < 10 else f"{value:.1f} s"


def _whole_process(what: str) -> Callable[[dict[str, Any]], list[Row]]:
    def rows(data: dict[str, Any]) -> list[Row]:
        run = data["flowplan"]
        measured = (f"{_s(run['median_s'])} median of {run['runs']} runs"
                    f" ({data['ratio_vs_python_c_pass']:g}x `python -c pass`)")  # fmt: skip
        return [(what, _target(data), measured, _met(data["meets_target"]))]

    return rows


def _fuzz(data: dict[str, Any]) -> list[Row]:
    measured = (f"{data['inputs']:,} mutated files: {data['exit_0']:,} exit 0, "
                f"{data['exit_1']:,} exit 1, {data['other']} other; slowest "
                f"{_s(data['slowest_input_s'])}, peak {data['peak_rss_mb']:g} MB")  # fmt: skip
    rows = [("`flowplan validate` on mutated real-world files", _target(data), measured,
             _met(data["meets_target"]))]  # fmt: skip
    for big in data["files_5mb"]:
        rows.append(("`flowplan validate`, a 5 MB file", "each input <= 5 s and <= 300 MB",
                     f"exit {big['exit']} in {_s(big['seconds'])}, peak {big['peak_rss_mb']:g} MB",
                     ""))  # fmt: skip
    return rows


def _runtime(data: dict[str, Any]) -> list[Row]:
    latency, idle = data["trigger_to_completed"], data["idle_worker"]
    batch = data["runs_200_limit_8"]
    rows = [
        ("trigger to COMPLETED, trivial flow, a running worker", latency["target"],
         f"p50 {_s(latency['p50_s'])}, p95 {_s(latency['p95_s'])} ({latency['runs']} runs)",
         _met(latency.get("meets_target"))),
        ("idle worker", idle["target"], f"{idle['cpu_percent']:g} % CPU, {idle['rss_mb']:g} MB"
         f" (its fork server: {idle['fork_server_rss_mb']:g} MB more)",
         _met(idle.get("meets_target"))),
        ("200 trivial runs on one worker with `--limit 8`", batch["target"], _s(batch["seconds"]),
         _met(batch.get("meets_target"))),
    ]  # fmt: skip
    prefect = data.get("prefect_flow_three_tasks")
    if prefect:
        rows.append(("Prefect flow calling three Prefect tasks, trigger to COMPLETED",
                     prefect["target"], f"p50 {_s(prefect['p50_s'])}, p95 {_s(prefect['p95_s'])}",
                     _met(prefect.get("meets_target"))))  # fmt: skip
    return rows


def _prefect_apply(data: dict[str, Any]) -> list[Row]:
    ours, theirs = data["flowplan_apply"], data["prefect_deploy_all"]
    floor = data["server_floor_100_creates_tight_loop"]
    measured = (f"{_s(ours['median_s'])} vs {_s(theirs['median_s'])} median: "
                f"{data['speedup']:g}x (the server's floor, 100 bare create calls: "
                f"{_s(floor['median_s'])})")  # fmt: skip
    return [("apply 100 new deployments to a Prefect server", data["target"].split(" (")[0],
             measured, _met(data["meets_target"]))]  # fmt: skip


def _prefect_writes(what: str, key: str) -> Callable[[dict[str, Any]], list[Row]]:
    def rows(data: dict[str, Any]) -> list[Row]:
        writes = data["writes"] if isinstance(data["writes"], int) else max(data["writes"])
        measured = f"{_s(data[key]['median_s'])} median, {writes} writes"
        return [(what, _target(data), measured, _met(data["meets_target"]))]

    return rows


def _store_open(data: dict[str, Any]) -> list[Row]:
    measured = f"{data['failures']} failures in {data['openings']:,}"
    return [("processes opening a new store at the same instant", data["target"].split(" in ")[0]
             + f" in {data['openings']:,}", measured, _met(data["meets_target"]))]  # fmt: skip


def _templating(data: dict[str, Any]) -> list[Row]:
    measured = (f"{data['render_ms']:g} ms median ({data['ratio_vs_deepcopy']:g}x a `deepcopy` "
                "of the same data)")  # fmt: skip
    return [(f"template rendering of the largest corpus file ({data['bytes'] / 1000:.1f} kB), "
             "in process", _target(data), measured, _met(data["meets_target"]))]  # fmt: skip


def _masking(data: dict[str, Any]) -> list[Row]:
    sizes = sorted((key for key in data if key.endswith("_secrets")), key=lambda k: int(k[0:-8]))
    measured = " / ".join(f"{data[k]['clean_ms']:g}" for k in sizes)
    return [("masking a run's logs: 10,000 lines of about 100 characters, "
             f"{' / '.join(k[0:-8] for k in sizes)} JSON secrets registered", "-",
             f"{measured} ms median", "")]  # fmt: skip


def _supervision(data: dict[str, Any]) -> list[Row]:
    gap = data["longest_heartbeat_gap_s"]
    return [(f"worker heartbeats (every 1 s) while its scheduler fills {data['deployments']:,} "
             "cron deployments ahead", _target(data),
             f"longest gap {_s(gap)} over {data['heartbeats']} heartbeats (the fill: "
             f"{_s(data['first_fill_s'])})", _met(gap <= 3))]  # fmt: skip


def _oracle(data: dict[str, Any]) -> list[Row]:
    rows = []
    for name, suite in data["suites"].items():
        measured = (f"{suite['cases']:,} random cases: {suite['differences']} differences"
                    f" ({suite['listed_departures']} listed departures,"
                    f" {suite['warned_and_left_out']:,} warned and left out)")  # fmt: skip
        rows.append((f"differential suite against Prefect: {name.replace('_', '-')}",
                     data["target"], measured, _met(suite["differences"] == 0)))  # fmt: skip
    return rows


def _fuzz_structure(data: dict[str, Any]) -> list[Row]:
    crashes = {step: sum(n for code, n in exits.items() if code not in ("0", "1"))
               for step, exits in data["exits"].items()}  # fmt: skip
    measured = (
        f"{data['mutants']:,} mutants of {data['bases']} files (seed {data['seed']}): "
        + ", ".join(f"{step} {n}" for step, n in crashes.items())
        + " other exits"
    )
    return [("structure-aware mutants through validate, plan and apply", data["target"],
             measured, _met(data["other"] == 0))]  # fmt: skip


_SCALE = {
    "validate_16000_errors": "`flowplan validate`, a 48 KB file with 16,000 wrong items",
    "validate_10000": "`flowplan validate`, 10,000 deployments",
    "noop_plan_10000": "no-op plan of 10,000 deployments, local store",
    "apply_10000": "apply of 10,000 new deployments, local store",
    "validate_10000_22_values": "`flowplan validate`, 10,000 deployments of 22 values each",
}


def _scale(data: dict[str, Any]) -> list[Row]:
    rows = []
    for key, what in _SCALE.items():
        item = data[key]
        target = f"<= {item['target_s']:g} s" if "target_s" in item else item["target"]
        measured = (
            f"{_s(item['median_s'])} median ({_s(item['median_cpu_s'])} CPU) of "
            f"{item['runs']} runs, exit {'/'.join(map(str, item['exit_codes']))}"
        )
        rows.append((what, target, measured, _met(item.get("meets_target"))))
    memory = data.get("validate_5mb_memory")
    if memory:
        rows.append(("`flowplan validate`, peak memory of 5 MB files (the largest shapes;"
                     " 590,000 values)", f"<= {memory['target_mb']:g} MB",
                     " and ".join(f"{f['peak_rss_mb']:g} MB" for f in memory["files"]),
                     _met(memory.get("meets_target"))))  # fmt: skip
    return rows


def _own_rows(data: dict[str, Any]) -> list[Row]:
    return [(row["what"], row["target"], row["measured"], _met(row.get("met")))
            for row in data["rows"]]  # fmt: skip


def _server(data: dict[str, Any]) -> list[Row]:
    def versus(key: str) -> str:
        item = data[key]
        return (f"{item['flowplan_server']['median_s'] * 1000:.1f} ms vs "
                f"{item['prefect_server']['median_s'] * 1000:.1f} ms median: "
                f"{item['speedup']:g}x")  # fmt: skip

    start = data["server_start_to_first_answer"]
    speedup = data["create_flow_run"]["speedup"]
    return [
        ("`create_flow_run` through Prefect's client, `flowplan server` vs Prefect's server",
         ">= 5x faster", versus("create_flow_run"), _met(speedup >= 5)),
        ("the same call without Prefect's client (the servers' own share)", "-",
         versus("raw_http_create_flow_run"), ""),
        ("`run_deployment(timeout=0)` (a new client per call)", "-",
         versus("run_deployment_timeout_0"), ""),
        ("`flowplan server start` to its first answer; idle server", "< 1 s; <= 80 MB",
         f"{_s(start['median_s'])} median of {start['runs']}; {data['idle_rss_mb']:g} MB",
         _met(start["median_s"] < 1 and data["idle_rss_mb"] <= 80)),
    ]  # fmt: skip


ROWS: dict[str, Callable[[dict[str, Any]], list[Row]]] = {
    "validate": _whole_process("`flowplan validate`, 20 deployments, 5 flow files"),
    "discovery": _whole_process("`flowplan flows ls`, 5,000 files"),
    "deployment_ls": _whole_process("`flowplan deployment ls --output json`, 10,000 deployments"),
    "deploy_10k": _whole_process("10,000 deployments created through the Python API"),
    "apply_1000": _whole_process("plan and apply 1,000 new deployments, local store"),
    "noop_plan_1000": _whole_process("no-op plan of 1,000 deployments, local store"),
    "import_1000": _whole_process("`flowplan import` of 1,000 deployments, local store"),
    "templating": _templating,
    "store_open": _store_open,
    "fuzz_validate": _fuzz,
    "runtime": _runtime,
    "prefect_apply_100": _prefect_apply,
    "prefect_reapply_100": _prefect_writes(
        "re-apply of 100 unchanged deployments, Prefect server", "flowplan_apply"),
    "prefect_noop_plan_1000": _prefect_writes(
        "no-op plan of 1,000 deployments, Prefect server", "flowplan_plan"),
    "masking": _masking,
    "supervision": _supervision,
    "oracle": _oracle,
    "fuzz_structure": _fuzz_structure,
    "scale": _scale,
    "server": _server,
}  # fmt: skip


def table(results: Path) -> str:
    found = {f.stem: json.loads(f.read_text()) for f in sorted(results.glob("*.json"))}
    unknown = [f"{name}.json" for name, data in found.items()
               if name not in ROWS and "rows" not in data]  # fmt: skip
    if unknown:
        raise SystemExit(f"no row maker in scripts/bench_table.py for {', '.join(unknown)}")
    makers = {**ROWS, **{name: _own_rows for name in found if name not in ROWS}}
    lines = ["| what | target | measured | met |", "| --- | --- | --- | --- |"]
    for name, make in makers.items():  # the order of ROWS, then the others by file name
        if name in found:
            lines += [f"| {' | '.join(row)} |" for row in make(found[name])]
    return "\n".join(lines) + "\n"


def replaced(page: str, new_table: str) -> str:
    if BEGIN not in page or END not in page:
        raise SystemExit(f"the page has no markers {BEGIN!r} ... {END!r}")
    head, rest = page.split(BEGIN, 1)
    return f"{head}{BEGIN}\n{new_table}{END}{rest.split(END, 1)[1]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 on a difference")
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--page", type=Path, default=REPO / "docs" / "benchmarks.md")
    args = parser.parse_args(argv)
    page = args.page.read_text()
    new = replaced(page, table(args.results))
    if args.check:
        if new != page:
            print(f"{args.page} does not match {args.results}: run scripts/bench_table.py")
            return 1
        return 0
    args.page.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
