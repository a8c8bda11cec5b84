"""Reading the target for a plan (the only I/O a plan does): its objects and its variables."""

from __future__ import annotations

from flowplan.backends.protocol import Backend
from flowplan.domain.events import Webhook
from flowplan.plan.compute import Actual


def read_actual(backend: Backend) -> Actual:
    return Actual(
        pools={pool.name: pool for pool in backend.read_work_pools()},
        queues={f"{q.work_pool_name}/{q.name}": q for q in backend.read_work_queues()},
        deployments={d.full_name: d for d in backend.read_deployments()},
        webhooks=_webhooks(backend),
    )


def _webhooks(backend: Backend) -> dict[str, Webhook] | None:
    """The local store's webhooks; None for a target that keeps none (a Prefect server)."""
    read = getattr(backend, "read_webhooks", None)
    return None if read is None else {hook.name: hook for hook in read()}
