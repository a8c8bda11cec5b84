"""Plan files: the JSON of `schemas/plan.schema.json`, with a checksum so edits are refused."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from flowplan import __version__, files
from flowplan.errors import FlowplanError
from flowplan.plan.comparable import digest
from flowplan.plan.model import Change, Plan
from flowplan.private_file import write_private
from flowplan.resources import data_dir
from flowplan.schema_validator import Validator

FORMAT = 1
MAX_PLAN_BYTES = 200 * files.MB  # 10,000 deployments make a 30 MB plan; the largest project 150 MB


@cache
def _schema() -> dict[str, Any]:
    with open(data_dir("schemas") / "plan.schema.json", encoding="utf-8") as handle:
        schema: dict[str, Any] = json.load(handle)
    return schema


def to_json(plan: Plan) -> dict[str, Any]:
    body: dict[str, Any] = {
        "format": FORMAT, "flowplan_version": __version__, "target": plan.target,
        "project_hash": plan.project_hash, "summary": plan.counts(),
        "warnings": list(plan.warnings), "changes": [c.to_json() for c in plan.changes],
    }  # fmt: skip
    body["checksum"] = digest(body)
    return body


def save(plan: Plan, path: Path) -> None:
    """Readable by its owner alone (a plan holds the values it will apply), written whole."""
    try:
        write_private(path, json.dumps(to_json(plan), indent=1) + "\n")
    except OSError as exc:
        raise FlowplanError(f"cannot write the plan file {path}: {exc.strerror}") from None


def load(path: Path, target: str) -> Plan:
    """A saved plan, refused when damaged, edited, newer, or made for another target."""
    try:
        text = files.read_bytes(path, MAX_PLAN_BYTES, "plan files").decode("utf-8")
    except files.UnreadableFile as exc:
        raise FlowplanError(f"cannot read the plan file {path}: {exc.reason}") from None
    except UnicodeDecodeError:
        raise FlowplanError(f"{path} is not a plan file (not UTF-8 text)") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise FlowplanError(
            f"the plan file {path} is damaged (truncated or not JSON: {exc})",
            hint="make a new one with 'flowplan plan --out FILE'",
        ) from None
    if isinstance(data, dict) and isinstance(data.get("format"), int) and data["format"] > FORMAT:
        raise FlowplanError(
            f"the plan file {path} was made by a newer flowplan (format {data['format']}; this"
            f" flowplan reads format {FORMAT})",
            hint="apply it with the flowplan that made it, or plan again",
        )
    issues = Validator(_schema()).issues(data)
    if issues:
        first = issues[0]
        where = ".".join(map(str, first.path)) or "(top level)"
        raise FlowplanError(f"the plan file {path} is not valid: {where}: {first.message}")
    body = {key: value for key, value in data.items() if key != "checksum"}
    if digest(body) != data["checksum"]:
        raise FlowplanError(
            f"the plan file {path} was changed after it was saved; refusing to apply it",
            hint="make a new one with 'flowplan plan --out FILE'",
        )
    if data["target"] != target:
        raise FlowplanError(
            f"the plan file {path} was made for {data['target']}, but this run targets {target}"
        )
    return Plan(
        changes=tuple(Change.from_json(change) for change in data["changes"]),
        target=data["target"],
        project_hash=data["project_hash"],
        warnings=tuple(data.get("warnings") or ()),
    )
