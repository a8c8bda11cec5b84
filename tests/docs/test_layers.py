"""The import rules on the contributor page hold for every import in the package."""

from __future__ import annotations

import ast
import re
from collections import defaultdict

from tests.docs.examples import REPO

PACKAGE = REPO / "cli" / "flowplan"
PAGE = REPO / "docs" / "contributing.md"


def rules(text: str) -> dict[str, set[str]]:
    """The table between the layers markers: each unit and what it may import ("*": anything)."""
    table = text.split("<!-- layers: begin -->")[1].split("<!-- layers: end -->")[0]
    rows = [line.split("|")[1:3] for line in table.strip().splitlines()[2:]]
    shared = set(re.findall(r"`(\w+)`", next(r[0] for r in rows if "shared:" in r[0])))
    allowed: dict[str, set[str]] = {}
    for units, may in rows:
        names = set(re.findall(r"`(\w+)`", units.split(":")[-1] if "shared:" in units else units))
        if may.strip() == "anything":
            targets = {"*"}
        elif may.strip().startswith("anything but"):
            targets = {"*"} | {f"!{n}" for n in re.findall(r"`(\w+)`", may)}
        else:
            targets = set(re.findall(r"`(\w+)`", may)) | (shared if "shared" in may else set())
        for name in names:
            allowed[name] = targets
    return allowed


def imports() -> dict[str, set[tuple[str, str]]]:
    """Each unit (top folder or module of the package) and the units it imports, with where."""
    found: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        unit = parts[0]
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                module = node.module.split(".")
                if module[0] == "flowplan":
                    targets = module[1:2] or [a.name for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [
                    a.name.split(".")[1] for a in node.names if a.name.startswith("flowplan.")
                ]
            for target in targets:
                target = "__init__" if target == "__version__" else target
                if target != unit:
                    where = f"{path.relative_to(PACKAGE)}:{node.lineno}"
                    found[unit].add((target, where))
    return found


def violations(allowed: dict[str, set[str]], found: dict[str, set[tuple[str, str]]]) -> list[str]:
    wrong = []
    for unit, targets in sorted(found.items()):
        may = allowed.get(unit)
        if may is None:
            wrong.append(f"{unit}: not in the table")
            continue
        for target, where in sorted(targets):
            if f"!{target}" in may or ("*" not in may and target not in may):
                wrong.append(f"{where}: {unit} imports {target}")
    return wrong


def test_every_import_follows_the_table() -> None:
    assert violations(rules(PAGE.read_text()), imports()) == []


def test_every_unit_of_the_package_is_in_the_table() -> None:
    units = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
             if p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists())}  # fmt: skip
    assert units == set(rules(PAGE.read_text()))


def test_an_import_against_the_table_is_reported() -> None:
    allowed = rules(PAGE.read_text())
    assert {"templating", "findings", "errors", "masking", "console"} <= allowed["domain"]
    assert not {"plan", "commands", "runtime", "*"} & allowed["domain"]
    found = {
        "domain": {("plan", "domain/x.py:3"), ("errors", "domain/x.py:4")},
        "commands": {("main", "commands/y.py:9"), ("sdk", "commands/y.py:8")},
        "newthing": {("errors", "newthing.py:1")},
    }
    assert violations(allowed, found) == [
        "commands/y.py:9: commands imports main",
        "domain/x.py:3: domain imports plan",
        "newthing: not in the table",
    ]
    # lazy imports inside functions count: main.py imports commands inside main()
    assert "commands" in {target for target, _ in imports()["main"]}
