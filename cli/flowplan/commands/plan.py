"""`flowplan plan`: what apply would change on the target, field by field. No side effects."""

from __future__ import annotations

from pathlib import Path

import typer

from flowplan import console
from flowplan.commands.common import backend
from flowplan.commands.options import OUTPUT, Output
from flowplan.commands.sync_common import (
    ALL,
    MAX_DELETE,
    NAMES,
    PREFECT_FILE,
    PRUNE,
    load_report,
    settled,
    show_plan,
)
from flowplan.errors import ExitCode
from flowplan.plan import planfile
from flowplan.plan.pipeline import Request, make_plan


def plan(
    prefect_file: Path = PREFECT_FILE,
    name: list[str] = NAMES,
    all_: bool = ALL,
    prune: bool = PRUNE,
    max_delete: int = MAX_DELETE,
    out: Path = typer.Option(None, "--out", help="Save the plan for 'flowplan apply FILE'."),
    detailed_exitcode: bool = typer.Option(
        False, "--detailed-exitcode", help="Exit 0 when there are no changes, 2 when there are."
    ),
    output: Output = OUTPUT,
) -> int:
    """Show what apply would change. Never runs steps, never writes to the target.

    Exit codes: 0 success (with --detailed-exitcode: no changes), 2 changes pending (with
    --detailed-exitcode), 1 error.
    """
    report = load_report(prefect_file)
    target = backend()
    console.err(f"Target: {target.target}", "dim")
    request = Request(tuple(name), all_, prune, max_delete)
    with settled():
        result = make_plan(report, request, target)
    if output is Output.json:
        console.out_json(planfile.to_json(result))
    else:
        show_plan(result)
    if out is not None:
        planfile.save(result, out)
        console.err(f"Saved the plan to {out}; apply it with: flowplan apply {out}")
    if detailed_exitcode and result.has_changes:
        return int(ExitCode.CHANGES_PENDING)
    return int(ExitCode.OK)
