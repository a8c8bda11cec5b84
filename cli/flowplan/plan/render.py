"""Plans as text, Terraform-style: `+` create, `~` update (`old -> new`), `-` delete.

Lines fit `width` (the terminal's): a value that does not fit is shown key by key, and only a
single value longer than the line is folded. A new deployment shows what the project sets; the
fields flowplan fills in by itself (its labels, the flow's version hash, the project path...)
are named on one line, and the JSON plan keeps every field.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flowplan import masking
from flowplan.plan.model import Change, FieldChange, Plan
from flowplan.templating import PLACEHOLDER

SIGNS = {"create": "+", "update": "~", "delete": "-"}
WIDTH = 100  # the line width when the caller does not know the terminal's
_NOUNS = {"work_pool": "work pool", "work_queue": "work queue", "deployment": "deployment",
          "webhook": "webhook"}  # fmt: skip
_OWN_LABELS = "flowplan.dev/"
_ALL_FIELDS = "--output json shows every field"
_SET_WORKDIR = "prefect.deployments.steps.set_working_directory"


def show(value: Any, room: int = WIDTH - 28) -> str:
    """A value on one line; secret references shown as such; folded past `room` characters
    (after the values of secrets are masked: a cut would leave part of one)."""
    text = full(value)
    if len(text) > room:
        room = max(room, 40)
        return f"{text[: room - 20]}... ({len(text)} characters)"
    return text


def _is_secret(text: str) -> bool:
    return any(m.group(1).startswith("prefect.blocks.secret.") for m in PLACEHOLDER.finditer(text))


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        return "(secret reference)" if _is_secret(value) else value
    if isinstance(value, dict):
        return {key: _mask(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_mask(item) for item in value]
    return value


def full(value: Any) -> str:
    """A value on one line, never folded (secret references still shown as such, the values
    of secrets masked)."""
    if isinstance(value, str) and _is_secret(value):
        return "(secret reference)"
    return masking.mask(json.dumps(_mask(value), sort_keys=True, default=str))


def added(name: str, value: Any, indent: str, width: int = WIDTH) -> list[str]:
    """`+ name: value` on one line when it fits; a mapping that does not fit, key by key."""
    line = f"{indent}+ {name}: {full(value)}"
    if len(line) <= width or not isinstance(value, dict) or not value:
        return [f"{indent}+ {name}: {show(value, width - len(indent) - len(name) - 4)}"]
    lines = [f"{indent}+ {name}:"]
    for key in sorted(value, key=str):
        lines += added(str(key), value[key], indent + "    ", width)
    return lines


def _user_value(change: Change, field: FieldChange) -> Any:
    """What the project set in a field of a new deployment, or None when flowplan filled it in."""
    value, name = field.after, field.name
    if value in (None, [], {}, ""):
        return None
    if name == "labels":
        return {k: v for k, v in value.items() if not k.startswith(_OWN_LABELS)} or None
    if name.startswith("schedules["):
        value = {k: v for k, v in value.items() if v != {}}
        return value["schedule"] if list(value) == ["schedule"] else value
    path = (change.after or {}).get("path")
    default = (
        name in ("path", "parameter_openapi_schema")
        or (name == "version" and isinstance(value, str) and re.fullmatch(r"[0-9a-f]{32}", value))
        or (name, value) in (("enforce_parameter_schema", True), ("work_queue_name", "default"))
        or (name == "pull_steps" and value == [{_SET_WORKDIR: {"directory": path}}])
    )
    return None if default else value


def render_change(change: Change, width: int = WIDTH) -> list[str]:
    sign = SIGNS[change.action]
    noun = _NOUNS[change.kind]
    lines = [f"  {sign} {noun} {change.key!r}"]
    if change.drift:
        lines[0] += "  (changed outside flowplan since the last apply)"
    hidden: list[str] = []
    for field in change.fields:
        if change.action == "create" and change.kind == "deployment":
            value = _user_value(change, field)
            if value is None:
                hidden.append(field.name)
            else:
                lines += added(field.name, value, "      ", width)
        elif change.action == "create" or field.before is None:
            lines += added(field.name, field.after, "      ", width)
        elif field.after is None:
            lines.append(f"      - {field.name}: {show(field.before, width - 10)}")
        else:
            lines += changed(field.name, field.before, field.after, "      ", width)
    if hidden:
        count = f"{len(hidden)} field{'s' if len(hidden) > 1 else ''}"
        lines.append(f"      (not shown: {count} at their defaults; {_ALL_FIELDS})")
    return lines


def changed(name: str, before: Any, after: Any, indent: str, width: int = WIDTH) -> list[str]:
    """An update, Terraform style: `old -> new` when it fits on a line; otherwise the keys (or
    items) that changed, nested, each in full, so that no change is ever cut off."""
    line = f"{indent}~ {name}: {full(before)} -> {full(after)}"
    if len(line) <= width:
        return [line]
    inner = indent + "    "
    if isinstance(before, dict) and isinstance(after, dict):
        lines = [f"{indent}~ {name}:"]
        for key in sorted(set(before) | set(after)):
            if key not in after:
                lines.append(f"{inner}- {key}: {full(before[key])}")
            elif key not in before:
                lines.append(f"{inner}+ {key}: {full(after[key])}")
            elif before[key] != after[key]:
                lines += changed(str(key), before[key], after[key], inner, width)
        return lines
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        lines = [f"{indent}~ {name}:"]
        for index, (old, new) in enumerate(zip(before, after, strict=True)):
            if old != new:
                lines += changed(f"[{index}]", old, new, inner, width)
        return lines
    return [f"{indent}~ {name}:", f"{inner}- {full(before)}", f"{inner}+ {full(after)}"]


def render(plan: Plan, width: int = WIDTH) -> list[str]:
    lines: list[str] = []
    for change in plan.changes:
        if change.action != "noop":
            lines += render_change(change, width)
    taken = [
        f"  = {_NOUNS[change.kind]} {change.key!r}: apply takes it over (writes its ownership"
        " labels; nothing else changes)"
        for change in plan.changes
        if change.adopt
    ]
    if not lines:
        return ["No changes. The target matches the project.", *taken, "", plan.summary()]
    return [*lines, *taken, "", plan.summary()]
