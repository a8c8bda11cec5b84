"""`flowplan import`: the target's deployments, with their pools and queues, into prefect.yaml."""

from __future__ import annotations

from pathlib import Path

import typer

from flowplan import console
from flowplan.commands.common import backend
from flowplan.commands.sync_common import NAMES, PREFECT_FILE


def import_(
    name: list[str] = NAMES,
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print the YAML that would be written; write nothing."
    ),
    prefect_file: Path = PREFECT_FILE,
) -> None:
    """Write deployments from the target into prefect.yaml (comments and layout kept), so that
    plan shows no changes and apply takes them over. Secrets stay references."""
    from flowplan.plan.importing import import_deployments
    from flowplan.project.save import write_file

    target = backend()
    console.err(f"Target: {target.target}", "dim")
    result = import_deployments(target, prefect_file, tuple(name))
    for key in result.declared:
        console.err(f"{key}: already declared in {prefect_file}; left as written")
    for warning in result.warnings:
        console.err(f"warning: {warning}", "warning")
    what = console.counted(len(result.imported), "deployment")
    pools = f" and {console.counted(len(result.pools), 'work pool')}" if result.pools else ""
    if not result.changed:
        console.out(f"Nothing to import: {prefect_file} is unchanged.")
    elif dry_run:
        console.out(result.text.rstrip("\n"))
        for path, _ in result.files:
            console.err(f"Would write the base job template {path}.")
        console.err(f"Dry run: would import {what}{pools} into {prefect_file}; nothing written.")
    else:
        for path, text in result.files:
            write_file(path, text)
            console.out(f"Wrote the base job template {path}.")
        write_file(prefect_file, result.text)
        console.out(f"Imported {what}{pools} into {prefect_file}.")
        console.out("Next: flowplan plan (no changes expected), then flowplan apply to take"
                    " them over.")  # fmt: skip
