"""Find flow functions in Python source with `ast`, resolving how `flow` was imported."""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from flowplan import files
from flowplan.discovery.module_types import ModuleTypes, read_module
from flowplan.discovery.params import Parameter, parameter_schema, parameters_of
from flowplan.discovery.texts import ModuleNames, constant_text, string_constants
from flowplan.discovery.walk import python_files

FLOW_MODULES = frozenset({"prefect", "prefect.flows", "flowplan"})
# Parsing takes up to 500 times the source's size in memory (a list of 450,000 zeros: 0.9 MB of
# source, 440 MB): files that may define flows are parsed up to 512 kB (real flow modules are a
# few kB), so that no source takes validate past 300 MB; other files are only read (5 MB).
MAX_PARSED_BYTES = 512 * 1024


@dataclass(frozen=True)
class FlowInfo:
    name: str  # the registered flow name: `name=` or the function name with _ -> -
    function: str
    path: str  # relative to the scan root, POSIX separators
    line: int
    is_async: bool
    description: str | None  # `description=`, else the docstring
    parameters: tuple[Parameter, ...]
    accepts_any_keyword: bool  # has **kwargs
    version: str | None = None  # `version=`, else (as Prefect) the md5 of the flow's file
    name_problem: str | None = None  # why `name=` could not be read without running the code
    schema_problems: tuple[str, ...] = ()  # what else (parameters, description, version)
    # could not be read without running the code

    @property
    def entrypoint(self) -> str:
        return f"{self.path}:{self.function}"

    def schema(self) -> dict[str, Any]:
        return parameter_schema(self.parameters)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "function": self.function,
            "entrypoint": self.entrypoint,
            "path": self.path,
            "line": self.line,
            "is_async": self.is_async,
            "description": self.description,
            "version": self.version,
            "parameter_openapi_schema": self.schema(),
        }


@dataclass(frozen=True)
class SourceProblem:
    path: str
    line: int | None
    column: int | None
    message: str

    def render(self) -> str:
        where = f"{self.path}:{self.line}:{self.column or 1}" if self.line else self.path
        return f"{where}: {self.message}"


def might_define_flows(source: bytes) -> bool:
    """Cheap prefilter: a flow needs the word `flow` and an import of prefect or flowplan (or
    of a `flow` that a project module re-exports)."""
    return b"flow" in source and (
        b"prefect" in source or b"flowplan" in source or b"import flow" in source
    )


def read_source(path: Path, display: str) -> bytes | SourceProblem:
    """A source file's bytes, or why it cannot be read (too large, a FIFO, a device, binary)."""
    try:
        source = files.read_bytes(path, what="Python sources")
    except files.UnreadableFile as exc:
        return SourceProblem(display, None, None, exc.reason)
    if b"\x00" in source:
        return SourceProblem(display, None, None, "binary file, not Python source")
    return source


def parse_source(source: bytes, display: str) -> ast.Module | SourceProblem:
    if len(source) > MAX_PARSED_BYTES:
        size, most = len(source) // 1024, MAX_PARSED_BYTES // 1024
        message = f"file is {size} kB; flowplan parses flow sources up to {most} kB"
        return SourceProblem(display, None, None, message)
    try:
        return ast.parse(source, filename=display)
    except (RecursionError, MemoryError):
        return SourceProblem(display, None, None, _TOO_DEEP)
    except SyntaxError as exc:
        return SourceProblem(display, exc.lineno, exc.offset, f"syntax error: {exc.msg}")
    except (UnicodeDecodeError, ValueError) as exc:
        reason = "not valid UTF-8" if isinstance(exc, UnicodeDecodeError) else str(exc)
        return SourceProblem(display, None, None, f"cannot parse: {reason}")


def parse_file(path: Path) -> ast.Module | SourceProblem:
    source = read_source(path, str(path))
    return source if isinstance(source, SourceProblem) else parse_source(source, str(path))


_TOO_DEEP = "cannot parse: nested too deeply (an expression or block is too large to read)"


def statements(tree: ast.Module) -> Iterator[ast.stmt]:
    """Every statement, nested ones included, without visiting expressions (which are most of
    a tree): imports, functions and classes can only appear as statements."""
    stack: list[ast.stmt] = list(reversed(tree.body))
    while stack:
        node = stack.pop()
        yield node
        for name in ("body", "orelse", "finalbody"):
            block = getattr(node, name, None)
            if isinstance(block, list):
                stack.extend(reversed([s for s in block if isinstance(s, ast.stmt)]))
        for handler in getattr(node, "handlers", ()):
            stack.extend(reversed(handler.body))
        for case in getattr(node, "cases", ()):
            stack.extend(reversed(case.body))


class _Imports:
    """Which local names mean the `flow` decorator, and which mean a module that has one."""

    def __init__(self, nodes: list[ast.stmt], file: Path | None = None) -> None:
        self.decorators: set[str] = set()
        self.modules: set[str] = set()
        for node in nodes:
            if isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    if alias.name == "flow" and _provides_flow(node, file):
                        self.decorators.add(alias.asname or "flow")
                    elif alias.name == "*" and node.module in FLOW_MODULES and node.level == 0:
                        self.decorators.add("flow")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in FLOW_MODULES:
                        self.modules.add(alias.asname or alias.name.split(".")[0])

    def is_flow_decorator(self, node: ast.expr) -> bool:
        target = node.func if isinstance(node, ast.Call) else node
        if isinstance(target, ast.Name):
            return target.id in self.decorators
        if isinstance(target, ast.Attribute) and target.attr == "flow":
            base = target.value
            if isinstance(base, ast.Name):
                return base.id in self.modules
            # `prefect.flows.flow` written out in full
            return isinstance(base, ast.Attribute) and ast.unparse(base) in FLOW_MODULES
        return False


_SEARCH_LEVELS = 6  # how far up from a file a project module is looked for


def _provides_flow(node: ast.ImportFrom, file: Path | None, depth: int = 0) -> bool:
    """`from X import flow` brings Prefect's (or flowplan's) decorator: X is prefect or
    flowplan, or a module of the project that re-exports it (`from lib.compat import flow`)."""
    if node.module in FLOW_MODULES and node.level == 0:
        return True
    if file is None or depth > 3:
        return False
    module = _module_file(node, file)
    if module is None:
        return False
    return any(
        _provides_flow(other, module, depth + 1)
        for other in _imports_of(module)
        if any(alias.name == "flow" and (alias.asname or "flow") == "flow" for alias in other.names)
    )


def _module_file(node: ast.ImportFrom, file: Path) -> Path | None:
    """The project file `from X import ...` reads: relative to the importing file's package,
    or (absolute) from its directory or one above it, as `sys.path` usually has them."""
    parts = (node.module or "").split(".") if node.module else []
    if node.level:
        bases = [file.parents[node.level - 1]] if node.level <= len(file.parents) else []
    else:
        bases = list(file.parents)[:_SEARCH_LEVELS]
    for base in bases:
        target = base.joinpath(*parts)
        for candidate in (target.with_suffix(".py"), target / "__init__.py"):
            if parts and candidate.is_file():
                return candidate
    return None


@lru_cache(maxsize=1024)
def _imports_of(path: Path) -> tuple[ast.ImportFrom, ...]:
    tree = parse_file(path)
    if isinstance(tree, SourceProblem):
        return ()  # the module itself is reported when it is scanned
    return tuple(node for node in statements(tree) if isinstance(node, ast.ImportFrom))


def _follower(file: Path | None) -> Callable[[ast.ImportFrom, str], ModuleTypes | None]:
    """Reads the project module an import in `file` names (for the types and constants its
    flows use); None for a module outside the project."""

    def follow(node: ast.ImportFrom, name: str) -> ModuleTypes | None:
        if file is None:
            return None
        target = _found_module(file, node.module, node.level)
        return None if target is None else _types_of(target)

    return follow


@lru_cache(maxsize=1024)
def _found_module(file: Path, module: str | None, level: int) -> Path | None:
    return _module_file(ast.ImportFrom(module=module, names=[], level=level), file)


@lru_cache(maxsize=256)
def _types_of(path: Path) -> ModuleTypes | None:
    try:
        tree = ast.parse(files.read_bytes(path, limit=MAX_PARSED_BYTES))
        return read_module(list(statements(tree)), _follower(path))
    except (files.UnreadableFile, SyntaxError, ValueError, RecursionError, MemoryError):
        return None  # what it defines stays unknown: parameters using it are left open


def _keyword(decorator: ast.expr, name: str) -> ast.expr | None:
    if isinstance(decorator, ast.Call):
        for keyword in decorator.keywords:
            if keyword.arg == name:
                return keyword.value
    return None


@dataclass(frozen=True)
class ParsedSource:
    """What one source file defines: its flows (in line order) and all its function names."""

    flows: tuple[FlowInfo, ...]
    functions: frozenset[str]


def _flows(
    nodes: list[ast.stmt], display: str, constants: dict[str, str], digest: str, file: Path
) -> Iterator[FlowInfo]:
    imports = _Imports(nodes, file)
    if not imports.decorators and not imports.modules:
        return
    module = read_module(nodes, _follower(file))
    constants = ModuleNames(constants, module)
    for node in nodes:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for decorator in node.decorator_list:
            if imports.is_flow_decorator(decorator):
                signature = parameters_of(node, module)
                texts = {key: _text(decorator, key, constants)
                         for key in ("name", "description", "version")}  # fmt: skip
                name, expression = texts["name"]
                problem = (
                    f"the flow name ({expression}) cannot be read without running the code"
                    if expression
                    else None
                )
                yield FlowInfo(
                    name=name or node.name.replace("_", "-"),
                    function=node.name,
                    path=display,
                    line=node.lineno,
                    is_async=isinstance(node, ast.AsyncFunctionDef),
                    description=texts["description"][0] or ast.get_docstring(node),
                    parameters=signature.parameters,
                    accepts_any_keyword=signature.accepts_any_keyword,
                    version=texts["version"][0] or digest,
                    name_problem=problem,
                    schema_problems=signature.problems
                    + tuple(
                        f"the flow {key} ({texts[key][1]}) cannot be read without running the"
                        f" code; flowplan uses the {fallback}"
                        for key, fallback in (
                            ("description", "docstring"),
                            ("version", "file's hash"),
                        )
                        if texts[key][1]
                    ),
                )
                break


def _text(decorator: ast.expr, key: str, constants: Mapping[str, Any]) -> tuple[str | None, str]:
    """The decorator's `key=` text, or (None, the expression) when it cannot be read."""
    node = _keyword(decorator, key)
    if node is None:
        return None, ""
    value = constant_text(node, constants)
    return (value, "") if isinstance(value, str) else (None, ast.unparse(node))


def scan_file(path: Path, display: str, *, prefilter: bool = True) -> ParsedSource | SourceProblem:
    """Read and parse one file; a file that cannot be read or parsed gives a problem.

    With `prefilter`, files that cannot define a flow are not parsed (their functions are then
    not listed): discovery wants speed, the entrypoint check wants every function name.
    """
    source = read_source(path, display)
    if isinstance(source, SourceProblem):
        return source
    if prefilter and not might_define_flows(source):
        return ParsedSource((), frozenset())
    tree = parse_source(source, display)
    if isinstance(tree, SourceProblem):
        return tree
    try:
        return _scan_tree(tree, source, display, path)
    except (RecursionError, MemoryError):  # a tree that parses can still be too deep to walk
        return SourceProblem(display, None, None, _TOO_DEEP)


def _scan_tree(tree: ast.Module, source: bytes, display: str, path: Path) -> ParsedSource:
    nodes = list(statements(tree))
    digest = hashlib.md5(source, usedforsecurity=False).hexdigest()  # Prefect's default version
    found = _flows(nodes, display, string_constants(tree.body), digest, path.resolve())
    flows = sorted(found, key=lambda flow: (flow.line, flow.function))
    functions = frozenset(
        node.name for node in nodes if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    )
    return ParsedSource(tuple(flows), functions)


def discover(root: Path) -> tuple[list[FlowInfo], list[SourceProblem]]:
    """All flows under `root`, in a deterministic order (path, then line)."""
    return collect(root, python_files(root))


def collect(root: Path, paths: Iterable[Path]) -> tuple[list[FlowInfo], list[SourceProblem]]:
    flows: list[FlowInfo] = []
    problems: list[SourceProblem] = []
    for file in paths:
        display = file.relative_to(root).as_posix()
        scanned = scan_file(file, display)
        if isinstance(scanned, SourceProblem):
            problems.append(scanned)
        else:
            flows.extend(scanned.flows)
    return flows, problems


def function_parameters(path: Path, function: str) -> tuple[tuple[Parameter, ...], bool] | None:
    """(parameters, accepts **kwargs) of the top-level function `function` in `path`, read from
    the source; None when the file cannot be parsed or has no such function."""
    tree = parse_file(path)
    if isinstance(tree, SourceProblem):
        return None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == function:
            try:
                module = read_module(list(statements(tree)), _follower(path))
                signature = parameters_of(node, module)
            except (RecursionError, MemoryError):
                return None
            return signature.parameters, signature.accepts_any_keyword
    return None
