"""Target (issue 5): rendering the templates of the largest corpus prefect.yaml <= 20 ms.

In process (no start-up): variables, secret references and `$ENV` resolved, then step outputs,
over the whole file's data, as a deploy does. Anchor in the same run: `copy.deepcopy` of the data.
"""

from __future__ import annotations

import copy
import statistics
import time
from pathlib import Path

from _common import write

from flowplan.project.loader import load_file
from flowplan.templating import apply_values, resolve_references

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "prefect-yaml"
RUNS = 51


def median_ms(action) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 3)


def main() -> None:
    files = sorted(CORPUS.glob("*.y*ml"), key=lambda p: p.stat().st_size)
    largest = files[-1]
    data = load_file(largest, largest.name).data
    outputs = {"build-image": {"image": "repo/x:1", "tag": "1"}, "image": "repo/x:1"}

    def render() -> object:
        resolved = resolve_references(data, lambda name: "value", lambda p: f"{{{{ {p.name} }}}}")
        return apply_values(resolved, outputs, skip_prefixes=("ctx.",), environ={"HOME": "/h"})

    anchor = median_ms(lambda: copy.deepcopy(data))
    measured = median_ms(render)
    write(
        "templating",
        {
            "target": "template rendering of the largest corpus file: median <= 20 ms",
            "file": largest.name,
            "bytes": largest.stat().st_size,
            "deepcopy_anchor_ms": anchor,
            "render_ms": measured,
            "ratio_vs_deepcopy": round(measured / anchor, 2),
            "meets_target": measured <= 20,
        },
    )


if __name__ == "__main__":
    main()
