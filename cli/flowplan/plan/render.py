"""Plans as text, Terraform-style: `+` create, `~` update (`old -> new`), `-` delete."""

from __future__ import annotations

import json
from typing import Any

from flowplan import masking
from flowplan.plan.model import Change, Plan
from flowplan.templating import PLACEHOLDER

SIGNS = {"create": "+", "update": "~", "delete": "-"}
_WIDTH = 72
_NOUNS = {"work_pool": "work pool", "work_queue": "work queue", "deployment": "deployment"}


def show(value: Any) -> str:
    """A value on one line; secret references shown as such, long values folded (after the
    values of secrets are masked: a cut would leave part of one)."""
    if isinstance(value, str) and _is_secret(value):
        return "(secret reference)"
    text = masking.mask(json.dumps(_mask(value), sort_keys=True, default=str))  # before folding
    if len(text) > _WIDTH:
        return f"{text[: _WIDTH - 20]}... ({len(text)} characters)"
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


def render_change(change: Change) -> list[str]:
    sign = SIGNS[change.action]
    noun = _NOUNS[change.kind]
    lines = [f"  {sign} {noun} {change.key!r}"]
    if change.drift:
        lines[0] += "  (changed outside flowplan since the last apply)"
    for field in change.fields:
        if change.action == "create" or field.before is None:
            lines.append(f"      + {field.name}: {show(field.after)}")
        elif field.after is None:
            lines.append(f"      - {field.name}: {show(field.before)}")
        else:
            lines += changed(field.name, field.before, field.after, "      ")
    return lines


def full(value: Any) -> str:
    """A value on one line, never folded (secret references still shown as such)."""
    if isinstance(value, str) and _is_secret(value):
        return "(secret reference)"
    return json.dumps(_mask(value), sort_keys=True, default=str)


def changed(name: str, before: Any, after: Any, indent: str) -> list[str]:
    """An update, Terraform style: `old -> new` when it fits on a line; otherwise the keys (or
    items) that changed, nested, each in full, so that no change is ever cut off."""
    line = f"{indent}~ {name}: {full(before)} -> {full(after)}"
    if len(line) <= _WIDTH + 28:
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
                lines += changed(str(key), before[key], after[key], inner)
        return lines
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        lines = [f"{indent}~ {name}:"]
        for index, (old, new) in enumerate(zip(before, after, strict=True)):
            if old != new:
                lines += changed(f"[{index}]", old, new, inner)
        return lines
    return [f"{indent}~ {name}:", f"{inner}- {full(before)}", f"{inner}+ {full(after)}"]


def render(plan: Plan) -> list[str]:
    lines: list[str] = []
    for change in plan.changes:
        if change.action != "noop":
            lines += render_change(change)
    taken = [
        f"  = {_NOUNS[change.kind]} {change.key!r}: apply takes it over (writes its ownership"
        " labels; nothing else changes)"
        for change in plan.changes
        if change.adopt
    ]
    if not lines:
        return ["No changes. The target matches the project.", *taken, "", plan.summary()]
    return [*lines, *taken, "", plan.summary()]
