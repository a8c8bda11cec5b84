"""Target: `flowplan flows ls` on a generated 5,000-file tree: median <= 1 s (whole process).
Anchor in the same run: `python -c pass`."""

from __future__ import annotations

from pathlib import Path

from _common import flowplan_command, measure

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
    measure(
        "discovery",
        f"flowplan flows ls on {FILES} files: median <= 1 s",
        1.0,
        flowplan_command("flows", "ls", "--output", "json"),
        make_tree,
        RUNS,
    )


if __name__ == "__main__":
    main()
