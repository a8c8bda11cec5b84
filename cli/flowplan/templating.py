"""The `{{ }}` placeholder syntax of prefect.yaml (PREFECT-COMPAT section 3).

Not Jinja: a placeholder is a name (letters, digits, `_ . - [ ] $`) between double braces.
The kind is decided by its prefix: `$NAME` environment, `prefect.blocks.` block,
`prefect.variables.` variable, `ctx.` run-time context, anything else a step output.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

PLACEHOLDER = re.compile(r"\{\{\s*([\w.\-\[\]$]+)\s*\}\}")

Kind = Literal["env", "block", "variable", "context", "output"]


@dataclass(frozen=True)
class Placeholder:
    name: str
    kind: Kind
    whole: bool  # the placeholder is the whole string (it keeps the value's type)

    @property
    def parts(self) -> list[str]:
        """Dotted path segments: `a.b[0].c` -> ["a", "b", "0", "c"]."""
        return [part for part in re.split(r"[.\[\]]", self.name) if part]


def kind_of(name: str) -> Kind:
    if name.startswith("$"):
        return "env"
    if name.startswith("prefect.blocks."):
        return "block"
    if name.startswith("prefect.variables."):
        return "variable"
    if name.startswith("ctx."):
        return "context"
    return "output"


def placeholders_in(text: str) -> list[Placeholder]:
    matches = list(PLACEHOLDER.finditer(text))
    whole = len(matches) == 1 and matches[0].group(0) == text.strip()
    return [Placeholder(m.group(1), kind_of(m.group(1)), whole) for m in matches]


def has_placeholder(value: Any) -> bool:
    return isinstance(value, str) and PLACEHOLDER.search(value) is not None


def walk_placeholders(
    value: Any, path: tuple[str | int, ...]
) -> Iterator[tuple[tuple[str | int, ...], Placeholder]]:
    """Every placeholder inside a value, with the path of the string that holds it."""
    if isinstance(value, str):
        for placeholder in placeholders_in(value):
            yield path, placeholder
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from walk_placeholders(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk_placeholders(item, (*path, index))
