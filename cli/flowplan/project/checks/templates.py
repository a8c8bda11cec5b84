"""Template references: `{{ step-id.key }}` must name an earlier step; env, blocks, variables.

What each location can see follows Prefect's resolution order (PREFECT-COMPAT 3.5): a build or
push step sees the steps before it; deployment fields see every build and push step; a pull step
sees the build and push steps and the pull steps before it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from flowplan.findings import Finding, Path_, error, warning
from flowplan.project.model import DeploymentConfig, Project, Step, steps_of
from flowplan.steps.catalog import lookup
from flowplan.templating import Placeholder, walk_placeholders

_CONTEXT_ROOTS = frozenset({"flow_run", "flow", "deployment", "work_pool", "worker"})


@dataclass
class References:
    """External values the project needs: environment variables, blocks and variables."""

    env: set[str] = field(default_factory=set)
    blocks: set[str] = field(default_factory=set)
    variables: set[str] = field(default_factory=set)

    def to_json(self) -> dict[str, list[str]]:
        return {
            "env": sorted(self.env),
            "blocks": sorted(self.blocks),
            "variables": sorted(self.variables),
        }


@dataclass(frozen=True)
class Scope:
    """The steps a location can read outputs from, and the ones that run after it."""

    earlier: Sequence[Step]
    later: Sequence[Step]
    in_pull: bool = False


def check(project: Project, references: References, env: Mapping[str, str]) -> Iterator[Finding]:
    if not project.deployments:  # `prefect deploy ENTRYPOINT` runs the file's steps
        steps = {
            a: list(steps_of(project.data.get(a), (a,)) or ()) for a in ("build", "push", "pull")
        }
        deploy_steps = [*steps["build"], *steps["push"]]
        yield from _check_steps(deploy_steps, [], references, env, in_pull=False)
        yield from _check_steps(steps["pull"], deploy_steps, references, env, in_pull=True)
    for deployment in project.deployments:
        yield from _check_deployment(deployment, references, env)


def _check_deployment(
    deployment: DeploymentConfig, refs: References, env: Mapping[str, str]
) -> Iterator[Finding]:
    deploy_steps = [*deployment.build, *deployment.push]
    yield from _check_steps(deploy_steps, [], refs, env, in_pull=False)
    fields = {
        k: v for k, v in deployment.data.items() if k not in ("build", "push", "pull", "triggers")
    }
    scope = Scope(deploy_steps, [*deployment.pull])
    for path, placeholder in walk_placeholders(fields, deployment.path):
        yield from _check_one(path, placeholder, scope, refs, env)
    yield from _check_steps(list(deployment.pull), deploy_steps, refs, env, in_pull=True)


def _check_steps(
    steps: Sequence[Step],
    before: Sequence[Step],
    refs: References,
    env: Mapping[str, str],
    *,
    in_pull: bool,
) -> Iterator[Finding]:
    for index, step in enumerate(steps):
        scope = Scope([*before, *steps[:index]], steps[index:], in_pull)
        for path, placeholder in walk_placeholders(dict(step.arguments), step.argument_path):
            yield from _check_one(path, placeholder, scope, refs, env)


def _check_one(
    path: Path_, placeholder: Placeholder, scope: Scope, refs: References, env: Mapping[str, str]
) -> Iterator[Finding]:
    name = placeholder.name
    text = f"{{{{ {name} }}}}"
    if placeholder.kind == "env":
        variable = name[1:]
        refs.env.add(variable)
        if not variable:
            yield error("template-env", f"{text} names no environment variable", path)
        elif variable not in env and not scope.in_pull:
            yield warning(
                "template-env-unset",
                f"environment variable {variable} is not set here; {text} becomes empty text",
                path,
            )
    elif placeholder.kind == "block":
        parts = name.split(".")[2:]
        if len(parts) < 2:
            yield error(
                "template-block",
                f"{text}: a block reference is prefect.blocks.<type>.<name>[.<field>]",
                path,
            )
        else:
            refs.blocks.add(f"{parts[0]}/{parts[1]}")
    elif placeholder.kind == "variable":
        refs.variables.add(name.split(".", 2)[2])
    elif placeholder.kind == "output":
        yield from _check_output(path, placeholder, text, scope, env)


def _check_output(
    path: Path_, placeholder: Placeholder, text: str, scope: Scope, env: Mapping[str, str]
) -> Iterator[Finding]:
    parts = placeholder.parts
    head = parts[0] if parts else placeholder.name
    if placeholder.name.startswith("prefect."):
        yield error(
            "template-unknown",
            f"{text} is not a known reference",
            path,
            "use prefect.blocks.<type>.<name> or prefect.variables.<name>",
        )
        return
    earlier = {step.id: step for step in scope.earlier if step.id}
    if len(parts) > 1 and head in earlier:
        yield from _check_output_key(path, text, earlier[head], parts[1])
        return
    later_ids = {step.id for step in scope.later if step.id}
    if head in later_ids:
        yield error(
            "template-order", f"{text} refers to step {head!r}, which runs after this one", path
        )
        return
    if len(parts) == 1 and _flat_output_available(head, scope.earlier):
        return
    if len(parts) == 1 and head in env:
        yield warning(
            "template-env-implicit",
            f"{text} resolves from the environment variable {head}",
            path,
            f"write {{{{ ${head} }}}} to say so",
        )
        return
    if scope.in_pull and len(parts) == 1:
        yield warning(
            "template-unresolved",
            f"{text} is not an output of any earlier step; it is kept as literal text",
            path,
        )
        return
    message, hint = _unknown_reference(text, head, parts, earlier)
    yield error("template-reference", message, path, hint)


def _unknown_reference(
    text: str, head: str, parts: list[str], earlier: Mapping[str, Step]
) -> tuple[str, str | None]:
    if head in _CONTEXT_ROOTS:
        return (
            f"{text} is not a step output",
            f"run-time values are written {{{{ ctx.{'.'.join(parts)} }}}}",
        )
    if len(parts) == 1:
        return f"{text} is not an output of any earlier step", None
    close = difflib.get_close_matches(head, list(earlier), 1, 0.6)
    if close:
        return f"no earlier step has id {head!r}", f"did you mean {close[0]!r}?"
    known = ", ".join(sorted(earlier)) or "none"
    return f"no earlier step has id {head!r}", f"step ids before this point: {known}"


def _check_output_key(path: Path_, text: str, step: Step, key: str) -> Iterator[Finding]:
    info = lookup(step.function)
    if info is None or not info.outputs or key in info.outputs:
        return
    close = difflib.get_close_matches(key, sorted(info.outputs), 1, 0.6)
    hint = (
        f"did you mean {close[0]!r}?"
        if close
        else f"its outputs: {', '.join(sorted(info.outputs))}"
    )
    yield error(
        "template-output",
        f"{text}: step {step.id!r} ({info.canonical}) has no output {key!r}",
        path,
        hint,
    )


def _flat_output_available(name: str, steps: Sequence[Step]) -> bool:
    """Outputs are also merged into one flat namespace; custom steps may output anything."""
    for step in steps:
        info = lookup(step.function)
        if info is None or name in info.outputs:
            return True
    return False
