"""Target: `flowplan --version`, whole process, median <= 0.1 s: the floor every command pays
(typer, click and the entry point; no command module is imported). Anchor in the same run:
`python -c pass` (interpreter start-up)."""

from __future__ import annotations

from pathlib import Path

from _common import flowplan_command, measure

RUNS = 21


def main() -> None:
    measure(
        "startup",
        "flowplan --version: median <= 0.1 s",
        0.1,
        flowplan_command("--version"),
        lambda root: Path(root).mkdir(exist_ok=True),
        RUNS,
    )


if __name__ == "__main__":
    main()
