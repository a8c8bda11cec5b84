"""`flowplan.runtime.flow_run.<field>`: the current flow run (None outside a run), like
`prefect.runtime.flow_run`: id, name, flow_name, parameters, scheduled_start_time, tags."""

from __future__ import annotations

from typing import Any

from flowplan.runtime import context

_FIELDS = {
    "id": "flow_run_id",
    "name": "flow_run_name",
    "flow_name": "flow_name",
    "parameters": "parameters",
    "scheduled_start_time": "scheduled_start_time",
    "tags": "tags",
}


def __getattr__(name: str) -> Any:
    return context.read("flow_run", _FIELDS, name)
