"""The `{{ }}` expressions of webhook templates and of triggers' `parameters`/`job_variables`:
the part of Jinja2 that Prefect's documents use, without Jinja2.

An expression is a path (`body.model`, `headers['Content-Type']`, `event.payload.items[0]`)
followed by filters: `tojson`, `default(<path or literal>)`, `lower`, `upper`, `string`, `int`,
`float`. Statements (`{% %}`) are refused. A path that leads nowhere is an error naming it
(unless `default` gives a value): Jinja2 would print an empty string and let a mistake pass.

Webhook templates render to JSON text: a value placed inside a JSON string is escaped as JSON
(so a request cannot add fields to the event by putting a quote in its body), elsewhere it is
written as JSON (`{{ body|tojson }}` passes the body through).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

EXPRESSION = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_STATEMENT = re.compile(r"\{%|\{#")
_TOKEN = re.compile(
    r"\s*(?:(?P<name>[A-Za-z_][\w-]*)|(?P<string>'[^']*'|\"[^\"]*\")|(?P<number>-?\d+(?:\.\d+)?)"
    r"|(?P<op>[.\[\]|(),]))"
)
FILTERS = frozenset({"tojson", "default", "lower", "upper", "string", "int", "float"})
_MISSING = object()
_RESOURCE_ALIASES = frozenset({"id", "name", "role"})  # resource.id: its prefect.resource.id


class TemplateError(ValueError):
    """A template that cannot be read, or a value it cannot render (the message says which)."""


@dataclass(frozen=True)
class Path:
    root: str
    keys: tuple[str | int, ...]

    def text(self) -> str:
        shown = self.root
        for key in self.keys:
            shown += f"[{key}]" if isinstance(key, int) else f".{key}"
        return shown


@dataclass(frozen=True)
class Expression:
    value: Path | Any  # a Path, or a literal
    filters: tuple[tuple[str, tuple[Any, ...]], ...]
    source: str


def _tokens(text: str) -> list[tuple[str, str]]:
    found, position = [], 0
    stripped = text.rstrip()
    while position < len(stripped):
        match = _TOKEN.match(stripped, position)
        if match is None or match.end() == position:
            raise TemplateError(f"{{{{{text}}}}}: cannot read {stripped[position:].strip()!r}")
        kind = match.lastgroup or "op"
        found.append((kind, match.group(kind)))
        position = match.end()
    return found


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.at = 0

    def fail(self, what: str) -> TemplateError:
        return TemplateError(f"{{{{{self.text}}}}}: {what}")

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise self.fail("ends too early")
        self.at += 1
        return token

    def expect(self, op: str) -> None:
        if self.take() != ("op", op):
            raise self.fail(f"expected {op!r}")

    def operand(self) -> Path | Any:
        kind, value = self.take()
        if kind == "string":
            return value[1:-1]
        if kind == "number":
            return float(value) if "." in value else int(value)
        if kind != "name":
            raise self.fail(f"unexpected {value!r}")
        if value in ("true", "false", "none", "True", "False", "None"):
            return {"true": True, "false": False}.get(value.lower())
        keys: list[str | int] = []
        while (token := self.peek()) in (("op", "."), ("op", "[")):
            self.take()
            if token == ("op", "."):
                kind, key = self.take()
                if kind not in ("name", "number"):
                    raise self.fail(f"expected a name after '.', got {key!r}")
                keys.append(int(key) if kind == "number" else key)
            else:
                kind, key = self.take()
                if kind == "string":
                    keys.append(key[1:-1])
                elif kind == "number" and "." not in key:
                    keys.append(int(key))
                else:
                    raise self.fail(f"expected a quoted key or an index in [], got {key!r}")
                self.expect("]")
        return Path(value, tuple(keys))

    def expression(self) -> Expression:
        if not self.tokens:
            raise self.fail("is empty")
        value = self.operand()
        filters = []
        while self.peek() == ("op", "|"):
            self.take()
            kind, name = self.take()
            if kind != "name" or name not in FILTERS:
                raise self.fail(f"unknown filter {name!r} (known: {', '.join(sorted(FILTERS))})")
            arguments: list[Any] = []
            if self.peek() == ("op", "("):
                self.take()
                while self.peek() != ("op", ")"):
                    arguments.append(self.operand())
                    if self.peek() == ("op", ","):
                        self.take()
                self.take()
            filters.append((name, tuple(arguments)))
        if self.peek() is not None:
            raise self.fail(f"unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return Expression(value, tuple(filters), self.text.strip())


def parse(text: str) -> Expression:
    return _Parser(text).expression()


def expressions(template: str) -> Iterator[tuple[re.Match[str], Expression]]:
    if _STATEMENT.search(template):
        raise TemplateError("Jinja statements and comments ({% %}, {# #}) are not supported;"
                            " use {{ }} expressions")  # fmt: skip
    for match in EXPRESSION.finditer(template):
        yield match, parse(match.group(1))


def check(template: str, roots: frozenset[str]) -> list[str]:
    """What is wrong with a template's expressions (their syntax, unknown names)."""
    problems = []
    try:
        for _, expression in expressions(template):
            for path in _paths(expression):
                if path.root not in roots:
                    problems.append(f"{{{{ {expression.source} }}}}: unknown name {path.root!r}"
                                    f" (known: {', '.join(sorted(roots))})")  # fmt: skip
    except TemplateError as exc:
        problems.append(str(exc))
    return problems


def _paths(expression: Expression) -> Iterator[Path]:
    if isinstance(expression.value, Path):
        yield expression.value
    for _, arguments in expression.filters:
        yield from (argument for argument in arguments if isinstance(argument, Path))


def _lookup(path: Path, context: Mapping[str, Any]) -> Any:
    value: Any = context.get(path.root, _MISSING)
    for key in path.keys:
        if value is _MISSING:
            break
        if isinstance(value, Mapping):
            found = value.get(str(key), _MISSING)
            if found is _MISSING and key in _RESOURCE_ALIASES:  # Prefect's resource.id, .name
                found = value.get(f"prefect.resource.{key}", _MISSING)
            value = found
        elif isinstance(value, list) and isinstance(key, int):
            value = value[key] if -len(value) <= key < len(value) else _MISSING
        else:
            value = _MISSING
    return value


def _operand(value: Any, context: Mapping[str, Any]) -> Any:
    return _lookup(value, context) if isinstance(value, Path) else value


def evaluate(expression: Expression, context: Mapping[str, Any]) -> Any:
    value = _operand(expression.value, context)
    for name, arguments in expression.filters:
        if name == "default":
            if value is _MISSING or (len(arguments) > 1 and not value):
                value = _operand(arguments[0], context) if arguments else ""
            continue
        if value is _MISSING:
            break
        try:
            value = _FILTER_FUNCTIONS[name](value)
        except (TypeError, ValueError) as exc:
            raise TemplateError(f"{{{{ {expression.source} }}}}: {name}: {exc}") from None
    if value is _MISSING:
        path = expression.value if isinstance(expression.value, Path) else None
        shown = path.text() if path else expression.source
        raise TemplateError(f"{{{{ {expression.source} }}}}: {shown} has no value in this"
                            " request or event")  # fmt: skip
    return value


def _tojson(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, dict | list):
        return _tojson(value)
    return str(value)


_FILTER_FUNCTIONS: dict[str, Callable[[Any], Any]] = {
    "tojson": _tojson,
    "lower": lambda value: str(value).lower(),
    "upper": lambda value: str(value).upper(),
    "string": _text,
    "int": lambda value: int(value),
    "float": lambda value: float(value),
}


def render_value(template: Any, context: Mapping[str, Any]) -> Any:
    """A trigger's `parameters`/`job_variables`: strings with `{{ }}` rendered, recursively. A
    string that is one expression keeps the value's type (a number stays a number)."""
    if isinstance(template, Mapping):
        return {key: render_value(item, context) for key, item in template.items()}
    if isinstance(template, list):
        return [render_value(item, context) for item in template]
    if not isinstance(template, str) or "{{" not in template:
        return template
    found = list(expressions(template))
    if len(found) == 1 and found[0][0].group(0) == template.strip():
        return evaluate(found[0][1], context)
    return EXPRESSION.sub(lambda m: _text(evaluate(parse(m.group(1)), context)), template)


def _inside_strings(text: str) -> list[bool]:
    """For each `{{ }}` in a JSON text: whether it stands inside a JSON string."""
    inside, escaped, flags, position = False, False, [], 0
    for match in EXPRESSION.finditer(text):
        for char in text[position : match.start()]:
            if escaped:
                escaped = False
            elif char == "\\" and inside:
                escaped = True
            elif char == '"':
                inside = not inside
        flags.append(inside)
        position = match.end()
    return flags


def render_json(template: str, context: Mapping[str, Any]) -> Any:
    """A webhook template rendered and read as JSON."""
    found = list(expressions(template))
    flags = _inside_strings(template)
    pieces, position = [], 0
    for (match, expression), inside in zip(found, flags, strict=True):
        value = evaluate(expression, context)
        pieces.append(template[position : match.start()])
        text = value if isinstance(value, str) else _text(value)
        pieces.append(json.dumps(text, ensure_ascii=False)[1:-1] if inside else text)
        position = match.end()
    pieces.append(template[position:])
    rendered = "".join(pieces)
    try:
        return json.loads(rendered)
    except ValueError as exc:
        raise TemplateError(f"the template rendered text that is not JSON ({exc}):"
                            f" {rendered[:200]!r}") from None  # fmt: skip


def sample_json(template: str) -> Any:
    """The template's JSON with every expression replaced by a neutral value (`x` inside a
    string, `null` elsewhere): what validation reads the template's shape from."""
    flags = _inside_strings(template)
    values = iter(flags)
    return json.loads(EXPRESSION.sub(lambda m: "x" if next(values) else "null", template))
