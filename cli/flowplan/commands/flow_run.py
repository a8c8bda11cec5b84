"""`flowplan flow-run ...`: list, inspect, read logs of, cancel and delete flow runs."""

from __future__ import annotations

import typer

from flowplan import console
from flowplan.commands import run_watch
from flowplan.commands.common import YES, backend, confirm, show_object
from flowplan.commands.options import OUTPUT, Output
from flowplan.domain.objects import StateType
from flowplan.domain.values import check_limit
from flowplan.errors import InvalidInput

app = typer.Typer(help="Inspect and manage flow runs.", no_args_is_help=True)

RUN_ID = typer.Argument(..., help="The flow run's id.")


def _states(names: list[str]) -> list[StateType]:
    states = []
    for name in names:
        try:
            states.append(StateType(name.upper()))
        except ValueError:
            known = ", ".join(state.value for state in StateType)
            raise InvalidInput(f"unknown state {name!r}; known states: {known}") from None
    return states


@app.command("ls")
def ls(
    state: list[str] = typer.Option(
        [], "--state", help="Only runs of this state type (repeatable)."
    ),
    deployment: str = typer.Option(None, "--deployment", help="Only runs of this deployment."),
    limit: int = typer.Option(15, "--limit", help="At most this many runs (newest first)."),
    output: Output = OUTPUT,
) -> None:
    """List flow runs, newest first."""
    check_limit("--limit", limit)
    runs = backend().read_flow_runs(states=_states(state), deployment=deployment, limit=limit)
    if output is Output.json:
        console.out_json_list(run.to_json() for run in runs)
        return
    if not runs:
        console.err("No flow runs.")
        return
    rows = [
        [run.id, run.flow_name, run.name, run.state.name,
         run.expected_start_time.strftime("%Y-%m-%d %H:%M:%S %Z")]
        for run in runs
    ]  # fmt: skip
    console.table("Flow Runs", ["ID", "Flow", "Name", "State", "When"], rows)


@app.command("inspect")
def inspect(run_id: str = RUN_ID, output: Output = OUTPUT) -> None:
    """Show a flow run."""
    run = backend().read_flow_run(run_id)
    show_object(run.to_json(), output)


@app.command("logs")
def logs(
    run_id: str = RUN_ID,
    tail: int = typer.Option(None, "--tail", "-n", help="Only the last N lines."),
    follow: bool = typer.Option(
        False, "--follow", "-f", help="Keep printing new lines until the run ends."
    ),
    output: Output = OUTPUT,
) -> None:
    """Print a flow run's logs."""
    check_limit("--tail", tail, minimum=0)
    if follow:
        if output is Output.json or tail is not None:
            raise InvalidInput("--follow prints text from the first line; drop --output/--tail")
        run_watch.follow(backend(), run_id, timeout=None, states=False)
        return
    lines = backend().read_logs(run_id, limit=tail)
    if output is Output.json:
        console.out_json_list(line.to_json() for line in lines)
        return
    for line in lines:
        console.out(run_watch.log_text(line))


@app.command("cancel")
def cancel(run_id: str = RUN_ID) -> None:
    """Cancel a run: at once if it has not started, else through its worker."""
    run = backend(changes=True).cancel_flow_run(run_id)
    console.out(f"Flow run {run.name!r} is now {run.state.name}.")


@app.command("delete")
def delete(run_id: str = RUN_ID, yes: bool = YES) -> None:
    """Delete a flow run with its states and logs."""
    target = backend(changes=True)
    run = target.read_flow_run(run_id)
    confirm(f"Delete flow run {run.name!r}?", yes)
    target.delete_flow_run(run_id)
    console.out(f"Deleted flow run {run.name!r}.")
