"""Read a project file into plain data plus the position of every key and value.

ruamel.yaml composes the file into a node graph (with its C parser when available: a 20-deployment
file takes 5 ms instead of 60 ms in round-trip mode), and this module builds plain data from the
nodes, recording the `file:line:col` of every key and value. Values resolve as YAML 1.1, which is
what Prefect's PyYAML does (`yes` is a boolean, `1:30:00` is 5400). Anchors, aliases and merge
keys work; duplicate keys are errors. Inputs that could hurt (a huge file, binary data, an alias
bomb, recursive aliases) are refused with a clear error before they can take time or memory.
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
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    Event,
    NodeEvent,
)
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from flowplan import files
from flowplan.errors import ProjectFileError
from flowplan.findings import Path_
from flowplan.project.yaml11 import PyYAMLResolver

MAX_FILE_BYTES = files.MAX_BYTES  # real project files are a few kB; the largest known is 60 kB
MAX_VALUES = 600_000  # written in the file; 10,000 deployments with 22 parameters have 550,000
MAX_ALIAS_VALUES = 200_000  # added by aliases; a 113-deployment file has about 3,000 in all
MAX_DEPTH = 100  # nesting levels; real project files have under 15


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


def read_text(path: Path, display: str) -> str:
    """Read a UTF-8 text file, refusing what is not one, with an error that says why."""
    try:
        raw = files.read_bytes(path, MAX_FILE_BYTES, "project files")
    except files.UnreadableFile as exc:
        raise ProjectFileError(exc.reason, file=display) from None
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
        aliases = _check_shape(text, display)
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


def _check_shape(text: str, display: str) -> bool:
    """Refuse a document nested deeper than MAX_DEPTH, or with more than MAX_VALUES
    values, before it is composed: libyaml's composer recurses (50,000 levels crash it) and a
    composed node graph of millions of values takes seconds and hundreds of MB. The parser's
    event stream is flat, cheap (3 ms for the largest known project file) and stops at the
    first value over a limit. Returns whether the document has aliases."""
    depth = values = 0
    aliases = False
    anchors: dict[str, int] = {}  # name -> the line of its definition
    for event in _yaml(pure=False).parse(text):
        if isinstance(event, AliasEvent):
            aliases = True
        if isinstance(event, NodeEvent) and not isinstance(event, AliasEvent) and event.anchor:
            if event.anchor in anchors:
                raise _shape_error(
                    f"anchor &{event.anchor} is defined twice (first on line"
                    f" {anchors[event.anchor]}); PyYAML, which Prefect uses, refuses the file",
                    event, display,
                )  # fmt: skip
            anchors[event.anchor] = event.start_mark.line + 1
        if isinstance(event, NodeEvent):
            values += 1
            if values > MAX_VALUES:
                raise _shape_error(
                    f"more than {MAX_VALUES:,} values; project files are far smaller",
                    event, display,
                )  # fmt: skip
        if isinstance(event, CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise _shape_error(
                    f"values nested more than {MAX_DEPTH} levels deep", event, display
                )
        elif isinstance(event, CollectionEndEvent):
            depth -= 1
    return aliases


def _shape_error(problem: str, event: Event, display: str) -> ProjectFileError:
    mark = event.start_mark
    return ProjectFileError(
        problem, file=display, line=mark.line + 1 if mark else None,
        column=mark.column + 1 if mark else None,
    )  # fmt: skip


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
        _check_expansion(root, references, name)
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


def _check_expansion(root: Node, references: Counter[int], name: str) -> None:
    """Refuse recursive aliases, alias bombs, and too many or too deeply nested values;
    `references` counts the uses of each node."""
    memo: dict[int, tuple[int, int]] = {}
    try:
        expanded, depth = _expanded_size(root, memo, set(), references)
    except _Recursive:
        raise ProjectFileError("recursive alias: a value contains itself", file=name) from None
    written = len(memo)  # each node once; `expanded` counts a node once per alias to it
    if expanded - written > MAX_ALIAS_VALUES:
        raise ProjectFileError(
            f"aliases add more than {MAX_ALIAS_VALUES:,} values (an alias bomb?)", file=name
        )
    if written > MAX_VALUES:  # only the pure-Python parser gets here (the C one counts first)
        raise ProjectFileError(
            f"more than {MAX_VALUES:,} values; project files are far smaller", file=name
        )
    if depth > MAX_DEPTH:
        raise ProjectFileError(f"aliases nest values more than {MAX_DEPTH} levels deep", file=name)


def _children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, SequenceNode):
        return list(node.value)
    return []


class _Recursive(Exception):
    """An alias inside the value it refers to."""


def _expanded_size(
    node: Node, memo: dict[int, tuple[int, int]], stack: set[int], refs: Counter[int]
) -> tuple[int, int]:
    """The number of values `node` expands to and how deep they nest, in time linear in the
    number of distinct nodes (aliases can nest one deep value inside another)."""
    key = id(node)
    refs[key] += 1
    if key in memo:
        return memo[key]
    if key in stack:
        raise _Recursive()
    stack.add(key)
    total, height = 1, 0
    for child in _children(node):
        size, child_height = _expanded_size(child, memo, stack, refs)
        total, height = total + size, max(height, child_height + 1)
        if total > MAX_VALUES + MAX_ALIAS_VALUES or height > MAX_DEPTH:
            break  # over a limit: the caller says which
    stack.discard(key)
    memo[key] = (total, height)
    return total, height


def _holds_shared(node: Node, refs: Counter[int], seen: set[int]) -> bool:
    """Whether a node used more than once (an aliased anchor) first appears inside `node`."""
    if id(node) in seen:
        return False
    seen.add(id(node))
    found = refs[id(node)] > 1
    for child in _children(node):
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
