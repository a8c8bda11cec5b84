"""`flowplan deploy` on a terminal with answers missing: ask (commands/wizard.py), show the
plan, confirm, apply, offer to save the deployment into prefect.yaml, say what comes next."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from flowplan import console
from flowplan.commands.common import backend
from flowplan.commands.wizard import Given, Questionary, run_wizard
from flowplan.errors import Declined, ExitCode
from flowplan.plan.desired import Overrides
from flowplan.plan.model import Plan


def interactive(prompt: bool) -> bool:
    return prompt and sys.stdin.isatty() and sys.stdout.isatty()


def _discovered(root: Path) -> list[tuple[str, str]]:
    from rich.console import Console

    from flowplan.discovery.flows import discover

    with Console(stderr=True).status("Looking for flows..."):
        flows, _ = discover(root)
    return [(flow.entrypoint, flow.name) for flow in flows]


def _pools() -> dict[str, tuple[str, list[str]]]:
    target = backend()
    queues: dict[str, list[str]] = {}
    for queue in target.read_work_queues():
        queues.setdefault(queue.work_pool_name, []).append(queue.name)
    return {pool.name: (pool.type, queues.get(pool.name, ["default"]))
            for pool in target.read_work_pools()}  # fmt: skip


def _given(entrypoint: str | None, names: list[str], overrides: Overrides,
           pool_type: str | None, data: dict[str, Any], root: Path) -> Given:  # fmt: skip
    from flowplan.project.init import git_facts

    return Given(
        entrypoint=entrypoint, name=names[0] if names else None,
        schedules=[dict(s) for s in overrides.schedules] or None,
        pool=overrides.pool, pool_type=pool_type, queue=overrides.queue,
        has_pull_steps=bool(data.get("pull")),
        git=git_facts(root),
    )  # fmt: skip


def wizard_deploy(
    data: dict[str, Any],
    prefect_file: Path,
    *,
    entrypoint: str | None,
    names: list[str],
    overrides: Overrides,
    pool_type: str | None,
    save: bool | None,
    lock_timeout: float,
    install_requirements: bool,
    extra: dict[str, Any] | None = None,  # fields the command line sets (-cl)
) -> int:
    from flowplan.commands.deploy import _report, declare_pool, deploy_report
    from flowplan.project.save import save_deployment

    root = prefect_file.resolve().parent
    ask = Questionary()
    flows = _discovered(root) if entrypoint is None else []
    given = _given(entrypoint, names, overrides, pool_type, data, root)
    answers = run_wizard(ask, given, root, flows, _pools())
    answers.deployment.update(extra or {})
    project = {**data, "deployments": [answers.deployment]}
    for pool in answers.new_pools:
        project = declare_pool(project, pool["name"], pool["type"])
    report = _report(prefect_file, project)

    def confirm(plan: Plan) -> None:
        if not ask.confirm("Apply these changes?", default=True):
            raise Declined("not confirmed; nothing was deployed")

    code = deploy_report(report, overrides, lock_timeout, install_requirements, confirm)
    if code != ExitCode.OK:
        return code
    wanted = save if save is not None else ask.confirm(
        f"Save this deployment to {prefect_file.name} (so that CI can apply it)?", default=True
    )  # fmt: skip
    if wanted:
        outcome = save_deployment(prefect_file, answers.deployment,
                                  project_name=str(data.get("name") or root.name),
                                  work_pools=answers.new_pools)  # fmt: skip
        console.out(f"Deployment {answers.deployment['name']!r} {outcome} in {prefect_file}.")
        console.out("  $ flowplan plan      # from now on, CI can apply the file unchanged")
    return code
