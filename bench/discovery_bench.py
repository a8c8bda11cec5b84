"""Target: `flowplan flows ls` on a generated 5,000-file tree: median <= 1 s (whole process).
Anchor in the same run: `python -c pass`."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from _common import compile_package, summary, time_command, write

RUNS = 9
FILES = 5000


def make_tree(root: Path) -> None:
    """5,000 Python files in 100 packages: 1 in 10 defines a flow, the rest are plain modules."""
    plain = "import os\n\n\ndef helper(x):\n    return os.path.join(x, 'y')\n" * 20
    for index in range(FILES):
        package = root / f"pkg_{index % 100:03d}"
        package.mkdir(exist_ok=True)
        if index % 10 == 0:
            text = (
                "from prefect import flow\n\n\n"
                f"@flow(name='flow-{index}')\n"
                f"def flow_{index}(a: int = 1, b: list[str] | None = None):\n"
                "    return a\n" + plain
            )
        else:
            text = plain
        (package / f"module_{index}.py").write_text(text)
    (root / ".gitignore").write_text("*.pyc\nbuild/\n")


def main() -> None:
    compile_package()
    flowplan = str(Path(sys.executable).with_name("flowplan"))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_tree(root)
        anchor = time_command([sys.executable, "-c", "pass"], root, RUNS)
        discovery = time_command([flowplan, "flows", "ls", "--output", "json"], root, RUNS)
    anchor_s, discovery_s = summary(anchor), summary(discovery)
    write(
        "discovery",
        {
            "target": f"flowplan flows ls on {FILES} files: median <= 1 s",
            "python_c_pass": anchor_s,
            "flowplan_flows_ls": discovery_s,
            "ratio_vs_python_c_pass": round(discovery_s["median_s"] / anchor_s["median_s"], 2),
            "meets_target": discovery_s["median_s"] <= 1.0,
        },
    )


if __name__ == "__main__":
    main()
