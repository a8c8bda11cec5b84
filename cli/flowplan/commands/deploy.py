"""`flowplan deploy`: Prefect's non-interactive deploy, as a plan and apply of the selected
deployments in one go (never prunes). Works with or without a prefect.yaml."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from flowplan import console
from flowplan.commands.common import backend, parse_value
from flowplan.commands.run_options import parse_job_variables, parse_parameters
from flowplan.commands.sync_common import (
    INSTALL_REQUIREMENTS,
    LOCK_TIMEOUT,
    NAMES,
    PREFECT_FILE,
    load_report,
    run_apply,
    show_plan,
)
from flowplan.discovery.flows import FlowInfo
from flowplan.domain.schedule_rules import parse_interval
from flowplan.errors import ExitCode, InvalidInput, UsageError, ValidationFailed
from flowplan.plan.builds import Builder
from flowplan.plan.desired import Overrides, matches
from flowplan.plan.model import Plan
from flowplan.plan.pipeline import Request, make_plan
from flowplan.plan.session import needs_build
from flowplan.project.checks.templates import References
from flowplan.project.model import Project, build_project
from flowplan.project.validate import FileReport, semantic_findings


def _overrides(**options: Any) -> Overrides:
    schedules: list[dict[str, Any]] = [{"cron": c} for c in options["cron"]]
    for value in options["interval"]:
        try:
            item: dict[str, Any] = {"interval": parse_interval(parse_value(value))}
        except ValueError as exc:
            raise InvalidInput(f"--interval {value!r}: {exc}") from None
        if options["anchor_date"]:
            item["anchor_date"] = options["anchor_date"].isoformat()
        schedules.append(item)
    schedules += [{"rrule": r} for r in options["rrule"]]
    return Overrides(
        pool=options["pool"], queue=options["queue"], description=options["description"],
        version=options["version"], tags=tuple(options["tag"]) if options["tag"] else None,
        parameters=parse_parameters(options["param"], options["params"]),
        job_variables=parse_job_variables(options["job_variable"]), schedules=tuple(schedules),
        timezone=options["timezone"],
        enforce_parameter_schema=False if options["no_enforce"] else None,
    )  # fmt: skip


def _pick(
    data: dict[str, Any],
    names: list[str],
    everything: bool,
    entrypoint: str | None,
    flows: dict[int, FlowInfo],
) -> list[dict[str, Any]]:
    """The deployment mappings to deploy, with a CLI name and entrypoint applied."""
    configs = [d for d in data.get("deployments") or () if isinstance(d, dict)]
    if everything and names:
        raise UsageError("use either --all or -n/--name, not both")
    if everything:
        return configs
    if entrypoint is not None:
        name = names[0].rpartition("/")[2] if len(names) == 1 else None
        if len(names) > 1:
            raise UsageError("deploying an entrypoint takes one -n NAME")
        same = [c for c in configs if c.get("name") == name] if name else []
        base = same[0] if len(same) == 1 else (configs[0] if len(configs) == 1 else {})
        entrypoint = entrypoint.removeprefix("./")
        chosen = {**base, "entrypoint": entrypoint, "name": name or base.get("name")}
        if not chosen.get("name"):
            raise UsageError("a deployment name is required", hint="pass -n NAME")
        return [chosen]
    if not configs:
        raise UsageError(
            "an entrypoint must be provided: flowplan deploy path/to/file.py:flow_function -n NAME"
            " -p POOL",
            hint="or declare deployments in prefect.yaml",
        )
    if not names:
        if len(configs) == 1:
            return configs
        raise UsageError(
            f"the project file has {len(configs)} deployments and no name was given",
            hint="pass -n NAME (repeatable, globs allowed) or --all",
        )
    project = build_project(Path("prefect.yaml"), data)
    picked: list[dict[str, Any]] = []
    missing = []
    for pattern in names:  # as plan selects: the real flow name matches too
        found = [dict(c.data) for c in project.deployments
                 if matches(pattern, c, flows.get(c.index))]  # fmt: skip
        if not found:
            missing.append(pattern)
        picked += [f for f in found if f not in picked]
    if missing:
        known = ", ".join(str(c.get("name")) for c in configs)
        raise InvalidInput(f"no deployment matches: {', '.join(missing)} (deployments: {known})")
    return picked


def declare_pool(data: dict[str, Any], pool: str, pool_type: str) -> dict[str, Any]:
    """`-p NAME --pool-type TYPE`: the pool is declared (created unless it exists)."""
    from flowplan.domain.job_templates import check_pool_type

    check_pool_type(pool_type)
    declared = [p for p in data.get("work_pools") or () if isinstance(p, dict)]
    if any(p.get("name") == pool for p in declared):
        return data
    return {**data, "work_pools": [*declared, {"name": pool, "type": pool_type}]}


def _report(file: Path, data: dict[str, Any]) -> FileReport:
    """Check the deployments to deploy (file ones were validated with the file already)."""
    project: Project = build_project(file, data)
    report = FileReport(str(file), project=project)
    found = semantic_findings(project, References(), os.environ, report.flows)
    report.findings = [finding for finding, _ in found]
    if not report.valid:
        from flowplan.commands.validate import render_reports

        render_reports([report])
        raise ValidationFailed("the deployment has errors; nothing was deployed")
    return report


def deploy(
    entrypoint: str = typer.Argument(None, help="./path/to/file.py:flow_function"),
    name: list[str] = NAMES,
    pool: str = typer.Option(None, "--pool", "-p", help="Work pool name."),
    queue: str = typer.Option(None, "--work-queue", "-q", help="Work queue name."),
    cron: list[str] = typer.Option([], "--cron", help="A cron schedule (repeatable)."),
    interval: list[str] = typer.Option([], "--interval", help="An interval schedule (repeatable)."),
    rrule: list[str] = typer.Option([], "--rrule", help="An rrule schedule (repeatable)."),
    timezone: str = typer.Option(None, "--timezone", help="Time zone for all schedules."),
    anchor_date: datetime = typer.Option(None, "--anchor-date", help="Anchor of intervals."),
    param: list[str] = typer.Option([], "--param", help="key=value (JSON values parsed)."),
    params: str = typer.Option(None, "--params", help="All parameters as a JSON object."),
    job_variable: list[str] = typer.Option([], "--job-variable", "-jv", help="key=value or JSON."),
    tag: list[str] = typer.Option([], "--tag", "-t", help="A tag (repeatable; replaces)."),
    version: str = typer.Option(None, "--version", help="The deployment version."),
    description: str = typer.Option(None, "--description", "-d", help="The description."),
    no_enforce: bool = typer.Option(
        False, "--no-enforce-parameter-schema", help="Do not check run parameters."
    ),
    concurrency_limit: int = typer.Option(
        None, "--concurrency-limit", "-cl", min=1, help="At most N runs of it at a time."
    ),
    collision_strategy: CollisionStrategy = typer.Option(
        None,
        "--collision-strategy",
        help="With -cl: what a run beyond the limit does: ENQUEUE (wait) or CANCEL_NEW.",
    ),
    all_: bool = typer.Option(
        False,
        "--all",
        help="Every deployment in the file (without it: the one -n or the"
        " entrypoint names, or the file's only deployment).",
    ),
    prefect_file: Path = PREFECT_FILE,
    prompt: bool = typer.Option(
        True,
        "--prompt/--no-prompt",
        help="On a terminal, ask for what is missing (the wizard). Never asks without one.",
    ),
    pool_type: str = typer.Option(
        None, "--pool-type", help="Create the -p pool with this type when it does not exist."
    ),
    save: bool = typer.Option(
        None, "--save/--no-save", help="Save the deployment into prefect.yaml (wizard)."
    ),
    lock_timeout: float = LOCK_TIMEOUT,
    install_requirements: bool = INSTALL_REQUIREMENTS,
) -> int:
    """Plan and apply the selected deployments in one go, never pruning.

    On a terminal, when the command line and prefect.yaml leave the flow, its name or its pool
    open, a wizard asks for them, shows the plan and asks before applying (--no-prompt: never
    ask). Without a terminal it never asks: several deployments with command-line overrides,
    an unnamed deployment or a missing pool are errors that say what to do.
    """
    overrides = _overrides(pool=pool, queue=queue, description=description, version=version,
                           tag=tag, param=param, params=params, job_variable=job_variable,
                           cron=cron, interval=interval, rrule=rrule, timezone=timezone,
                           anchor_date=anchor_date, no_enforce=no_enforce)  # fmt: skip
    limit = _concurrency(concurrency_limit, collision_strategy)
    data: dict[str, Any] = {}
    flows: dict[int, FlowInfo] = {}
    if prefect_file != Path("prefect.yaml") and not prefect_file.exists():
        raise UsageError(f"the project file {prefect_file} does not exist",
                         hint="check --prefect-file")  # fmt: skip
    if prefect_file.exists():
        loaded = load_report(prefect_file)
        data = dict(loaded.project.data)  # type: ignore[union-attr]
        flows = loaded.flows
    from flowplan.commands.deploy_wizard import interactive, wizard_deploy

    real = [d for d in data.get("deployments") or ()
            if isinstance(d, dict) and (d.get("name") or d.get("entrypoint"))]  # fmt: skip
    if pool_type and not pool:
        raise UsageError("--pool-type names the type of the -p pool to create", hint="add -p NAME")
    if interactive(prompt) and not all_ and (entrypoint or not real):
        return wizard_deploy(
            data, prefect_file, entrypoint=entrypoint, names=name, overrides=overrides,
            pool_type=pool_type, save=save, lock_timeout=lock_timeout,
            install_requirements=install_requirements, extra=limit,
        )  # fmt: skip
    if pool_type:
        data = declare_pool(data, pool, pool_type)
    chosen = _pick(data, name, all_, entrypoint, flows)
    if len(chosen) > 1 and (overrides.given or limit):
        raise UsageError(
            f"command-line options apply to one deployment, but {len(chosen)} are selected",
            hint="select one with -n NAME, or put the options in prefect.yaml",
        )
    unnamed = [c for c in chosen if not c.get("name")]
    if unnamed:
        raise InvalidInput("a selected deployment has no name", hint="add name: to it")
    declared = {d.get("name") for d in data.get("deployments") or () if isinstance(d, dict)}
    if entrypoint and chosen[0].get("name") not in declared:
        overrides = replace(overrides, undeclared=True)
        console.err(
            f"Note: {chosen[0]['name']!r} is not declared in {prefect_file}: it is deployed but"
            " not owned by the project, so 'plan --prune' leaves it alone (declare it in the"
            " file to manage it from there)"
        )
    chosen = [{**c, **limit} for c in chosen]
    report = _report(prefect_file, {**data, "deployments": chosen})
    _check_cli_parameters(overrides.parameters, report.flows.get(0))
    return deploy_report(report, overrides, lock_timeout, install_requirements)


class CollisionStrategy(StrEnum):
    ENQUEUE = "ENQUEUE"
    CANCEL_NEW = "CANCEL_NEW"


def _concurrency(limit: int | None, strategy: CollisionStrategy | None) -> dict[str, Any]:
    """`-cl` and `--collision-strategy` as prefect.yaml writes them, as `prefect deploy` does:
    a plain limit, or `{limit, collision_strategy}` when a strategy is given."""
    if limit is None:
        if strategy is not None:  # Prefect ignores it: flowplan says so
            console.err("warning: --collision-strategy is ignored without --concurrency-limit"
                        " (as in Prefect)", "warning")  # fmt: skip
        return {}
    if strategy is None:
        return {"concurrency_limit": limit}
    return {"concurrency_limit": {"limit": limit, "collision_strategy": strategy.value}}


def _check_cli_parameters(parameters: dict[str, Any], flow: FlowInfo | None) -> None:
    """`--param`/`--params` values checked as the same values in prefect.yaml are."""
    from flowplan.project.checks.entrypoints import check_parameter_values

    if not parameters or flow is None:
        return
    found = list(check_parameter_values(parameters, flow, ("--param",)))
    for finding in found:
        where = " ".join(str(part) for part in finding.path[:2])
        inner = ".".join(str(part) for part in finding.path[2:])
        hint = f" ({finding.hint})" if finding.hint else ""
        console.err(f"error: {where}{'.' + inner if inner else ''}: {finding.message}{hint}")
    if found:
        raise ValidationFailed("the parameters given on the command line have errors; nothing"
                               " was deployed")  # fmt: skip


def deploy_report(
    report: FileReport,
    overrides: Overrides,
    lock_timeout: float,
    install_requirements: bool,
    confirm: Callable[[Plan], None] = lambda plan: None,
) -> int:
    """Plan, show, (confirm), apply and print the next steps."""
    target = backend(changes=True)
    assert report.project is not None
    builder = Builder(report.project, target, install_requirements, lambda t: console.err(t))

    build = False

    def fresh() -> Plan:
        outputs = builder if build else None  # predicted until a build is needed
        return make_plan(report, Request(overrides=overrides), target, outputs=outputs)

    plan = fresh()
    build = needs_build(plan)
    show_plan(plan)
    code = ExitCode.OK
    if plan.has_writes:
        confirm(plan)
        code = ExitCode(run_apply(plan, target, False, lock_timeout, fresh, build))
    keys = [c.key for c in plan.changes if c.kind == "deployment"]
    pools = sorted({str((c.after or {}).get("work_pool_name")) for c in plan.changes
                    if c.kind == "deployment"})  # fmt: skip
    if code == ExitCode.OK:
        console.out("")
        console.out("Deployed: " + ", ".join(repr(k) for k in keys))
        idle = [p for p in pools if target.read_work_pool(p).status != "READY"]
        if idle:  # a pool whose worker sent a heartbeat lately needs no hint
            console.out("To run them, start a worker:")
            for pool_name in idle:
                console.out(f"  $ flowplan worker start --pool '{pool_name}'")
        console.out("Trigger a run:" if not idle else "and trigger a run:")
        console.out(f"  $ flowplan deployment run '{keys[0]}'")
    return int(code)
