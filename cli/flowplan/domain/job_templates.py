"""Work-pool base job templates: the defaults per pool type, and checks for templates and for
the `job_variables` a deployment or run sends.

A template is `{"job_configuration": {...}, "variables": <JSON Schema of an object>}`. Every
`{{ name }}` in `job_configuration` must be declared in `variables` (Prefect refuses the template
otherwise). The defaults for `process`, `docker` and `kubernetes` match Prefect's workers, so
`job_variables` written for Prefect validate the same way here.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from flowplan import files
from flowplan.errors import InvalidInput
from flowplan.findings import format_path
from flowplan.resources import data_dir
from flowplan.schema_validator import Validator
from flowplan.templating import walk_placeholders

POOL_TYPES = ("process", "docker", "kubernetes")
_JSON_TYPES = frozenset({"null", "boolean", "integer", "number", "string", "array", "object"})


@cache
def _load_default(pool_type: str) -> dict[str, Any]:
    with open(data_dir("schemas") / "work-pools" / f"{pool_type}.json", encoding="utf-8") as fh:
        template: dict[str, Any] = json.load(fh)
    return template


def check_pool_type(pool_type: str) -> str:
    if pool_type not in POOL_TYPES:
        import difflib

        close = difflib.get_close_matches(pool_type, POOL_TYPES, 1)
        raise InvalidInput(
            f"unknown work pool type {pool_type!r}; known types: {', '.join(POOL_TYPES)}",
            hint=f"did you mean {close[0]!r}?" if close else None,
        )
    return pool_type


def default_template(pool_type: str) -> dict[str, Any]:
    """A fresh copy of the default base job template of a pool type."""
    return copy.deepcopy(_load_default(check_pool_type(pool_type)))


def template_problems(template: object) -> list[str]:
    """Why `template` is not a valid base job template (empty list: it is valid)."""
    if not isinstance(template, Mapping):
        return [f"a base job template must be a JSON object, got {type(template).__name__}"]
    if not template:
        return []
    problems = [
        f"unknown key {key!r} (expected job_configuration and variables)"
        for key in template
        if key not in ("job_configuration", "variables")
    ]
    configuration = template.get("job_configuration")
    variables = template.get("variables")
    if not isinstance(configuration, Mapping):
        problems.append("job_configuration must be a JSON object")
    if not isinstance(variables, Mapping):
        problems.append("variables must be a JSON Schema object")
        return problems
    if variables.get("type", "object") != "object":
        problems.append("variables must be a schema of type 'object'")
    properties = variables.get("properties", {})
    if not isinstance(properties, Mapping):
        problems.append("variables.properties must be a JSON object")
        return problems
    problems.extend(_schema_type_problems(variables, ("variables",)))
    if isinstance(configuration, Mapping):
        declared = set(properties)
        missing = sorted(
            {
                placeholder.name
                for _, placeholder in walk_placeholders(dict(configuration), ())
                if placeholder.kind == "output" and placeholder.name not in declared
            }
        )
        if missing:
            problems.append(
                "job_configuration uses undeclared variable(s): " + ", ".join(missing)
                + " (declare each under variables.properties)"
            )  # fmt: skip
    return problems


def _schema_type_problems(schema: Any, path: tuple[str | int, ...]) -> list[str]:
    problems: list[str] = []
    if isinstance(schema, Mapping):
        types = schema.get("type")
        names = [types] if isinstance(types, str) else types if isinstance(types, list) else []
        if types is not None and not names:
            problems.append(f"{format_path(path)}.type must be a type name or a list of them")
        problems += [
            f"{format_path(path)}.type: unknown type {name!r}"
            for name in names
            if name not in _JSON_TYPES
        ]
        for key, value in schema.items():
            if isinstance(value, Mapping | list) and key not in ("default", "examples", "enum"):
                problems += _schema_type_problems(value, (*path, key))
    elif isinstance(schema, list):
        for index, item in enumerate(schema):
            problems += _schema_type_problems(item, (*path, index))
    return problems


def check_template(template: object, source: str = "base job template") -> dict[str, Any]:
    problems = template_problems(template)
    if problems:
        raise InvalidInput(f"{source} is not valid: " + "; ".join(problems))
    assert isinstance(template, Mapping)
    return dict(template)


def read_template(path: Path, display: str | None = None) -> dict[str, Any]:
    """A base job template file: readable UTF-8, JSON (errors at line:col), a valid template."""
    display = display or str(path)
    try:
        text = files.read_bytes(path, what="base job templates").decode("utf-8")
    except files.UnreadableFile as exc:
        raise InvalidInput(f"{display}: cannot read the base job template ({exc.reason})") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{display}: the base job template is not UTF-8 text") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"{display}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}"
        ) from None
    return check_template(data, display)


def job_variable_problems(
    job_variables: Mapping[str, Any], template: Mapping[str, Any], *, check_required: bool = False
) -> list[str]:
    """Check job variables against a pool's `variables` schema.

    Unknown variables are refused only when the schema says `additionalProperties: false`, as in
    Prefect; `required` is checked only for runs (`check_required=True`).
    """
    variables = template.get("variables")
    if not job_variables or not isinstance(variables, Mapping):
        return []
    validator = Validator(dict(variables), lenient=True, check_required=check_required)
    return [
        f"{format_path(('job_variables', *issue.path))}: {issue.message}"
        for issue in validator.issues(dict(job_variables))
    ]
