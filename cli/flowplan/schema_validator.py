"""JSON Schema (2020-12) validation with the `jsonschema` package, and messages people can act on.

jsonschema finds the errors; this module turns its error tree into one precise message per
problem, positioned by path: a failed `anyOf` becomes the error of the branch that fits the
value's type (or one "expected X or Y" message), extra keys become one `unknown key` each with a
did-you-mean, and a value of the wrong type is reported once, not once per keyword. jsonschema is
imported on first use (about 70 ms): commands that validate nothing do not pay for it.

Annotations we read: `x-flowplan-hint` (added to errors at that schema), and
`x-flowplan-unknown-keys: warning` (unknown keys in that object are warnings, not errors).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Hashable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from itertools import islice
from typing import Any

from flowplan.findings import Finding, Path_, error, warning

# jsonschema builds an object per error (about 40 microseconds each): past this many, the rest
# of the document is not checked and one issue says so (16,000 wrong items: 45 s before).
MAX_ERRORS = 1000
STOPPED = "schema-stopped"

_TYPE_NAMES = {
    "null": "null",
    "boolean": "a boolean",
    "integer": "an integer",
    "number": "a number",
    "string": "text",
    "array": "a list",
    "object": "a mapping",
}


@dataclass(frozen=True)
class SchemaIssue:
    path: Path_
    message: str
    code: str
    hint: str | None = None
    on_key: bool = False  # the position to report is the key's, not the value's
    soft: bool = False  # an unknown key where the schema says unknown keys are warnings

    def finding(self) -> Finding:
        if self.soft:
            return warning(self.code, self.message, self.path, self.hint)
        return error(self.code, self.message, self.path, self.hint)


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _is_type(value: Any, name: str) -> bool:
    actual = json_type(value)
    if name == "number":
        return actual in ("integer", "number")
    if name == "integer" and actual == "number":
        return float(value).is_integer()
    return actual == name


def describe_value(value: Any) -> str:
    kind = _TYPE_NAMES[json_type(value)]
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"{kind} ({shown!r})"
    if isinstance(value, bool | int | float):
        return f"{kind} ({value!r})"
    return kind


class Validator:
    """Validates plain data (from YAML or JSON) against one schema document."""

    def __init__(
        self,
        schema: dict[str, Any],
        *,
        lenient: bool = False,
        check_required: bool = True,
        registry: Any = None,
        same_items: bool = False,
    ) -> None:
        """`lenient`: a schema users wrote (a work pool's `variables`, a flow's parameters):
        one that is itself invalid checks nothing instead of failing. `check_required=False`
        skips `required`, as Prefect does for deployment job variables. `registry`: a
        `referencing.Registry` for `$ref`s to other documents (the Kubernetes schemas).
        `same_items`: list items of one shape are checked once (see `_ValidItems`; for our own
        schemas, whose `$ref`s all point into the root document)."""
        self.root = schema
        self.lenient = lenient
        self.check_required = check_required
        self.same_items = same_items
        self._patterns: dict[str, re.Pattern[str]] = {}
        self._loose: dict[int, dict[str, list[str]] | None] = {}
        extra = {} if registry is None else {"registry": registry}
        self._validator = _capped_validator()(schema, **extra)

    def issues(self, instance: Any) -> list[SchemaIssue]:
        """The issues of `instance`, in document order; past MAX_ERRORS errors the rest is
        not checked, and a last issue (code `schema-stopped`) says so."""
        budget = [MAX_ERRORS]
        token = _BUDGET.set(budget)
        items = _ITEMS.set(_ValidItems(self) if self.same_items else None)
        try:
            errors = list(islice(self._validator.iter_errors(instance), MAX_ERRORS + 1))
        except Exception:  # a schema jsonschema cannot apply: a bad $ref, a bad regex, ...
            if self.lenient:
                return []
            raise
        finally:
            _BUDGET.reset(token)
            _ITEMS.reset(items)
        issues = _settle(self._convert(errors, instance))
        if len(errors) > MAX_ERRORS or budget[0] < 0 or len(issues) > MAX_ERRORS:
            message = f"checking stopped after {MAX_ERRORS:,} schema errors"
            stop = SchemaIssue((), message, STOPPED, "fix these and check again")
            issues = [*issues[:MAX_ERRORS], stop]
        return issues

    # -- from jsonschema's errors to issues -----------------------------------------------

    def _convert(self, errors: list[Any], instance: Any) -> list[SchemaIssue]:
        """Issues in the order of the document (jsonschema follows the schema's order)."""
        issues: list[SchemaIssue] = []
        indexes: dict[int, dict[Any, int]] = {}
        for err in sorted(errors, key=lambda e: _order(e, instance, indexes)):
            issues += self._issue(err)
        return issues

    def _issue(self, err: Any) -> list[SchemaIssue]:
        path: Path_ = tuple(err.absolute_path)
        schema = err.schema if isinstance(err.schema, dict) else {}
        hint = schema.get("x-flowplan-hint")
        value = err.instance
        keyword = err.validator
        if keyword == "type":
            names = (
                [err.validator_value]
                if isinstance(err.validator_value, str)
                else list(err.validator_value)
            )
            expected = " or ".join(_TYPE_NAMES[name] for name in names)
            return [SchemaIssue(path, f"expected {expected}, got {describe_value(value)}",
                                "schema-type", hint)]  # fmt: skip
        if keyword == "enum":
            message = f"must be {self.describe(schema)}; got {describe_value(value)}"
            close = difflib.get_close_matches(str(value), [str(v) for v in err.validator_value], 1)
            return [SchemaIssue(path, message, "schema-enum",
                                f"did you mean {close[0]!r}?" if close else hint)]  # fmt: skip
        if keyword == "pattern":
            return [SchemaIssue(path, f"expected {self.describe(schema)}, got {value!r}",
                                "schema-pattern", hint)]  # fmt: skip
        if keyword in ("minimum", "maximum"):
            word = "least" if keyword == "minimum" else "most"
            return [SchemaIssue(path, f"must be at {word} {err.validator_value}; got {value}",
                                "schema-range", hint)]  # fmt: skip
        if keyword == "required":
            if not self.check_required:
                return []
            key = err.message.split("'")[1] if "'" in err.message else err.message
            return [SchemaIssue(path, f"missing required key {key!r}", "schema-required", hint)]
        if keyword == "maxProperties":
            keys = ", ".join(map(str, value))
            message = f"has {len(value)} keys ({keys}); at most {err.validator_value} allowed"
            return [SchemaIssue(path, message, "schema-keys", hint)]
        if keyword == "minProperties":
            count = err.validator_value
            noun = "key" if count == 1 else "keys"
            return [SchemaIssue(path, f"needs at least {count} {noun}", "schema-keys", hint)]
        if keyword == "additionalProperties":
            return self._unknown_keys(value, schema, path, hint)
        if keyword == "anyOf":
            return self._any_of(err, schema, path, hint)
        return [SchemaIssue(path, err.message, f"schema-{keyword}", hint)]

    def _unknown_keys(
        self, value: dict[str, Any], schema: dict[str, Any], path: Path_, hint: str | None
    ) -> list[SchemaIssue]:
        properties = schema.get("properties", {})
        patterns = [self._pattern(p) for p in schema.get("patternProperties", {})]
        soft = schema.get("x-flowplan-unknown-keys") == "warning"
        found = []
        for key in value:
            if key in properties or any(p.search(key) for p in patterns):
                continue
            close = difflib.get_close_matches(key, list(properties), 1, 0.7)
            found.append(SchemaIssue(
                (*path, key), f"unknown key {key!r}", "unknown-key",
                f"did you mean {close[0]!r}?" if close else hint, on_key=True, soft=soft,
            ))  # fmt: skip
        return found

    def _any_of(
        self, err: Any, schema: dict[str, Any], path: Path_, hint: str | None
    ) -> list[SchemaIssue]:
        """Report the branch that fits the value's type, if exactly one does: its errors are
        the precise ones. Otherwise one message saying what would have been accepted."""
        branches: dict[int, list[Any]] = {}
        for sub in err.context or ():
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        results = [
            _settle(self._convert(found, err.instance)) for _, found in sorted(branches.items())
        ]
        fitting = [found for found in results if not _only_type_errors(found, path)]
        if len(fitting) == 1 and any(issue.path != path for issue in fitting[0]):
            return fitting[0]
        if len(fitting) == 1 and fitting[0] and fitting[0][0].code != "schema-pattern":
            return fitting[0]
        accepted = schema["anyOf"]
        if isinstance(err.instance, str) and "{{" not in err.instance:
            # text that is no placeholder: say what else would do
            accepted = [b for b in accepted if self.describe(b) != "a {{ placeholder }}"]
        expected = " or ".join(self.describe(branch) for branch in accepted)
        message = f"expected {expected}, got {describe_value(err.instance)}"
        return [SchemaIssue(path, message, "schema-type", hint)]

    # -- describing schemas ----------------------------------------------------------------

    def _resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            ref = schema["$ref"]
            if not ref.startswith("#/"):
                return {}
            target: Any = self.root
            for part in ref[2:].split("/"):
                target = target[part]
            schema = target
        return schema

    def loose_properties(self, schema: Any) -> dict[str, list[str]] | None:
        """For an object schema whose keywords look only at its keys and, property by
        property, at each value (`properties`, `required`, ...): the properties checked by
        their type alone, with their types. None for any other schema."""
        if id(schema) not in self._loose:
            self._loose[id(schema)] = _loose_properties(self.root, schema)
        return self._loose[id(schema)]

    def _pattern(self, pattern: str) -> re.Pattern[str]:
        if pattern not in self._patterns:
            self._patterns[pattern] = re.compile(pattern)
        return self._patterns[pattern]

    def describe(self, schema: dict[str, Any]) -> str:
        """A short human description of what `schema` accepts."""
        schema = self._resolve(schema)
        if "anyOf" in schema:
            return " or ".join(self.describe(sub) for sub in schema["anyOf"])
        if "enum" in schema:
            return "one of " + ", ".join(
                repr(v) if v is not None else "null" for v in schema["enum"]
            )
        if "pattern" in schema and "description" in schema:
            return "a {{ placeholder }}" if "{{" in schema["description"] else "matching text"
        types = schema.get("type")
        if types is None:
            return "any value"
        names = [types] if isinstance(types, str) else types
        return " or ".join(_TYPE_NAMES[name] for name in names)


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
            if isinstance(types, str) and types in _TYPE_NAMES:
                loose[name] = [types]
            elif isinstance(types, list) and all(t in _TYPE_NAMES for t in types):
                loose[name] = list(types)
    return loose


class _ValidItems:
    """List items found valid, by what their validity depends on: a list of 10,000
    deployments that differ only in values checked by type alone (a name, a description,
    parameters: a mapping) is checked once per shape, not once per item. The key of an item
    is exact everywhere else (its keys in order, every other value as JSON text), so an item
    with the key of a valid one is valid; items with errors are always checked in full."""

    def __init__(self, owner: Validator) -> None:
        self.owner = owner
        self.valid: set[Hashable] = set()

    def key(self, validator: Any, schema: Any, item: Any) -> Hashable | None:
        if not isinstance(item, dict):
            return None
        loose = self.owner.loose_properties(schema)
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


def _capped_validator() -> Any:
    """Draft 2020-12 whose `anyOf` stops listing a branch's errors when the budget of
    `issues()` is spent (the stock one lists every error of every branch before it decides;
    one error is enough to know that a branch does not fit), and whose `items` checks each
    shape of item once (`_ValidItems`, when `issues()` keeps one)."""
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
_ITEMS: ContextVar[_ValidItems | None] = ContextVar("schema_valid_items", default=None)


def _order(err: Any, instance: Any, indexes: dict[int, dict[Any, int]]) -> tuple[int, ...]:
    """Where the error's value stands in the document: the index of each key on its path
    (`indexes` keeps each mapping's key positions, so that many errors take linear time)."""
    place = []
    current = instance
    for part in err.relative_path:
        if isinstance(current, dict):
            index = indexes.get(id(current))
            if index is None:
                index = indexes[id(current)] = {key: i for i, key in enumerate(current)}
            place.append(index.get(part, len(current)))
            current = current.get(part)
        elif isinstance(current, list) and isinstance(part, int) and part < len(current):
            place.append(part)
            current = current[part]
        else:
            break
    return tuple(place)


def _settle(issues: list[SchemaIssue]) -> list[SchemaIssue]:
    """One message per problem: a value of the wrong type says only that (not also that it
    is not one of an enum, ...), and an object with too many keys says only that."""
    typed = {issue.path for issue in issues if issue.code == "schema-type"}
    crowded = {issue.path for issue in issues if issue.code == "schema-keys"
               and issue.message.startswith("has ")}  # fmt: skip
    covered = typed | crowded  # what is inside these is not reported again
    kept = []
    for issue in issues:
        if issue.path in typed and issue.code != "schema-type":
            continue
        if any(issue.path[:cut] in covered for cut in range(len(issue.path))):
            continue
        kept.append(issue)
    unique: dict[tuple[Any, ...], SchemaIssue] = {}
    for issue in kept:
        unique.setdefault((issue.path, issue.code, issue.message), issue)
    return list(unique.values())


def _only_type_errors(issues: list[SchemaIssue], path: Path_) -> bool:
    return all(issue.code == "schema-type" and issue.path == path for issue in issues)
