"""`flowplan work-queue ...`: queues inside a work pool (priority, limits, pause)."""

from __future__ import annotations

from typing import Any

import typer

from flowplan import console
from flowplan.commands.common import YES, backend, confirm, limit_text, show_object
from flowplan.commands.options import OUTPUT, Output

app = typer.Typer(help="Manage work queues.", no_args_is_help=True)

POOL = typer.Option(..., "--pool", "-p", help="The work pool the queue belongs to.")


def _change(pool: str, name: str, changes: dict[str, Any], done: str) -> None:
    backend(changes=True).update_work_queue(pool, name, changes)
    console.out(f"Work queue {name!r} in pool {pool!r} {done}.")


@app.command("create")
def create(
    name: str,
    pool: str = POOL,
    priority: int = typer.Option(
        None, "--priority", help="1 is the highest; default: the next free one."
    ),
    limit: int = typer.Option(None, "--limit", "-l", help="Most runs at once from this queue."),
    description: str = typer.Option(None, "--description", help="A description of the queue."),
) -> None:
    """Create a work queue in a pool."""
    queue = backend(changes=True).create_work_queue(
        pool, name, priority=priority, concurrency_limit=limit, description=description
    )
    console.out(f"Created work queue {queue.name!r} in pool {pool!r} (priority {queue.priority}).")


@app.command("ls")
def ls(
    pool: str = typer.Option(None, "--pool", "-p", help="Only this pool's queues."),
    output: Output = OUTPUT,
) -> None:
    """List work queues with their status: READY (polled in the last 60 s), NOT_READY, PAUSED."""
    queues = backend().read_work_queues(pool)
    if output is Output.json:
        console.out_json_list(queue.to_json() for queue in queues)
        return
    if not queues:
        console.err("No work queues.")
        return
    rows = [
        [queue.name, queue.work_pool_name, str(queue.priority), limit_text(queue.concurrency_limit),
         queue.status]
        for queue in queues
    ]  # fmt: skip
    title = f"Work Queues in pool {pool!r}" if pool else "Work Queues"
    console.table(title, ["Name", "Pool", "Priority", "Concurrency Limit", "Status"], rows)


@app.command("inspect")
def inspect(name: str, pool: str = POOL, output: Output = OUTPUT) -> None:
    """Show a work queue."""
    queue = backend().read_work_queue(pool, name)
    show_object(queue.to_json(), output)


@app.command("pause")
def pause(name: str, pool: str = POOL) -> None:
    """Pause a queue: workers take no new runs from it."""
    _change(pool, name, {"is_paused": True}, "paused")


@app.command("resume")
def resume(name: str, pool: str = POOL) -> None:
    """Resume a paused queue."""
    _change(pool, name, {"is_paused": False}, "resumed")


@app.command("set-concurrency-limit")
def set_concurrency_limit(
    name: str, limit: int = typer.Argument(..., help="At least 1."), pool: str = POOL
) -> None:
    """Allow at most LIMIT runs at once from the queue."""
    _change(pool, name, {"concurrency_limit": limit}, f"now runs at most {limit} at once")


@app.command("clear-concurrency-limit")
def clear_concurrency_limit(name: str, pool: str = POOL) -> None:
    """Remove the queue's concurrency limit."""
    _change(pool, name, {"concurrency_limit": None}, "has no concurrency limit")


@app.command("delete")
def delete(name: str, pool: str = POOL, yes: bool = YES) -> None:
    """Delete a queue (not the pool's default queue); its deployments move to the default."""
    target = backend(changes=True)
    target.read_work_queue(pool, name)
    confirm(f"Delete work queue {name!r} of pool {pool!r}?", yes)
    target.delete_work_queue(pool, name)
    console.out(f"Deleted work queue {name!r} from pool {pool!r}.")
