"""`flowplan plan`: what apply would change on the target, field by field. No side effects."""

from __future__ import annotations

from pathlib import Path

import typer

from flowplan import console
from flowplan.backends.protocol import Backend
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
from flowplan.errors import ExitCode, UsageError
from flowplan.plan import planfile
from flowplan.plan.kubernetes import new_findings
from flowplan.plan.pipeline import Request, make_plan, render_jobs
from flowplan.project.validate import FileReport


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
    render_jobs: bool = typer.Option(
        False,
        "--render-jobs",
        help="Print the Kubernetes Job of each deployment on a kubernetes pool (YAML; JSON with"
        " -o json), checked offline, instead of the plan.",
    ),
    output: Output = OUTPUT,
) -> int:
    """Show what apply would change. Never runs steps, never writes to the target.

    Exit codes: 0 success (with --detailed-exitcode: no changes), 2 changes pending (with
    --detailed-exitcode), 1 error (with --render-jobs: a Job has errors).
    """
    if render_jobs and (out is not None or detailed_exitcode or prune):
        raise UsageError("--render-jobs prints Jobs, not a plan: it cannot be combined with"
                         " --out, --detailed-exitcode or --prune")  # fmt: skip
    report = load_report(prefect_file)
    target = backend()
    console.err(f"Target: {target.target}", "dim")
    request = Request(tuple(name), all_, prune, max_delete)
    if render_jobs:
        return _render_jobs(report, request, target, output)
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


def _render_jobs(report: FileReport, request: Request, target: Backend, output: Output) -> int:
    """Each Job on stdout (a YAML stream, or JSON), its findings on stderr."""
    from flowplan.project.emit import Indent, lines

    jobs = render_jobs(report, request, target)
    if output is Output.json:
        console.out_json([job.to_json() for job in jobs])
    else:
        for index, job in enumerate(jobs):
            if index:
                console.out("---")
            console.out(f"# deployment {job.deployment} on work pool {job.pool}")
            for line in lines(job.manifest, Indent()):
                console.out(line)
    if not jobs:
        console.err("No selected deployment runs on a kubernetes work pool.", "dim")
    findings = new_findings(report, jobs)  # validate printed its own already
    for finding in findings:
        severity = "error" if finding.severity == "error" else "warning"
        console.err(f"{finding.severity}: {finding.render()}", severity)
    errors = sum(1 for finding in findings if finding.severity == "error")
    if errors:
        console.err(f"{console.counted(errors, 'error')} in the Kubernetes Jobs.", "error")
        return int(ExitCode.USER_ERROR)
    return int(ExitCode.OK)
