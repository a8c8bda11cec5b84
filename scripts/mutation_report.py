"""The kill rate of a finished `mutmut run`, per module and in total, from its meta files."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

# mutmut's exit codes: 0 the tests passed (survived), 33 no test reached it, None not run yet;
# anything else (a failing test, a timeout, a signal) killed it
SURVIVED, NO_TESTS = 0, 33


def kind(code: int | None) -> str:
    if code is None:
        return "not run"
    return {SURVIVED: "survived", NO_TESTS: "no tests"}.get(code, "killed")


def main(root: Path) -> None:
    totals: Counter[str] = Counter()
    for meta in sorted(root.rglob("*.py.meta")):
        codes = json.loads(meta.read_text()).get("exit_code_by_key", {})
        module = meta.relative_to(root).as_posix().removesuffix(".meta")
        counts = Counter(kind(code) for code in codes.values())
        totals.update(counts)
        tested = counts["killed"] + counts["survived"] + counts["no tests"]
        rate = 100 * counts["killed"] / tested if tested else 0.0
        print(f"{module:36} {counts['killed']:5} killed {counts['survived']:4} survived"
              f" {counts['no tests']:4} no tests {counts['not run']:4} not run  {rate:5.1f} %")  # fmt: skip
    tested = totals["killed"] + totals["survived"] + totals["no tests"]  # unreached: not killed
    rate = 100 * totals["killed"] / tested if tested else 0.0
    print(f"{'total':36} {totals['killed']:5} killed {totals['survived']:4} survived"
          f" {totals['no tests']:4} no tests {totals['not run']:4} not run  {rate:5.1f} %")  # fmt: skip


if __name__ == "__main__":
    main(Path(sys.argv[1]))
