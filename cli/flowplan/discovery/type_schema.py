"""The JSON schema of an annotation, read from the source, as Prefect's `parameter_schema`
makes it (pydantic v2's validation-mode JSON schema; models and enums under `definitions`).

What cannot be known without running code (a class imported from another module, an enum with
computed values, a type pydantic would need to import) is left out (`{}`, any value) and said
in `problems`: never guessed.
"""

from __future__ import annotations

import ast
import inspect
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import PurePath
from typing import Any
from uuid import UUID

from flowplan.discovery.module_types import UNKNOWN, ModuleTypes, literal_value

_SCALARS: dict[str, dict[str, Any]] = {
    "builtins.int": {"type": "integer"}, "builtins.float": {"type": "number"},
    "builtins.str": {"type": "string"}, "builtins.bool": {"type": "boolean"},
    "builtins.bytes": {"format": "binary", "type": "string"},
    "builtins.None": {"type": "null"}, "types.NoneType": {"type": "null"},
    "builtins.object": {}, "typing.Any": {}, "typing_extensions.Any": {},
    "datetime.date": {"format": "date", "type": "string"},
    "datetime.datetime": {"format": "date-time", "type": "string"},
    "datetime.time": {"format": "time", "type": "string"},
    "datetime.timedelta": {"format": "duration", "type": "string"},
    "uuid.UUID": {"format": "uuid", "type": "string"},
    "pathlib.Path": {"format": "path", "type": "string"},
    "pathlib.PurePath": {"format": "path", "type": "string"},
    "pathlib.PosixPath": {"format": "path", "type": "string"},
    "decimal.Decimal": {"anyOf": [{"type": "number"}, {"type": "string"}]},
    "typing.Callable": {}, "collections.abc.Callable": {},
}  # fmt: skip
_TYPING = ("typing.", "typing_extensions.")
_ARRAYS = {"list", "List", "Sequence", "MutableSequence"}
_SETS = {"set", "Set", "frozenset", "FrozenSet", "AbstractSet", "MutableSet"}
_MAPS = {"dict", "Dict", "Mapping", "MutableMapping"}
_ORIGINS = ("builtins.", "typing.", "typing_extensions.", "collections.abc.")
_CONSTRAINTS = {
    "ge": "minimum", "gt": "exclusiveMinimum", "le": "maximum", "lt": "exclusiveMaximum",
    "multiple_of": "multipleOf", "pattern": "pattern",
}  # fmt: skip


class AnyValue(Exception):
    """Prefect makes the whole parameter "any value": pydantic cannot resolve a forward
    reference (a name in quotes inside the annotation) from where Prefect builds its model."""


@dataclass
class SchemaContext:
    module: ModuleTypes
    definitions: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    depth: int = 0  # inside a generic: a quoted name of the module is not resolved there
    in_model: bool = False  # a model's fields: pydantic resolves quoted names in its module
    hops: int = 0  # imports followed to reach the current module


def parameter_annotation_schema(node: ast.expr | None, ctx: SchemaContext) -> dict[str, Any]:
    """A parameter's annotation; what it adds to `definitions` only when it stands."""
    saved = dict(ctx.definitions)
    try:
        return annotation_schema(node, ctx)
    except AnyValue:
        ctx.definitions.clear()
        ctx.definitions.update(saved)
        return {}


def annotation_schema(node: ast.expr | None, ctx: SchemaContext) -> dict[str, Any]:
    if node is None:
        return {}
    if isinstance(node, ast.Constant):
        if node.value is None:
            return {"type": "null"}
        if isinstance(node.value, str):  # a string annotation: "int", "list[str]"
            try:
                parsed = ast.parse(node.value, mode="eval").body
            except SyntaxError:
                return _unknown(ctx, node.value, "is not a type expression")
            if (
                ctx.depth
                and not ctx.in_model
                and any(
                    isinstance(name, ast.Name) and not _is_builtin(name.id)
                    for name in ast.walk(parsed)
                )
            ):
                raise AnyValue()
            return annotation_schema(parsed, ctx)
        return _unknown(ctx, ast.unparse(node), "is not a type")
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _union(_members(node), ctx)
    if isinstance(node, ast.Subscript):
        return _generic(node, ctx)
    name = ctx.module.qualify(node)
    if name is None:
        return _unknown(ctx, ast.unparse(node), "is not a type the source can tell")
    if name in ctx.module.aliases:
        return annotation_schema(ctx.module.aliases[name], ctx)
    if name in ctx.module.classes:
        return _class(name, ctx)
    if name in _SCALARS:
        return dict(_SCALARS[name])
    if isinstance(node, ast.Name):
        imported = ctx.module.imported(node.id)
        if imported is not None:
            return _elsewhere(imported[0], imported[1], node, ctx)
    short = name.rsplit(".", 1)[-1]
    if name.startswith(_ORIGINS):
        if short in _ARRAYS or short in ("tuple", "Tuple"):
            return {"items": {}, "type": "array"}
        if short in _SETS:
            return {"items": {}, "type": "array", "uniqueItems": True}
        if short in _MAPS:
            return {"additionalProperties": True, "type": "object"}
    return _unknown(ctx, ast.unparse(node), "is defined elsewhere")


def _elsewhere(
    module: ModuleTypes, name: str, node: ast.expr, ctx: SchemaContext
) -> dict[str, Any]:
    """A type imported from a module of the project: read there (definitions shared)."""
    if name not in module.classes and name not in module.aliases:
        return _unknown(ctx, ast.unparse(node), "is not a class or alias of the module it is"
                        " imported from")  # fmt: skip
    if ctx.hops > 4:
        return _unknown(ctx, ast.unparse(node), "is imported through too many modules")
    saved = ctx.module
    ctx.module, ctx.hops = module, ctx.hops + 1
    try:
        return annotation_schema(ast.Name(name, ast.Load()), ctx)
    finally:
        ctx.module, ctx.hops = saved, ctx.hops - 1


def _unknown(ctx: SchemaContext, text: str, why: str) -> dict[str, Any]:
    ctx.problems.append(
        f"the type {text!r} {why}: its schema cannot be known without running the code, so"
        " the parameter takes any value here"
    )
    return {}


def _members(node: ast.expr) -> list[ast.expr]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return [*_members(node.left), *_members(node.right)]
    return [node]


def _union(members: list[ast.expr], ctx: SchemaContext) -> dict[str, Any]:
    schemas: list[dict[str, Any]] = []
    nullable = False
    for member in members:
        schema = annotation_schema(member, ctx)
        for item in schema["anyOf"] if set(schema) == {"anyOf"} else [schema]:
            if item == {"type": "null"}:
                nullable = True
            elif item not in schemas:
                schemas.append(item)
    if nullable:
        schemas.append({"type": "null"})
    return schemas[0] if len(schemas) == 1 else {"anyOf": schemas}


def _is_builtin(name: str) -> bool:
    import builtins

    return hasattr(builtins, name)


def _generic(node: ast.Subscript, ctx: SchemaContext) -> dict[str, Any]:
    ctx.depth += 1
    try:
        return _generic_at(node, ctx)
    finally:
        ctx.depth -= 1


def _generic_at(node: ast.Subscript, ctx: SchemaContext) -> dict[str, Any]:
    name = ctx.module.qualify(node.value) or ""
    short = name.rsplit(".", 1)[-1]
    args = list(node.slice.elts) if isinstance(node.slice, ast.Tuple) else [node.slice]
    if name in ctx.module.aliases or not name.startswith(_ORIGINS):
        return _unknown(ctx, ast.unparse(node), "is a generic the source cannot resolve")
    if short == "Optional":
        return _union([args[0], ast.Constant(None)], ctx)
    if short == "Union":
        return _union([m for arg in args for m in _members(arg)], ctx)
    if short == "Literal":
        return _literal(args, ctx)
    if short == "Annotated":
        return _annotated(args, ctx)
    if short in _ARRAYS:
        return {"items": annotation_schema(args[0], ctx), "type": "array"}
    if short in _SETS:
        return {"items": annotation_schema(args[0], ctx), "type": "array", "uniqueItems": True}
    if short in _MAPS:
        value = annotation_schema(args[-1], ctx) if len(args) == 2 else {}
        return {"additionalProperties": value or True, "type": "object"}
    if short in ("tuple", "Tuple"):
        return _tuple(node.slice, args, ctx)
    if short == "Type" or short == "type":
        return _unknown(ctx, ast.unparse(node), "is a class, not a value")
    return _unknown(ctx, ast.unparse(node), "is not a type flowplan reads")


def _tuple(slice_: ast.expr, args: list[ast.expr], ctx: SchemaContext) -> dict[str, Any]:
    if isinstance(slice_, ast.Tuple) and not slice_.elts:
        return {"maxItems": 0, "minItems": 0, "type": "array"}
    if len(args) == 2 and isinstance(args[1], ast.Constant) and args[1].value is Ellipsis:
        return {"items": annotation_schema(args[0], ctx), "type": "array"}
    items = [annotation_schema(arg, ctx) for arg in args]
    return {"maxItems": len(items), "minItems": len(items), "prefixItems": items,
            "type": "array"}  # fmt: skip


def _literal(args: list[ast.expr], ctx: SchemaContext) -> dict[str, Any]:
    values = []
    for arg in args:
        value = literal_value(arg, ctx.module)
        if value is UNKNOWN or isinstance(value, list | dict | set | tuple):
            return _unknown(ctx, f"Literal[{ast.unparse(arg)}]", "holds a computed value")
        values.append(value)
    kinds = {type(value) for value in values}
    names = {bool: "boolean", int: "integer", float: "number", str: "string", type(None): "null"}
    schema: dict[str, Any] = {"const": values[0]} if len(values) == 1 else {"enum": values}
    if len(kinds) == 1 and next(iter(kinds)) in names:
        schema["type"] = names[next(iter(kinds))]
    return schema


def _annotated(args: list[ast.expr], ctx: SchemaContext) -> dict[str, Any]:
    schema = annotation_schema(args[0], ctx)
    for metadata in args[1:]:
        if not isinstance(metadata, ast.Call):
            continue
        if (ctx.module.qualify(metadata.func) or "").rsplit(".", 1)[-1] != "Field":
            continue
        for keyword in metadata.keywords:
            value = literal_value(keyword.value, ctx.module)
            if keyword.arg in _CONSTRAINTS and value is not UNKNOWN:
                schema[_CONSTRAINTS[keyword.arg]] = value
            elif keyword.arg in ("min_length", "max_length") and value is not UNKNOWN:
                unit = "Items" if schema.get("type") in ("array", "object") else "Length"
                schema[keyword.arg[:3] + unit] = value
    return schema


def _class(name: str, ctx: SchemaContext) -> dict[str, Any]:
    info = ctx.module.classes[name]
    if info.kind == "plain":
        return {}  # Prefect makes a class pydantic does not know "any value"
    if info.kind == "unknown":
        return _unknown(ctx, name, "derives from a class defined elsewhere")
    reference = {"$ref": f"#/definitions/{name}"}
    if name in ctx.definitions:
        return reference
    if info.kind == "enum":
        enum = ctx.module.enums[name]
        if enum.values is None:
            return _unknown(ctx, name, "has members with computed values")
        ctx.definitions[name] = _enum_definition(name, enum.values, enum.doc)
        return reference
    ctx.definitions[name] = {}  # a model that refers to itself
    was, ctx.in_model = ctx.in_model, True
    try:
        ctx.definitions[name] = _model_definition(name, ctx)
    finally:
        ctx.in_model = was
    return reference


def _enum_definition(name: str, values: list[Any], doc: str | None) -> dict[str, Any]:
    definition: dict[str, Any] = {"enum": values, "title": name}
    kinds = {type(value) for value in values}
    names = {str: "string", int: "integer", float: "number", bool: "boolean"}
    if len(kinds) == 1 and next(iter(kinds)) in names:
        definition["type"] = names[next(iter(kinds))]
    if doc:
        definition["description"] = doc
    return definition


def _model_definition(name: str, ctx: SchemaContext) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required: list[str] = []
    for owner in _lineage(name, ctx):
        for statement in owner.body:
            if not isinstance(statement, ast.AnnAssign) or not isinstance(
                statement.target, ast.Name
            ):
                continue
            if "ClassVar" in ast.unparse(statement.annotation):
                continue
            field_name = statement.target.id
            schema = annotation_schema(statement.annotation, ctx)
            entry = _field_entry(field_name, schema, statement.value, ctx)
            properties[field_name] = entry
            if statement.value is None or _field_required(statement.value, ctx):
                if field_name not in required:
                    required.append(field_name)
            elif field_name in required:
                required.remove(field_name)
    definition: dict[str, Any] = {"properties": properties}
    if required:
        definition["required"] = required
    definition.update(title=name, type="object")
    doc = ast.get_docstring(ctx.module.classes[name].node)
    if doc:
        definition["description"] = inspect.cleandoc(doc)
    return definition


def _lineage(name: str, ctx: SchemaContext) -> list[ast.ClassDef]:
    """The class and the module's classes it derives from, the furthest base first."""
    info = ctx.module.classes[name]
    chain: list[ast.ClassDef] = []
    for base in info.bases:
        if base in ctx.module.classes and base != name:
            chain += _lineage(base, ctx)
    return [*chain, info.node]


def _field_entry(
    name: str, schema: dict[str, Any], value: ast.expr | None, ctx: SchemaContext
) -> dict[str, Any]:
    entry = dict(schema)
    if not _is_reference(schema):
        entry["title"] = name.replace("_", " ").strip().title()
    default: Any = UNKNOWN
    if isinstance(value, ast.Call) and (ctx.module.qualify(value.func) or "").rsplit(".", 1)[
        -1
    ] in ("Field", "field"):
        for keyword in value.keywords:
            literal = literal_value(keyword.value, ctx.module)
            if keyword.arg == "default":
                default = literal
            elif keyword.arg == "description" and isinstance(literal, str):
                entry["description"] = literal
            elif keyword.arg in _CONSTRAINTS and literal is not UNKNOWN:
                entry[_CONSTRAINTS[keyword.arg]] = literal
        if value.args:
            default = literal_value(value.args[0], ctx.module)
    elif value is not None:
        default = literal_value(value, ctx.module)
    if default is not UNKNOWN and default is not Ellipsis:
        entry["default"] = jsonable(default)
    return entry


def _field_required(value: ast.expr, ctx: SchemaContext) -> bool:
    if not isinstance(value, ast.Call):
        return False
    if (ctx.module.qualify(value.func) or "").rsplit(".", 1)[-1] not in ("Field", "field"):
        return False
    given = {k.arg for k in value.keywords}
    first = value.args[0] if value.args else None
    if isinstance(first, ast.Constant) and first.value is Ellipsis:
        return True
    return first is None and not given & {"default", "default_factory"}


def _is_reference(schema: dict[str, Any]) -> bool:
    if "$ref" in schema:
        return True
    return any("$ref" in item for item in schema.get("anyOf", []))


def jsonable(value: Any) -> Any:
    """A default as pydantic writes it into a JSON schema (tuples and sets become lists)."""
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(item) for item in value]
    if isinstance(value, dict):
        return {str(key) if not isinstance(key, str) else key: jsonable(item)
                for key, item in value.items()}  # fmt: skip
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal | PurePath | UUID):
        return str(value)
    return value
