"""`flowplan variable ...`: values referenced as `{{ prefect.variables.<name> }}`."""

from __future__ import annotations

import json

import typer

from flowplan import console
from flowplan.commands.common import YES, backend, confirm, parse_value
from flowplan.commands.options import OUTPUT, Output

app = typer.Typer(help="Manage variables.", no_args_is_help=True)


@app.command("set")
def set_(
    name: str,
    value: str = typer.Argument(..., help="JSON (number, list, object...) or plain text."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing value."),
    tag: list[str] = typer.Option([], "--tag", help="A tag (repeatable)."),
) -> None:
    """Set a variable."""
    backend(changes=True).set_variable(name, parse_value(value), tags=tag, overwrite=overwrite)
    console.out(f"Set variable {name!r}.")


@app.command("get")
def get(name: str, output: Output = OUTPUT) -> None:
    """Print a variable's value (text as is, other values as JSON)."""
    variable = backend().read_variable(name)
    if output is Output.json:
        console.out_json(variable.to_json())
    elif isinstance(variable.value, str):
        console.out(variable.value)
    else:
        console.out(json.dumps(variable.value))


@app.command("ls")
def ls(output: Output = OUTPUT) -> None:
    """List variables."""
    variables = backend().read_variables()
    if output is Output.json:
        console.out_json_list(variable.to_json() for variable in variables)
        return
    if not variables:
        console.err("No variables.")
        return
    rows = [[v.name, json.dumps(v.value)[:60], ", ".join(v.tags), f"{v.updated:%Y-%m-%d %H:%M}"]
            for v in variables]  # fmt: skip
    console.table("Variables", ["Name", "Value", "Tags", "Updated"], rows)


@app.command("unset")
def unset(name: str, yes: bool = YES) -> None:
    """Delete a variable."""
    target = backend(changes=True)
    target.read_variable(name)
    confirm(f"Delete variable {name!r}?", yes)
    target.delete_variable(name)
    console.out(f"Deleted variable {name!r}.")
