"""What a new run of a deployment is checked against before it exists, as Prefect's server
checks a flow-run creation: its parameters (the deployment's, overlaid by the run's) against
the deployment's parameter schema when the deployment enforces it, with `required` checked; its
job variables against the pool's `variables` schema, with `required` checked, as the worker
will render with them (`job_config.template_values`: the run's over the deployment's, the
non-null defaults under, dotted keys expanded)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from flowplan.domain.job_config import template_values
from flowplan.domain.job_templates import job_variable_problems
from flowplan.errors import InvalidInput
from flowplan.findings import Path_, format_path

if TYPE_CHECKING:
    from flowplan.schema_validator import Validator

_VALIDATORS: dict[str, Validator] = {}  # by schema text: building one costs more than using it
_MAX_VALIDATORS = 256


def parameter_issues(
    schema: Mapping[str, Any], values: Mapping[str, Any]
) -> list[tuple[Path_, str]]:
    """(path, message) of each value of the merged parameters the schema refuses; the path
    is inside the parameters (() for the whole). The one check of a run's parameters: the
    store's and the server's, each with its own wording."""
    return [(issue.path, issue.message) for issue in _validator(schema).issues(dict(values))]


def parameter_problems(
    parameters: Mapping[str, Any], schema: Mapping[str, Any] | None
) -> list[str]:
    """`parameters.<path>: <why>` for each value the schema refuses."""
    if not schema or not isinstance(schema.get("properties"), Mapping):
        return []
    return [
        f"{format_path(('parameters', *path))}: {message}"
        for path, message in parameter_issues(schema, parameters)
    ]


def _validator(schema: Mapping[str, Any]) -> Validator:
    """A validator of a user's schema (lenient: one that is itself invalid checks nothing),
    kept by the schema's text (in its own key order, which messages can depend on)."""
    from flowplan.schema_validator import Validator

    key = json.dumps(schema, default=str)
    found = _VALIDATORS.get(key)
    if found is None:
        if len(_VALIDATORS) >= _MAX_VALIDATORS:
            _VALIDATORS.clear()
        found = _VALIDATORS[key] = Validator(dict(schema), lenient=True)
    return found


def run_problems(
    *,
    parameters: Mapping[str, Any],
    schema: Mapping[str, Any] | None,
    enforce: bool,
    template: Mapping[str, Any] | None,
    job_variables: tuple[Mapping[str, Any] | None, ...],
) -> list[str]:
    """Everything wrong with a new run; [] when it may be created."""
    problems = parameter_problems(parameters, schema) if enforce else []
    if template:
        try:
            _, values = template_values(template, *job_variables)
        except InvalidInput as exc:  # the worker could not merge them either
            return [*problems, exc.message]
        problems += job_variable_problems(values, template, check_required=True)
    return problems
