"""jsonschema's Draft 2020-12 validator, extended for speed (`schema_validator` turns its errors
into issues):

- `anyOf` stops listing a branch's errors when the error budget of the check is spent (the
  stock one lists every error of every branch before it decides; one error is enough to know
  that a branch does not fit);
- `items` checks each shape of list item once (`ValidItems`): 10,000 deployments that differ
  only in values checked by type alone are checked as a handful.

Both read the state of the check in progress from context variables that `checking` sets."""

from __future__ import annotations

import json
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from itertools import islice
from typing import Any

# jsonschema builds an object per error (about 40 microseconds each): past this many, the rest
# of the document is not checked and one issue says so (16,000 wrong items: 45 s before).
MAX_ERRORS = 1000

TYPE_NAMES = {
    "null": "null",
    "boolean": "a boolean",
    "integer": "an integer",
    "number": "a number",
    "string": "text",
    "array": "a list",
    "object": "a mapping",
}


@contextmanager
def checking(budget: list[int], shapes: ValidItems | None) -> Iterator[None]:
    """A check in progress: its error budget (spent by `anyOf`), and the item shapes found
    valid so far (None: every item is checked)."""
    budget_token = _BUDGET.set(budget)
    shapes_token = _ITEMS.set(shapes)
    try:
        yield
    finally:
        _BUDGET.reset(budget_token)
        _ITEMS.reset(shapes_token)


_ANNOTATIONS = frozenset({"title", "description", "$comment", "default", "examples", "deprecated"})
_BY_KEYS = frozenset(
    {"type", "properties", "additionalProperties", "required", "minProperties", "maxProperties"}
)


def _only(schema: dict[str, Any], keywords: frozenset[str]) -> bool:
    return all(k in keywords or k in _ANNOTATIONS or k.startswith("x-") for k in schema)


def _loose_properties(root: dict[str, Any], schema: Any) -> dict[str, list[str]] | None:
    seen = 0
    while isinstance(schema, dict) and "$ref" in schema and seen < 20:
        ref = schema["$ref"]
        if not _only(schema, frozenset({"$ref"})) or not isinstance(ref, str):
            return None
        if not ref.startswith("#/"):
            return None
        target: Any = root
        for part in ref[2:].split("/"):
            if not isinstance(target, dict) or part not in target:
                return None
            target = target[part]
        schema, seen = target, seen + 1
    if not isinstance(schema, dict) or "$ref" in schema or not _only(schema, _BY_KEYS):
        return None
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return None
    loose = {}
    for name, sub in properties.items():
        if isinstance(sub, dict) and "type" in sub and _only(sub, frozenset({"type"})):
            types = sub["type"]
            if isinstance(types, str) and types in TYPE_NAMES:
                loose[name] = [types]
            elif isinstance(types, list) and all(t in TYPE_NAMES for t in types):
                loose[name] = list(types)
    return loose


class ValidItems:
    """List items found valid, by what their validity depends on: a list of 10,000
    deployments that differ only in values checked by type alone (a name, a description,
    parameters: a mapping) is checked once per shape, not once per item. The key of an item
    is exact everywhere else (its keys in order, every other value as JSON text), so an item
    with the key of a valid one is valid; items with errors are always checked in full."""

    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root  # the schema document (whose `$ref`s the item schemas follow)
        self.valid: set[Hashable] = set()
        self._loose: dict[int, dict[str, list[str]] | None] = {}

    def loose_properties(self, schema: Any) -> dict[str, list[str]] | None:
        """For an object schema whose keywords look only at its keys and, property by
        property, at each value (`properties`, `required`, ...): the properties checked by
        their type alone, with their types. None for any other schema."""
        if id(schema) not in self._loose:
            self._loose[id(schema)] = _loose_properties(self.root, schema)
        return self._loose[id(schema)]

    def key(self, validator: Any, schema: Any, item: Any) -> Hashable | None:
        if not isinstance(item, dict):
            return None
        loose = self.loose_properties(schema)
        if loose is None:
            return None
        parts: list[Any] = [id(schema)]
        try:
            for name, value in item.items():
                types = loose.get(name)
                if types is not None and any(validator.is_type(value, t) for t in types):
                    parts.append((name,))
                else:
                    parts.append((name, json.dumps(value)))
        except (TypeError, ValueError, RecursionError):  # not JSON data: check it in full
            return None
        return tuple(parts)


def capped_validator() -> Any:
    """Draft 2020-12 whose `anyOf` stops listing a branch's errors when the budget of
    the check is spent (the stock one lists every error of every branch before it decides;
    one error is enough to know that a branch does not fit), and whose `items` checks each
    shape of item once (`ValidItems`, when the check keeps one)."""
    global _CAPPED
    if _CAPPED is None:
        from jsonschema import Draft202012Validator, ValidationError, validators

        stock_items = Draft202012Validator.VALIDATORS["items"]

        def items(validator: Any, schema: Any, instance: Any, parent: Any) -> Iterator[Any]:
            seen = _ITEMS.get()
            if seen is None or schema is False or not validator.is_type(instance, "array"):
                yield from stock_items(validator, schema, instance, parent)
                return
            for index in range(len(parent.get("prefixItems", [])), len(instance)):
                key = seen.key(validator, schema, instance[index])
                if key is not None and key in seen.valid:
                    continue
                failed = False
                for error in validator.descend(instance[index], schema, path=index):
                    failed = True
                    yield error
                if key is not None and not failed:
                    seen.valid.add(key)

        def any_of(validator: Any, branches: list[Any], instance: Any, _: Any) -> Iterator[Any]:
            budget = _BUDGET.get() or [MAX_ERRORS]
            found: list[Any] = []
            for index, branch in enumerate(branches):
                errors = validator.descend(instance, branch, schema_path=index)
                first = list(islice(errors, max(1, budget[0] + 1)))
                if not first:
                    budget[0] += len(found)  # the value fits: those errors are not reported
                    return
                budget[0] -= len(first)
                found += first
            yield ValidationError(
                f"{instance!r} is not valid under any of the given schemas", context=found
            )

        _CAPPED = validators.extend(Draft202012Validator, {"anyOf": any_of, "items": items})
    return _CAPPED


_CAPPED: Any = None
_BUDGET: ContextVar[list[int] | None] = ContextVar("schema_error_budget", default=None)
_ITEMS: ContextVar[ValidItems | None] = ContextVar("schema_valid_items", default=None)
