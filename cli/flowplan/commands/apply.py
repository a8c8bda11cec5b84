"""`flowplan apply [PLANFILE]`: make the target match the project, under a lock."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import typer

from flowplan import console
from flowplan.backends.protocol import Backend
from flowplan.commands.common import backend
from flowplan.commands.sync_common import (
    ALL,
    MAX_DELETE,
    NAMES,
    PREFECT_FILE,
    PRUNE,
    load_report,
    show_plan,
)
from flowplan.errors import Declined, ExitCode, FlowplanError, UsageError
from flowplan.plan import planfile
from flowplan.plan.apply import Result, apply_plan, stale_objects
from flowplan.plan.builds import Builder
from flowplan.plan.lock import apply_lock
from flowplan.plan.model import Plan
from flowplan.plan.pipeline import Request, file_hash, make_plan
from flowplan.plan.render import SIGNS
from flowplan.plan.specs import BUILD_LABEL
from flowplan.plan.target import read_actual
from flowplan.steps.predict import unknown_in

LOCK_TIMEOUT = typer.Option(30.0, "--lock-timeout", help="Seconds to wait for another apply.")
SKIP_BUILD = typer.Option(
    False, "--skip-build", help="Do not run build/push steps; use their predicted outputs."
)
INSTALL_REQUIREMENTS = typer.Option(
    False, "--install-requirements", help="pip-install packages that steps list in requires:."
)


def needs_build(plan: Plan) -> bool:
    """Whether a deployment the plan changes is made by build or push steps: an apply that
    changes none of those (a no-op above all) builds nothing."""
    return any(
        change.action in ("create", "update")
        and BUILD_LABEL in ((change.after or {}).get("labels") or {})
        for change in plan.changes
    )


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
    """Lock, re-check against the target, apply, report. `fresh_plan()` re-plans; with `built`
    it runs the build and push steps, and the plan it gives (real outputs) is the one applied."""
    with apply_lock(target, lock_timeout):
        if built:
            plan = fresh_plan()
            console.out("After build and push:")
            show_plan(plan)
        elif saved:
            stale = stale_objects(plan, read_actual(target))
            if stale:
                raise FlowplanError(
                    "the saved plan is stale: changed on the target since planning: "
                    + ", ".join(stale[:10]),
                    hint="run 'flowplan plan' again",
                )
        else:
            # another apply may have made some or all of these changes meanwhile: apply what
            # is still needed, but nothing that was not confirmed
            again = fresh_plan()
            if not again.within(plan):
                raise FlowplanError(
                    "the target changed while waiting for the lock; nothing was applied",
                    hint="run the command again to see the new plan",
                )
            if again.counts() != plan.counts():
                console.out(
                    f"Part of the plan was applied meanwhile; still to do: {again.summary()}"
                )
            plan = again
        if any(unknown_in(change.after) for change in plan.changes if change.action != "noop"):
            raise FlowplanError(
                "some values are only known after build, and the build steps did not run",
                hint="run 'flowplan apply' without --skip-build, or give the image tag explicitly",
            )
        results = apply_plan(plan, target, _report)
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
    if not plan.has_changes:
        return int(ExitCode.OK)
    _confirm(auto_approve)
    return run_apply(plan, target, planfile_path is not None, lock_timeout, fresh, build)
