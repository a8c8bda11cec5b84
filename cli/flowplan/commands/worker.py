"""`flowplan worker start`: run the flow runs of a work pool on this machine."""

from __future__ import annotations

import sys

import typer

from flowplan import console, settings
from flowplan.backends import get_backend, runtime_backend
from flowplan.commands.common import backend
from flowplan.domain.values import check_limit, check_seconds, parse_duration
from flowplan.errors import InvalidInput
from flowplan.runtime.worker import Worker, WorkerOptions, default_name

app = typer.Typer(help="Run flow runs of a work pool on this machine.", no_args_is_help=True)


def _say(text: str) -> None:
    console.out(text)
    sys.stdout.flush()  # a worker's output is read as it happens, often through a pipe


@app.command("start")
def start(
    pool: str = typer.Option(..., "--pool", "-p", help="The work pool to take runs from."),
    work_queue: list[str] = typer.Option(
        [], "--work-queue", "-q", help="Only these queues (repeatable; default: all)."
    ),
    limit: int = typer.Option(None, "--limit", "-l", help="At most this many runs at once."),
    name: str = typer.Option(None, "--name", "-n", help="The worker's name."),
    type_: str = typer.Option(
        None, "--type", "-t", help="The worker type (default: the pool's type): process or docker."
    ),
    poll_interval: float = typer.Option(
        0.5, "--poll-interval", help="Seconds between polls when nothing changed."
    ),
    heartbeat_interval: float = typer.Option(
        30.0, "--heartbeat-interval", help="Seconds between heartbeats (3 missed: crashed)."
    ),
    grace_period: float = typer.Option(
        30.0,
        "--grace-period",
        help="Seconds a cancelled or timed-out run gets between SIGTERM"
        " and SIGKILL (its finally: blocks run meanwhile).",
    ),
    run_once: bool = typer.Option(
        False, "--run-once", help="Run what is due now, wait for it, and exit."
    ),
) -> None:
    """Start a worker: it claims due runs, runs each on the pool type's infrastructure (its
    own process, or its own container for a docker pool) and keeps the pool's schedules
    filled. Ctrl-C (or SIGTERM) stops it after the running runs finish. With
    FLOWPLAN_RUN_RETENTION set (e.g. 30d), it deletes finished runs older than that, with their
    logs, every 10 minutes."""
    check_limit("--limit", limit)
    check_seconds("--poll-interval", poll_interval, minimum=0.001, maximum=86400)
    check_seconds("--heartbeat-interval", heartbeat_interval, minimum=0.001, maximum=86400)
    check_seconds("--grace-period", grace_period, minimum=0, maximum=86400)
    if name is not None and ("/" in name or "%" in name):
        raise InvalidInput(f"worker name {name!r} must not contain '/' or '%'")
    retention_text = settings.run_retention()
    retention = (
        parse_duration(settings.RUN_RETENTION_VARIABLE, retention_text) if retention_text else None
    )
    target = runtime_backend(backend(changes=True), pool)  # a Prefect API: refused, nothing sent
    options = WorkerOptions(
        pool=pool, queues=tuple(work_queue), limit=limit, type=type_,
        poll_interval=poll_interval, heartbeat_interval=heartbeat_interval, run_once=run_once,
        grace_seconds=grace_period,
        name=name or default_name(type_ or target.read_work_pool(pool).type),
        retention=retention,
    )  # fmt: skip
    code = Worker(
        target, options, say=_say, connect=lambda: runtime_backend(get_backend(), pool)
    ).run()
    raise typer.Exit(code)
