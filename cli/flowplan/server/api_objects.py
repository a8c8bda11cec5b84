"""`/api/health`, the versions, and the objects a deployment refers to: flows, work pools and
queues, variables (read and filter). Secrets are never served."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flowplan.server import api_common, compat
from flowplan.server.router import ROUTER, ApiError, Request

if TYPE_CHECKING:
    from flowplan.backends.local import LocalBackend
    from flowplan.backends.local.automations import Automation

_FLOWS = {"flows": "object?", "flow_runs": "object?", "task_runs": "object?",
          "deployments": "object?", "work_pools": "object?", "sort": "string?",
          "limit": "integer?", "offset": "integer?"}  # fmt: skip
_POOLS = {"work_pools": "object?", "limit": "integer?", "offset": "integer?"}
_QUEUES = {"work_queues": "object?", "limit": "integer?", "offset": "integer?"}
_VARIABLES = {"variables": "object?", "sort": "string?", "limit": "integer?",
              "offset": "integer?"}  # fmt: skip


@ROUTER.route("GET", "/health", "Health check")
def health(backend: LocalBackend, request: Request) -> Any:
    return True


@ROUTER.route("GET", "/ready", "Readiness check")
def ready(backend: LocalBackend, request: Request) -> Any:
    backend.change_marker()  # the store answers
    return {"message": "OK"}


@ROUTER.route("GET", "/version", "The API version")
def version(backend: LocalBackend, request: Request) -> Any:
    return compat.SERVER_API_VERSION


@ROUTER.route("GET", "/admin/version", "The Prefect version this server answers as")
def admin_version(backend: LocalBackend, request: Request) -> Any:
    return compat.PREFECT_VERSION


@ROUTER.route("GET", "/hello", "Say hello")
def hello(backend: LocalBackend, request: Request) -> Any:
    return "👋"


_AUTOMATIONS = {"automations": "object?", "sort": "string?", "limit": "integer?",
                "offset": "integer?"}  # fmt: skip


def _automation(item: Automation) -> dict[str, Any]:
    """A deployment trigger as the automation Prefect makes of it: the trigger, and the action
    that runs the deployment (ids are stable: made from the deployment and trigger name)."""
    spec = item.item
    trigger = {**spec["trigger"], "id": compat.stable_id(item.key, "trigger")}
    if isinstance(trigger.get("triggers"), list):
        trigger["triggers"] = [{**child, "id": compat.stable_id(item.key, "trigger", str(n))}
                               for n, child in enumerate(trigger["triggers"])]  # fmt: skip
    action = {"type": "run-deployment", "source": "selected",
              "deployment_id": item.deployment_id, "parameters": spec["parameters"],
              "job_variables": spec["job_variables"],
              "schedule_after": spec["schedule_after"]}  # fmt: skip
    return {"id": compat.stable_id(item.key, "automation"), "name": item.name,
            "description": spec["description"], "enabled": bool(spec["enabled"]), "tags": [],
            "trigger": trigger, "actions": [action], "actions_on_trigger": [],
            "actions_on_resolve": [],
            "owner_resource": f"prefect.deployment.{item.deployment_id}"}  # fmt: skip


def _automations(backend: LocalBackend) -> list[dict[str, Any]]:
    return [_automation(item) for item in backend.read_automations()]


@ROUTER.route(
    "GET",
    "/automations/related-to/{resource_id}",
    "Automations related to a resource (a deployment's triggers)",
)
def related_automations(backend: LocalBackend, request: Request) -> Any:
    owner = request.params["resource_id"]
    return [item for item in _automations(backend) if item["owner_resource"] == owner]


@ROUTER.route("GET", "/automations/{id:uuid}", "Read an automation (a deployment's trigger)")
def read_automation(backend: LocalBackend, request: Request) -> Any:
    return _only(_automations(backend), "id", request.params["id"], "Automation not found")


@ROUTER.route(
    "POST",
    "/automations/filter",
    "Filter automations (the deployments' triggers)",
    body=True,
)
def filter_automations(backend: LocalBackend, request: Request) -> Any:
    body = api_common.body_of(request, _AUTOMATIONS, strict=False)
    return api_common.filtered(_automations(backend), body, "automations", "NAME_ASC")


# -- flows ------------------------------------------------------------------------------------


@ROUTER.route("GET", "/flows/{id:uuid}", "Read a flow by id")
def read_flow(backend: LocalBackend, request: Request) -> Any:
    return _only(api_common.flows(backend), "id", request.params["id"], "Flow not found")


@ROUTER.route("GET", "/flows/name/{name}", "Read a flow by name")
def read_flow_by_name(backend: LocalBackend, request: Request) -> Any:
    return _only(api_common.flows(backend), "name", request.params["name"], "Flow not found")


def _flows(backend: LocalBackend, request: Request) -> tuple[dict[str, Any], list[Any]]:
    body = api_common.body_of(request, _FLOWS, strict=False)
    checks = api_common.related(backend, body, "flows")
    items = [f for f in api_common.flows(backend) if all(c(f) for c in checks)]
    return body, api_common.select(items, body.get("flows"), "flows")


@ROUTER.route("POST", "/flows/filter", "Filter flows", body=True)
def filter_flows(backend: LocalBackend, request: Request) -> Any:
    body, chosen = _flows(backend, request)
    return api_common.filtered(chosen, {**body, "flows": None}, "flows", "NAME_ASC")


@ROUTER.route("POST", "/flows/count", "Count flows", body=True)
def count_flows(backend: LocalBackend, request: Request) -> Any:
    return len(_flows(backend, request)[1])


# -- work pools and queues ------------------------------------------------------------------


@ROUTER.route("GET", "/work_pools/{name}", "Read a work pool")
def read_pool(backend: LocalBackend, request: Request) -> Any:
    name = request.params["name"]
    return _only(api_common.pools(backend), "name", name, f'Work pool "{name}" not found.')


@ROUTER.route("POST", "/work_pools/filter", "Filter work pools", body=True)
def filter_pools(backend: LocalBackend, request: Request) -> Any:
    body = api_common.body_of(request, _POOLS, strict=False)
    return api_common.filtered(api_common.pools(backend), body, "work_pools", "NAME_ASC")


@ROUTER.route("GET", "/work_pools/{pool}/queues/{name}", "Read a work queue of a pool")
def read_pool_queue(backend: LocalBackend, request: Request) -> Any:
    pool, name = request.params["pool"], request.params["name"]
    found = [q for q in api_common.queues(backend) if q["work_pool_name"] == pool]
    _only(api_common.pools(backend), "name", pool, f'Work pool "{pool}" not found.')
    return _only(found, "name", name, f"Work pool queue '{pool}/{name}' not found.")


@ROUTER.route("POST", "/work_pools/{pool}/queues/filter", "Filter a pool's work queues",
              body=True)  # fmt: skip
def filter_pool_queues(backend: LocalBackend, request: Request) -> Any:
    body = api_common.body_of(request, _QUEUES, strict=False)
    pool = request.params["pool"]
    _only(api_common.pools(backend), "name", pool, f'Work pool "{pool}" not found.')
    found = [q for q in api_common.queues(backend) if q["work_pool_name"] == pool]
    return api_common.filtered(found, body, "work_queues", "PRIORITY_ASC")


@ROUTER.route("POST", "/work_queues/filter", "Filter work queues", body=True)
def filter_queues(backend: LocalBackend, request: Request) -> Any:
    body = api_common.body_of(request, _QUEUES, strict=False)
    return api_common.filtered(api_common.queues(backend), body, "work_queues", "PRIORITY_ASC")


@ROUTER.route("GET", "/work_queues/{id:uuid}", "Read a work queue by id")
def read_queue(backend: LocalBackend, request: Request) -> Any:
    return _only(api_common.queues(backend), "id", request.params["id"], "work queue not found")


@ROUTER.route("GET", "/work_queues/{id:uuid}/status", "A work queue's status")
def queue_status(backend: LocalBackend, request: Request) -> Any:
    wanted = request.params["id"]
    for queue in backend.read_work_queues():
        if queue.id == wanted:
            return compat.work_queue_status(queue)
    raise ApiError(404, "Work queue not found.")


# -- variables --------------------------------------------------------------------------------


def _variables(backend: LocalBackend) -> list[dict[str, Any]]:
    return [compat.variable(item) for item in backend.read_variables()]


@ROUTER.route("GET", "/variables/name/{name}", "Read a variable by name")
def read_variable_by_name(backend: LocalBackend, request: Request) -> Any:
    return _only(_variables(backend), "name", request.params["name"], "Variable not found.")


@ROUTER.route("GET", "/variables/{id:uuid}", "Read a variable by id")
def read_variable(backend: LocalBackend, request: Request) -> Any:
    return _only(_variables(backend), "id", request.params["id"], "Variable not found.")


@ROUTER.route("POST", "/variables/filter", "Filter variables", body=True)
def filter_variables(backend: LocalBackend, request: Request) -> Any:
    body = api_common.body_of(request, _VARIABLES, strict=False)
    return api_common.filtered(_variables(backend), body, "variables", "NAME_ASC")


@ROUTER.route("POST", "/variables/count", "Count variables", body=True)
def count_variables(backend: LocalBackend, request: Request) -> Any:
    body = api_common.body_of(request, {"variables": "object?"}, strict=False)
    return len(api_common.select(_variables(backend), body.get("variables"), "variables"))


def _only(items: list[dict[str, Any]], key: str, value: str, missing: str) -> dict[str, Any]:
    for item in items:
        if str(item[key]) == value:
            return item
    raise ApiError(404, missing)
