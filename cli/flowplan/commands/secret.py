"""`flowplan secret ...`: values referenced as `{{ prefect.blocks.secret.<name> }}`.

A secret's value is read from stdin or a hidden prompt, never from an argument (arguments end up
in shell history and `ps`), and no command ever prints it.
"""

from __future__ import annotations

import sys

import typer

from flowplan import console
from flowplan.commands.common import YES, backend, confirm
from flowplan.commands.options import OUTPUT, Output
from flowplan.errors import InvalidInput, ObjectAlreadyExists, ObjectNotFound

app = typer.Typer(help="Manage secrets (values are never printed).", no_args_is_help=True)
_MAX_CHARS = 1024 * 1024  # Prefect's secret blocks are tokens and keys, a few kB at most


def _read_value(name: str) -> str:
    if sys.stdin.isatty():
        value: str = typer.prompt(
            f"Value for secret {name!r}", hide_input=True, confirmation_prompt=True
        )
    else:
        value = sys.stdin.read(_MAX_CHARS + 1)  # `< /dev/zero` must not fill the memory
        if len(value) > _MAX_CHARS:
            raise InvalidInput(f"the value for secret {name!r} is longer than 1 MB")
        value = value[:-1] if value.endswith("\n") else value
        value = value[:-1] if value.endswith("\r") else value
    if not value:
        raise InvalidInput(
            f"the value for secret {name!r} is empty",
            hint='pipe it in: printf %s "$TOKEN" | flowplan secret set NAME',
        )
    return value


@app.command("set")
def set_(
    name: str,
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing secret."),
) -> None:
    """Store a secret; the value comes from stdin, or a hidden prompt on a terminal."""
    target = backend(changes=True)
    exists = any(secret.name == name for secret in target.read_secrets())
    if exists and not overwrite:  # before asking for a value that would be refused
        raise ObjectAlreadyExists(
            f"secret {name!r} already exists", hint="pass --overwrite to replace it"
        )
    target.set_secret(name, _read_value(name), overwrite=overwrite)
    console.out(f"{'Replaced' if exists else 'Stored'} secret {name!r}.")


@app.command("ls")
def ls(output: Output = OUTPUT) -> None:
    """List secrets by name (never their values)."""
    secrets = backend().read_secrets()
    if output is Output.json:
        console.out_json_list(secret.to_json() for secret in secrets)
        return
    if not secrets:
        console.err("No secrets.")
        return
    rows = [[s.name, f"{s.created:%Y-%m-%d %H:%M}", f"{s.updated:%Y-%m-%d %H:%M}"] for s in secrets]
    console.table("Secrets", ["Name", "Created", "Updated"], rows)


@app.command("delete")
def delete(name: str, yes: bool = YES) -> None:
    """Delete a secret."""
    target = backend(changes=True)
    names = [secret.name for secret in target.read_secrets()]
    if name not in names:
        raise ObjectNotFound.named("secret", name, names)
    confirm(f"Delete secret {name!r}?", yes)
    target.delete_secret(name)
    console.out(f"Deleted secret {name!r}.")
