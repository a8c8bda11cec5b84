"""Reading the target for a plan (the only I/O a plan does): its objects and its variables."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flowplan.backends.protocol import Backend
from flowplan.errors import ObjectNotFound
from flowplan.plan.compute import Actual


def variable_reader(backend: Backend) -> Callable[[str], Any]:
    """Variables for `{{ prefect.variables.x }}`; a missing one reads as None ("")."""

    def read(name: str) -> Any:
        try:
            return backend.read_variable(name).value
        except ObjectNotFound:
            return None

    return read


def read_actual(backend: Backend) -> Actual:
    return Actual(
        pools={pool.name: pool for pool in backend.read_work_pools()},
        queues={f"{q.work_pool_name}/{q.name}": q for q in backend.read_work_queues()},
        deployments={d.full_name: d for d in backend.read_deployments()},
    )
