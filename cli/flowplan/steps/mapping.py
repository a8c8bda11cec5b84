"""A step as prefect.yaml writes it, `{function: {arguments..., id, requires}}`, taken apart in
one place (the project model, the runner and the predictions all read steps this way)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class StepCall:
    function: str
    arguments: dict[str, Any]  # without `id` and `requires`
    id: str | None
    requires: tuple[str, ...]


def split_step(step: Mapping[str, Any]) -> StepCall:
    """The first (callers check: the only) key is the function; a missing or non-mapping body
    means no arguments; `requires` is one requirement or a list of them."""
    function, raw = next(iter(step.items()))
    arguments = dict(raw) if isinstance(raw, Mapping) else {}
    step_id = arguments.pop("id", None)
    requires = arguments.pop("requires", None)
    if isinstance(requires, str):
        required: tuple[str, ...] = (requires,)
    elif isinstance(requires, list):
        required = tuple(str(item) for item in requires)
    else:
        required = ()
    return StepCall(str(function), arguments, step_id if isinstance(step_id, str) else None,
                    required)  # fmt: skip
