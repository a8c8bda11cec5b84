"""Shared helpers for the benchmark scripts: timing whole processes, writing results."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def compile_package() -> None:
    """Write bytecode for flowplan once, as a wheel install does (PYTHONDONTWRITEBYTECODE may
    be set in the environment, which would otherwise make every run recompile the sources)."""
    import flowplan

    package = Path(flowplan.__file__).resolve().parent
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], check=True)


def time_command(
    argv: list[str], cwd: Path, runs: int, env: dict[str, str] | None = None
) -> list[float]:
    """Wall-clock seconds of `runs` runs of a whole process (after one warm-up run)."""
    subprocess.run(argv, cwd=cwd, env=env, capture_output=True, check=False)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
        if done.returncode not in (0, 1):
            sys.exit(f"{argv} failed with {done.returncode}: {done.stderr.decode()[-500:]}")
    return times


def summary(times: list[float]) -> dict[str, float]:
    return {
        "median_s": round(statistics.median(times), 4),
        "min_s": round(min(times), 4),
        "max_s": round(max(times), 4),
        "runs": len(times),
    }


def write(name: str, result: dict[str, object]) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
