"""`flowplan flows ls [PATH]`: flows found by AST discovery (no user code is imported)."""

from __future__ import annotations

from pathlib import Path

import typer

from flowplan import console
from flowplan.commands.options import OUTPUT, Output
from flowplan.discovery.flows import discover
from flowplan.errors import UsageError

app = typer.Typer(help="Find flows in the source tree.", no_args_is_help=True)


@app.command("ls")
def ls(
    path: Path = typer.Argument(Path(), help="Directory to scan (default: the current one)."),
    output: Output = OUTPUT,
) -> None:
    """List flows: name, entrypoint and parameters, in a stable order."""
    if not path.exists():
        raise UsageError(f"{path}: no such directory")
    if not path.is_dir():
        raise UsageError(f"{path}: not a directory", hint="flows ls scans a directory tree")
    flows, problems = discover(path.resolve())
    for problem in problems:
        console.err(f"warning: {problem.render()} (skipped)", "warning")
    if output is Output.json:
        console.out_json(
            {
                "flows": [flow.to_json() for flow in flows],
                "problems": [problem.render() for problem in problems],
            }
        )
        return
    if not flows:
        console.err("No flows found.")
        return
    rows = [
        [flow.name, flow.entrypoint, ", ".join(p.name for p in flow.parameters) or "-"]
        for flow in flows
    ]
    console.table(None, ["Flow Name", "Entrypoint", "Parameters"], rows)
