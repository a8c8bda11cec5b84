"""`flowplan.runtime.deployment.<field>`: the deployment of the current flow run (None outside
a run, or for a run without one), like `prefect.runtime.deployment`: id, name, version,
parameters, flow_run_id."""

from __future__ import annotations

from typing import Any

from flowplan.runtime import context

_FIELDS = {
    "id": "deployment_id",
    "name": "deployment_name",
    "version": "deployment_version",
    "parameters": "deployment_parameters",
    "flow_run_id": "flow_run_id",
}


def __getattr__(name: str) -> Any:
    return context.read("deployment", _FIELDS, name)
