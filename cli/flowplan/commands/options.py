"""Options shared by several commands."""

from __future__ import annotations

from enum import StrEnum

import typer


class Output(StrEnum):
    text = "text"
    json = "json"


OUTPUT = typer.Option(Output.text, "--output", "-o", help="Output format: text or json.")
