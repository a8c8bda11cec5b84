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
import re
from dataclasses import dataclass
from itertools import islice
from typing import Any

from flowplan import schema_fast
from flowplan.findings import Finding, Path_, error, warning
from flowplan.schema_fast import MAX_ERRORS, TYPE_NAMES

STOPPED = "schema-stopped"


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
    kind = TYPE_NAMES[json_type(value)]
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
        `same_items`: list items of one shape are checked once (`schema_fast.ValidItems`;
        for our own schemas, whose `$ref`s all point into the root document)."""
        self.root = schema
        self.lenient = lenient
        self.check_required = check_required
        self.same_items = same_items
        self._patterns: dict[str, re.Pattern[str]] = {}
        extra = {} if registry is None else {"registry": registry}
        self._validator = schema_fast.capped_validator()(schema, **extra)

    def issues(self, instance: Any) -> list[SchemaIssue]:
        """The issues of `instance`, in document order; past MAX_ERRORS errors the rest is
        not checked, and a last issue (code `schema-stopped`) says so."""
        budget = [MAX_ERRORS]
        shapes = schema_fast.ValidItems(self.root) if self.same_items else None
        try:
            with schema_fast.checking(budget, shapes):
                errors = list(islice(self._validator.iter_errors(instance), MAX_ERRORS + 1))
        except Exception:  # a schema jsonschema cannot apply: a bad $ref, a bad regex, ...
            if self.lenient:
                return []
            raise
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
            expected = " or ".join(TYPE_NAMES[name] for name in names)
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
        return " or ".join(TYPE_NAMES[name] for name in names)


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
