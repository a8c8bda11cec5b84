"""Plans as text, Terraform-style: `+` create, `~` update (`old -> new`), `-` delete."""

from __future__ import annotations

import json
from typing import Any

from flowplan.plan.model import Change, Plan
from flowplan.templating import PLACEHOLDER

SIGNS = {"create": "+", "update": "~", "delete": "-"}
_WIDTH = 72
_NOUNS = {"work_pool": "work pool", "work_queue": "work queue", "deployment": "deployment"}


def show(value: Any) -> str:
    """A value on one line; secret references shown as such, long values folded."""
    if isinstance(value, str) and _is_secret(value):
        return "(secret reference)"
    text = json.dumps(_mask(value), sort_keys=True, default=str)
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
            lines.append(f"      ~ {field.name}: {show(field.before)} -> {show(field.after)}")
    return lines


def render(plan: Plan) -> list[str]:
    lines: list[str] = []
    for change in plan.changes:
        if change.action != "noop":
            lines += render_change(change)
    if not lines:
        return ["No changes. The target matches the project.", "", plan.summary()]
    return [*lines, "", plan.summary()]
