"""The limits of a project file, and reading it within them: the bytes read (at most
MAX_FILE_BYTES of a regular file, as UTF-8 text), the values the file writes and how deep they
nest (counted on the parser's events, before anything is composed), and what aliases expand to
(counted on the composed nodes, in time linear in their number). Each refusal is a
`ProjectFileError` that says where and what."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    Event,
    NodeEvent,
)
from ruamel.yaml.nodes import MappingNode, Node, SequenceNode

from flowplan import files
from flowplan.errors import ProjectFileError

MAX_FILE_BYTES = files.MAX_BYTES  # real project files are a few kB; the largest known is 60 kB
MAX_VALUES = 600_000  # written in the file; 10,000 deployments with 22 parameters have 550,000
MAX_ALIAS_VALUES = 200_000  # added by aliases; a 113-deployment file has about 3,000 in all
MAX_DEPTH = 100  # nesting levels; real project files have under 15


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


def check_shape(events: Iterable[Event], display: str) -> bool:
    """Refuse a document nested deeper than MAX_DEPTH, or with more than MAX_VALUES
    values, before it is composed: libyaml's composer recurses (50,000 levels crash it) and a
    composed node graph of millions of values takes seconds and hundreds of MB. The parser's
    event stream is flat, cheap (3 ms for the largest known project file) and stops at the
    first value over a limit. `events`: the parser's; returns whether the document has
    aliases."""
    depth = values = 0
    aliases = False
    anchors: dict[str, int] = {}  # name -> the line of its definition
    for event in events:
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


def check_expansion(root: Node, references: Counter[int], name: str) -> None:
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


def children(node: Node) -> list[Node]:
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
    for child in children(node):
        size, child_height = _expanded_size(child, memo, stack, refs)
        total, height = total + size, max(height, child_height + 1)
        if total > MAX_VALUES + MAX_ALIAS_VALUES or height > MAX_DEPTH:
            break  # over a limit: the caller says which
    stack.discard(key)
    memo[key] = (total, height)
    return total, height
