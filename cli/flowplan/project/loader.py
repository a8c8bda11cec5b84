"""Read a project file into plain data plus the position of every key and value.

ruamel.yaml composes the file into a node graph (with its C parser when available: a 20-deployment
file takes 5 ms instead of 60 ms in round-trip mode), and this module builds plain data from the
nodes, recording the `file:line:col` of every key and value. Values resolve as YAML 1.1, which is
what Prefect's PyYAML does (`yes` is a boolean, `1:30:00` is 5400). Anchors, aliases and merge
keys work; duplicate keys are errors. Inputs that could hurt (a huge file, binary data, an alias
bomb, recursive aliases) are refused with a clear error before they can take time or memory
(the limits and the bounded reading are in `bounds.py`).
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import re
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from flowplan.errors import ProjectFileError
from flowplan.findings import Path_
from flowplan.project.bounds import (
    MAX_DEPTH,
    check_expansion,
    check_shape,
    children,
    read_text,
)
from flowplan.project.yaml11 import PyYAMLResolver

_STR_TAG = "tag:yaml.org,2002:str"
_INT_TAG = "tag:yaml.org,2002:int"
_DECIMAL = re.compile(r"-?(0|[1-9][0-9]*)")
_MAX_DIGITS = 4000  # Python reads at most 4,300 digits into an int (sys.int_info)


_COLUMNS = 1 << 32  # a position is kept as one number, line * _COLUMNS + column


@dataclass
class Positions:
    """1-based (line, column) of values and of mapping keys, by path (kept as one number
    each: a tuple of two numbers took three times the memory, for every value of the file)."""

    values: dict[Path_, int] = field(default_factory=dict)
    keys: dict[Path_, int] = field(default_factory=dict)

    @staticmethod
    def pack(line: int, column: int) -> int:
        return line * _COLUMNS + column

    def of(self, path: Path_, *, key: bool = False) -> tuple[int, int] | None:
        """Position of `path` (its key when `key`), else of its nearest known ancestor."""
        if key and path in self.keys:
            return divmod(self.keys[path], _COLUMNS)
        for cut in range(len(path), -1, -1):
            found = self.values.get(path[:cut])
            if found is not None:
                return divmod(found, _COLUMNS)
        return None


@dataclass
class LoadedFile:
    path: Path
    display: str  # the name used in messages (as the user gave it)
    data: Any
    positions: Positions
    anchor_holders: frozenset[str]  # top-level keys whose content defines YAML anchors


_MERGE_TAG = "tag:yaml.org,2002:merge"
_NO_JSON_FORM = frozenset(f"tag:yaml.org,2002:{kind}" for kind in ("set", "omap", "pairs"))


def _yaml(pure: bool) -> YAML:
    yaml = YAML(typ="safe", pure=pure)
    yaml.version = (1, 1)
    yaml.Resolver = PyYAMLResolver  # plain scalars as PyYAML (and so Prefect) reads them
    return yaml


def _syntax_error(exc: MarkedYAMLError, display: str) -> ProjectFileError:
    mark = exc.problem_mark or exc.context_mark
    problem = " ".join(str(part) for part in (exc.context, exc.problem) if part)
    problem = re.sub(r"\('([^']*)',\)", r"\1", problem)  # ruamel shows some tokens as tuples
    return ProjectFileError(
        f"YAML syntax error: {problem}".strip(),
        file=display,
        line=mark.line + 1 if mark else None,
        column=mark.column + 1 if mark else None,
    )


def compose(text: str, display: str) -> tuple[Node | None, YAML, bool]:
    """The node graph of one YAML document, its parser, and whether the graph is a plain tree
    already counted (no aliases, and within MAX_VALUES and MAX_DEPTH); syntax errors carry
    their position.

    The C parser is tried first; when it objects, the pure-Python parser decides, because it
    accepts what PyYAML accepts (libyaml refuses `a: {b: x:y}`) and its messages are fuller.
    """
    try:
        aliases = check_shape(_yaml(pure=False).parse(text), display)
        gc.collect(0)  # the parser of the check holds a copy of the text in a cycle
        yaml = _yaml(pure=False)
        return _quiet(yaml, text), yaml, not aliases
    except (YAMLError, RecursionError):
        pass
    yaml = _yaml(pure=True)
    try:
        return _quiet(yaml, text), yaml, False
    except MarkedYAMLError as exc:
        raise _syntax_error(exc, display) from None
    except YAMLError as exc:
        raise ProjectFileError(f"YAML error: {exc}", file=display) from None
    except RecursionError:
        raise ProjectFileError(
            f"values nested more than {MAX_DEPTH} levels deep", file=display
        ) from None


def _quiet(yaml: YAML, text: str) -> Node | None:
    """Compose without ruamel's warnings on stderr (what they warn about is checked here)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        node: Node | None = yaml.compose(text)
    return node


def load_file(path: Path, display: str | None = None) -> LoadedFile:
    """Read, parse and convert a project file. Raises `ProjectFileError` for unusable files.

    The cyclic garbage collector is paused meanwhile: the nodes and values made here hold no
    cycles, and with hundreds of thousands of them alive its passes took half the time."""
    name = display or str(path)
    enabled = gc.isenabled()
    gc.disable()
    try:
        return load_text(read_text(path, name), path, name)
    finally:
        if enabled:
            gc.enable()


def load_text(text: str, path: Path, name: str) -> LoadedFile:
    """Parse and convert the text of a project file (`path` and `name` say where it is)."""
    root, yaml, tree = compose(text, name)
    if root is None:
        raise ProjectFileError(
            "file is empty", file=name, hint="a project file is a mapping with a deployments list"
        )
    references: Counter[int] = Counter()
    if not tree:  # aliases (or not counted yet): what they expand to is counted here
        check_expansion(root, references, name)
    if not isinstance(root, MappingNode):
        kind = "a list" if isinstance(root, SequenceNode) else "a single value"
        raise ProjectFileError(
            f"expected a mapping at the top level, got {kind}",
            file=name,
            line=root.start_mark.line + 1,
            column=root.start_mark.column + 1,
            hint="a project file is a mapping with keys such as name, build, pull and deployments",
        )
    converter = _Converter(yaml, name, consume=tree)
    data = converter.convert(root, ())
    # The anchor is where a shared node first appears, in document order (a tree shares none).
    seen: set[int] = set()
    holders = frozenset(
        key.value
        for key, value in (() if tree else root.value)
        if isinstance(key, ScalarNode) and _holds_shared(value, references, seen)
    )
    return LoadedFile(path, name, data, converter.positions, holders)


def _holds_shared(node: Node, refs: Counter[int], seen: set[int]) -> bool:
    """Whether a node used more than once (an aliased anchor) first appears inside `node`."""
    if id(node) in seen:
        return False
    seen.add(id(node))
    found = refs[id(node)] > 1
    for child in children(node):
        found = _holds_shared(child, refs, seen) or found  # visit every child: mark them seen
    return found


def _mark(node: Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _packed(node: Node) -> int:
    return Positions.pack(*_mark(node))


class _Converter:
    """Plain dicts, lists and scalars from nodes, recording positions by path. With
    `consume` (a tree: no node is used twice), a collection lets go of its nodes once
    converted, so that the nodes of the file and its converted values are not all in memory
    at once."""

    def __init__(self, yaml: YAML, display: str, consume: bool = False) -> None:
        self.constructor = yaml.constructor
        self.display = display
        self.consume = consume
        self.positions = Positions()

    def convert(self, node: Node, path: Path_) -> Any:
        if path not in self.positions.values:
            self.positions.values[path] = _packed(node)
        if node.tag in _NO_JSON_FORM:
            line, column = _mark(node)
            raise ProjectFileError(
                f"the {node.tag.replace('tag:yaml.org,2002:', '!!')} tag is not supported: a"
                " project file holds JSON-like data", file=self.display, line=line,
                column=column, hint="write a list or a mapping",
            )  # fmt: skip
        if isinstance(node, MappingNode):
            return self._mapping(node, path)
        if isinstance(node, SequenceNode):
            items = [self.convert(item, (*path, i)) for i, item in enumerate(node.value)]
            if self.consume:
                node.value = []
            return items
        return self._scalar(node)

    def _mapping(self, node: MappingNode, path: Path_) -> dict[str, Any]:
        result: dict[str, Any] = {}
        merged: dict[str, Any] = {}
        raws: dict[Any, str] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                self._merge(value_node, path, merged)
                continue
            key, raw = self._key(key_node)
            if key in result or raw in raws:  # raw: PyYAML's key (`yes` and `1` are equal)
                line, column = _mark(key_node)
                other = raws.get(raw, key)
                same = f" (the same key as {other!r} to PyYAML)" if other != key_node.value else ""
                raise ProjectFileError(
                    f"duplicate key {key_node.value!r}{same}", file=self.display, line=line,
                    column=column, hint="YAML keeps only one of them; remove or rename the other",
                )  # fmt: skip
            raws[raw] = key_node.value
            child = (*path, key)
            self.positions.keys[child] = _packed(key_node)
            self.positions.values[child] = _packed(value_node)
            result[key] = self.convert(value_node, child)
        if self.consume:
            node.value = []
        # Explicit keys win over merged ones (YAML merge-key rules).
        return {**merged, **result} if merged else result

    def _merge(self, node: Node, path: Path_, merged: dict[str, Any]) -> None:
        sources = node.value if isinstance(node, SequenceNode) else [node]
        for source in sources:
            if not isinstance(source, MappingNode):
                line, column = _mark(source)
                raise ProjectFileError(
                    "a merge key (<<) takes a mapping or a list of mappings",
                    file=self.display, line=line, column=column,
                )  # fmt: skip
            for key, value in self._mapping(source, path).items():
                merged.setdefault(key, value)  # earlier sources win

    def _key(self, node: Node) -> tuple[str, Any]:
        """The key as text, and as PyYAML's value (what decides whether two keys are one)."""
        if not isinstance(node, ScalarNode):
            line, column = _mark(node)
            raise ProjectFileError(
                "a mapping key must be a plain value", file=self.display, line=line, column=column
            )
        value = self._scalar(node)
        if isinstance(value, str):
            return value, value
        # PyYAML gives Prefect a key of another type (`on:` is True, `1:` is 1); its API turns
        # them into JSON text, which is what they are here: "true", "1", "null"
        if value is None or isinstance(value, bool | int):
            return json.dumps(value), value
        return str(value), value

    def _scalar(self, node: Node) -> Any:
        # Fast paths for the common tags (most scalars): same values as the constructor gives.
        if node.tag == _STR_TAG:
            return node.value
        if node.tag == _INT_TAG and _DECIMAL.fullmatch(node.value):
            if len(node.value) > _MAX_DIGITS:  # Python refuses to read longer ones
                line, column = _mark(node)
                raise ProjectFileError(
                    f"a number with {len(node.value):,} digits is too large to read",
                    file=self.display, line=line, column=column,
                    hint="quote the value to keep it as text",
                )  # fmt: skip
            return int(node.value)
        try:
            value = self.constructor.construct_object(node, deep=True)
        except MarkedYAMLError as exc:
            raise _syntax_error(exc, self.display) from None
        except (ValueError, TypeError, KeyError, OverflowError, IndexError, AttributeError):
            # the text does not fit its tag: `!!int abc`, `!!bool maybe`, 2023-02-30, `+_1`
            line, column = _mark(node)
            kind = str(node.tag).rpartition(":")[2]
            raise ProjectFileError(
                f"cannot read {node.value!r} as {'a' if kind[0] not in 'aeiou' else 'an'} {kind}",
                file=self.display,
                line=line,
                column=column,
                hint="quote the value to keep it as text",
            ) from None
        if isinstance(value, dt.datetime | dt.date):
            return value.isoformat()
        if isinstance(value, bytes):
            return value.decode("utf-8", "replace")
        return value
