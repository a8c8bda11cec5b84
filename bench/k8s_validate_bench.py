"""The Kubernetes Job checks must not slow `flowplan validate` for projects without a kubernetes
pool (their schemas, 1.5 MB of JSON, are read only when a kubernetes pool needs them).

Whole processes, `python -m flowplan validate`, medians of RUNS runs, interleaved:
- before: the code of BEFORE (the commit before the checks), from `git archive`, on the
  20-deployment project of validate_bench.py (no kubernetes pool);
- after: this checkout's code on the same project (target: within 5 % of before, or 10 ms);
- kubernetes: this checkout on the same project with its pool declared `type: kubernetes`
  (every deployment's Job rendered and checked; no target, the cost of the schemas).

    python bench/k8s_validate_bench.py [RUNS]
"""

from __future__ import annotations

import io
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from _common import write
from validate_bench import make_project

REPO = Path(__file__).resolve().parent.parent
BEFORE = "087feb9"  # the commit before the Kubernetes Job checks


def export(commit: str, into: Path) -> Path:
    archive = subprocess.run(["git", "archive", commit, "cli", "schemas", "recipes"], cwd=REPO,
                             capture_output=True, check=True).stdout  # fmt: skip
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(into / "cli")], check=True)
    return into / "cli"


def kubernetes(root: Path) -> None:
    make_project(root)
    text = (root / "prefect.yaml").read_text()
    pools = "work_pools:\n  - name: default\n    type: kubernetes\n"
    (root / "prefect.yaml").write_text(text.replace("deployments:\n", pools + "deployments:\n"))


def run_once(cli: Path, cwd: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(cli)}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "flowplan", "validate"], cwd=cwd, env=env,
                          capture_output=True, check=False)  # fmt: skip
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"validate failed in {cwd}: {done.stdout.decode()[-800:]}")
    return elapsed


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 21
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "cli")], check=True)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        before_cli = export(BEFORE, base / "before")
        plain, kube = base / "plain", base / "kube"
        plain.mkdir()
        kube.mkdir()
        make_project(plain)
        kubernetes(kube)
        cases = {"before": (before_cli, plain), "after": (REPO / "cli", plain),
                 "kubernetes": (REPO / "cli", kube)}  # fmt: skip
        times: dict[str, list[float]] = {name: [] for name in cases}
        for cli, cwd in cases.values():  # warm-up
            run_once(cli, cwd)
        for _ in range(runs):
            for name, (cli, cwd) in cases.items():
                times[name].append(run_once(cli, cwd))
    median = {name: statistics.median(found) for name, found in times.items()}
    allowed = max(median["before"] * 1.05, median["before"] + 0.010)
    met = median["after"] <= allowed
    rows = [
        {"what": "`flowplan validate`, 20 deployments, no kubernetes pool, with the Kubernetes"
                 " checks (before them: " f"{median['before']:.3f} s)",
         "target": "within 5 % or 10 ms of before",
         "measured": f"{median['after']:.3f} s median of {runs} runs"
                     f" ({median['after'] / median['before']:.2f}x before)",
         "met": met},
        {"what": "`flowplan validate`, the same 20 deployments on a kubernetes pool (20 Jobs"
                 " rendered and checked)",
         "target": "none (the cost of the schemas)",
         "measured": f"{median['kubernetes']:.3f} s median of {runs} runs"
                     f" (+{median['kubernetes'] - median['after']:.3f} s)",
         "met": None},
    ]  # fmt: skip
    write("k8s_validate", {
        "rows": rows, "runs": runs, "before_commit": BEFORE,
        "median_s": {name: round(value, 4) for name, value in median.items()},
        "min_s": {name: round(min(found), 4) for name, found in times.items()},
    })  # fmt: skip


if __name__ == "__main__":
    main()
