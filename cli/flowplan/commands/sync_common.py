"""What plan, apply and deploy share: options, loading the project, showing a plan."""

from __future__ import annotations

from pathlib import Path

import typer

from flowplan import console
from flowplan.errors import ValidationFailed
from flowplan.plan.model import Plan
from flowplan.plan.render import render
from flowplan.project.validate import FileReport, validate_file

PREFECT_FILE = typer.Option(Path("prefect.yaml"), "--prefect-file", help="The project file.")
NAMES = typer.Option(
    [], "--name", "-n", help="Deployments to include: name, flow/name, globs with * (repeatable)."
)
ALL = typer.Option(False, "--all", help="Every deployment in the file (the default for plan).")
PRUNE = typer.Option(
    False, "--prune", help="Delete deployments this project owns that the file no longer has."
)
MAX_DELETE = typer.Option(None, "--max-delete", help="Allow --prune to delete up to N objects.")


def load_report(path: Path) -> FileReport:
    """A validated project; its findings are printed when it has errors."""
    report = validate_file(path, str(path))
    if not report.valid or report.project is None:
        from flowplan.commands.validate import render_reports

        render_reports([report])
        raise ValidationFailed(f"{path} has errors; nothing was planned")
    for finding in report.warnings:
        console.err(f"warning: {finding.render()}", "warning")
    return report


def show_plan(plan: Plan) -> None:
    for warning in plan.warnings:
        console.err(f"warning: {warning}", "warning")
    for line in render(plan):
        console.out(line)
