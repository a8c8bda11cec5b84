"""The benchmark table in docs/benchmarks.md is the one scripts/bench_table.py writes from the
committed results in bench/results/."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.docs.examples import REPO

SCRIPT = REPO / "scripts" / "bench_table.py"


def bench_table(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)],
                          capture_output=True, text=True, check=False)  # fmt: skip


def test_the_page_matches_the_committed_results() -> None:
    done = bench_table("--check")
    assert (done.returncode, done.stdout) == (0, "")


def test_every_result_file_has_a_row_on_the_page() -> None:
    page = (REPO / "docs" / "benchmarks.md").read_text()
    validate = json.loads((REPO / "bench" / "results" / "validate.json").read_text())
    assert f"{validate['flowplan']['median_s']:.3f} s median" in page
    assert len(list((REPO / "bench" / "results").glob("*.json"))) >= 13


def copies(tmp_path: Path) -> tuple[Path, Path]:
    results = tmp_path / "results"
    shutil.copytree(REPO / "bench" / "results", results)
    page = tmp_path / "benchmarks.md"
    shutil.copy(REPO / "docs" / "benchmarks.md", page)
    return results, page


def test_a_new_result_makes_the_check_fail_until_the_table_is_written(tmp_path: Path) -> None:
    results, page = copies(tmp_path)
    data = json.loads((results / "validate.json").read_text())
    data["flowplan"]["median_s"], data["meets_target"] = 0.4321, False
    (results / "validate.json").write_text(json.dumps(data))
    failed = bench_table("--check", "--results", results, "--page", page)
    assert failed.returncode == 1 and "does not match" in failed.stdout
    assert bench_table("--results", results, "--page", page).returncode == 0
    assert "| 0.432 s median of 21 runs (" in page.read_text()
    assert "x `python -c pass`) | **no** |" in page.read_text()
    assert bench_table("--check", "--results", results, "--page", page).returncode == 0


def test_a_result_without_a_row_maker_is_an_error(tmp_path: Path) -> None:
    results, page = copies(tmp_path)
    (results / "new_bench.json").write_text("{}")
    done = bench_table("--results", results, "--page", page)
    assert done.returncode == 1
    assert "no row maker in scripts/bench_table.py for new_bench.json" in done.stderr


def test_a_result_may_carry_its_own_rows(tmp_path: Path) -> None:
    results, page = copies(tmp_path)
    rows = [{"what": "a new thing", "target": "<= 1 s", "measured": "0.5 s median", "met": True},
            {"what": "another", "target": "-", "measured": "3 runs/s", "met": None}]  # fmt: skip
    (results / "zz_new.json").write_text(json.dumps({"rows": rows}))
    assert bench_table("--results", results, "--page", page).returncode == 0
    text = page.read_text()
    assert "| a new thing | <= 1 s | 0.5 s median | yes |\n| another | - | 3 runs/s |  |\n" in text
