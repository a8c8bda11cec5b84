"""Block YAML for new JSON-like values, in a file's own indentation, fast.

ruamel's round-trip dumper keeps a file's comments and layout but emits about a thousand
deployments a second; new entries need none of that, so `save.py` writes them with this
emitter, in the columns ruamel would use (`indent(mapping, sequence, offset)`). Text is written
plain only when both PyYAML (what Prefect and flowplan read) and YAML 1.2 read it back as the
same text; otherwise it is double-quoted with JSON's escapes, which YAML reads the same way.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flowplan.project.yaml11 import retyped

_INDICATORS = frozenset("-?:,[]{}#&*!|>'\"%@`")
_YAML12_NUMBER = re.compile(
    r"[-+]?(0o[0-7]+|0x[0-9a-fA-F]+|[0-9][0-9_]*(\.[0-9_]*)?([eE][-+]?[0-9]+)?"
    r"|\.[0-9]+([eE][-+]?[0-9]+)?|\.(inf|Inf|INF|nan|NaN|NAN))"
)
_WORDS = frozenset({"true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"})


@dataclass(frozen=True)
class Indent:
    mapping: int = 2  # a nested mapping's keys, past the parent key's column
    sequence: int = 2  # a list item's content, past the parent key's column
    offset: int = 0  # a list item's dash, past the parent key's column


def text(value: str) -> str:
    """A scalar for `value`: plain when that reads back as the same text, else quoted."""
    if _plain(value):
        return value
    quoted = json.dumps(value, ensure_ascii=False)  # control characters escaped already
    if quoted.isprintable():
        return quoted
    return "".join(c if c.isprintable() else _escape(c) for c in quoted)


def _escape(character: str) -> str:
    """YAML's escape (`\\U` past the BMP, where JSON's surrogate pairs would read as two
    characters)."""
    code = ord(character)
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _plain(value: str) -> bool:
    if not value or value != value.strip() or not value.isprintable():
        return False
    if value[0] in _INDICATORS or value.lower() in _WORDS:
        return False
    if ": " in value or " #" in value or value.endswith(":") or "\t" in value:
        return False
    return not retyped(value) and not _YAML12_NUMBER.fullmatch(value)


def scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        shown = repr(value)
        if "e" in shown and "." not in shown.partition("e")[0]:  # PyYAML needs the dot
            mantissa, _, exponent = shown.partition("e")
            sign = "" if exponent[0] in "+-" else "+"
            shown = f"{mantissa}.0e{sign}{exponent}"
        return shown
    if isinstance(value, str):
        return text(value)
    raise TypeError(f"cannot write {type(value).__name__} as YAML")


def lines(value: Any, indent: Indent, column: int = 0) -> list[str]:
    """The block form of a mapping or list whose keys (or dashes) start at `column`."""
    if isinstance(value, Mapping):
        return _mapping(value, indent, column)
    return _sequence(value, indent, column)


def _mapping(value: Mapping[str, Any], indent: Indent, column: int) -> list[str]:
    out = []
    pad = " " * column
    for key, item in value.items():
        head = f"{pad}{scalar(str(key))}:"
        if isinstance(item, Mapping) and item:
            out.append(head)
            out += _mapping(item, indent, column + indent.mapping)
        elif isinstance(item, list) and item:
            out.append(head)
            out += _sequence(item, indent, column + indent.offset, column + indent.sequence)
        else:
            out.append(f"{head} {_inline(item)}")
    return out


def _sequence(value: list[Any], indent: Indent, dash: int, content: int | None = None) -> list[str]:
    content = dash + max(indent.sequence - indent.offset, 2) if content is None else content
    out = []
    for item in value:
        if (isinstance(item, Mapping | list)) and item:
            nested = lines(item, indent, content)
            first = nested[0][content:]
            out.append(" " * dash + "-" + " " * (content - dash - 1) + first)
            out += nested[1:]
        else:
            out.append(" " * dash + "-" + " " * (content - dash - 1) + _inline(item))
    return out


def _inline(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return scalar(value)
