"""Shared helpers for the benchmark scripts: timing whole processes, writing results."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def compile_package() -> None:
    """Write bytecode for flowplan once, as a wheel install does (PYTHONDONTWRITEBYTECODE may
    be set in the environment, which would otherwise make every run recompile the sources)."""
    import flowplan

    package = Path(flowplan.__file__).resolve().parent
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], check=True)


def scratch(prefix: str) -> Path:
    """A temporary directory removed when the bench exits (a project with its store is about
    14 MB; one a round piled up in /tmp before)."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return root


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


def measure(
    name: str,
    target: str,
    limit_s: float,
    argv: list[str],
    make: Callable[[Path], None],
    runs: int,
    env: Callable[[Path], dict[str, str]] | None = None,
) -> None:
    """Time `argv` against the `python -c pass` anchor in a fixture made by `make`, then write
    `results/<name>.json` with medians, the ratio and whether the target is met. `env` gives
    extra environment variables for the fixture directory."""
    compile_package()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make(root)
        environ = {**os.environ, **(env(root) if env else {})}
        anchor = summary(time_command([sys.executable, "-c", "pass"], root, runs, environ))
        measured = summary(time_command(argv, root, runs, environ))
    write(
        name,
        {
            "target": target,
            "python_c_pass": anchor,
            "flowplan": {"argv": argv[1:], **measured},
            "ratio_vs_python_c_pass": round(measured["median_s"] / anchor["median_s"], 2),
            "meets_target": measured["median_s"] <= limit_s,
        },
    )


def flowplan_command(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("flowplan")), *args]


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


def fuzz_workers(
    source: str, count: int, seed: int, tmp: Path, env: dict[str, str], *extra: str
) -> tuple[list[dict[str, Any]], list[str]]:
    """Two fuzzing workers (one a core): `python -c source REPO COUNT/2 SEED+i DIR *extra`,
    each printing one JSON result a line and leaving its input in DIR/current.yaml. Returns the
    results and, for a worker that died, what it was reading."""
    repo = Path(__file__).resolve().parent.parent
    workers = []
    for index in range(2):
        directory = tmp / f"w{index}"
        directory.mkdir()
        argv = [sys.executable, "-c", source, str(repo), str(count // 2), str(seed + index),
                str(directory), *extra]  # fmt: skip
        workers.append((subprocess.Popen(argv, cwd=directory, env=env, text=True,
                                         stdout=subprocess.PIPE), directory))  # fmt: skip
    results: list[dict[str, Any]] = []
    dead: list[str] = []
    for process, directory in workers:
        assert process.stdout is not None
        results += [json.loads(line) for line in process.stdout]
        if process.wait() != 0:
            text = (directory / "current.yaml").read_text(errors="replace")
            dead.append(f"worker died ({process.returncode}) on:\n{text[:500]}")
    return results, dead
