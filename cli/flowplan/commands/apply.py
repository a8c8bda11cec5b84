"""`flowplan apply [PLANFILE]`: make the target match the project, under a lock."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from flowplan import console
from flowplan.commands.common import backend
from flowplan.commands.sync_common import (
    ALL,
    INSTALL_REQUIREMENTS,
    LOCK_TIMEOUT,
    MAX_DELETE,
    NAMES,
    PREFECT_FILE,
    PRUNE,
    SKIP_BUILD,
    load_report,
    run_apply,
    show_plan,
)
from flowplan.errors import Declined, ExitCode, FlowplanError, UsageError
from flowplan.plan import planfile
from flowplan.plan.builds import Builder
from flowplan.plan.lock import clear_dead_lock
from flowplan.plan.model import Plan
from flowplan.plan.pipeline import Request, file_hash, make_plan
from flowplan.plan.session import needs_build


def _confirm(auto_approve: bool) -> None:
    if auto_approve:
        return
    if not sys.stdin.isatty():
        raise UsageError(
            "apply needs confirmation and there is no terminal to ask on",
            hint="pass --auto-approve (after reviewing 'flowplan plan')",
        )
    if not typer.confirm("Apply these changes?", default=False):
        raise Declined("not confirmed; nothing was applied")


def apply(
    planfile_path: Path = typer.Argument(None, metavar="[PLANFILE]", help="A saved plan."),
    prefect_file: Path = PREFECT_FILE,
    name: list[str] = NAMES,
    all_: bool = ALL,
    prune: bool = PRUNE,
    max_delete: int = MAX_DELETE,
    auto_approve: bool = typer.Option(False, "--auto-approve", help="Do not ask to confirm."),
    lock_timeout: float = LOCK_TIMEOUT,
    skip_build: bool = SKIP_BUILD,
    install_requirements: bool = INSTALL_REQUIREMENTS,
) -> int:
    """Apply the plan (made now, or saved with 'plan --out'). A no-op apply writes nothing.

    Build and push steps run once per distinct configuration, after confirmation."""
    target = backend(changes=True)
    report = load_report(prefect_file)
    request = Request(tuple(name), all_, prune, max_delete)
    assert report.project is not None
    builder = Builder(report.project, target, install_requirements, lambda t: console.err(t))
    build = False

    def fresh() -> Plan:
        return make_plan(report, request, target, outputs=builder if build else None)

    if planfile_path is not None:
        if name or all_ or prune or max_delete is not None:
            raise UsageError("a saved plan is applied as it is: -n, --all, --prune and "
                             "--max-delete belong to 'flowplan plan'")  # fmt: skip
        plan = planfile.load(planfile_path, target.target)
        if plan.project_hash != file_hash(prefect_file):
            raise FlowplanError(
                f"the saved plan is stale: {prefect_file} changed since planning",
                hint="run 'flowplan plan --out FILE' again",
            )
    else:
        plan = make_plan(report, request, target)  # predicted outputs: nothing built yet
        build = not skip_build and needs_build(plan)
    show_plan(plan)
    if not plan.has_writes:
        dead = clear_dead_lock(target)  # an apply killed after its last write left it
        if dead is not None:
            console.err(f"Released the apply lock left by {dead} (that process is gone).")
        return int(ExitCode.OK)
    _confirm(auto_approve)
    return run_apply(plan, target, planfile_path is not None, lock_timeout, fresh, build)
