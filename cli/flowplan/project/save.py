"""Saving a deployment into `prefect.yaml` with a round trip: comments, anchors, quoting and
key order stay as they were. A deployment of the same name and entrypoint (or the placeholder
deployment `init` writes) is replaced; otherwise the new one is appended."""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from flowplan.project.bounds import read_text


def guess_indent(text: str) -> tuple[int, int, int]:
    """(mapping indent, sequence indent, dash offset) as the file writes them: the first
    nested key, and the first list under a key (where its dash and its content start);
    defaults 2, 2 and 0, as `prefect init` writes."""
    mapping = offset = sequence = None
    parent: int | None = None
    for line in text.splitlines():
        stripped = line.lstrip(" ")
        if not stripped or stripped.startswith("#"):
            continue
        depth = len(line) - len(stripped)
        if (parent is not None and depth > parent) or (parent is not None and stripped[:2] == "- "):
            if stripped.startswith("- ") and offset is None:
                offset = depth - parent
                sequence = offset + len(stripped) - len(stripped[1:].lstrip(" "))
            elif not stripped.startswith("- ") and mapping is None:
                mapping = depth - parent
        body = stripped[2:] if stripped.startswith("- ") else stripped
        opens = body.rstrip().endswith(":") and not body.startswith(("'", '"'))
        parent = (depth + (2 if stripped.startswith("- ") else 0)) if opens else None
        if mapping is not None and offset is not None:
            break
    offset = offset or 0
    return mapping or 2, sequence or offset + 2, offset


def _yaml(text: str) -> tuple[Any, Any]:
    from ruamel.yaml import YAML

    indent, sequence, offset = guess_indent(text)
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=indent, sequence=sequence, offset=offset)
    yaml.representer.add_representer(  # `null` as Prefect and `flowplan init` write it
        type(None), lambda rep, _: rep.represent_scalar("tag:yaml.org,2002:null", "null")
    )
    return yaml, yaml.load(text) if text.strip() else None


def _placeholder(item: Any) -> bool:
    return isinstance(item, Mapping) and not item.get("name") and not item.get("entrypoint")


def save_deployment(
    path: Path,
    deployment: Mapping[str, Any],
    *,
    project_name: str,
    work_pools: Sequence[Mapping[str, Any]] = (),
) -> str:
    """Write `deployment` (and pools to declare) into the file; returns what happened:
    "created" (a new file), "replaced" or "appended"."""
    text = read_text(path, str(path)) if path.exists() else ""
    saved, outcomes = merged_text(
        text, [deployment], project_name=project_name, work_pools=work_pools
    )
    path.write_text(saved, encoding="utf-8")
    return outcomes[0]


_MARK = "flowplan-new-entry-"
_MARKED = re.compile(rf"^( *)-( +)({_MARK}\d+)$", re.MULTILINE)


def merged_text(
    text: str,
    new_deployments: Sequence[Mapping[str, Any]],
    *,
    project_name: str,
    work_pools: Sequence[Mapping[str, Any]] = (),
) -> tuple[str, list[str]]:
    """The file's text with `new_deployments` saved into it, in order (and pools to declare,
    unless declared already), and what happened to each: "created" (the file was empty),
    "replaced" (the same name and entrypoint, or the placeholder `init` writes) or
    "appended". Comments, anchors, quoting, key order and indentation stay as they were.

    A deployment changed in place is changed in ruamel's round-trip data (its comments stay);
    new entries stand in as markers that the fast emitter's text replaces (emit.py)."""
    yaml, data = _yaml(text)
    if data is None:
        from ruamel.yaml.comments import CommentedMap

        data = CommentedMap(name=project_name)
    fresh = not text.strip()
    deployments = data.get("deployments")
    if deployments is None:
        data["deployments"] = deployments = []
    where: dict[tuple[Any, Any], int] = {}
    for index, item in enumerate(deployments):
        if isinstance(item, Mapping):
            where.setdefault((item.get("name"), item.get("entrypoint")), index)
    placeholders = [i for i, item in enumerate(deployments) if _placeholder(item)]
    pending: dict[str, tuple[Any, int, dict[str, Any]]] = {}  # marker -> (list, index, entry)

    def put(container: Any, index: int | None, entry: dict[str, Any]) -> int:
        marker = f"{_MARK}{len(pending)}"
        if index is None:
            container.append(marker)
            index = len(container) - 1
        else:
            container[index] = marker
        pending[marker] = (container, index, entry)
        return index

    outcomes = []
    for deployment in new_deployments:
        new = dict(deployment)
        same = where.get((new.get("name"), new.get("entrypoint")))
        if same is not None:  # changed in place: its comments, anchors and other keys stay
            item = deployments[same]
            item = pending[item][2] if isinstance(item, str) and item in pending else item
            for key, value in new.items():
                if item.get(key) != value:
                    item[key] = value
            outcome = "replaced"
        else:
            at = placeholders.pop(0) if placeholders else None
            outcome = "appended" if at is None else "replaced"
            where[(new.get("name"), new.get("entrypoint"))] = put(deployments, at, new)
        outcomes.append("created" if fresh else outcome)
    if work_pools:
        declared = data.get("work_pools")
        if declared is None:
            data["work_pools"] = declared = []
        names = {pool.get("name") for pool in declared if isinstance(pool, Mapping)}
        for pool in work_pools:
            if pool.get("name") not in names:
                put(declared, None, dict(pool))
    stream = io.StringIO()
    yaml.dump(data, stream)
    dumped = _spliced(stream.getvalue(), pending, text)
    if dumped is None:  # a marker ruamel did not write on a line of its own (a flow-style list)
        for container, index, entry in pending.values():
            container[index] = quoted(entry)
        stream = io.StringIO()
        yaml.dump(data, stream)
        dumped = stream.getvalue()
    return dumped, outcomes


def _spliced(
    dumped: str, pending: Mapping[str, tuple[Any, int, dict[str, Any]]], original: str
) -> str | None:
    from flowplan.project.emit import Indent, lines

    indent = Indent(*guess_indent(original))
    found = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal found
        found += 1
        dash, gap = len(match.group(1)), len(match.group(2))
        content = dash + 1 + gap
        block = lines(pending[match.group(3)][2], indent, content)
        return "\n".join([f"{match.group(1)}-{match.group(2)}{block[0][content:]}", *block[1:]])

    result = _MARKED.sub(replace, dumped)
    return result if found == len(pending) else None


def quoted(value: Any) -> Any:
    """`value` for ruamel, with text that would not read back as the same text written in
    double quotes (`yes`, `1:30`, `~` are other types to PyYAML), keys included."""
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    from flowplan.project.emit import text

    if isinstance(value, str):
        return DoubleQuotedScalarString(value) if text(value) != value else value
    if isinstance(value, Mapping):
        return {quoted(k): quoted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [quoted(v) for v in value]
    return value


def write_file(path: Path, text: str) -> None:
    """Replace the file's content at once (a reader never sees half of it), keeping its mode."""
    import os
    import tempfile

    if not path.exists():
        path.write_text(text, encoding="utf-8")
        return
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    temporary = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        temporary.chmod(path.stat().st_mode & 0o777)
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
