"""A new run's parameters and job variables, checked at the door: what `flowplan deployment
run` refuses is refused here, before anything is stored (422, `{"detail": ...}`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flowplan.domain import run_checks
from flowplan.domain.objects import Deployment
from flowplan.errors import InvalidInput
from flowplan.server.router import ApiError


def check_parameters(
    deployment: Deployment, given: Mapping[str, Any], enforce: bool | None
) -> None:
    """Names the flow does not take are refused; with the schema enforced (the deployment's
    flag, or the request's `enforce_parameter_schema`), the merged values are checked against
    it: types, required parameters."""
    schema = deployment.parameter_openapi_schema or {}
    known = schema.get("properties")
    unknown = [name for name in given if known is not None and name not in known]
    if unknown:
        takes = ", ".join(known) if known else "none"
        raise ApiError(422, "Error creating flow run: the following parameters were specified"
                            f" but not found on the deployment: {', '.join(unknown)}"
                            f" (it takes: {takes})")  # fmt: skip
    if not (deployment.enforce_parameter_schema if enforce is None else enforce) or not known:
        return
    issues = parameter_issues(schema, {**deployment.parameters, **given})
    if issues:
        where, message = issues[0]
        raise ApiError(422, f"Error creating flow run: parameter {where}: {message}")


def parameter_issues(schema: dict[str, Any], values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(where, message) of each problem of the merged values against the schema; `where` is
    the parameter's dotted path ("parameters" for the whole)."""
    return [
        (".".join(str(part) for part in path) or "parameters", message)
        for path, message in run_checks.parameter_issues(schema, values)
    ]


def check_job_variables(
    deployment: Deployment, given: Mapping[str, Any], template: dict[str, Any] | None
) -> None:
    """The run's job variables over the deployment's, against the pool's base job template."""
    from flowplan.domain.specs import check_job_variables as check

    try:
        check(deployment.full_name, {**deployment.job_variables, **given}, template)
    except InvalidInput as exc:
        raise ApiError(422, f"Error creating flow run: {exc}") from None
