"""Running steps (PREFECT-COMPAT 2.2): one-key mappings, `id` and `requires`, inputs templated
from earlier outputs, secrets, variables and the environment, outputs merged into one namespace.
Every error names the step and is cleaned of secret values."""

from __future__ import annotations

import asyncio
import inspect
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flowplan import masking
from flowplan.errors import FlowplanError, StepExecutionError
from flowplan.steps.catalog import is_sensitive
from flowplan.steps.mapping import split_step
from flowplan.steps.registry import resolve
from flowplan.templating import Placeholder, apply_values, resolve_references, secret_name


@dataclass
class StepContext:
    variable: Callable[[str], Any]  # a variable's value, None when missing
    secret: Callable[[str], str]  # a stored secret's value (raises when missing)
    env: Mapping[str, str] = field(default_factory=lambda: os.environ)
    install_requirements: bool = False
    echo: Callable[[str], None] = lambda text: None
    ran: list[str] = field(default_factory=list)  # step names, in the order they ran


def _block(context: StepContext) -> Callable[[Placeholder], Any]:
    def value(placeholder: Placeholder) -> Any:
        name = secret_name(placeholder)
        secret = context.secret(name)
        masking.register(secret)
        fields = placeholder.name.split(".")[4:]
        return block_field(secret, name, fields) if fields else secret

    return value


def block_field(secret: str, name: str, fields: list[str]) -> Any:
    """`{{ prefect.blocks.secret.<name>.<field>... }}`: that field of a secret holding JSON."""
    try:
        value: Any = json.loads(secret)
    except ValueError:
        raise StepExecutionError(
            f"secret {name!r} is not JSON, so it has no field {'.'.join(fields)!r}"
        ) from None
    for index, field_name in enumerate(fields):
        if not isinstance(value, dict) or field_name not in value:
            where = ".".join(fields[:index]) or "its top level"
            known = ", ".join(map(str, value)) if isinstance(value, dict) else "none"
            raise StepExecutionError(
                f"secret {name!r} has no field {field_name!r} in {where} (fields: {known})"
            )
        value = value[field_name]
    return value


def render_inputs(arguments: Mapping[str, Any], outputs: Mapping[str, Any],
                  context: StepContext) -> Any:  # fmt: skip
    """Earlier outputs, then secrets and variables, then `$ENV`. An output that no earlier step
    produced is an error (Prefect silently drops the argument)."""

    def missing(name: str) -> None:
        raise StepExecutionError(f"{{{{ {name} }}}} is not an output of an earlier step")

    inputs = apply_values(dict(arguments), outputs, resolve_env=False, on_missing=missing)
    inputs = resolve_references(inputs, context.variable, _block(context))
    return apply_values(inputs, {}, environ=context.env)


class _StepRaised(Exception):
    """What the step itself raised (flowplan's own errors stay bugs, with their traceback)."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error


def _call(function: Callable[..., Any], inputs: Mapping[str, Any]) -> Any:
    try:
        result = function(**inputs)
        if inspect.isawaitable(result):
            result = asyncio.run(result)  # type: ignore[arg-type]
    except FlowplanError:
        raise
    except Exception as exc:
        raise _StepRaised(exc) from exc
    return result


def run_steps(
    steps: Sequence[Mapping[str, Any] | None],
    context: StepContext,
    upstream: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Run steps in order; returns the output namespace (a copy of `upstream` plus outputs)."""
    outputs = dict(upstream or {})
    for index, step in enumerate(steps):
        if not step:
            continue
        if len(step) != 1:
            extra = ", ".join(list(step)[1:])
            raise StepExecutionError(f"step {index + 1} has unexpected additional keys: {extra}")
        call = split_step(step)
        name, arguments, step_id, requires = call.function, call.arguments, call.id, call.requires
        context.echo(f" > Running {name.rpartition('.')[2]} step...")
        try:
            inputs = render_inputs(arguments, outputs, context)
            for key, value in inputs.items():
                if is_sensitive(name, key):
                    masking.register(value)
            function = resolve(name, requires, context.install_requirements)
            result = _call(function, inputs)
        except FlowplanError as exc:
            raise StepExecutionError(
                f"step {name!r} failed: {masking.clean(exc.message)}",
                hint=masking.clean(exc.hint) if exc.hint else exc.hint,
            ) from None
        except _StepRaised as raised:
            error = raised.error
            text = masking.clean(str(error))
            raise StepExecutionError(
                f"step {name!r} failed: {type(error).__name__}: {text}"
            ) from None
        context.ran.append(name)
        if isinstance(result, dict):
            if step_id:
                outputs[step_id] = result
            outputs.update(result)
    return outputs
