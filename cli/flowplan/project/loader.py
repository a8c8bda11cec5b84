"""Read a project file into plain data plus the position of every key and value.

The file is parsed with ruamel.yaml in round-trip mode so that every problem can be reported at
`file:line:col`. Anchors, aliases and merge keys work as in any YAML 1.2 file. Inputs that could
hurt (a huge file, binary data, an alias bomb, recursive aliases) are refused with a clear error
before they can take time or memory.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml.scalarbool import ScalarBoolean

from flowplan.errors import ProjectFileError
from flowplan.project.findings import Path_

MAX_FILE_BYTES = 5 * 1024 * 1024  # real project files are a few kB; the largest known is 60 kB
MAX_EXPANDED_NODES = 200_000  # after alias expansion; a 113-deployment file has about 3,000


@dataclass
class Positions:
    """1-based (line, column) of values and of mapping keys, by path."""

    values: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path_, tuple[int, int]] = field(default_factory=dict)

    def of(self, path: Path_, *, key: bool = False) -> tuple[int, int] | None:
        """Position of `path` (its key when `key`), else of its nearest known ancestor."""
        if key and path in self.keys:
            return self.keys[path]
        for cut in range(len(path), -1, -1):
            found = self.values.get(path[:cut])
            if found is not None:
                return found
        return None


@dataclass
class LoadedFile:
    path: Path
    display: str  # the name used in messages (as the user gave it)
    data: Any
    positions: Positions
    anchor_holders: frozenset[str]  # top-level keys whose content defines YAML anchors


def read_text(path: Path, display: str) -> str:
    """Read a UTF-8 text file, refusing what is not one, with an error that says why."""
    try:
        if path.is_dir():
            raise ProjectFileError("is a directory, not a file", file=display)
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ProjectFileError(
                f"file is {size / 1024 / 1024:.1f} MB; project files are read up to "
                f"{MAX_FILE_BYTES // 1024 // 1024} MB",
                file=display,
            )
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ProjectFileError("no such file", file=display) from None
    except PermissionError:
        raise ProjectFileError("permission denied", file=display) from None
    except OSError as exc:
        raise ProjectFileError(f"cannot read: {exc.strerror or exc}", file=display) from None
    if b"\x00" in raw[:8192]:
        raise ProjectFileError("binary file, not YAML text", file=display)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ProjectFileError(
            f"not valid UTF-8 (byte 0x{raw[exc.start]:02x})",
            file=display,
            line=line,
            column=column,
            hint="save the file as UTF-8",
        ) from None


def parse_yaml(text: str, display: str) -> Any:
    """Parse one YAML document in round-trip mode; syntax errors carry their position."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    yaml = YAML(typ="rt", pure=True)
    try:
        return yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        problem = re.sub(r"\('([^']*)',\)", r"\1", problem)  # ruamel shows some tokens as tuples
        raise ProjectFileError(
            f"YAML syntax error: {problem}".strip(),
            file=display,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        ) from None
    except YAMLError as exc:
        raise ProjectFileError(f"YAML error: {exc}", file=display) from None
    except RecursionError:
        raise ProjectFileError("YAML nesting is too deep", file=display) from None


def load_file(path: Path, display: str | None = None) -> LoadedFile:
    """Read, parse and convert a project file. Raises `ProjectFileError` for unusable files."""
    name = display or str(path)
    document = parse_yaml(read_text(path, name), name)
    if document is None:
        raise ProjectFileError(
            "file is empty", file=name, hint="a project file is a mapping with a deployments list"
        )
    try:
        expanded = _expanded_size(document, {}, set())
    except RecursionError:
        raise ProjectFileError("recursive alias: a value contains itself", file=name) from None
    if expanded > MAX_EXPANDED_NODES:
        raise ProjectFileError(
            f"aliases expand to more than {MAX_EXPANDED_NODES:,} values (an alias bomb?)",
            file=name,
        )
    positions = Positions()
    data = _convert(document, (), positions)
    if not isinstance(data, dict):
        line, column = positions.of(()) or (1, 1)
        raise ProjectFileError(
            f"expected a mapping at the top level, got {_kind(data)}",
            file=name,
            line=line,
            column=column,
            hint="a project file is a mapping with keys such as name, build, pull and deployments",
        )
    holders = frozenset(key for key in document if _defines_anchor(document[key], set()))
    return LoadedFile(path, name, data, positions, holders)


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "text"
    return f"a {type(value).__name__}"


def _expanded_size(node: Any, memo: dict[int, int], stack: set[int]) -> int:
    """Count the values `node` expands to, in time linear in the number of distinct nodes."""
    if not isinstance(node, dict | list):
        return 1
    key = id(node)
    if key in memo:
        return memo[key]
    if key in stack:
        raise RecursionError(key)
    stack.add(key)
    children = node.values() if isinstance(node, dict) else node
    total = 1
    for child in children:
        total += _expanded_size(child, memo, stack)
        if total > MAX_EXPANDED_NODES:
            break
    stack.discard(key)
    memo[key] = total
    return total


def _defines_anchor(node: Any, seen: set[int]) -> bool:
    if id(node) in seen:
        return False
    seen.add(id(node))
    anchor = getattr(node, "anchor", None)
    if anchor is not None and getattr(anchor, "value", None):
        return True
    if isinstance(node, dict):
        return any(_defines_anchor(v, seen) for v in node.values())
    if isinstance(node, list):
        return any(_defines_anchor(v, seen) for v in node)
    return False


def _position(node: Any) -> tuple[int, int] | None:
    lc = getattr(node, "lc", None)
    if lc is None or lc.line is None:
        return None
    return lc.line + 1, lc.col + 1


def _convert(node: Any, path: Path_, positions: Positions) -> Any:
    """Plain dicts, lists and scalars from ruamel's round-trip types, recording positions."""
    own = _position(node)
    if own is not None:
        positions.values.setdefault(path, own)
    if isinstance(node, dict):
        result: dict[str, Any] = {}
        lc_data = getattr(getattr(node, "lc", None), "data", None) or {}
        for key, value in node.items():
            text = key if isinstance(key, str) else str(_scalar(key))
            child = (*path, text)
            where = lc_data.get(key)
            if where is not None:
                positions.keys[child] = (where[0] + 1, where[1] + 1)
                positions.values[child] = (where[2] + 1, where[3] + 1)
            result[text] = _convert(value, child, positions)
        return result
    if isinstance(node, list):
        lc_data = getattr(getattr(node, "lc", None), "data", None) or {}
        items = []
        for index, value in enumerate(node):
            where = lc_data.get(index)
            if where is not None:
                positions.values[(*path, index)] = (where[0] + 1, where[1] + 1)
            items.append(_convert(value, (*path, index), positions))
        return items
    return _scalar(node)


def _scalar(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, ScalarBoolean):  # an anchored boolean: an int subclass in ruamel
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    tag = getattr(value, "tag", None)
    if tag is not None and hasattr(value, "value"):  # a scalar with a custom !tag
        return str(value.value)
    return str(value)
