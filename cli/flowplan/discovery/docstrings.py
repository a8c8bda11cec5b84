"""Parameter descriptions from a Google-style docstring, as Prefect reads them (griffe's Google
parser): the last `Args:` (or `Arguments:`, `Params:`, `Parameters:`) section, one entry per
parameter, `name (type): text`, continuation lines indented deeper joined with newlines."""

from __future__ import annotations

import inspect
import re

_SECTION = re.compile(r"^(\s*)(Args|Arguments|Params|Parameters)\s*:\s*$")
_ENTRY = re.compile(r"^\s*(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


def parameter_descriptions(docstring: str | None) -> dict[str, str]:
    if not docstring:
        return {}
    lines = inspect.cleandoc(docstring).splitlines()
    found: dict[str, str] = {}
    index = 0
    while index < len(lines):
        header = _SECTION.match(lines[index])
        index += 1
        if header is None:
            continue
        indent = len(header.group(1))
        block = []
        while index < len(lines) and (not lines[index].strip() or _indent(lines[index]) > indent):
            block.append(lines[index])
            index += 1
        found = _entries(block)
    return found


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _entries(block: list[str]) -> dict[str, str]:
    filled = [line for line in block if line.strip()]
    if not filled:
        return {}
    base = min(_indent(line) for line in filled)
    entries: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in block:
        if line.strip() and _indent(line) == base:
            match = _ENTRY.match(line)
            if match is None:
                current = None
                continue
            current = entries.setdefault(match.group(1).lstrip("*"), [])
            current[:] = [match.group(2).strip()]
        elif current is not None:
            current.append(line.strip() if line.strip() else "")
    return {name: "\n".join(text).strip() for name, text in entries.items()}
