"""`flowplan work-pool ...`: create, list, inspect, change and delete work pools."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from flowplan import console
from flowplan.commands.common import YES, backend, confirm, limit_text, show_object
from flowplan.commands.options import OUTPUT, Output
from flowplan.domain.job_templates import POOL_TYPES, default_template, read_template
from flowplan.errors import InvalidInput, ObjectAlreadyExists, UsageError

app = typer.Typer(help="Manage work pools.", no_args_is_help=True)

TEMPLATE = typer.Option(
    None, "--base-job-template", help="A JSON file with the base job template.", show_default=False
)
LIMIT = typer.Option(None, "--concurrency-limit", help="Most runs at once in the pool.")
DESCRIPTION = typer.Option(None, "--description", help="A description of the pool.")


@app.command("create")
def create(
    name: str = typer.Argument(..., help="The pool's name."),
    type: str = typer.Option("process", "--type", "-t", help="process, docker or kubernetes."),
    base_job_template: Path = TEMPLATE,
    concurrency_limit: int = LIMIT,
    paused: bool = typer.Option(False, "--paused", help="Create the pool paused."),
    description: str = DESCRIPTION,
    overwrite: bool = typer.Option(False, "--overwrite", help="Update the pool if it exists."),
) -> None:
    """Create a work pool (with a `default` queue)."""
    template = read_template(base_job_template) if base_job_template else None
    target = backend(changes=True)
    try:
        pool = target.create_work_pool(
            name, type, description=description, base_job_template=template,
            concurrency_limit=concurrency_limit, is_paused=paused,
        )  # fmt: skip
    except ObjectAlreadyExists:
        if not overwrite:
            raise
        existing = target.read_work_pool(name)
        if existing.type != type:
            raise InvalidInput(
                f"work pool {name!r} is of type {existing.type!r};"
                f" its type cannot change to {type!r}"
            ) from None
        changes: dict[str, Any] = {"is_paused": paused}
        if template is not None:
            changes["base_job_template"] = template
        if concurrency_limit is not None:
            changes["concurrency_limit"] = concurrency_limit
        if description is not None:
            changes["description"] = description
        pool = target.update_work_pool(name, changes)
        console.out(f"Updated work pool {pool.name!r}.")
        return
    console.out(f"Created work pool {pool.name!r} of type {pool.type!r}.")
    from flowplan.backends import chosen
    from flowplan.runtime.infrastructure import worker_hint

    console.out(worker_hint(pool.name, pool.type, embedded=chosen()[0] == "local"))


@app.command("ls")
def ls(output: Output = OUTPUT) -> None:
    """List work pools."""
    pools = backend().read_work_pools()
    if output is Output.json:
        console.out_json_list(pool.to_json() for pool in pools)
        return
    if not pools:
        console.err("No work pools. Create one with: flowplan work-pool create NAME --type process")
        return
    rows = [
        [pool.name + (" (paused)" if pool.is_paused else ""), pool.type, pool.id,
         limit_text(pool.concurrency_limit)]
        for pool in pools
    ]  # fmt: skip
    console.table("Work Pools", ["Name", "Type", "ID", "Concurrency Limit"], rows)


@app.command("inspect")
def inspect(name: str, output: Output = OUTPUT) -> None:
    """Show a work pool, with its base job template."""
    pool = backend().read_work_pool(name)
    show_object(pool.to_json(), output)


@app.command("update")
def update(
    name: str,
    base_job_template: Path = TEMPLATE,
    concurrency_limit: int = LIMIT,
    description: str = DESCRIPTION,
) -> None:
    """Change a work pool's base job template, concurrency limit or description."""
    changes: dict[str, Any] = {}
    if base_job_template is not None:
        changes["base_job_template"] = read_template(base_job_template)
    if concurrency_limit is not None:
        changes["concurrency_limit"] = concurrency_limit
    if description is not None:
        changes["description"] = description
    if not changes:
        raise UsageError(
            "nothing to update",
            hint="give --base-job-template, --concurrency-limit or --description",
        )
    backend(changes=True).update_work_pool(name, changes)
    console.out(f"Updated work pool {name!r}.")


def _set(name: str, changes: dict[str, Any], done: str) -> None:
    backend(changes=True).update_work_pool(name, changes)
    console.out(f"Work pool {name!r} {done}.")


@app.command("pause")
def pause(name: str) -> None:
    """Pause a work pool: workers take no new runs from it."""
    _set(name, {"is_paused": True}, "paused")


@app.command("resume")
def resume(name: str) -> None:
    """Resume a paused work pool."""
    _set(name, {"is_paused": False}, "resumed")


@app.command("set-concurrency-limit")
def set_concurrency_limit(name: str, limit: int = typer.Argument(..., help="At least 1.")) -> None:
    """Allow at most LIMIT runs at once in the pool."""
    _set(
        name,
        {"concurrency_limit": limit},
        f"now runs at most {console.counted(limit, 'flow run')} at once",
    )


@app.command("clear-concurrency-limit")
def clear_concurrency_limit(name: str) -> None:
    """Remove the pool's concurrency limit."""
    _set(name, {"concurrency_limit": None}, "has no concurrency limit")


@app.command("delete")
def delete(
    name: str,
    force: bool = typer.Option(False, "--force", help="Delete even if deployments use it."),
    yes: bool = YES,
) -> None:
    """Delete a work pool and its queues (refused while deployments use it, unless --force)."""
    target = backend(changes=True)
    target.read_work_pool(name)
    confirm(f"Delete work pool {name!r}?", yes)
    target.delete_work_pool(name, force=force)
    console.out(f"Deleted work pool {name!r}.")


@app.command("get-default-base-job-template")
def get_default_base_job_template(
    type: str = typer.Option(..., "--type", "-t", help=", ".join(POOL_TYPES)),
    file: Path = typer.Option(None, "--file", "-f", help="Write it to this file instead."),
) -> None:
    """Print the default base job template of a pool type (a starting point to customise)."""
    text = json.dumps(default_template(type), indent=2) + "\n"
    if file is None:
        console.out(text.rstrip("\n"))
        return
    file.write_text(text, encoding="utf-8")
    console.err(f"Wrote the default {type} base job template to {file}.")
