"""A small JSON Schema (2020-12) validator for the keywords our own schemas use.

Why not the `jsonschema` package: importing it costs more than the whole `validate` budget
(it loads every metaschema at import), and it reports one error per failed `anyOf` branch where
users need one precise message with a hint. The test suite checks that this validator and
`jsonschema` agree on every corpus file and on generated bad documents.

Annotations we read: `x-flowplan-hint` (added to errors at that schema), and
`x-flowplan-unknown-keys: warning` (unknown keys in that object are warnings, not errors).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from flowplan.project.findings import Finding, Path_, error, warning

SUPPORTED = frozenset(
    {
        "$schema", "$id", "$defs", "$ref", "title", "description", "type", "enum", "properties",
        "patternProperties", "additionalProperties", "required", "items", "minProperties",
        "maxProperties", "minimum", "maximum", "pattern", "anyOf", "allOf",
        # annotations (parameter schemas carry them)
        "default", "format", "position", "definitions", "examples",
    }
)  # fmt: skip
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
        self, schema: dict[str, Any], *, lenient: bool = False, check_required: bool = True
    ) -> None:
        """`lenient`: ignore keywords this validator does not know (for user-written schemas,
        such as a work pool's `variables`) instead of refusing the schema.
        `check_required=False` skips `required`, as Prefect does for deployment job variables."""
        self.root = schema
        self.check_required = check_required
        self._patterns: dict[str, re.Pattern[str]] = {}
        if not lenient:
            self._check_keywords(schema)

    def issues(self, instance: Any) -> list[SchemaIssue]:
        return list(self._validate(instance, self.root, ()))

    # -- schema handling -------------------------------------------------------------------

    def _check_keywords(self, schema: Any) -> None:
        if isinstance(schema, dict):
            for key, value in schema.items():
                if key.startswith("x-"):
                    continue
                if key not in SUPPORTED:
                    raise ValueError(f"schema keyword {key!r} is not supported by this validator")
                if key in ("properties", "patternProperties", "$defs"):
                    for sub in value.values():
                        self._check_keywords(sub)
                elif key in ("items", "additionalProperties"):
                    self._check_keywords(value)
                elif key in ("anyOf", "allOf"):
                    for sub in value:
                        self._check_keywords(sub)

    def _resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            ref = schema["$ref"]
            if not ref.startswith("#/"):
                raise ValueError(f"only local $ref is supported, got {ref!r}")
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
        return " or ".join(_TYPE_NAMES[name] for name in names)

    # -- validation ------------------------------------------------------------------------

    def _validate(self, value: Any, schema: dict[str, Any], path: Path_) -> Iterator[SchemaIssue]:
        schema = self._resolve(schema)
        hint = schema.get("x-flowplan-hint")
        if "anyOf" in schema:
            yield from self._any_of(value, schema, path, hint)
            return
        for branch in schema.get("allOf", ()):
            yield from self._validate(value, branch, path)
        types = schema.get("type")
        if types is not None:
            names = [types] if isinstance(types, str) else types
            if not any(_is_type(value, name) for name in names):
                expected = " or ".join(_TYPE_NAMES[name] for name in names)
                message = f"expected {expected}, got {describe_value(value)}"
                yield SchemaIssue(path, message, "schema-type", hint)
                return
        if "enum" in schema and value not in schema["enum"]:
            message = f"must be {self.describe(schema)}; got {describe_value(value)}"
            close = difflib.get_close_matches(str(value), [str(v) for v in schema["enum"]], 1)
            yield SchemaIssue(
                path, message, "schema-enum", f"did you mean {close[0]!r}?" if close else hint
            )
        pattern = schema.get("pattern")
        if isinstance(value, str) and pattern and not self._pattern(pattern).search(value):
            yield SchemaIssue(
                path, f"expected {self.describe(schema)}, got {value!r}", "schema-pattern", hint
            )
        if isinstance(value, int | float) and not isinstance(value, bool):
            if "minimum" in schema and value < schema["minimum"]:
                yield SchemaIssue(
                    path, f"must be at least {schema['minimum']}; got {value}", "schema-range", hint
                )
            if "maximum" in schema and value > schema["maximum"]:
                yield SchemaIssue(
                    path, f"must be at most {schema['maximum']}; got {value}", "schema-range", hint
                )
        if isinstance(value, list) and "items" in schema:
            for index, item in enumerate(value):
                yield from self._validate(item, schema["items"], (*path, index))
        if isinstance(value, dict):
            yield from self._object(value, schema, path, hint)

    def _object(
        self, value: dict[str, Any], schema: dict[str, Any], path: Path_, hint: str | None
    ) -> Iterator[SchemaIssue]:
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            keys = ", ".join(map(str, value))
            message = f"has {len(value)} keys ({keys}); at most {schema['maxProperties']} allowed"
            yield SchemaIssue(path, message, "schema-keys", hint)
            return
        if "minProperties" in schema and len(value) < schema["minProperties"]:
            yield SchemaIssue(
                path, f"needs at least {schema['minProperties']} key(s)", "schema-keys", hint
            )
        for key in schema.get("required", ()) if self.check_required else ():
            if key not in value:
                yield SchemaIssue(path, f"missing required key {key!r}", "schema-required", hint)
        properties = schema.get("properties", {})
        patterns = schema.get("patternProperties", {})
        extra = schema.get("additionalProperties", True)
        soft = schema.get("x-flowplan-unknown-keys") == "warning"
        for key, item in value.items():
            child = (*path, key)
            if key in properties:
                yield from self._validate(item, properties[key], child)
                continue
            matched = [
                sub for pattern, sub in patterns.items() if self._pattern(pattern).search(key)
            ]
            for sub in matched:
                yield from self._validate(item, sub, child)
            if matched:
                continue
            if extra is False:
                close = difflib.get_close_matches(key, list(properties), 1, 0.7)
                yield SchemaIssue(
                    child,
                    f"unknown key {key!r}",
                    "unknown-key",
                    f"did you mean {close[0]!r}?" if close else hint,
                    on_key=True,
                    soft=soft,
                )
            elif isinstance(extra, dict):
                yield from self._validate(item, extra, child)

    def _any_of(
        self, value: Any, schema: dict[str, Any], path: Path_, hint: str | None
    ) -> Iterator[SchemaIssue]:
        results = []
        for branch in schema["anyOf"]:
            found = list(self._validate(value, branch, path))
            if not found:
                return
            results.append((branch, found))
        # Report the branch that fits the value's type, if exactly one does: its errors are the
        # precise ones. Otherwise one message saying what would have been accepted.
        fitting = [found for branch, found in results if not _only_type_errors(found, path)]
        if len(fitting) == 1 and any(issue.path != path for issue in fitting[0]):
            yield from fitting[0]
            return
        if len(fitting) == 1 and fitting[0][0].code != "schema-pattern":
            yield from fitting[0]
            return
        message = f"expected {self.describe(schema)}, got {describe_value(value)}"
        yield SchemaIssue(path, message, "schema-type", hint)


def _only_type_errors(issues: list[SchemaIssue], path: Path_) -> bool:
    return all(issue.code == "schema-type" and issue.path == path for issue in issues)
