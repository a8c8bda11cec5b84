"""Desired state: what the project file declares, rendered as `prefect deploy` would at deploy
time, without side effects (no steps run, no user code imported).

Variables and `$ENV` are resolved now; secret references stay references; `{{ ctx.* }}` stays for
run time; pull steps keep every placeholder that does not resolve, and sensitive arguments keep
their `$ENV` placeholders (they are read at run time, never stored resolved).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from flowplan.discovery.flows import FlowInfo
from flowplan.domain.events import template_text
from flowplan.domain.job_templates import read_template
from flowplan.domain.schedules import schedule_from_json
from flowplan.domain.specs import DeploymentSpec, ScheduleSpec, check_spec_values
from flowplan.errors import InvalidInput, UsageError
from flowplan.plan.specs import (
    BUILD_LABEL,
    OWNER_LABEL,
    PROJECT_LABEL,
    Desired,
    PoolSpec,
    QueueSpec,
    WebhookSpec,
)
from flowplan.project.model import DeploymentConfig, Project
from flowplan.settings import default_work_pool
from flowplan.steps.catalog import default_pull, is_sensitive
from flowplan.steps.predict import KNOWN_AFTER_BUILD
from flowplan.templating import Placeholder, apply_values, resolve_references, secret_name

_SCHEDULE_META = ("active", "parameters", "slug", "replaces", "max_scheduled_runs")
_NOT_RENDERED = frozenset({"build", "push", "pull", "triggers"})  # steps render when they run


@dataclass(frozen=True)
class Overrides:
    """Command-line options of `deploy` for a single selected deployment (a name and an
    entrypoint from the command line are written into the deployment's mapping instead)."""

    pool: str | None = None
    queue: str | None = None
    description: str | None = None
    version: str | None = None
    tags: tuple[str, ...] | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    job_variables: dict[str, Any] = field(default_factory=dict)
    schedules: tuple[dict[str, Any], ...] = ()
    timezone: str | None = None
    enforce_parameter_schema: bool | None = None
    # made from the command line, not declared in the project file: not labelled as the
    # project's, so `--prune` never deletes it
    undeclared: bool = False

    @property
    def given(self) -> bool:
        return replace(self, undeclared=False) != Overrides()


def matches(pattern: str, config: DeploymentConfig, flow: FlowInfo | None) -> bool:
    """`-n` patterns (PREFECT-COMPAT 5.3): `deployment`, `flow/deployment`, `*` globs. The flow
    part matches the real flow name as well as the function name (`_` and `-` alike)."""
    if config.name is None:
        return False
    function = (config.entrypoint or "").rpartition(":")[2].rpartition(".")[2]
    candidates = [function] if flow is None else [function, flow.name]
    return matches_names(pattern, config.name, candidates)


def matches_names(pattern: str, name: str, flows: Sequence[str]) -> bool:
    """A `-n` pattern against a deployment name and the names its flow goes by."""

    def full(part: str, text: str) -> bool:
        return re.fullmatch(".*".join(map(re.escape, part.split("*"))), text) is not None

    flow_part, _, name_part = pattern.rpartition("/")
    if not full(name_part, name):
        return False
    if not flow_part:
        return True
    return any(full(flow_part.replace("-", "_"), c.replace("-", "_")) for c in flows)


def select(
    project: Project, flows: Mapping[int, FlowInfo], names: Sequence[str], everything: bool
) -> tuple[list[DeploymentConfig], list[str]]:
    """(selected configs, names that matched nothing). No names means every deployment."""
    if everything and names:
        raise UsageError("use either --all or -n/--name, not both")
    if not names:
        return list(project.deployments), []
    chosen: list[DeploymentConfig] = []
    unmatched = []
    for pattern in names:
        found = [c for c in project.deployments if matches(pattern, c, flows.get(c.index))]
        if not found:
            unmatched.append(pattern)
        chosen += [c for c in found if c not in chosen]
    return chosen, unmatched


def project_name(project: Project) -> str:
    return project.name or project.directory.name


def desired_state(
    project: Project,
    flows: Mapping[int, FlowInfo],
    configs: Sequence[DeploymentConfig],
    *,
    variable: Callable[[str], Any],
    env: Mapping[str, str] | None = None,
    overrides: Overrides | None = None,
    outputs: Callable[[DeploymentConfig], Mapping[str, Any]] | None = None,
) -> Desired:
    """The pools, queues and deployments the project declares (only `configs` of them).

    `outputs(config)` gives the build and push outputs of a deployment: predicted for a plan,
    real after the steps ran for apply."""
    environ = os.environ if env is None else env
    warnings: list[str] = []
    name = project_name(project)
    deployments = []
    for config in configs:
        where = f"deployments[{config.index}]" + (f" ({config.name})" if config.name else "")
        produced = outputs(config) if outputs and (config.build or config.push) else {}
        fields = {k: v for k, v in config.data.items() if k not in _NOT_RENDERED}
        data = _render(fields, variable, environ, warnings, where, produced)
        pull = _pull_steps(project, config, environ, produced)
        spec = _deployment(project, name, config, data, flows.get(config.index), pull, environ,
                           overrides)  # fmt: skip
        check_spec_values(spec)  # a variable's value, a flow's default: not in the file itself
        deployments.append(spec)
    pools, queues = _pools(project, variable, environ, warnings)
    return Desired(name, pools, queues, tuple(deployments), tuple(warnings),
                   webhooks=_webhooks(project))  # fmt: skip


def _webhooks(project: Project) -> tuple[WebhookSpec, ...]:
    """`webhooks:` as declared: never rendered (their `{{ }}` are the request's, at each call)."""
    return tuple(
        WebhookSpec(name=item["name"], template=template_text(item["template"]),
                    description=item.get("description"), enabled=item.get("enabled"))
        for item in project.data.get("webhooks") or ()
    )  # fmt: skip


def _keep_secret_references(placeholder: Placeholder) -> str:
    secret_name(placeholder)  # checks the form; the reference itself is kept
    return f"{{{{ {placeholder.name} }}}}"


def _render(
    data: Any, variable: Callable[[str], Any], env: Mapping[str, str], warnings: list[str],
    where: str, produced: Mapping[str, Any] | None = None,
) -> Any:  # fmt: skip
    resolved = resolve_references(data, variable, _keep_secret_references)

    def missing(name: str) -> None:
        warnings.append(f"{where}: no value for placeholder {{{{ {name} }}}}; the field is dropped")

    return apply_values(resolved, produced or {}, skip_prefixes=("ctx.",), on_missing=missing,
                        environ=env)  # fmt: skip


def _pull_steps(
    project: Project, config: DeploymentConfig, env: Mapping[str, str],
    produced: Mapping[str, Any],
) -> list[dict[str, Any]]:  # fmt: skip
    """Pull steps keep what does not resolve now (PREFECT-COMPAT 3.5); sensitive arguments
    keep even their `$ENV` placeholders."""
    if not config.pull:
        if config.pull_is_explicit_empty:
            return []
        return default_pull(str(project.root))
    steps = []
    for step in config.pull:
        rendered = {}
        for key, value in step.as_mapping()[step.function].items():
            if is_sensitive(step.function, key):
                rendered[key] = value
                continue
            rendered[key] = apply_values(value, produced, remove_notset=False, environ=env)
        steps.append({step.function: rendered})
    return steps


def _deployment(
    project: Project, project_label: str, config: DeploymentConfig, data: Mapping[str, Any],
    flow: FlowInfo | None, pull: list[dict[str, Any]], env: Mapping[str, str],
    overrides: Overrides | None,
) -> DeploymentSpec:  # fmt: skip
    o = overrides or Overrides()
    name = data.get("name")
    where = f"deployments[{config.index}]"
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"{where} has no name", hint="add name: ... to the deployment")
    if flow is None:
        raise InvalidInput(
            f"deployment {name!r}: cannot find the flow of entrypoint {config.entrypoint!r}",
            hint="run 'flowplan validate' for details",
        )
    pool = data.get("work_pool") or {}
    pool_name = o.pool or pool.get("name") or default_work_pool(env)
    if not pool_name:
        raise InvalidInput(
            f"deployment {name!r} has no work pool",
            hint="set work_pool.name in prefect.yaml or pass --pool",
        )
    limit, options = data.get("concurrency_limit"), None
    if isinstance(limit, Mapping):  # stored whole: the runtime honours the collision strategy
        options = {k: v for k, v in limit.items() if k != "limit" and v is not None} or None
        limit = limit.get("limit")
    tags = o.tags if o.tags is not None else _tags(data.get("tags"), name)
    return DeploymentSpec(
        flow_name=flow.name, name=name, entrypoint=config.entrypoint,
        path=str(project.root),
        description=o.description or data.get("description") or flow.description,
        version=o.version
        or (str(data["version"]) if data.get("version") is not None else None)
        or flow.version,
        tags=tuple(t for t in tags if t.strip()),
        labels=_labels(config, project_label, o.undeclared, env),
        parameters={**(data.get("parameters") or {}), **o.parameters},
        parameter_openapi_schema=flow.schema(),
        enforce_parameter_schema=o.enforce_parameter_schema
        if o.enforce_parameter_schema is not None
        else _flag(data.get("enforce_parameter_schema")),
        job_variables=_merge(pool.get("job_variables") or {}, o.job_variables),
        work_pool_name=pool_name, work_queue_name=o.queue or pool.get("work_queue_name"),
        pull_steps=pull, concurrency_limit=limit, concurrency_options=options,
        paused=data.get("paused"),
        schedules=_schedules(data, o, name),
        triggers=[dict(t) for t in config.data.get("triggers") or () if isinstance(t, Mapping)],
    )  # fmt: skip


def _tags(value: Any, name: str) -> tuple[str, ...]:
    """A list (a whole `{{ placeholder }}` keeps the type of its value, as in Prefect); text is
    an error, where Prefect would split it into single characters."""
    if isinstance(value, str) and KNOWN_AFTER_BUILD in value:
        return (value,)  # a plan: the build has not run
    if isinstance(value, str):
        raise InvalidInput(
            f"deployment {name!r}: tags became text ({value!r}), not a list",
            hint="Prefect would split it into single characters; give a list",
        )
    return tuple(str(tag) for tag in value or ())


def _flag(value: Any) -> bool | None:
    """A declared true/false; absent or null keeps what the target has (as Prefect does)."""
    return None if value is None else value is not False


def _labels(
    config: DeploymentConfig, project_label: str, undeclared: bool, env: Mapping[str, str]
) -> dict[str, str]:
    labels = {OWNER_LABEL: "flowplan"}
    if not undeclared:
        labels[PROJECT_LABEL] = project_label
    steps = [step.as_mapping() for step in (*config.build, *config.push)]
    if steps:  # which build made the values only a build knows (see compute.settle)
        rendered = apply_values(steps, {}, remove_notset=False, environ=env)
        labels[BUILD_LABEL] = hashlib.sha256(
            json.dumps(rendered, sort_keys=True).encode()
        ).hexdigest()[:16]
    return labels


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """`-jv` merges over the file's job variables (DESIGN.md section 9); mappings key by key."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _schedules(data: Mapping[str, Any], o: Overrides, name: str) -> tuple[ScheduleSpec, ...] | None:
    if data.get("schedules") is None and not data.get("schedule") and not o.schedules:
        return None  # absent or null: the target's schedules are left alone
    items = list(data.get("schedules") or ())
    if data.get("schedule"):
        items.append(data["schedule"])
    items += list(o.schedules)
    specs = []
    for index, item in enumerate(items):
        body = {k: v for k, v in item.items() if k not in _SCHEDULE_META}
        if o.timezone:
            body["timezone"] = o.timezone
        try:
            schedule = schedule_from_json(body)
        except ValueError as exc:
            raise InvalidInput(f"deployment {name!r}: schedules[{index}]: {exc}") from None
        active = item.get("active")
        if isinstance(active, str):
            active = active.strip().lower() in ("true", "1", "yes")
        specs.append(ScheduleSpec(schedule, active, dict(item.get("parameters") or {}),
                                  item.get("slug"), item.get("replaces")))  # fmt: skip
    return tuple(specs)


def _pools(
    project: Project, variable: Callable[[str], Any], env: Mapping[str, str], warnings: list[str]
) -> tuple[tuple[PoolSpec, ...], tuple[QueueSpec, ...]]:
    pools, queues = [], []
    for index, item in enumerate(project.data.get("work_pools") or ()):
        data = _render(dict(item), variable, env, warnings, f"work_pools[{index}]")
        template = data.get("base_job_template")
        if isinstance(template, str):
            template = _read_template(project.root, template, index)
        pools.append(PoolSpec(
            name=data["name"], type=data.get("type", "process"),
            description=data.get("description"), paused=data.get("paused"),
            concurrency_limit=data.get("concurrency_limit"), base_job_template=template,
        ))  # fmt: skip
        for queue in data.get("queues") or ():
            queues.append(QueueSpec(
                pool=data["name"], name=queue["name"], description=queue.get("description"),
                priority=queue.get("priority"), concurrency_limit=queue.get("concurrency_limit"),
                paused=queue.get("paused"),
            ))  # fmt: skip
    return tuple(pools), tuple(queues)


def _read_template(root: Path, relative: str, index: int) -> dict[str, Any]:
    path = (root / relative).resolve()
    where = f"work_pools[{index}].base_job_template"
    if not path.is_relative_to(root):
        raise InvalidInput(f"{where}: {relative!r} is outside the project")
    try:
        return read_template(path, relative)
    except InvalidInput as exc:
        raise InvalidInput(f"{where}: {exc.message}") from None
