"""`flowplan schema`: print the JSON Schema of prefect.yaml (for editors and other tools)."""

from __future__ import annotations

from flowplan import console
from flowplan.resources import project_schema


def schema() -> None:
    """Print the JSON Schema of prefect.yaml."""
    console.out_json(project_schema())
