"""Settings read from the environment, in one place (flowplan's names first, then Prefect's)."""

from __future__ import annotations

import os
from collections.abc import Mapping

# the pool a deployment without one goes to; Prefect's current name, then its older one
DEFAULT_POOL_VARIABLES = (
    "FLOWPLAN_DEFAULT_WORK_POOL_NAME",
    "PREFECT_DEPLOYMENTS_DEFAULT_WORK_POOL_NAME",
    "PREFECT_DEFAULT_WORK_POOL_NAME",
)


def default_work_pool(env: Mapping[str, str] | None = None) -> str | None:
    environ = os.environ if env is None else env
    return next((environ[name] for name in DEFAULT_POOL_VARIABLES if environ.get(name)), None)


# how long finished runs (with their logs) are kept; workers delete older ones
RUN_RETENTION_VARIABLE = "FLOWPLAN_RUN_RETENTION"


def run_retention(env: Mapping[str, str] | None = None) -> str | None:
    """The run retention as written (`30d`, `12h`), or None: runs are kept for good."""
    environ = os.environ if env is None else env
    return environ.get(RUN_RETENTION_VARIABLE, "").strip() or None
