"""Target (issue 9): 0 failures in 1,000 store openings by processes started at the same
instant: 100 new stores opened by 8 processes each, then 25 rounds of 8 on an existing one."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from _common import write

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.backends.open_race import open_at_once


def main() -> None:
    failures: list[str] = []
    openings = 0
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(100):
            failures += open_at_once(Path(tmp) / f"new-{round_}" / "flowplan.db", 8)
            openings += 8
        for _ in range(25):
            failures += open_at_once(Path(tmp) / "new-0" / "flowplan.db", 8)
            openings += 8
    write(
        "store_open",
        {
            "target": "0 failures in 1,000 concurrent store openings",
            "openings": openings,
            "failures": len(failures),
            "first_failure": failures[0][-500:] if failures else None,
            "seconds": round(time.perf_counter() - started, 2),
            "meets_target": not failures and openings >= 1000,
        },
    )


if __name__ == "__main__":
    main()
