"""`/api/deployments/...`: read, filter, pause and resume, schedules, and `create_flow_run`.

Deployments themselves are created and changed by `flowplan apply` (the project file owns
them): of `PATCH /deployments/{id}` only `paused` is served, as Prefect's client sends it.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from flowplan.domain.clock import utcnow
from flowplan.server import api_common, compat, params
from flowplan.server.router import ROUTER, ApiError, Reply, Request, invalid_body

if TYPE_CHECKING:
    from flowplan.backends.local import LocalBackend
    from flowplan.domain.objects import Deployment

_FILTER = {"flows": "object?", "flow_runs": "object?", "task_runs": "object?",
           "deployments": "object?", "work_pools": "object?", "work_pool_queues": "object?",
           "sort": "string?", "limit": "integer?", "offset": "integer?"}  # fmt: skip
_RUN = {"state": "object?", "name": "string?", "parameters": "object?",
        "enforce_parameter_schema": "boolean?", "context": "object?",
        "infrastructure_document_id": "string?", "empirical_policy": "object?",
        "tags": "array?", "idempotency_key": "string?", "parent_task_run_id": "string?",
        "work_queue_name": "string?", "job_variables": "object?", "labels": "object?"}  # fmt: skip
_SCHEDULE = {"schedule": "object?", "active": "boolean?", "max_scheduled_runs": "integer?",
             "parameters": "object?", "slug": "string?", "replaces": "string?"}  # fmt: skip
_SERVED_UPDATE = {"paused"}


def _one(backend: LocalBackend, deployment_id: str) -> Deployment:
    try:
        return backend.read_deployments(ids=[deployment_id])[0]
    except IndexError:
        raise ApiError(404, "Deployment not found") from None


def _json(backend: LocalBackend, deployment: Deployment) -> dict[str, Any]:
    return compat.deployment(deployment, api_common.Lookups(backend).queue_ids)


@ROUTER.route("GET", "/deployments/{id:uuid}", "Read a deployment by id")
def read(backend: LocalBackend, request: Request) -> Any:
    return _json(backend, _one(backend, request.params["id"]))


@ROUTER.route("GET", "/deployments/name/{flow_name}/{deployment_name}",
              "Read a deployment by flow name and deployment name")  # fmt: skip
def read_by_name(backend: LocalBackend, request: Request) -> Any:
    full = f"{request.params['flow_name']}/{request.params['deployment_name']}"
    try:
        return _json(backend, backend.read_deployment(full))
    except LookupError:
        raise ApiError(404, "Deployment not found") from None


def _matching(backend: LocalBackend, request: Request) -> list[dict[str, Any]]:
    body = api_common.body_of(request, _FILTER, strict=False)
    checks = api_common.related(backend, body, "deployments")
    items = [d for d in api_common.deployments(backend) if all(c(d) for c in checks)]
    flow_names = {flow.id: flow.name for flow in backend.read_flows()}
    for item in items:  # Prefect's `flow_or_deployment_name` criterion
        item["flow_or_deployment_name"] = [flow_names.get(item["flow_id"]), item["name"]]
    chosen = api_common.select(items, body.get("deployments"), "deployments")
    for item in items:
        del item["flow_or_deployment_name"]
    return chosen


@ROUTER.route("POST", "/deployments/filter", "Filter deployments", body=True)
def filter_(backend: LocalBackend, request: Request) -> Any:
    body = api_common.body_of(request, _FILTER, strict=False)
    return api_common.filtered(_matching(backend, request), {**body, "deployments": None},
                               "deployments", "NAME_ASC")  # fmt: skip


@ROUTER.route("POST", "/deployments/count", "Count deployments", body=True)
def count(backend: LocalBackend, request: Request) -> Any:
    return len(_matching(backend, request))


@ROUTER.route("PATCH", "/deployments/{id:uuid}", "Pause or resume a deployment", body=True)
def update(backend: LocalBackend, request: Request) -> Any:
    body = request.body if isinstance(request.body, dict) else {}
    others = sorted(key for key, value in body.items()
                    if key not in _SERVED_UPDATE and value is not None)  # fmt: skip
    if others:
        raise ApiError(501, f"flowplan's server changes only 'paused' of a deployment (given: "
                            f"{', '.join(others)}); its other fields come from prefect.yaml"
                            " through 'flowplan apply'")  # fmt: skip
    api_common.body_of(request, {"paused": "boolean?", **dict.fromkeys(body, "any")})
    _one(backend, request.params["id"])
    if body.get("paused") is not None:
        backend.update_deployment(request.params["id"], {"paused": body["paused"]})
    return Reply(None, 204)


def _set_paused(backend: LocalBackend, request: Request, paused: bool) -> Reply:
    _one(backend, request.params["id"])
    backend.update_deployment(request.params["id"], {"paused": paused})
    return Reply(None, 200)


@ROUTER.route("POST", "/deployments/{id:uuid}/pause_deployment", "Pause a deployment")
def pause(backend: LocalBackend, request: Request) -> Any:
    return _set_paused(backend, request, True)


@ROUTER.route("POST", "/deployments/{id:uuid}/resume_deployment", "Resume a deployment")
def resume(backend: LocalBackend, request: Request) -> Any:
    return _set_paused(backend, request, False)


@ROUTER.route("POST", "/deployments/{id:uuid}/create_flow_run",
              "Create a flow run of a deployment", body=True)  # fmt: skip
def create_flow_run(backend: LocalBackend, request: Request) -> Any:
    body = api_common.body_of(request, _RUN)
    deployment = _one(backend, request.params["id"])
    given = body.get("parameters") or {}
    params.check_parameters(deployment, given, body.get("enforce_parameter_schema"))
    job_variables = body.get("job_variables") or {}
    if job_variables and deployment.work_pool_name:
        template = backend.read_work_pool(deployment.work_pool_name).base_job_template
        params.check_job_variables(deployment, job_variables, template)
    tags = body.get("tags") or []
    if not all(isinstance(tag, str) for tag in tags):
        raise invalid_body(body, ["tags"], "Input should be a list of strings", "list_type")
    before = utcnow()
    run = backend.create_flow_run(
        deployment.id, parameters=given, name=body.get("name"),
        scheduled_time=_scheduled_time(body), tags=tags,
        idempotency_key=body.get("idempotency_key"), work_queue_name=body.get("work_queue_name"),
        job_variables=job_variables, parameters_checked=True,
    )  # fmt: skip
    lookups = api_common.Lookups(backend)
    status = 201 if run.created >= before else 200  # an idempotency key's first run: 200
    return Reply(compat.flow_run(run, lookups.queue_ids, lookups.pool_ids), status)


def _scheduled_time(body: dict[str, Any]) -> datetime | None:
    state = body.get("state") or {}
    kind = state.get("type", "SCHEDULED")
    if kind != "SCHEDULED":
        raise ApiError(501, f"flowplan creates runs SCHEDULED (given: {kind}); a flowplan worker"
                            " moves them on")  # fmt: skip
    when = (state.get("state_details") or {}).get("scheduled_time")
    if when is None:
        return None
    try:
        return datetime.fromisoformat(str(when))
    except ValueError:
        raise invalid_body(body, ["state", "state_details", "scheduled_time"],
                           f"Input should be a valid datetime, got {when!r}",
                           "datetime_from_date_parsing") from None  # fmt: skip


# -- schedules ----------------------------------------------------------------------------------


@ROUTER.route("GET", "/deployments/{id:uuid}/schedules", "Read a deployment's schedules")
def read_schedules(backend: LocalBackend, request: Request) -> Any:
    deployment = _one(backend, request.params["id"])
    return [compat.schedule(item, deployment) for item in deployment.schedules]


@ROUTER.route("POST", "/deployments/{id:uuid}/schedules", "Add schedules to a deployment",
              body=True)  # fmt: skip
def create_schedules(backend: LocalBackend, request: Request) -> Any:
    from flowplan.domain.specs import ScheduleSpec

    items = request.body if isinstance(request.body, list) else None
    if items is None:
        raise invalid_body(request.body, [], "Input should be a valid list", "list_type")
    specs = []
    for item in items:
        body = api_common.body_of(Request("POST", "", {}, item), _SCHEDULE)
        specs.append(ScheduleSpec(_schedule(body), active=body.get("active"),
                                  parameters=body.get("parameters") or {},
                                  slug=body.get("slug")))  # fmt: skip
    deployment = _one(backend, request.params["id"])
    created = backend.create_deployment_schedules(request.params["id"], specs)
    return Reply([compat.schedule(item, deployment) for item in created], 201)


@ROUTER.route("PATCH", "/deployments/{id:uuid}/schedules/{schedule_id:uuid}",
              "Change a deployment's schedule", body=True)  # fmt: skip
def update_schedule(backend: LocalBackend, request: Request) -> Any:
    body = api_common.body_of(request, _SCHEDULE)
    changes: dict[str, Any] = {}
    if body.get("schedule") is not None:
        changes["schedule"] = _schedule(body)
    for key in ("active", "parameters"):
        if body.get(key) is not None:
            changes[key] = body[key]
    _one(backend, request.params["id"])
    backend.update_deployment_schedule(request.params["id"], request.params["schedule_id"],
                                       changes)  # fmt: skip
    return Reply(None, 204)


@ROUTER.route("DELETE", "/deployments/{id:uuid}/schedules/{schedule_id:uuid}",
              "Remove a deployment's schedule")  # fmt: skip
def delete_schedule(backend: LocalBackend, request: Request) -> Any:
    _one(backend, request.params["id"])
    backend.delete_deployment_schedule(request.params["id"], request.params["schedule_id"])
    return Reply(None, 204)


def _schedule(body: dict[str, Any]) -> Any:
    from flowplan.domain.schedules import schedule_from_json

    try:
        return schedule_from_json(body.get("schedule") or {})
    except (ValueError, KeyError, TypeError) as exc:
        raise invalid_body(body, ["schedule"], f"not a schedule: {exc}", "value_error") from None
