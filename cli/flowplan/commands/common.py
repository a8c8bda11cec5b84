"""Helpers shared by the resource commands: the backend, the target line, prompts, values."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any

import typer

from flowplan import console
from flowplan.backends import get_backend
from flowplan.backends.protocol import Backend
from flowplan.commands.options import Output
from flowplan.errors import Declined, UsageError


def backend(*, changes: bool = False) -> Backend:
    """The backend of this run; commands that change anything print their target first."""
    chosen = get_backend()
    if changes:
        console.err(f"Target: {chosen.target}", "dim")
    return chosen


def confirm(question: str, yes: bool) -> None:
    """Ask on a terminal; `--yes` answers for scripts. Without a terminal and without `--yes`
    the command stops and names the flag."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError(f"{question} (no terminal to ask on)", hint="pass --yes to confirm")
    if not typer.confirm(question, default=False):
        raise Declined("not confirmed; nothing was changed")


def parse_value(text: str) -> Any:
    """A command-line value: JSON when it parses as JSON, else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def show_fields(data: Mapping[str, Any]) -> None:
    """`inspect` in text form: one `key: value` line per field, nested values as JSON."""
    width = max((len(key) for key in data), default=0)
    for key, value in data.items():
        if isinstance(value, dict | list):
            shown = (
                json.dumps(value, sort_keys=False)
                if value
                else ("{}" if isinstance(value, dict) else "[]")
            )
        else:
            shown = "-" if value is None else str(value)
        console.out(f"{key.ljust(width)}  {shown}")


def show_object(data: Mapping[str, Any], output: Output) -> None:
    """What every `inspect` prints: indented JSON, or one `key: value` line per field."""
    if output is Output.json:
        console.out_json(data)
    else:
        show_fields(data)


def limit_text(value: int | None) -> str:
    return "None" if value is None else str(value)


YES = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation.")
