"""Texts a flow decorator's arguments always have, read from the source: literals, string
constants of the module or imported from one of the project, f-strings and `+` of those."""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from typing import Any

from flowplan.discovery.module_types import ModuleTypes

UNKNOWN_TEXT = object()


def constant_text(node: ast.expr, constants: Mapping[str, Any]) -> str | object:
    """The text an expression always has: a string literal, a string constant (of the module,
    or imported from one of the project), an f-string of those and of number constants, or a
    `+` of those; `UNKNOWN_TEXT` for anything else."""
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) else UNKNOWN_TEXT
    if isinstance(node, ast.Name):
        value = constants.get(node.id, UNKNOWN_TEXT)
        return value if isinstance(value, str) else UNKNOWN_TEXT
    if isinstance(node, ast.JoinedStr):
        parts = [constant_text(value, constants) for value in node.values]
        return "".join(parts) if all(isinstance(p, str) for p in parts) else UNKNOWN_TEXT  # type: ignore[arg-type]
    if isinstance(node, ast.FormattedValue):
        return _formatted(node, constants)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = constant_text(node.left, constants), constant_text(node.right, constants)
        return left + right if isinstance(left, str) and isinstance(right, str) else UNKNOWN_TEXT
    return UNKNOWN_TEXT


def _formatted(node: ast.FormattedValue, constants: Mapping[str, Any]) -> str | object:
    """`{NAME}`, `{NAME!r}`, `{NAME:>5}` of a constant, as the f-string would write it."""
    if isinstance(node.value, ast.Name):
        value = constants.get(node.value.id, UNKNOWN_TEXT)
    elif isinstance(node.value, ast.Constant):
        value = node.value.value
    else:
        return UNKNOWN_TEXT
    if not isinstance(value, str | int | float | bool) or value is None:
        return UNKNOWN_TEXT
    spec = "" if node.format_spec is None else constant_text(node.format_spec, constants)
    conversions: dict[int, Callable[[Any], Any]] = {-1: lambda v: v, 115: str, 114: repr,
                                                    97: ascii}  # fmt: skip
    convert = conversions.get(node.conversion)
    if not isinstance(spec, str) or convert is None:
        return UNKNOWN_TEXT
    try:
        return format(convert(value), spec)
    except (ValueError, TypeError):
        return UNKNOWN_TEXT


class ModuleNames(dict[str, Any]):
    """The module's string constants, then its other constants and the ones it imports from
    the project's modules."""

    def __init__(self, texts: dict[str, str], module: ModuleTypes) -> None:
        super().__init__(texts)
        self.module = module

    def get(self, key: str, default: Any = None) -> Any:
        if key in self:
            return self[key]
        if key in self.module.constants:
            return self.module.constants[key]
        imported = self.module.imported(key)
        if imported is not None:
            return imported[0].constants.get(imported[1], default)
        return default


def string_constants(tree_body: list[ast.stmt]) -> dict[str, str]:
    """Module-level `NAME = <constant text>` assignments, in order (later ones see earlier)."""
    constants: dict[str, str] = {}
    for node in tree_body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                value = constant_text(node.value, constants)
                if isinstance(value, str):
                    constants[target.id] = value
                else:
                    constants.pop(target.id, None)  # reassigned to something unknowable
    return constants
