"""The kill rate of a finished `mutmut run`, per module and in total, from its meta files."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

KILLED = {1, 3, 15, 24, 34, 36, 38, 137, -9, -11, -24}  # a failing test, or a signal/timeout
SURVIVED = {0}


def main(root: Path) -> None:
    totals: Counter[str] = Counter()
    for meta in sorted(root.rglob("*.py.meta")):
        codes = json.loads(meta.read_text()).get("exit_code_by_key", {})
        module = meta.relative_to(root).as_posix().removesuffix(".meta")
        counts = Counter(
            "killed" if code not in SURVIVED and code is not None else
            "survived" if code in SURVIVED else "not run"
            for code in codes.values()
        )  # fmt: skip
        totals.update(counts)
        tested = counts["killed"] + counts["survived"]
        rate = 100 * counts["killed"] / tested if tested else 0.0
        print(f"{module:45} {counts['killed']:5} killed {counts['survived']:4} survived"
              f" {counts['not run']:4} not run  {rate:5.1f} %")  # fmt: skip
    tested = totals["killed"] + totals["survived"]
    rate = 100 * totals["killed"] / tested if tested else 0.0
    print(f"{'total':45} {totals['killed']:5} killed {totals['survived']:4} survived"
          f" {totals['not run']:4} not run  {rate:5.1f} %")  # fmt: skip


if __name__ == "__main__":
    main(Path(sys.argv[1]))
