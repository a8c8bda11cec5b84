"""An apply session: take the lock, check the plan against the target again, build when asked,
apply, and tell what happened through callbacks (the commands render; this module decides).
`flowplan apply` and `flowplan deploy` both run it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flowplan import masking
from flowplan.backends.protocol import Backend
from flowplan.errors import FlowplanError
from flowplan.plan.apply import Result, apply_plan, stale_objects
from flowplan.plan.lock import apply_lock
from flowplan.plan.model import Plan
from flowplan.plan.specs import BUILD_LABEL
from flowplan.plan.target import read_actual
from flowplan.steps.predict import unknown_in


def needs_build(plan: Plan) -> bool:
    """Whether a deployment the plan changes is made by build or push steps: an apply that
    changes none of those (a no-op above all) builds nothing."""
    return any(
        change.action in ("create", "update")
        and BUILD_LABEL in ((change.after or {}).get("labels") or {})
        for change in plan.changes
    )


@dataclass(frozen=True)
class Hooks:
    """What the session tells its caller: the plan made after building, a plan that shrank
    because another apply did part of it, and each object's result."""

    built: Callable[[Plan], None] = lambda plan: None
    shrank: Callable[[Plan], None] = lambda plan: None
    result: Callable[[Result], None] = lambda result: None


def apply_session(
    plan: Plan,
    target: Backend,
    *,
    saved: bool,
    lock_timeout: float,
    fresh_plan: Callable[[], Plan],
    built: bool = False,
    hooks: Hooks = Hooks(),
) -> list[Result]:
    """Lock, re-check against the target, apply. `fresh_plan()` re-plans; with `built` it runs
    the build and push steps, and the plan it gives (real outputs) is the one applied. A saved
    plan is refused when stale; a fresh one applies what is still needed of what was confirmed
    (another apply may have done part of it) and nothing that was not."""
    with apply_lock(target, lock_timeout):
        if built:
            plan = fresh_plan()
            hooks.built(plan)
        elif saved:
            stale = stale_objects(plan, read_actual(target))
            if stale:
                raise FlowplanError(
                    "the saved plan is stale: changed on the target since planning: "
                    + ", ".join(stale[:10]),
                    hint="run 'flowplan plan' again",
                )
        else:
            again = fresh_plan()
            if not again.within(plan):
                raise FlowplanError(
                    "the target changed while waiting for the lock; nothing was applied",
                    hint="run the command again to see the new plan",
                )
            if again.counts() != plan.counts():
                hooks.shrank(again)
            plan = again
        if any(unknown_in(change.after) for change in plan.changes if change.action != "noop"):
            raise FlowplanError(
                "some values are only known after build, and the build steps did not run",
                hint="run 'flowplan apply' without --skip-build, or give the image tag explicitly",
            )
        _refuse_secret_values(plan)
        return apply_plan(plan, target, hooks.result)


def _refuse_secret_values(plan: Plan) -> None:
    """A secret's value never goes to the target: it would be stored in clear. It gets into a
    deployment through a build or push step's output (a step that echoes a secret, say), or an
    environment value that a step was given as a token too."""
    for change in plan.changes:
        if change.action == "noop" or not change.after:
            continue
        for field, value in change.after.items():
            if masking.holds_secret(value):
                raise FlowplanError(
                    f"{change.kind} {change.key!r}: {field} holds the value of a secret, which"
                    " would be stored in clear; nothing was applied",
                    hint="keep secrets as references ({{ prefect.blocks.secret.NAME }}), resolved"
                    " when the flow runs, not values a step printed or read",
                )
