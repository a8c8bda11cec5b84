"""Parameters of a flow function and their JSON schema, read from the signature by AST.

The schema has the shape of Prefect's `parameter_openapi_schema`.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

_SIMPLE: dict[str, dict[str, Any]] = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
    "dict": {"type": "object"},
    "Dict": {"type": "object"},
    "Mapping": {"type": "object"},
    "list": {"type": "array"},
    "List": {"type": "array"},
    "Sequence": {"type": "array"},
    "tuple": {"type": "array"},
    "Tuple": {"type": "array"},
    "set": {"type": "array"},
    "Set": {"type": "array"},
    "None": {"type": "null"},
    "NoneType": {"type": "null"},
    "Any": {},
    "object": {},
    "datetime": {"type": "string", "format": "date-time"},
    "date": {"type": "string", "format": "date"},
    "Path": {"type": "string", "format": "path"},
    "UUID": {"type": "string", "format": "uuid"},
}
_ENUM_BASES = frozenset({"Enum", "IntEnum", "StrEnum", "Flag", "IntFlag"})
NO_DEFAULT = object()


@dataclass(frozen=True)
class Parameter:
    name: str
    position: int
    required: bool
    schema: dict[str, Any] = field(hash=False)
    annotation: str | None = None
    default: Any = field(default=NO_DEFAULT, hash=False)  # a literal default, if it has one


def enum_classes(nodes: list[ast.stmt]) -> dict[str, list[Any]]:
    """Enum classes among the module's statements -> their member values, read statically:
    literals, and `auto()` as Python computes it (1, 2, ... after the last integer; the
    lower-case name in a StrEnum; powers of two in a Flag). A class whose members cannot all
    be read that way maps to [] (the parameter is then left unconstrained, never an enum
    that rejects every value)."""
    found: dict[str, list[Any]] = {}
    for node in nodes:
        if not isinstance(node, ast.ClassDef):
            continue
        bases = {ast.unparse(base).rsplit(".", 1)[-1] for base in node.bases}
        if not bases & _ENUM_BASES:
            continue
        found[node.name] = _members(node, bases)
    return found


def _members(node: ast.ClassDef, bases: set[str]) -> list[Any]:
    values: list[Any] = []
    for statement in node.body:
        if not isinstance(statement, ast.Assign) or not all(
            isinstance(t, ast.Name) and not t.id.startswith("_") for t in statement.targets
        ):
            continue
        value = statement.value
        if isinstance(value, ast.Constant):
            values.append(value.value)
        elif isinstance(value, ast.Call) and _name(value.func) == "auto" and not value.args:
            name = statement.targets[0].id  # type: ignore[attr-defined]
            values.append(_auto(values, name, bases))
        else:
            return []  # computed members: not knowable without running the code
    return values


def _auto(values: list[Any], name: str, bases: set[str]) -> Any:
    if "StrEnum" in bases:
        return name.lower()
    numbers = [v for v in values if isinstance(v, int) and not isinstance(v, bool)]
    if bases & {"Flag", "IntFlag"}:
        return 1 << max(numbers).bit_length() if numbers else 1
    return numbers[-1] + 1 if numbers else 1


def annotation_schema(node: ast.expr | None, enums: dict[str, list[Any]]) -> dict[str, Any]:
    """JSON schema for an annotation; unknown types accept anything."""
    if node is None:
        return {}
    if isinstance(node, ast.Constant):
        if node.value is None:
            return {"type": "null"}
        if isinstance(node.value, str):  # a string annotation: "int", "list[str]"
            try:
                return annotation_schema(ast.parse(node.value, mode="eval").body, enums)
            except SyntaxError:
                return {}
        return {}
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _union([node.left, node.right], enums)
    name = _name(node.value if isinstance(node, ast.Subscript) else node)
    if isinstance(node, ast.Subscript):
        args = list(node.slice.elts) if isinstance(node.slice, ast.Tuple) else [node.slice]
        return _generic(name, args, enums)
    if name in enums:
        return {"enum": enums[name]} if enums[name] else {}
    return dict(_SIMPLE.get(name, {}))


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr  # typing.List, datetime.datetime, pathlib.Path
    return ""


def _union(members: list[ast.expr], enums: dict[str, list[Any]]) -> dict[str, Any]:
    flat: list[ast.expr] = []
    for member in members:
        if isinstance(member, ast.BinOp) and isinstance(member.op, ast.BitOr):
            flat.extend([member.left, member.right])
        else:
            flat.append(member)
    schemas = [annotation_schema(member, enums) for member in flat]
    if any(schema == {} for schema in schemas):
        return {}
    return {"anyOf": schemas}


def _generic(name: str, args: list[ast.expr], enums: dict[str, list[Any]]) -> dict[str, Any]:
    if name == "Optional":
        return _union([args[0], ast.Constant(None)], enums)
    if name == "Union":
        return _union(args, enums)
    if name == "Literal":
        values = [arg.value for arg in args if isinstance(arg, ast.Constant)]
        return {"enum": values}
    if name == "Annotated":
        return annotation_schema(args[0], enums)
    base: dict[str, Any] = dict(_SIMPLE.get(name, {}))
    if base.get("type") == "array" and name not in ("tuple", "Tuple") and args:
        items = annotation_schema(args[0], enums)
        if items:
            base["items"] = items
    if base.get("type") == "object" and len(args) == 2:
        value_schema = annotation_schema(args[1], enums)
        if value_schema:
            base["additionalProperties"] = value_schema
    return base


def _literal(node: ast.expr) -> Any:
    """The default as a JSON value, if it is a literal that JSON can hold."""
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return NO_DEFAULT
    return _jsonable(value)


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        items = [_jsonable(item) for item in value]
        return NO_DEFAULT if any(item is NO_DEFAULT for item in items) else items
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        converted = {key: _jsonable(item) for key, item in value.items()}
        return NO_DEFAULT if any(v is NO_DEFAULT for v in converted.values()) else converted
    return NO_DEFAULT


def parameters_of(
    args: ast.arguments, enums: dict[str, list[Any]]
) -> tuple[tuple[Parameter, ...], bool]:
    """(parameters, accepts **kwargs) of a function signature."""
    positional = [*args.posonlyargs, *args.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
    defaults += list(args.defaults)
    pairs = [
        *zip(positional, defaults, strict=True),
        *zip(args.kwonlyargs, args.kw_defaults, strict=True),
    ]
    parameters = []
    for position, (arg, default) in enumerate(pairs):
        schema = annotation_schema(arg.annotation, enums)
        value = NO_DEFAULT if default is None else _literal(default)
        parameters.append(
            Parameter(
                name=arg.arg,
                position=position,
                required=default is None,
                schema=schema,
                annotation=ast.unparse(arg.annotation) if arg.annotation else None,
                default=value,
            )
        )
    return tuple(parameters), args.kwarg is not None


def parameter_schema(parameters: tuple[Parameter, ...]) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for parameter in parameters:
        entry: dict[str, Any] = {"title": parameter.name, "position": parameter.position}
        entry.update(parameter.schema)
        if parameter.default is not NO_DEFAULT:
            entry["default"] = parameter.default
        properties[parameter.name] = entry
    return {
        "title": "Parameters",
        "type": "object",
        "properties": properties,
        "required": [parameter.name for parameter in parameters if parameter.required],
        "definitions": {},
    }
