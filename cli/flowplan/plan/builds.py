"""Build and push steps at deploy time: run once per distinct step configuration across all
selected deployments (Prefect runs them once per deployment), or predicted for a plan."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from contextlib import chdir
from dataclasses import dataclass, field
from typing import Any

from flowplan.backends import variable_reader
from flowplan.backends.protocol import Backend
from flowplan.project.model import DeploymentConfig, Project
from flowplan.steps.predict import predict
from flowplan.steps.runner import StepContext, render_inputs, run_steps

Outputs = Callable[[DeploymentConfig], Mapping[str, Any]]


def steps_of(config: DeploymentConfig) -> list[dict[str, Any]]:
    return [step.as_mapping() for step in (*config.build, *config.push)]


def predicted(variable: Callable[[str], Any]) -> Outputs:
    """Outputs a plan can know without running anything (secrets are never read for this)."""
    context = StepContext(variable=variable, secret=lambda name: f"{{{{ secret {name} }}}}")

    def outputs(config: DeploymentConfig) -> Mapping[str, Any]:
        return predict(steps_of(config), lambda args, known: render_inputs(args, known, context))

    return outputs


@dataclass
class Builder:
    """Runs each distinct build+push configuration once, in the project root."""

    project: Project
    backend: Backend
    install_requirements: bool = False
    echo: Callable[[str], None] = lambda text: None
    runs: int = 0
    _done: dict[str, Mapping[str, Any]] = field(default_factory=dict)

    def __call__(self, config: DeploymentConfig) -> Mapping[str, Any]:
        steps = steps_of(config)
        if not steps:
            return {}
        key = json.dumps(steps, sort_keys=True)  # the loader gives JSON values only
        if key not in self._done:
            context = StepContext(
                variable=variable_reader(self.backend),
                secret=self.backend.read_secret_value,
                install_requirements=self.install_requirements,
                echo=self.echo,
            )
            with chdir(self.project.root):
                self._done[key] = run_steps(steps, context)
            self.runs += 1
        return self._done[key]
