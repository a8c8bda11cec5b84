"""The kill rate of a finished `mutmut run`, per module and in total, from its meta files.

Statuses are mutmut's own (`mutmut.stats.status_by_exit_code`). A mutant counts as killed when a
test failed, timed out or crashed on it; survivors, mutants no selected test reaches and
suspicious ones (an odd exit code) count against the rate; mutants not run yet are left out."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from mutmut.stats import status_by_exit_code

KILLED = {"killed", "timeout", "segfault", "caught by type check"}
COLUMNS = ("killed", "survived", "no tests", "suspicious", "not checked")


def kind(code: int | None) -> str:
    status = status_by_exit_code[code]
    return "killed" if status in KILLED else status


def line(name: str, counts: Counter[str]) -> str:
    checked = sum(n for status, n in counts.items() if status != "not checked")
    rate = 100 * counts["killed"] / checked if checked else 0.0
    cells = "  ".join(f"{counts[c]:5} {c}" for c in COLUMNS)
    return f"{name:36} {cells}  {rate:5.1f} %"


def main(root: Path) -> None:
    totals: Counter[str] = Counter()
    for meta in sorted(root.rglob("*.py.meta")):
        codes = json.loads(meta.read_text()).get("exit_code_by_key", {})
        if not codes:
            continue
        counts = Counter(kind(code) for code in codes.values())
        totals.update(counts)
        print(line(meta.relative_to(root).as_posix().removesuffix(".meta"), counts))
    print(line("total", totals))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
