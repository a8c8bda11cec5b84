"""Options shared by several commands."""

from __future__ import annotations

from enum import Enum

import typer


class Output(str, Enum):
    text = "text"
    json = "json"


OUTPUT = typer.Option(Output.text, "--output", "-o", help="Output format: text or json.")
