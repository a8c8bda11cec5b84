"""The `{{ }}` placeholder syntax of prefect.yaml (PREFECT-COMPAT section 3).

Not Jinja: a placeholder is a name (letters, digits, `_ . - [ ] $`) between double braces.
The kind is decided by its prefix: `$NAME` environment, `prefect.blocks.` block,
`prefect.variables.` variable, `ctx.` run-time context, anything else a step output.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from flowplan.errors import InvalidInput

PLACEHOLDER = re.compile(r"\{\{\s*([\w.\-\[\]$]+)\s*\}\}")

Kind = Literal["env", "block", "variable", "context", "output"]


@dataclass(frozen=True)
class Placeholder:
    name: str
    kind: Kind
    whole: bool  # the placeholder is the whole string (it keeps the value's type)

    @property
    def parts(self) -> list[str]:
        return path_parts(self.name)


def path_parts(name: str) -> list[str]:
    """Dotted path segments: `a.b[0].c` -> ["a", "b", "0", "c"]."""
    return [part for part in re.split(r"[.\[\]]", name) if part]


def secret_name(placeholder: Placeholder) -> str:
    """The secret a `{{ prefect.blocks.secret.<name> }}` placeholder names. Other block types
    have no store here: an error that says so."""
    parts = placeholder.name.split(".")
    if len(parts) < 4:
        raise InvalidInput(
            f"{{{{ {placeholder.name} }}}}: a block reference needs a type and a name"
        )
    if parts[2] != "secret":
        raise InvalidInput(
            f"{{{{ {placeholder.name} }}}}: '{parts[2]}' blocks are not available on the local"
            " store; only secret blocks are ('flowplan secret set NAME')"
        )
    return parts[3]


def kind_of(name: str) -> Kind:
    if name.startswith("$"):
        return "env"
    if name.startswith("prefect.blocks."):
        return "block"
    if name.startswith("prefect.variables."):
        return "variable"
    if name.startswith("ctx."):
        return "context"
    return "output"


def placeholders_in(text: str) -> list[Placeholder]:
    if "{{" not in text:  # most text holds none: no need for the regular expression
        return []
    matches = list(PLACEHOLDER.finditer(text))
    whole = len(matches) == 1 and matches[0].group(0) == text
    return [Placeholder(m.group(1), kind_of(m.group(1)), whole) for m in matches]


def has_placeholder(value: Any) -> bool:
    return isinstance(value, str) and PLACEHOLDER.search(value) is not None


def walk_placeholders(
    value: Any, path: tuple[str | int, ...]
) -> Iterator[tuple[tuple[str | int, ...], Placeholder]]:
    """Every placeholder inside a value, with the path of the string that holds it."""
    if isinstance(value, str):
        for placeholder in placeholders_in(value):
            yield path, placeholder
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from walk_placeholders(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk_placeholders(item, (*path, index))


class _NotSet:
    """A whole-string placeholder with no value: the key holding it is dropped."""

    def __repr__(self) -> str:
        return "NOTSET"


NOTSET: Any = _NotSet()


def lookup(values: Mapping[str, Any], name: str) -> Any:
    """The value at a dotted path (`a.b[0].c` or `a.b.0.c`), or NOTSET."""
    current: Any = values
    if name in values:
        return values[name]
    for part in path_parts(name):
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif (
            isinstance(current, list)
            and part.lstrip("-").isdigit()
            and -len(current) <= int(part) < len(current)
        ):
            current = current[int(part)]
        else:
            return NOTSET
    return current


def apply_values(
    template: Any,
    values: Mapping[str, Any],
    *,
    remove_notset: bool = True,
    skip_prefixes: tuple[str, ...] = (),
    on_missing: Callable[[str], None] | None = None,
    environ: Mapping[str, str] | None = None,
    resolve_env: bool = True,
) -> Any:
    """Fill step-output and `$ENV` placeholders (PREFECT-COMPAT section 3.2).

    A whole-string placeholder keeps its value's type; a missing one drops its key (or keeps the
    text without `remove_notset`). Embedded placeholders become text; missing ones become "" (or
    stay). `$ENV` values are always text (`resolve_env=False` leaves them for a later pass).
    Block and variable placeholders, and names starting with one of `skip_prefixes`, are left
    for a later pass. `on_missing` hears each missing name.
    """
    env = None if not resolve_env else os.environ if environ is None else environ

    def render(value: Any) -> Any:
        if isinstance(value, str):
            return _render_text(value, values, env, remove_notset, skip_prefixes, on_missing)
        if isinstance(value, Mapping):
            result = {}
            for key, item in value.items():
                rendered = render(item)
                if rendered is NOTSET:
                    if remove_notset:
                        continue
                    rendered = item
                result[key] = rendered
            return result
        if isinstance(value, list | tuple):
            return [rendered for item in value if (rendered := render(item)) is not NOTSET]
        if value is None or isinstance(value, bool | int | float):
            return value
        raise ValueError(f"cannot template a value of type {type(value).__name__}")

    rendered = render(template)
    if rendered is NOTSET and not remove_notset:
        return template  # a whole placeholder with no value yet: kept for a later pass
    return rendered


def _render_text(
    text: str,
    values: Mapping[str, Any],
    env: Mapping[str, str] | None,
    remove_notset: bool,
    skip_prefixes: tuple[str, ...],
    on_missing: Callable[[str], None] | None,
) -> Any:
    found = placeholders_in(text)
    if not found:
        return text

    def wanted(placeholder: Placeholder) -> bool:
        return placeholder.kind in ("output", "context") and not placeholder.name.startswith(
            skip_prefixes
        )

    if len(found) == 1 and found[0].whole and wanted(found[0]):
        value = lookup(values, found[0].name)
        if value is NOTSET and on_missing:
            on_missing(found[0].name)
        return value

    def replace(match: re.Match[str]) -> str:
        placeholder = placeholders_in(match.group(0))[0]
        if placeholder.kind == "env":
            if env is None:
                return match.group(0)
            value = env.get(placeholder.name[1:])
        elif wanted(placeholder):
            value = lookup(values, placeholder.name)
            if value is NOTSET:
                value = None
                if on_missing:
                    on_missing(placeholder.name)
        else:
            return match.group(0)
        if value is None:
            return "" if remove_notset else match.group(0)
        return str(value)

    return PLACEHOLDER.sub(replace, text)


def resolve_references(
    template: Any,
    variable: Callable[[str], Any],
    block: Callable[[Placeholder], Any],
) -> Any:
    """Resolve `{{ prefect.variables.x }}` and `{{ prefect.blocks.t.n }}` placeholders.

    `variable(name)` gives a variable's value (None when missing: it becomes ""); `block(p)`
    gives a block's value, or the placeholder's own text to keep it as a reference. Whole
    placeholders keep the value's type; embedded ones become text.
    """

    def value_of(placeholder: Placeholder) -> Any:
        if placeholder.kind == "variable":
            found = variable(placeholder.name.removeprefix("prefect.variables."))
            return "" if found is None else found
        return block(placeholder)

    def render(value: Any) -> Any:
        if isinstance(value, str):
            found = [p for p in placeholders_in(value) if p.kind in ("variable", "block")]
            if not found:
                return value
            if len(found) == 1 and found[0].whole:
                return value_of(found[0])

            def replace(match: re.Match[str]) -> str:
                placeholder = placeholders_in(match.group(0))[0]
                if placeholder.kind not in ("variable", "block"):
                    return match.group(0)
                resolved = value_of(placeholder)
                if isinstance(resolved, dict | list):
                    raise InvalidInput(
                        f"{{{{ {placeholder.name} }}}} holds a {type(resolved).__name__} and"
                        " cannot be used for inline string substitution"
                    )
                return str(resolved)

            return PLACEHOLDER.sub(replace, value)
        if isinstance(value, Mapping):
            return {key: render(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [render(item) for item in value]
        return value

    return render(template)
