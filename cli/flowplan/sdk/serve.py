"""`serve()`: run deployments' scheduled and triggered runs from this process, without a
separate worker, as Prefect's `serve` does. The deployments are stored in the process pool
`SERVE_POOL` (created when missing) and this process runs a worker limited to them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowplan.backends import get_backend, runtime_backend
from flowplan.errors import ObjectNotFound

if TYPE_CHECKING:
    from flowplan.sdk.deployments import RunnerDeployment

SERVE_POOL = "served"


def serve(
    *deployments: RunnerDeployment,
    limit: int | None = None,
    pause_on_shutdown: bool = True,
    print_starting_message: bool = True,
) -> None:
    """Register `deployments` and run their runs until Ctrl-C (or SIGTERM); then, with
    `pause_on_shutdown`, pause them so their schedules stop creating runs."""
    from flowplan.runtime.worker import Worker, WorkerOptions
    from flowplan.sdk.deployments import deploy

    if not deployments:
        raise ValueError("serve() needs at least one deployment")
    backend = runtime_backend(get_backend(), SERVE_POOL)
    try:
        backend.read_work_pool(SERVE_POOL)
    except ObjectNotFound:
        backend.create_work_pool(
            SERVE_POOL, "process", description="Deployments run by serve() processes."
        )
    stored = deploy(*deployments, work_pool_name=SERVE_POOL, print_next_steps=False)
    ids = tuple(str(item.id) for item in stored)
    for item in stored:
        backend.update_deployment(str(item.id), {"paused": False})
    if print_starting_message:
        names = ", ".join(f"'{d.flow.name}/{d.name}'" for d in stored)
        print(f"Serving {names}. Trigger runs with 'flowplan deployment run'; Ctrl-C stops.")
    options = WorkerOptions(pool=SERVE_POOL, limit=limit, deployments=ids)
    try:
        Worker(
            backend, options, say=lambda text: print(text, flush=True),
            connect=lambda: runtime_backend(get_backend()),
        ).run()  # fmt: skip
    finally:
        if pause_on_shutdown:
            for deployment_id in ids:
                backend.update_deployment(deployment_id, {"paused": True})
