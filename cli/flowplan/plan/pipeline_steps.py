"""Steps of the project model as the mappings the runner takes."""

from __future__ import annotations

from typing import Any

from flowplan.project.model import Step


def step_json(step: Step) -> dict[str, Any]:
    arguments = dict(step.arguments)
    if step.id is not None:
        arguments["id"] = step.id
    if step.requires:
        arguments["requires"] = list(step.requires)
    return {step.function: arguments}
