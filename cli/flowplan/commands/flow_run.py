"""`flowplan flow-run ...`: list, inspect, read logs of, cancel, retry and delete flow runs
(by id or by name)."""

from __future__ import annotations

import uuid

import typer

from flowplan import console
from flowplan.backends.protocol import Backend, RuntimeBackend
from flowplan.commands.common import YES, backend, confirm, show_object
from flowplan.commands.options import OUTPUT, Output
from flowplan.domain.clock import utcnow
from flowplan.domain.objects import FlowRun, StateType
from flowplan.domain.values import check_limit, parse_duration
from flowplan.errors import InvalidInput, ObjectNotFound, UsageError

app = typer.Typer(help="Inspect and manage flow runs.", no_args_is_help=True)

RUN_ID = typer.Argument(..., help="The flow run's id or name (e.g. humble-heron).")


def find_run(target: Backend, key: str) -> FlowRun:
    """The run whose id, or else whose name, is `key`; a name several runs share is an error
    that lists their ids."""
    try:
        uuid.UUID(key)
    except ValueError:
        pass
    else:
        return target.read_flow_run(key)
    named = target.read_flow_runs(name=key, limit=20)
    if len(named) == 1:
        return named[0]
    if not named:
        raise ObjectNotFound(f"flow run {key!r} not found (neither the id nor the name of a run)",
                             hint="list runs with: flowplan flow-run ls")  # fmt: skip
    listed = ", ".join(f"{run.id} ({run.state.name})" for run in named)
    raise InvalidInput(f"{len(named)} flow runs are named {key!r}; give one of their ids:"
                       f" {listed}")  # fmt: skip


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
    """Show a flow run (and, for a run a deployment trigger created, the event that caused it)."""
    target = backend()
    run = find_run(target, run_id)
    data = run.to_json()
    firings = getattr(target, "read_firings", None)
    found = firings(flow_run_id=run.id, limit=1) if firings is not None else []
    if found:
        firing = found[0]
        data["created_by"] = {"type": "AUTOMATION", "display_value": firing.automation}
        data["caused_by"] = {"automation": firing.automation, "event": firing.event_name,
                             "event_id": firing.event_id, "reason": firing.reason,
                             "fired": firing.fired.isoformat()}  # fmt: skip
    show_object(data, output)


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
    from flowplan.commands import run_watch  # not at import: `flow-run ls` needs none of it

    check_limit("--tail", tail, minimum=0)
    target = backend()
    run_id = find_run(target, run_id).id
    if follow:
        if output is Output.json or tail is not None:
            raise InvalidInput("--follow prints text from the first line; drop --output/--tail")
        run_watch.follow(target, run_id, timeout=None, states=False)
        return
    lines = target.read_logs(run_id, limit=tail)
    if output is Output.json:
        console.out_json_list(line.to_json() for line in lines)
        return
    for line in lines:
        console.out(run_watch.log_text(line))


@app.command("cancel")
def cancel(run_id: str = RUN_ID) -> None:
    """Cancel a run: at once if it has not started, else through its worker."""
    target = backend(changes=True)
    run = target.cancel_flow_run(find_run(target, run_id).id)
    console.out(f"Flow run {run.name!r} is now {run.state.name}.")


@app.command("delete")
def delete(
    run_id: str = typer.Argument(
        None, help="The flow run's id or name (e.g. humble-heron); or give --older-than."
    ),
    older_than: str = typer.Option(
        None,
        "--older-than",
        help="Delete every finished run (completed, failed, cancelled, crashed) that ended"
        " longer ago than this, e.g. 30d, 12h, 1d12h (units s, m, h, d, w).",
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="With --older-than: only say how many runs would go."
    ),
    yes: bool = YES,
) -> None:
    """Delete a flow run with its states and logs; or, with --older-than, every finished run
    that ended before then (scheduled, pending and running runs always stay)."""
    if (run_id is None) == (older_than is None):
        raise typer.BadParameter(
            "give a flow run's id or name, or --older-than DURATION (not both)",
            param_hint="RUN_ID / --older-than",
        )
    if older_than is not None:
        _delete_older_than(older_than, dry_run, yes)
        return
    if dry_run:
        raise typer.BadParameter("--dry-run goes with --older-than", param_hint="--dry-run")
    target = backend(changes=True)
    run = find_run(target, run_id)
    confirm(f"Delete flow run {run.name!r}?", yes)
    target.delete_flow_run(run.id)
    console.out(f"Deleted flow run {run.name!r}.")


def _delete_older_than(text: str, dry_run: bool, yes: bool) -> None:
    age = parse_duration("--older-than", text)
    target = backend(changes=not dry_run)
    if not isinstance(target, RuntimeBackend):
        raise UsageError(
            f"--older-than deletes runs from flowplan's own store; the target is {target.target}",
            hint="a Prefect server keeps or deletes its runs itself",
        )
    before = utcnow() - age
    count = target.delete_finished_runs(ended_before=before, dry_run=True)
    what = f"{count:,} finished flow run(s) that ended more than {text.strip()} ago"
    if count == 0:
        console.out(f"No finished flow run ended more than {text.strip()} ago: nothing to delete.")
        return
    if dry_run:
        console.out(f"Would delete {what}, with their logs.")
        return
    confirm(f"Delete {what}, with their logs?", yes)
    deleted = target.delete_finished_runs(ended_before=before)
    console.out(f"Deleted {deleted:,} finished flow run(s) that ended more than"
                f" {text.strip()} ago, with their logs.")  # fmt: skip


_FINISHED = (StateType.COMPLETED, StateType.FAILED, StateType.CANCELLED, StateType.CRASHED)


@app.command("retry")
def retry(run_id: str = RUN_ID) -> None:
    """Run a finished flow run again, as Prefect's `flow-run retry` does: it is scheduled
    again (same run, same parameters) and a worker on its pool picks it up."""
    target = backend(changes=True)
    run = find_run(target, run_id)
    if run.state.type not in _FINISHED:
        raise InvalidInput(
            f"flow run {run.name!r} is {run.state.name}: only a finished run (Completed, Failed,"
            " Cancelled or Crashed) can be retried"
        )
    if run.deployment_id is None:
        raise InvalidInput(f"flow run {run.name!r} has no deployment: no worker can run it again")
    target.set_flow_run_state(run.id, StateType.SCHEDULED, message="Retried via CLI", force=True)
    console.out(f"Flow run {run.name!r} is scheduled again; a worker on its pool picks it up.")
