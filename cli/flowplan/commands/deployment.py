"""`flowplan deployment ...`: list, inspect, pause, resume and delete deployments."""

from __future__ import annotations

import typer

from flowplan import console
from flowplan.commands import deployment_schedule
from flowplan.commands.common import YES, backend, confirm, show_object
from flowplan.commands.options import OUTPUT, Output

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
         "paused" if d.paused else "active"]
        for d in deployments
    ]  # fmt: skip
    console.table("Deployments", ["Name", "ID", "Work Pool", "Schedules", "Status"], rows)


@app.command("inspect")
def inspect(name: str = NAME, output: Output = OUTPUT) -> None:
    """Show a deployment with its schedules, parameters and pull steps."""
    deployment = backend().read_deployment(name)
    show_object(deployment.to_json(), output)


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
    deployment = target.read_deployment(name)
    confirm(f"Delete deployment {deployment.full_name!r}?", yes)
    target.delete_deployment(deployment.id)
    console.out(f"Deleted deployment {deployment.full_name!r}.")
