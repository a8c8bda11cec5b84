"""The context of the flow run this process executes (set by the engine), read by flow code
through `flowplan.runtime.flow_run` and `flowplan.runtime.deployment`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class RunContext:
    flow_run_id: str
    flow_run_name: str
    flow_name: str
    parameters: dict[str, Any]
    scheduled_start_time: datetime
    tags: tuple[str, ...] = ()
    deployment_id: str | None = None
    deployment_name: str | None = None
    deployment_version: str | None = None
    deployment_parameters: dict[str, Any] = field(default_factory=dict)

    def template_values(self) -> dict[str, Any]:
        """What `{{ ctx.flow_run.* }}` and `{{ ctx.deployment.* }}` read in pull steps."""
        return {
            "ctx": {
                "flow_run": {
                    "id": self.flow_run_id, "name": self.flow_run_name,
                    "parameters": self.parameters, "tags": list(self.tags),
                    "scheduled_start_time": self.scheduled_start_time.isoformat(),
                },
                "flow": {"name": self.flow_name},
                "deployment": {
                    "id": self.deployment_id, "name": self.deployment_name,
                    "version": self.deployment_version,
                    "parameters": self.deployment_parameters,
                },
            }
        }  # fmt: skip


current: RunContext | None = None


def read(module: str, fields: dict[str, str], name: str) -> Any:
    """`flowplan.runtime.<module>.<name>`: that field of the current run (outside a run: None,
    or an empty mapping or tuple for `parameters` and `tags`)."""
    if name not in fields:
        raise AttributeError(f"flowplan.runtime.{module} has no attribute {name!r}")
    if current is None:
        return {} if name == "parameters" else () if name == "tags" else None
    return getattr(current, fields[name])
