"""Parameters as the flow receives them: coerced to its annotations before the call, as
Prefect's engine does (`Flow.validate_parameters`): "2024-01-05" becomes a `date`,
`{"size": 5}` a pydantic model, "7" an `int`; a value the annotation refuses fails the run
before the flow starts, saying which parameter and why.

- A Prefect flow: Prefect's own `validate_parameters` (unless the flow was declared with
  `validate_parameters=False`), so it gets exactly what Prefect's engine would give it.
- flowplan's `@flow` and plain functions: pydantic's lax validation (what Prefect uses) when
  pydantic is installed where the run executes; otherwise `std_coercion`, which covers the
  standard annotations the same way. A parameter whose annotation neither covers is passed as
  given, and the run's log says so.
"""

from __future__ import annotations

import functools
import inspect
import logging
import typing
from collections.abc import Callable, Mapping
from typing import Any

from flowplan.errors import FlowplanError

logger = logging.getLogger("flowplan.flow_run")
PREFIX = "Validation of flow parameters failed with error: "


class ParameterError(FlowplanError):
    """Parameters the flow's annotations refuse."""


def coerce(source: Any, fn: Callable[..., Any], parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments to call `fn` with (`source` is what the entrypoint named: a
    Prefect flow, a flowplan flow or the function itself)."""
    if _is_prefect_flow(source):
        if not getattr(source, "should_validate_parameters", True):
            return dict(parameters)
        try:
            validated = source.validate_parameters(dict(parameters))
        except Exception as exc:
            raise ParameterError(PREFIX + str(exc)) from None
        return _spread_keywords(fn, validated)
    signature = inspect.signature(fn)
    _check_names(signature, parameters)
    if not pydantic_installed():
        return _standard(fn, signature, parameters)
    return _pydantic(fn, signature, parameters)


@functools.cache
def pydantic_installed() -> bool:
    """Whether pydantic can be imported: asked once per process (the fork server asks before
    it forks, so no run searches the path for a pydantic that is not there)."""
    try:
        import pydantic  # noqa: F401
    except ImportError:
        return False
    return True


def _is_prefect_flow(source: Any) -> bool:
    return type(source).__module__.startswith("prefect.") and callable(
        getattr(source, "validate_parameters", None)
    )


def _spread_keywords(fn: Callable[..., Any], values: dict[str, Any]) -> dict[str, Any]:
    """Prefect's validated values hold `**kwargs` under its name: spread it again."""
    result = dict(values)
    for parameter in inspect.signature(fn).parameters.values():
        if parameter.kind is parameter.VAR_KEYWORD:
            result.update(result.pop(parameter.name, None) or {})
        elif parameter.kind is parameter.VAR_POSITIONAL:
            result.pop(parameter.name, None)
    return result


def _check_names(signature: inspect.Signature, parameters: Mapping[str, Any]) -> None:
    named = {
        name: p for name, p in signature.parameters.items()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }  # fmt: skip
    takes_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    unknown = [name for name in parameters if name not in named]
    if unknown and not takes_any:
        plural = "" if len(unknown) == 1 else "s"
        raise ParameterError(
            f"{PREFIX}unexpected keyword argument{plural}: {', '.join(map(repr, unknown))}"
        )
    missing = [n for n, p in named.items() if p.default is p.empty and n not in parameters]
    if missing:
        raise ParameterError(_message([(name, "Field required") for name in missing]))


def _message(problems: list[tuple[str, str]]) -> str:
    listed = "\n - ".join(f"{where}: {why}" for where, why in problems)
    return f"{PREFIX}Flow run received invalid parameters:\n - {listed}"


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    """Annotations with string ones evaluated (as `from __future__ import annotations` makes
    them); when that fails, the ones that are not strings."""
    try:
        return typing.get_type_hints(fn, include_extras=True)
    except Exception:
        annotations = getattr(fn, "__annotations__", {}) or {}
        return {name: tp for name, tp in annotations.items() if not isinstance(tp, str)}


def _standard(
    fn: Callable[..., Any], signature: inspect.Signature, parameters: Mapping[str, Any]
) -> dict[str, Any]:
    from flowplan.runtime import std_coercion

    hints = _hints(fn)
    result, problems = {}, []
    for name, value in parameters.items():
        declared = signature.parameters.get(name)
        if declared is None or declared.kind is declared.VAR_KEYWORD or name not in hints:
            result[name] = value
            continue
        try:
            result[name] = std_coercion.coerce(hints[name], value)
        except std_coercion.Invalid as exc:
            where = ".".join(str(part) for part in (name, *exc.path))
            problems.append((where, exc.message))
        except std_coercion.Unsupported as exc:
            logger.warning(
                "Parameter %r is passed as given: its annotation (%s) is coerced only when"
                " pydantic is installed where the run executes", name, exc,
            )  # fmt: skip
            result[name] = value
    if problems:
        raise ParameterError(_message(problems))
    return result


def _pydantic(
    fn: Callable[..., Any], signature: inspect.Signature, parameters: Mapping[str, Any]
) -> dict[str, Any]:
    """The given values of the named parameters validated by a model of all their annotations
    (a missing or unknown name was refused before: the defaults are never used, and the values
    of `**kwargs` are not the model's); an annotation pydantic cannot make a model of (a name
    that is not defined) refuses the run, as in Prefect."""
    import pydantic

    fields: dict[str, Any] = {
        name: (Any if p.annotation is p.empty else p.annotation, None)
        for name, p in signature.parameters.items()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }
    config = pydantic.ConfigDict(arbitrary_types_allowed=True)
    try:
        model = pydantic.create_model(f"{fn.__name__}_parameters", __config__=config, **fields)
        model.model_rebuild(_types_namespace=getattr(fn, "__globals__", {}))
        validated = model.model_validate(dict(parameters))
    except pydantic.ValidationError as exc:
        raise ParameterError(_message(
            [(".".join(str(part) for part in error["loc"]), error["msg"])
             for error in exc.errors()]
        )) from None  # fmt: skip
    except Exception as exc:
        raise ParameterError(PREFIX + str(exc)) from None
    return {
        name: getattr(validated, name) if name in fields else value
        for name, value in parameters.items()
    }
