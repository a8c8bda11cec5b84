"""What plan, apply and deploy share: options, loading the project, showing a plan."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from flowplan import console
from flowplan.backends.protocol import Backend
from flowplan.domain.values import MAX_WAIT, check_seconds
from flowplan.errors import ExitCode, UsageError, ValidationFailed
from flowplan.plan.apply import Result
from flowplan.plan.model import Plan
from flowplan.plan.render import SIGNS, render
from flowplan.plan.session import Hooks, apply_session
from flowplan.project.validate import FileReport, validate_file

PREFECT_FILE = typer.Option(Path("prefect.yaml"), "--prefect-file", help="The project file.")
NAMES = typer.Option(
    [], "--name", "-n", help="Deployments to include: name, flow/name, globs with * (repeatable)."
)
ALL = typer.Option(False, "--all", help="Every deployment in the file (the same as giving no -n).")
PRUNE = typer.Option(
    False, "--prune", help="Delete deployments this project owns that the file no longer has."
)
MAX_DELETE = typer.Option(None, "--max-delete", help="Allow --prune to delete up to N objects.")


def load_report(path: Path) -> FileReport:
    """A validated project; its findings are printed when it has errors."""
    if not path.exists():
        where = " in this directory" if path.parent == Path() else ""
        raise UsageError(
            f"no project file: {path} does not exist{where}",
            hint="create one with 'flowplan init', or name another with --prefect-file PATH",
        )
    report = validate_file(path, str(path))
    if not report.valid or report.project is None:
        from flowplan.commands.validate import render_reports

        render_reports([report])
        raise ValidationFailed(f"{path} has errors; nothing was planned")
    for finding in report.warnings:
        console.err(f"warning: {finding.render()}", "warning")
    return report


@contextmanager
def settled() -> Iterator[None]:
    """The objects alive now (a loaded project: a million of them for 10,000 deployments)
    are left out of the cyclic garbage collector's passes until the end of the block: they
    live until the command ends, and walking them again and again took a tenth of a plan."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


_SIGN_STYLES = {"+": "ok", "~": "warning", "-": "error"}


def show_plan(plan: Plan) -> None:
    for warning in plan.warnings:
        console.err(f"warning: {warning}", "warning")
    for line in render(plan, console.width()):
        body = line.lstrip()
        style = _SIGN_STYLES.get(body[:1]) if body[1:2] == " " else None
        if style:
            indent = line[: len(line) - len(body)]
            line = indent + console.styled(body[:1], style) + body[1:]
        console.out(line)


LOCK_TIMEOUT = typer.Option(30.0, "--lock-timeout", help="Seconds to wait for another apply.")
SKIP_BUILD = typer.Option(
    False, "--skip-build", help="Do not run build/push steps; use their predicted outputs."
)
INSTALL_REQUIREMENTS = typer.Option(
    False, "--install-requirements", help="pip-install packages that steps list in requires:."
)


def _report(result: Result) -> None:
    change = result.change
    sign = SIGNS[change.action]
    noun = change.kind.replace("_", " ")
    if result.ok:
        verb = {"create": "created", "update": "updated", "delete": "deleted"}[change.action]
        console.out(f"{sign} {noun} {change.key!r}: {verb}")
    else:
        console.err(f"{sign} {noun} {change.key!r}: FAILED: {result.message}", "error")


def run_apply(
    plan: Plan,
    target: Backend,
    saved: bool,
    lock_timeout: float,
    fresh_plan: Callable[[], Plan],
    built: bool = False,
) -> int:
    """The apply session (plan/session.py), rendered: each result, then the summary."""
    check_seconds("--lock-timeout", lock_timeout, minimum=0, maximum=MAX_WAIT)

    def after_build(fresh: Plan) -> None:
        console.out("After build and push:")
        show_plan(fresh)

    def shrank(fresh: Plan) -> None:
        console.out(f"Part of the plan was applied meanwhile; still to do: {fresh.summary()}")

    results = apply_session(
        plan, target, saved=saved, lock_timeout=lock_timeout, fresh_plan=fresh_plan,
        built=built, hooks=Hooks(built=after_build, shrank=shrank, result=_report),
    )  # fmt: skip
    failed = [r for r in results if not r.ok]
    counts = {a: sum(1 for r in results if r.ok and r.change.action == a)
              for a in ("create", "update", "delete")}  # fmt: skip
    done = f"{counts['create']} added, {counts['update']} changed, {counts['delete']} destroyed"
    if failed:
        console.err(f"Apply failed: {len(failed)} of {console.counted(len(results), 'change')}"
                    f" failed ({done}).",
                    "error")  # fmt: skip
        return int(ExitCode.USER_ERROR)
    console.out(f"Apply complete: {done}.")
    return int(ExitCode.OK)
