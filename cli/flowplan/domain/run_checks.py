"""What a new run of a deployment is checked against before it exists, as Prefect's server
checks a flow-run creation: its parameters (the deployment's, overlaid by the run's) against
the deployment's parameter schema when the deployment enforces it, with `required` checked; its
job variables (the pool's defaults, the deployment's, then the run's) against the pool's
`variables` schema, with `required` checked."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flowplan.domain.job_config import merge_job_variables
from flowplan.domain.job_templates import job_variable_problems
from flowplan.findings import format_path


def parameter_problems(
    parameters: Mapping[str, Any], schema: Mapping[str, Any] | None
) -> list[str]:
    """`parameters.<path>: <why>` for each value the schema refuses."""
    if not schema or not isinstance(schema.get("properties"), Mapping):
        return []
    from flowplan.schema_validator import Validator

    return [
        f"{format_path(('parameters', *issue.path))}: {issue.message}"
        for issue in Validator(dict(schema), lenient=True).issues(dict(parameters))
    ]


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
        defaults = {
            key: spec["default"]
            for key, spec in ((template.get("variables") or {}).get("properties") or {}).items()
            if isinstance(spec, Mapping) and "default" in spec
        }
        merged = merge_job_variables(defaults, *job_variables)
        problems += job_variable_problems(merged, template, check_required=True)
    return problems
