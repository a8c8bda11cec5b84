"""Targets (issue 20), local backend, whole process, medians of wall-clock and CPU seconds:
- a 48 KB file with 16,000 wrong items: validate <= 1 s;
- 10,000 lean deployments: validate <= 2 s, no-op plan <= 3 s, apply <= 10 s;
- 10,000 deployments with 22 parameters each (550,000 values, no alias): validate accepts it;
- peak memory of validate <= 300 MB for 5 MB files: fuzz_validate's file of the largest shapes,
  and 10,000 deployments with 24 parameters (590,000 values, just under the limit of 600,000:
  the most a file may hold); the peak RSS (ru_maxrss) of a process that validates one.

CPU seconds (user + system of the child) are reported beside wall-clock seconds: on a shared
machine the wall clock also counts the time other processes had the cores. An anchor, a fixed
pure-Python loop in its own process, is timed first: each entry's `ratio_vs_anchor` (median
over the anchor's median) compares runs made under different loads.
Usage: `python bench/scale_bench.py [RUNS]` (default 5; apply runs 3 times)."""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import compile_package, flowplan_command, write
from fuzz_validate import big_file, time_big

ANCHOR = "sum(i * i for i in range(3_000_000))"
FLOW = "from prefect import flow\n\n@flow\ndef etl({params}):\n    pass\n"


def lean_project(root: Path, values: int = 0, value: str = "{k}") -> None:
    """10,000 deployments: a name, an entrypoint and a pool (and `values` parameters, each
    written as `value`)."""
    params = ", ".join(f"p{k}: int = 0" for k in range(values)) or "day: str = 'today'"
    (root / "flows").mkdir(parents=True, exist_ok=True)
    (root / "flows" / "etl.py").write_text(FLOW.format(params=params))
    lines = ["name: bench", "work_pools:", "  - {name: local, type: process}", "deployments:"]
    for i in range(10_000):
        lines += [f"  - name: d{i:05d}", "    entrypoint: flows/etl.py:etl",
                  "    work_pool: {name: local}"]  # fmt: skip
        if values:
            written = ", ".join(f"p{k}: " + value.format(k=k) for k in range(values))
            lines.append("    parameters: {" + written + "}")
    (root / "prefect.yaml").write_text("\n".join(lines) + "\n")


def errors_project(root: Path) -> None:
    """48 KB: one deployment whose 16,000 tags are lists instead of text."""
    (root / "prefect.yaml").write_text(
        "deployments:\n  - name: a\n    tags: [" + ",".join(["[]"] * 16_000) + "]\n"
    )


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, exit code) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode not in (0, 1, 2):
        sys.exit(f"{argv} failed with {done.returncode}: {done.stderr.decode()[-500:]}")
    return wall, cpu, done.returncode


def series(argv: list[str], cwd: Path, env: dict[str, str], runs: int) -> dict[str, object]:
    results = [timed(argv, cwd, env) for _ in range(runs)]
    walls, cpus = [r[0] for r in results], [r[1] for r in results]
    return {
        "median_s": round(statistics.median(walls), 3),
        "median_cpu_s": round(statistics.median(cpus), 3),
        "min_s": round(min(walls), 3),
        "max_s": round(max(walls), 3),
        "runs": runs,
        "exit_codes": sorted({r[2] for r in results}),
    }


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    compile_package()
    result: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        for name, make in (("errors", errors_project), ("lean", lean_project),
                           ("values", lambda root: lean_project(root, 22))):  # fmt: skip
            (base / name).mkdir()
            make(base / name)
        env = {**os.environ, "FLOWPLAN_HOME": str(base / "home")}
        result["anchor"] = {
            "what": "python -c 'sum(i * i for i in range(3_000_000))'",
            **series([sys.executable, "-c", ANCHOR], base, env, runs),
        }
        validate = flowplan_command("validate")
        result["validate_16000_errors"] = {
            "target_s": 1.0,
            **series(validate, base / "errors", env, runs),
        }
        result["validate_10000"] = {"target_s": 2.0, **series(validate, base / "lean", env, runs)}
        apply_fresh = ["sh", "-c", 'FLOWPLAN_HOME="$(mktemp -d -p .)" exec "$0" apply'
                       " --auto-approve", flowplan_command()[0]]  # fmt: skip
        result["apply_10000"] = {
            "target_s": 10.0,
            **series(apply_fresh, base / "lean", env, max(3, runs // 2)),
        }
        subprocess.run([*flowplan_command("apply", "--auto-approve")], cwd=base / "lean",
                       env=env, check=True, capture_output=True)  # fmt: skip
        result["noop_plan_10000"] = {
            "target_s": 3.0,
            **series(flowplan_command("plan", "--detailed-exitcode"), base / "lean", env, runs),
        }
        result["validate_10000_22_values"] = {
            "target": "accepted (exit 0), no alias-bomb error",
            **series(validate, base / "values", env, max(3, runs // 2)),
        }
        lean_project(base / "full", 24, "v{k}xxxxxxxx")  # 5 MB, 590,000 values
        files = [big_file(base, 200), base / "full" / "prefect.yaml"]
        peaks = [time_big(path, env) for path in files]
        described = [
            {"file": path.name, "bytes": path.stat().st_size, **peak}
            for path, peak in zip(files, peaks, strict=True)
        ]
        result["validate_5mb_memory"] = {
            "target_mb": 300,
            "peak_rss_mb": max(float(str(peak["peak_rss_mb"])) for peak in peaks),
            "files": described,
        }
    for entry in result.values():
        assert isinstance(entry, dict)
        if "target_s" in entry:
            entry["meets_target"] = entry["median_s"] <= entry["target_s"]
        if "median_s" in entry and entry is not result["anchor"]:
            anchor = result["anchor"]
            assert isinstance(anchor, dict)
            entry["ratio_vs_anchor"] = round(entry["median_s"] / anchor["median_s"], 2)
        if "target_mb" in entry:
            exits_ok = all(f["exit"] == 0 for f in entry["files"])
            entry["meets_target"] = exits_ok and entry["peak_rss_mb"] <= entry["target_mb"]
    write("scale", result)


if __name__ == "__main__":
    main()
