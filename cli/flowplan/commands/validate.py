"""`flowplan validate`: check project files without running any user code (the pre-commit hook)."""

from __future__ import annotations

from pathlib import Path

import typer

from flowplan import console
from flowplan.commands.options import OUTPUT, Output
from flowplan.errors import ExitCode
from flowplan.findings import Finding
from flowplan.project.validate import FileReport, Options, validate_file
from flowplan.schema_validator import STOPPED


def validate(
    files: list[Path] = typer.Argument(
        None, help="Project files to check (default: prefect.yaml).", show_default=False
    ),
    prefect_file: Path = typer.Option(
        None, "--prefect-file", help="The project file, as in prefect deploy."
    ),
    strict: bool = typer.Option(False, "--strict", help="Treat warnings as errors."),
    ignore: list[str] = typer.Option(
        [], "--ignore", help="Leave out findings with this code (repeatable)."
    ),
    output: Output = OUTPUT,
) -> int:
    """Validate prefect.yaml files: schema, schedules, templates, steps, entrypoints, parameters.

    Exit 0 when every file is valid (warnings allowed unless --strict), 1 otherwise.
    """
    targets = list(files or ())
    if prefect_file is not None:
        targets.append(prefect_file)
    if not targets:
        targets = [Path("prefect.yaml")]
    options = Options(strict=strict, ignore=frozenset(ignore))
    reports = [validate_file(path, str(path), options) for path in targets]
    if output is Output.json:
        console.out_json(
            {
                "valid": all(report.valid for report in reports),
                "files": [report.to_json() for report in reports],
            }
        )
    else:
        render_reports(reports)
    return int(ExitCode.OK if all(report.valid for report in reports) else ExitCode.USER_ERROR)


MAX_SHOWN = 100  # findings printed per file; `--output json` lists them all


def render_reports(reports: list[FileReport]) -> None:
    for report in reports:
        notes = [finding for finding in report.findings if finding.code == STOPPED]
        listed = [finding for finding in report.findings if finding.code != STOPPED]
        for finding in listed[:MAX_SHOWN]:
            _show(finding)
        if len(listed) > MAX_SHOWN:
            console.out(f"... and {_more(listed[MAX_SHOWN:])} in {report.file}"
                        " (--output json lists them all)")  # fmt: skip
        for finding in notes:  # checking stopped: after the list it cuts short
            _show(finding)
        needs = report.references.to_json()
        for kind, names in needs.items():
            if names:  # what the file needs where it runs: information, not a problem
                console.out(f"info: {report.file} reads {kind}: {', '.join(names)}")
    errors = sum(len(report.errors) for report in reports)
    warnings = sum(len(report.warnings) for report in reports)
    files = console.counted(len(reports), "file")
    if errors:
        summary = f"{console.counted(errors, 'error')}, {console.counted(warnings, 'warning')}"
        console.out(console.styled(f"{summary} in {files}.", "error"))
    else:
        console.out(
            console.styled(f"Valid: {files}, {console.counted(warnings, 'warning')}.", "ok")
        )


def _show(finding: Finding) -> None:
    label = console.styled(
        f"{finding.severity}:", "error" if finding.severity == "error" else "warning"
    )
    console.out(f"{label} {finding.render()}")


def _more(hidden: list[Finding]) -> str:
    """`900 more errors and 3 more warnings`."""
    errors = sum(1 for finding in hidden if finding.severity == "error")
    counts = [(errors, "more error"), (len(hidden) - errors, "more warning")]
    return " and ".join(console.counted(count, noun) for count, noun in counts if count)
