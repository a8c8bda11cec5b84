"""Reading the target for a plan (the only I/O a plan does): its objects and its variables."""

from __future__ import annotations

from flowplan.backends.protocol import Backend
from flowplan.plan.compute import Actual


def read_actual(backend: Backend) -> Actual:
    return Actual(
        pools={pool.name: pool for pool in backend.read_work_pools()},
        queues={f"{q.work_pool_name}/{q.name}": q for q in backend.read_work_queues()},
        deployments={d.full_name: d for d in backend.read_deployments()},
    )
