"""Parameters of a flow function and their JSON schema, read from the signature by AST.

The schema is the one Prefect's `parameter_schema` gives for the imported function (and sends
as `parameter_openapi_schema`): pydantic's JSON schema of a model with one field per parameter,
titled with the parameter's name, with its `position`, its JSON default, and its description
from the Google-style docstring; models and enums under `definitions`; `required` and
`definitions` only when not empty.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

from flowplan.discovery.docstrings import parameter_descriptions
from flowplan.discovery.module_types import UNKNOWN, ModuleTypes, literal_value
from flowplan.discovery.type_schema import SchemaContext, jsonable, parameter_annotation_schema

NO_DEFAULT = object()


@dataclass(frozen=True)
class Parameter:
    name: str
    position: int
    required: bool
    schema: dict[str, Any] = field(hash=False)
    annotation: str | None = None
    default: Any = field(default=NO_DEFAULT, hash=False)  # a JSON default, if it has one
    description: str | None = None
    definitions: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    variadic: bool = False  # *args or **kwargs (in the schema; never given by name)

    def validation_schema(self) -> dict[str, Any]:
        """The schema a value of this parameter is checked against (its definitions kept)."""
        if not self.definitions:
            return self.schema
        return {**self.schema, "definitions": self.definitions}


@dataclass(frozen=True)
class Signature:
    parameters: tuple[Parameter, ...]
    accepts_any_keyword: bool  # has **kwargs
    problems: tuple[str, ...] = ()  # what could not be known without running the code


def parameters_of(node: ast.FunctionDef | ast.AsyncFunctionDef, module: ModuleTypes) -> Signature:
    args = node.args
    ctx = SchemaContext(module)
    descriptions = parameter_descriptions(ast.get_docstring(node, clean=False))
    positional = [*args.posonlyargs, *args.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
    defaults += list(args.defaults)
    entries: list[tuple[ast.arg, ast.expr | None, str]] = [
        *((arg, default, "") for arg, default in zip(positional, defaults, strict=True)),
        *([(args.vararg, None, "*")] if args.vararg else []),
        *((arg, default, "") for arg, default in zip(args.kwonlyargs, args.kw_defaults,
                                                      strict=True)),
        *([(args.kwarg, None, "**")] if args.kwarg else []),
    ]  # fmt: skip
    parameters = []
    problems: list[str] = []
    for position, (arg, default, star) in enumerate(entries):
        if arg.arg in ("self", "cls") and not star:
            continue
        ctx.problems = []
        schema = parameter_annotation_schema(arg.annotation, ctx)
        if star:
            schema = _variadic(star, schema)
        value, description = _default(default, module, ctx) if default is not None else (
            [] if star == "*" else {} if star == "**" else NO_DEFAULT, None)  # fmt: skip
        problems += [f"parameter {arg.arg!r}: {problem}" for problem in ctx.problems]
        parameters.append(
            Parameter(
                name=arg.arg,
                position=position,
                required=default is None and not star,
                schema=schema,
                annotation=ast.unparse(arg.annotation) if arg.annotation else None,
                default=value,
                description=description or descriptions.get(arg.arg) or None,
                definitions=ctx.definitions,
                variadic=bool(star),
            )
        )
    return Signature(tuple(parameters), args.kwarg is not None, tuple(problems))


def _variadic(star: str, schema: dict[str, Any]) -> dict[str, Any]:
    if star == "*":
        return {"items": schema, "type": "array"}
    return {"additionalProperties": schema or True, "type": "object"}


def _default(node: ast.expr, module: ModuleTypes, ctx: SchemaContext) -> tuple[Any, str | None]:
    """(the JSON default or NO_DEFAULT, a `Field(description=...)`)."""
    if isinstance(node, ast.Call) and (module.qualify(node.func) or "").endswith(".Field"):
        description = None
        value: Any = node.args[0] if node.args else None
        for keyword in node.keywords:
            if keyword.arg == "default":
                value = keyword.value
            elif keyword.arg == "description":
                text = literal_value(keyword.value, module)
                description = text if isinstance(text, str) else None
        if value is None or (isinstance(value, ast.Constant) and value.value is Ellipsis):
            return NO_DEFAULT, description
        return _default(value, module, ctx)[0], description
    value = literal_value(node, module)
    if value is UNKNOWN:
        ctx.problems.append(
            f"its default ({ast.unparse(node)}) cannot be read without running the code, so the"
            " schema has no default for it"
        )
        return NO_DEFAULT, None
    return jsonable(value), None


def parameter_schema(parameters: tuple[Parameter, ...]) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    definitions: dict[str, Any] = {}
    for parameter in parameters:
        entry: dict[str, Any] = {"title": parameter.name, "position": parameter.position}
        entry.update(parameter.schema)
        if parameter.default is not NO_DEFAULT:
            entry["default"] = parameter.default
        if parameter.description:
            entry["description"] = parameter.description
        properties[parameter.name] = entry
        definitions.update(parameter.definitions)
    schema: dict[str, Any] = {"title": "Parameters", "type": "object", "properties": properties}
    required = [parameter.name for parameter in parameters if parameter.required]
    if required:
        schema["required"] = required
    if definitions:
        schema["definitions"] = dict(sorted(definitions.items()))
    return schema
