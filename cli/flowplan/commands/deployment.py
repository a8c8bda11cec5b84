"""`flowplan deployment ...`: list, inspect, run, pause, resume and delete deployments."""

from __future__ import annotations

import typer

from flowplan import console
from flowplan.backends.protocol import RuntimeBackend
from flowplan.commands import deployment_schedule
from flowplan.commands.common import YES, backend, confirm, show_fields, show_object
from flowplan.commands.options import OUTPUT, Output
from flowplan.domain.objects import Deployment, SkippedSchedule, schedule_problem
from flowplan.domain.values import MAX_WAIT, check_seconds
from flowplan.errors import UnreadableRow, UsageError

app = typer.Typer(help="Manage deployments.", no_args_is_help=True)
app.add_typer(deployment_schedule.app, name="schedule")

NAME = typer.Argument(..., help="'flow-name/deployment-name', a deployment id, or a unique name.")


@app.command("ls")
def ls(
    flow: str = typer.Option(None, "--flow", help="Only deployments of this flow."),
    output: Output = OUTPUT,
) -> None:
    """List deployments."""
    if output is Output.json:
        console.out_json_list(backend().export_deployments(flow_name=flow))
        return
    deployments = backend().read_deployments(flow_name=flow)
    if not deployments:
        console.err("No deployments.")
        return
    rows = [
        [d.full_name, d.id, d.work_pool_name or "-", str(len(d.schedules)),
         "yes" if d.paused else "no", d.status]
        for d in deployments
    ]  # fmt: skip
    # Status is the one `inspect` shows (READY once a worker polled it in the last minute)
    columns = ["Name", "ID", "Work Pool", "Schedules", "Paused", "Status"]
    console.table("Deployments", columns, rows)


@app.command("inspect")
def inspect(name: str = NAME, output: Output = OUTPUT) -> None:
    """Show a deployment with its schedules, parameters and pull steps, and when its active
    schedules fire next (none while it is paused). A stored schedule the scheduler cannot use
    (it skips it) is listed under skipped_schedules with the reason."""
    target = backend()
    skipped: list[SkippedSchedule] = []
    if isinstance(target, RuntimeBackend):
        deployment, skipped = target.read_deployment_leniently(name)
    else:
        deployment = target.read_deployment(name)
    times, failing = _next_runs(deployment)
    data = {**deployment.to_json(), "next_runs": times}
    skipped += failing
    if skipped:
        data["skipped_schedules"] = [item.to_json() for item in skipped]
        if output is not Output.json:
            for item in skipped:
                console.err(
                    f"warning: the scheduler skips schedule {item.slug!r} ({item.id}):"
                    f" {item.problem} (apply the project that declares it again to replace it,"
                    f" or delete the deployment with 'flowplan deployment delete"
                    f" {deployment.full_name}')",
                    "warning",
                )  # fmt: skip
    show_object(data, output)


def next_runs(deployment: Deployment, count: int = 3) -> list[str]:
    """The next `count` times (UTC, ISO 8601) its active schedules fire, within a year."""
    return _next_runs(deployment, count)[0]


def _next_runs(deployment: Deployment, count: int = 3) -> tuple[list[str], list[SkippedSchedule]]:
    """`next_runs`, and the active schedules whose times cannot be computed (the scheduler
    skips them too), with the reason."""
    from datetime import UTC, datetime, timedelta

    from flowplan.runtime.schedule_times import next_run_times

    if deployment.paused:
        return [], []
    start = datetime.now(UTC)
    end = start + timedelta(days=366)
    times: set[datetime] = set()
    failing = []
    for item in deployment.schedules:
        if not item.active:
            continue
        try:
            times.update(next_run_times(item.schedule, start, end, limit=count))
        except Exception as exc:  # a stored schedule that passed no validation
            failing.append(SkippedSchedule(item.id, item.slug, item.to_json()["schedule"],
                                           item.active, schedule_problem(exc)))  # fmt: skip
    return [moment.isoformat() for moment in sorted(times)[:count]], failing


def _set_paused(name: str, paused: bool) -> None:
    target = backend(changes=True)
    deployment = target.read_deployment(name)
    target.update_deployment(deployment.id, {"paused": paused})
    console.out(f"{'Paused' if paused else 'Resumed'} deployment {deployment.full_name!r}.")


@app.command("pause")
def pause(name: str = NAME) -> None:
    """Pause a deployment: its schedules create no runs until it is resumed."""
    _set_paused(name, True)


@app.command("resume")
def resume(name: str = NAME) -> None:
    """Resume a paused deployment."""
    _set_paused(name, False)


@app.command("delete")
def delete(name: str = NAME, yes: bool = YES) -> None:
    """Delete a deployment, its schedules and its runs that have not started."""
    target = backend(changes=True)
    try:
        deployment = target.read_deployment(name)
        deployment_id, full_name = deployment.id, deployment.full_name
    except UnreadableRow as exc:  # what cannot be read can still be deleted: the fix it names
        console.err(f"warning: {exc.message}", "warning")
        deployment_id, full_name = exc.object_id, exc.name
    confirm(f"Delete deployment {full_name!r}?", yes)
    target.delete_deployment(deployment_id)
    console.out(f"Deleted deployment {full_name!r}.")


@app.command("run")
def run(
    name: str = NAME,
    param: list[str] = typer.Option([], "--param", "-p", help="A parameter, k=v (JSON value)."),
    params: str = typer.Option(None, "--params", help="Parameters as a JSON object."),
    job_variable: list[str] = typer.Option(
        [], "--job-variable", "-jv", help="A job variable for this run, k=v (JSON value)."
    ),
    start_in: str = typer.Option(None, "--start-in", help="Start later: '30s', '5 minutes'."),
    start_at: str = typer.Option(None, "--start-at", help="Start at an ISO time (naive: UTC)."),
    tag: list[str] = typer.Option([], "--tag", "-t", help="A tag for this run (repeatable)."),
    flow_run_name: str = typer.Option(None, "--flow-run-name", help="The run's name."),
    idempotency_key: str = typer.Option(
        None, "--idempotency-key", help="The same key returns the same run."
    ),
    work_queue: str = typer.Option(None, "--work-queue", "-q", help="A queue of its pool."),
    watch: bool = typer.Option(
        False, "--watch", help="Stream logs and states; exit 0 only when the run completes."
    ),
    timeout: float = typer.Option(None, "--timeout", help="With --watch: stop after S seconds."),
) -> None:
    """Create a flow run of a deployment (a worker on its pool runs it)."""
    from flowplan.commands import run_options, run_watch
    from flowplan.sdk.runs import run_deployment

    check_seconds("--timeout", timeout, minimum=0, maximum=MAX_WAIT)
    target = backend(changes=True)
    deployment = target.read_deployment(name)
    values = run_options.parameters(param, params, deployment)
    job_variables = run_options.parse_job_variables(job_variable, json_values=True)
    when = run_options.start_time(start_in, start_at)
    pool = deployment.work_pool_name
    if work_queue and pool:  # a queue the pool lacks is created, as Prefect's server does
        queues = sorted(q.name for q in target.read_work_queues(pool))
        if work_queue not in queues:
            console.err(f"Note: work pool {pool!r} has no queue {work_queue!r} (its queues:"
                        f" {', '.join(queues)}); it is created for this run, as Prefect does.",
                        "warning")  # fmt: skip
    console.out(f"Creating flow run for deployment {deployment.full_name!r}...")
    created = run_deployment(
        deployment.id, parameters=values, scheduled_time=when, timeout=0, tags=tag,
        flow_run_name=run_options.run_name(flow_run_name, {**deployment.parameters, **values}),
        idempotency_key=idempotency_key, work_queue_name=work_queue,
        job_variables=job_variables, client=target,
    )  # fmt: skip
    console.out(f"Created flow run {created.name!r}.")
    show_fields({
        "UUID": created.id, "Parameters": created.parameters,
        "Job Variables": created.job_variables,
        "Scheduled start time": run_options.when_text(created.expected_start_time),
        "Work queue": f"{created.work_pool_name}/{created.work_queue_name}",
    })  # fmt: skip
    if not watch:
        if timeout is not None:
            raise UsageError("--timeout goes with --watch")
        return
    finished = run_watch.follow(target, created.id, timeout=timeout, states=True)
    raise typer.Exit(run_watch.exit_code(finished))
