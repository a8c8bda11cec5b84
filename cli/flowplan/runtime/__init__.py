"""The embedded runtime: scheduler, worker, flow-run engine and the run context.

Flow code reads its run context like `prefect.runtime`: `flowplan.runtime.flow_run.id`,
`.name`, `.parameters`, `.scheduled_start_time`, `flowplan.runtime.deployment.name`. Those two
names are loaded on first use, so importing the package costs nothing.
"""

from __future__ import annotations

import importlib
from types import ModuleType


def __getattr__(name: str) -> ModuleType:
    if name in ("flow_run", "deployment"):
        return importlib.import_module(f"flowplan.runtime.{name}")
    raise AttributeError(f"module 'flowplan.runtime' has no attribute {name!r}")
