"""What a flow's module says about the types and values its signatures use, read statically:
imports (what a name means), Enums and their values, pydantic models and dataclasses with their
fields, type aliases (`Mode = Literal["a", "b"]`), and module-level constants (for defaults).
Nothing is imported or run."""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ENUM_BASES = frozenset({"enum.Enum", "enum.IntEnum", "enum.StrEnum", "enum.Flag", "enum.IntFlag"})
MODEL_BASES = frozenset({"pydantic.BaseModel", "pydantic.main.BaseModel"})
UNKNOWN: Any = object()


@dataclass
class EnumInfo:
    values: list[Any] | None  # None: members that cannot be read without running the code
    names: list[str]
    doc: str | None


@dataclass
class ClassInfo:
    node: ast.ClassDef
    kind: str  # "model", "dataclass", "enum" or "plain"
    bases: list[str]  # qualified names of the bases


@dataclass
class ModuleTypes:
    imports: dict[str, str] = field(default_factory=dict)  # local name -> qualified name
    classes: dict[str, ClassInfo] = field(default_factory=dict)
    enums: dict[str, EnumInfo] = field(default_factory=dict)
    aliases: dict[str, ast.expr] = field(default_factory=dict)
    constants: dict[str, Any] = field(default_factory=dict)  # name -> a Python value
    origins: dict[str, tuple[ast.ImportFrom, str]] = field(default_factory=dict)
    # reads the module of the project an import names: (its types, the name there)
    follow: Callable[[ast.ImportFrom, str], ModuleTypes | None] | None = None

    def imported(self, local: str) -> tuple[ModuleTypes, str] | None:
        """What `local` names in the project module it was imported from, if it is one."""
        origin = self.origins.get(local)
        if origin is None or self.follow is None:
            return None
        other = self.follow(*origin)
        return None if other is None else (other, origin[1])

    def qualify(self, node: ast.expr) -> str | None:
        """`Optional` -> `typing.Optional`, `dt.date` -> `datetime.date`, `int` ->
        `builtins.int`, a class of this module -> its name; None when it is not a name."""
        if isinstance(node, ast.Name):
            if node.id in self.imports:
                return self.imports[node.id]
            if node.id in self.classes or node.id in self.aliases:
                return node.id
            return f"builtins.{node.id}"
        if isinstance(node, ast.Attribute):
            base = self.qualify(node.value)
            if base is None:
                return None
            return f"{base.removeprefix('builtins.')}.{node.attr}"
        return None


def read_module(
    nodes: list[ast.stmt],
    follow: Callable[[ast.ImportFrom, str], ModuleTypes | None] | None = None,
) -> ModuleTypes:
    """The module's names, from its statements (top level and nested blocks, in order);
    `follow` reads a project module an import names."""
    found = ModuleTypes(follow=follow)
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                local = alias.asname or alias.name.split(".")[0]
                found.imports[local] = alias.name if alias.asname else local
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            for alias in node.names:
                found.imports[alias.asname or alias.name] = f"{module}.{alias.name}"
                found.origins[alias.asname or alias.name] = (node, alias.name)
    for node in nodes:
        if isinstance(node, ast.ClassDef):
            _class(found, node)
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            _assignment(found, node.targets[0], node.value)
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            if ast.unparse(node.annotation).rsplit(".", 1)[-1] == "TypeAlias":
                if isinstance(node.target, ast.Name):
                    found.aliases[node.target.id] = node.value
            else:
                _assignment(found, node.target, node.value)
        elif type(node).__name__ == "TypeAlias":  # `type Mode = Literal[...]` (3.12)
            found.aliases[node.name.id] = node.value  # type: ignore[attr-defined]
    return found


def _assignment(found: ModuleTypes, target: ast.expr, value: ast.expr) -> None:
    if not isinstance(target, ast.Name):
        return
    name = target.id
    found.constants.pop(name, None)
    found.aliases.pop(name, None)
    constant = literal_value(value, found)
    if constant is not UNKNOWN:
        found.constants[name] = constant
    elif _looks_like_type(value, found):
        found.aliases[name] = value


def _looks_like_type(value: ast.expr, found: ModuleTypes) -> bool:
    """`Literal[...]`, `Optional[int]`, `int | None`, `list[str]`, `Annotated[...]`: a type
    expression assigned to a name is an alias."""
    if isinstance(value, ast.BinOp) and isinstance(value.op, ast.BitOr):
        return _looks_like_type(value.left, found) or _looks_like_type(value.right, found)
    if isinstance(value, ast.Subscript):
        base = found.qualify(value.value) or ""
        return base.startswith(("typing.", "typing_extensions.", "collections.abc.")) or base in {
            "builtins.list", "builtins.dict", "builtins.tuple", "builtins.set",
            "builtins.frozenset", "builtins.type"}  # fmt: skip
    return False


def _class(found: ModuleTypes, node: ast.ClassDef) -> None:
    bases = [found.qualify(base) or ast.unparse(base) for base in node.bases]
    decorators = {
        found.qualify(d.func if isinstance(d, ast.Call) else d) for d in node.decorator_list
    }
    if set(bases) & ENUM_BASES or any(b in found.enums for b in bases):
        kind = "enum"
        found.enums[node.name] = _enum(node, set(bases), found)
    elif set(bases) & MODEL_BASES or any(
        b in found.classes and found.classes[b].kind == "model" for b in bases
    ):
        kind = "model"
    elif decorators & {"dataclasses.dataclass", "pydantic.dataclasses.dataclass"}:
        kind = "dataclass"
    elif all(b in found.classes or b == "builtins.object" for b in bases):
        kind = "plain"
    else:
        kind = "unknown"  # a base from elsewhere: what it makes of the class is not known
    found.classes[node.name] = ClassInfo(node, kind, bases)


def _enum(node: ast.ClassDef, bases: set[str], found: ModuleTypes) -> EnumInfo:
    values: list[Any] | None = []
    names: list[str] = []
    doc = ast.get_docstring(node)
    for statement in node.body:
        if not isinstance(statement, ast.Assign) or not all(
            isinstance(t, ast.Name) and not t.id.startswith("_") for t in statement.targets
        ):
            continue
        name = statement.targets[0].id  # type: ignore[attr-defined]
        value = statement.value
        if isinstance(value, ast.Call) and found.qualify(value.func) == "enum.auto":
            item = _auto(values or [], name, bases)
        else:
            item = literal_value(value, found)
        if item is UNKNOWN or values is None:
            values = None
            continue
        if item not in values:  # a repeated value is an alias of the first member
            values.append(item)
            names.append(name)
    return EnumInfo(values, names, inspect.cleandoc(doc) if doc else None)


def _auto(values: list[Any], name: str, bases: set[str]) -> Any:
    if "enum.StrEnum" in bases:
        return name.lower()
    numbers = [v for v in values if isinstance(v, int) and not isinstance(v, bool)]
    if bases & {"enum.Flag", "enum.IntFlag"}:
        return 1 << max(numbers).bit_length() if numbers else 1
    return numbers[-1] + 1 if numbers else 1


def literal_value(node: ast.expr, found: ModuleTypes) -> Any:
    """The value an expression always has: literals (and containers of them), module constants,
    enum members and their `.value`; UNKNOWN otherwise."""
    if isinstance(node, ast.Name):
        if node.id in found.constants:
            return found.constants[node.id]
        imported = found.imported(node.id)
        if imported is not None:
            return imported[0].constants.get(imported[1], UNKNOWN)
        return UNKNOWN
    if isinstance(node, ast.Attribute):
        member = enum_member(node, found)
        if member is not None:
            return found.enums[member[0]].values[member[1]]  # type: ignore[index]
        if node.attr == "value" and isinstance(node.value, ast.Attribute):
            member = enum_member(node.value, found)
            if member is not None:
                return found.enums[member[0]].values[member[1]]  # type: ignore[index]
        return UNKNOWN
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        items = [literal_value(item, found) for item in node.elts]
        if any(item is UNKNOWN for item in items):
            return UNKNOWN
        return {ast.List: list, ast.Tuple: tuple, ast.Set: set}[type(node)](items)
    if isinstance(node, ast.Dict):
        if any(key is None for key in node.keys):
            return UNKNOWN
        keys = [literal_value(key, found) for key in node.keys]  # type: ignore[arg-type]
        values = [literal_value(value, found) for value in node.values]
        if any(item is UNKNOWN for item in [*keys, *values]):
            return UNKNOWN
        try:
            return dict(zip(keys, values, strict=True))
        except TypeError:
            return UNKNOWN
    if isinstance(node, ast.Call):
        return _constructed(node, found)
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return UNKNOWN


_CONSTRUCTORS = {"decimal.Decimal": "Decimal", "datetime.date": "date", "pathlib.Path": "Path",
                 "datetime.datetime": "datetime", "uuid.UUID": "UUID"}  # fmt: skip


def _constructed(node: ast.Call, found: ModuleTypes) -> Any:
    """`Decimal("1.5")`, `date(2024, 1, 5)`, `Path("x")`, `UUID("...")` with literal arguments:
    the value, made here (these constructors run no user code)."""
    import datetime
    import decimal
    import pathlib
    import uuid

    kind = _CONSTRUCTORS.get(found.qualify(node.func) or "")
    args = [literal_value(arg, found) for arg in node.args]
    if kind is None or node.keywords or any(arg is UNKNOWN for arg in args):
        return UNKNOWN
    make = {"Decimal": decimal.Decimal, "date": datetime.date, "datetime": datetime.datetime,
            "Path": pathlib.Path, "UUID": uuid.UUID}[kind]  # fmt: skip
    try:
        return make(*args)
    except (TypeError, ValueError, ArithmeticError):
        return UNKNOWN


def enum_member(node: ast.expr, found: ModuleTypes) -> tuple[str, int] | None:
    """`Color.RED` of an enum of this module whose values are known: (enum name, index)."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        info = found.enums.get(node.value.id)
        if info is not None and info.values is not None and node.attr in info.names:
            return node.value.id, info.names.index(node.attr)
    return None
