"""Saving a deployment into `prefect.yaml` with a round trip: comments, anchors, quoting and
key order stay as they were. A deployment of the same name and entrypoint (or the placeholder
deployment `init` writes) is replaced; otherwise the new one is appended."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from flowplan.project.loader import read_text


def guess_indent(text: str) -> tuple[int, int]:
    """(mapping indent, sequence dash offset) as the file writes them: the first nested key
    and the first list under a key (defaults: 2 and 0, as `prefect init` writes)."""
    mapping = offset = None
    parent: int | None = None
    for line in text.splitlines():
        stripped = line.lstrip(" ")
        if not stripped or stripped.startswith("#"):
            continue
        depth = len(line) - len(stripped)
        if (parent is not None and depth > parent) or (parent is not None and stripped[:2] == "- "):
            if stripped.startswith("- ") and offset is None:
                offset = depth - parent
            elif not stripped.startswith("- ") and mapping is None:
                mapping = depth - parent
        body = stripped[2:] if stripped.startswith("- ") else stripped
        opens = body.rstrip().endswith(":") and not body.startswith(("'", '"'))
        parent = (depth + (2 if stripped.startswith("- ") else 0)) if opens else None
        if mapping is not None and offset is not None:
            break
    return mapping or 2, offset or 0


def _yaml(text: str) -> tuple[Any, Any]:
    from ruamel.yaml import YAML

    indent, offset = guess_indent(text)
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=indent, sequence=indent + offset, offset=offset)
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
    yaml, data = _yaml(text)
    if data is None:
        from ruamel.yaml.comments import CommentedMap

        data = CommentedMap(name=project_name)
    outcome = "created" if not text.strip() else "appended"
    deployments = data.get("deployments")
    if deployments is None:
        data["deployments"] = deployments = []
    new = dict(deployment)
    for index, item in enumerate(deployments):
        same = isinstance(item, Mapping) and item.get("name") == new.get("name") and item.get(
            "entrypoint") == new.get("entrypoint")  # fmt: skip
        if same:  # changed in place: its comments, anchors and other keys stay
            for key, value in new.items():
                if item.get(key) != value:
                    item[key] = value
            outcome = "replaced"
            break
        if _placeholder(item):
            deployments[index] = new
            outcome = "replaced"
            break
    else:
        deployments.append(new)
    if work_pools:
        declared = data.get("work_pools")
        if declared is None:
            data["work_pools"] = declared = []
        names = {pool.get("name") for pool in declared if isinstance(pool, Mapping)}
        declared.extend(dict(pool) for pool in work_pools if pool.get("name") not in names)
    stream = io.StringIO()
    yaml.dump(data, stream)
    path.write_text(stream.getvalue(), encoding="utf-8")
    return outcome
